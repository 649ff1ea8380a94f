"""``manage.py bench_fanout --subscribers N``: live results to a crowd of subscribers."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.core.management.base import CommandError, CommandParser

from devtools.benchcommand import SetupBenchCommand
from devtools.fanout import FanoutOptions, fanout_run, fanout_summary


class Command(SetupBenchCommand):
    help = (
        "Start a fresh setup (embedded, or S daphne servers and two workers on a throwaway "
        "PostgreSQL database and Redis prefix), open N anonymous decisionResults subscribers "
        "on one public decision, cast K ballots one by one and report the delay from each "
        "castBallot answer to every subscriber's event, events missing, server CPU per result "
        "and server memory per idle subscriber. --restart then restarts the servers and times "
        "until every subscriber, reconnecting with jittered backoff, is served again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--subscribers", type=int, required=True, help="subscribers (N)")
        parser.add_argument("--ballots", type=int, default=5, help="ballots to time (K)")
        parser.add_argument(
            "--servers", type=int, default=1, help="web servers (S; distributed only)"
        )
        parser.add_argument(
            "--restart", action="store_true", help="restart the servers after the ballots"
        )
        self.add_setup_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["subscribers"] < 1:
            raise CommandError("--subscribers must be at least 1")
        if not 1 <= options["ballots"] <= 1000:
            raise CommandError("--ballots must be between 1 and 1000")
        if options["servers"] < 1:
            raise CommandError("--servers must be at least 1")
        if options["servers"] > 1 and options["setup"] != "distributed":
            raise CommandError("--servers above 1 needs --setup distributed")
        settings = self.settings_from(FanoutOptions, options)
        self.run_and_report(options, partial(fanout_run, settings), fanout_summary)
