"""``manage.py bench_latency --members N``: castBallot response to live result, measured."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.core.management.base import CommandError, CommandParser

from devtools.benchcommand import SetupBenchCommand
from devtools.latency import LatencyOptions, latency_run, latency_summary


class Command(SetupBenchCommand):
    help = (
        "Start a fresh setup (embedded, or distributed on a throwaway PostgreSQL database and "
        "Redis prefix), seed a synthetic community of N members, cast K ballots one at a time "
        "and report the time from each castBallot response to the decisionResults event that "
        "counts it (median, p95, max); with --restart, also the first result after killing "
        "and restarting what calculates."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--members", type=int, required=True, help="community size")
        parser.add_argument("--ballots", type=int, default=20, help="ballots to time (K)")
        parser.add_argument("--choices", type=int, default=10, help="choices of the decision")
        parser.add_argument("--seed", type=int, default=0, help="generator seed")
        parser.add_argument(
            "--restart",
            action="store_true",
            help="then kill what calculates (the server embedded, the workers distributed), "
            "start it again and time one more ballot: the first result from a worker that "
            "kept nothing",
        )
        self.add_setup_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["members"] < 1:
            raise CommandError("--members must be at least 1")
        if options["ballots"] < 1:
            raise CommandError("--ballots must be at least 1")
        if not 1 <= options["choices"] <= 50:
            raise CommandError("--choices must be between 1 and 50")
        if 6 ** options["choices"] <= options["ballots"]:
            raise CommandError("--ballots needs more --choices to give each ballot new stars")
        settings = self.settings_from(LatencyOptions, options)
        self.run_and_report(options, partial(latency_run, settings), latency_summary)
