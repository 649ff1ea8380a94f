"""CPU time read from /proc: a process's, by command name, the machine's."""

from __future__ import annotations

import os
import time
from pathlib import Path

from devtools.cpu import CpuMark, cpu_seconds, machine_busy_seconds, named_cpu_seconds


def burn(seconds: float) -> None:
    until = time.process_time() + seconds
    while time.process_time() < until:
        pass


def test_a_process_and_the_machine_count_the_cpu_it_burns() -> None:
    mine, machine = cpu_seconds(os.getpid()), machine_busy_seconds()
    burn(0.3)
    assert cpu_seconds(os.getpid()) - mine >= 0.25  # ticks are 10 ms
    assert machine_busy_seconds() - machine >= 0.25


def test_processes_are_found_by_their_command_name() -> None:
    command = Path("/proc/self/comm").read_text().strip()
    found = named_cpu_seconds(command)
    assert os.getpid() in found
    assert found[os.getpid()] > 0
    assert named_cpu_seconds("no-such-command-here") == {}


def test_a_mark_says_what_the_machine_spent_since() -> None:
    mark = CpuMark.now()
    burn(0.3)
    machine, database = mark.spent_since()
    assert machine >= 0.25
    assert database >= 0  # PostgreSQL's processes, idle or absent here
