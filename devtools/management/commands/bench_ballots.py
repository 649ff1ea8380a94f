"""``manage.py bench_ballots``: how many ballots per second one decision takes."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.core.management.base import CommandError, CommandParser

from devtools.benchcommand import SetupBenchCommand
from devtools.throughput import ThroughputOptions, throughput_run, throughput_summary


class Command(SetupBenchCommand):
    help = (
        "Start a fresh setup (embedded, or distributed on a throwaway PostgreSQL database and "
        "Redis prefix), then cast ballots on one decision from C client processes for S "
        "seconds and report ballots per second and how many calculations they caused."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--clients", type=int, default=4, help="client processes (C)")
        parser.add_argument("--seconds", type=float, default=15.0, help="how long to cast (S)")
        parser.add_argument("--voters", type=int, default=40, help="members who cast")
        parser.add_argument("--members", type=int, default=100, help="community size")
        parser.add_argument(
            "--servers", type=int, default=2, help="daphne servers (distributed setup only)"
        )
        self.add_setup_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["clients"] < 1:
            raise CommandError("--clients must be at least 1")
        if options["voters"] < options["clients"]:
            raise CommandError("--voters must be at least --clients (each client casts for some)")
        if options["seconds"] <= 0:
            raise CommandError("--seconds must be positive")
        if options["servers"] < 1:
            raise CommandError("--servers must be at least 1")
        if options["members"] < 1:
            raise CommandError("--members must be at least 1")
        settings = self.settings_from(ThroughputOptions, options)
        self.run_and_report(options, partial(throughput_run, settings), throughput_summary)
