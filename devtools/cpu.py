"""CPU time from Linux's ``/proc``: per process, for PostgreSQL's processes, for the machine.

The benchmarks run their clients, servers, workers and databases on the same cores, so
what a ballot or a result costs is told apart by whose CPU it was.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


def cpu_seconds(pid: int) -> float:
    """Return the CPU time (user and system) a live process has used so far."""
    fields = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def named_cpu_seconds(command: str) -> dict[int, float]:
    """Return the CPU time of every live process whose command name is ``command``, by pid."""
    found = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() == command:
                found[int(entry.name)] = cpu_seconds(int(entry.name))
        except (FileNotFoundError, ProcessLookupError):  # it exited while we looked
            continue
    return found


def machine_busy_seconds() -> float:
    """Return the CPU time all cores have spent on anything but idling since boot."""
    # cpu  user nice system idle iowait irq softirq steal guest guest_nice
    ticks = [int(t) for t in (PROC / "stat").read_text().splitlines()[0].split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class CpuMark:
    """The CPU counters that ``spent_since`` subtracts: the machine's and PostgreSQL's."""

    machine: float
    database: dict[int, float]

    @classmethod
    def now(cls) -> CpuMark:
        return cls(machine_busy_seconds(), named_cpu_seconds("postgres"))

    def spent_since(self) -> tuple[float, float]:
        """Return (machine, PostgreSQL) CPU seconds spent since this mark.

        A PostgreSQL process that started meanwhile counts from zero; one that exited
        meanwhile is lost, which the benchmarks' pooled connections make rare.
        """
        database = named_cpu_seconds("postgres")
        spent = sum(cpu - self.database.get(pid, 0.0) for pid, cpu in database.items())
        return machine_busy_seconds() - self.machine, spent
