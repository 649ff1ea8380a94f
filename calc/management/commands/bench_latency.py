"""``manage.py bench_latency --members N``: castBallot response to live result, measured."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from calc.benchsetup import postgres_url, redis_url
from calc.latency import LatencyOptions, latency_run, latency_summary


class Command(BaseCommand):
    help = (
        "Start a fresh setup (embedded, or distributed on a throwaway PostgreSQL database and "
        "Redis prefix), seed a synthetic community of N members, cast K ballots one at a time "
        "and report the time from each castBallot response to the decisionResults event that "
        "counts it (median, p95, max)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--members", type=int, required=True, help="community size")
        parser.add_argument(
            "--setup", choices=["embedded", "distributed"], default="embedded", help="what to start"
        )
        parser.add_argument("--ballots", type=int, default=20, help="ballots to time (K)")
        parser.add_argument("--choices", type=int, default=10, help="choices of the decision")
        parser.add_argument("--seed", type=int, default=0, help="generator seed")
        parser.add_argument(
            "--postgres-url",
            default=None,
            help="administrative PostgreSQL URL for the throwaway database (distributed; "
            "default CROWDVOTE_TEST_POSTGRES_URL or postgres://postgres@127.0.0.1:5432/postgres)",
        )
        parser.add_argument(
            "--redis-url",
            default=None,
            help="Redis URL (distributed; default CROWDVOTE_TEST_REDIS_URL or "
            "redis://127.0.0.1:6379/0)",
        )
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["members"] < 1:
            raise CommandError("--members must be at least 1")
        if options["ballots"] < 1:
            raise CommandError("--ballots must be at least 1")
        if not 1 <= options["choices"] <= 50:
            raise CommandError("--choices must be between 1 and 50")
        if 6 ** options["choices"] <= options["ballots"]:
            raise CommandError("--ballots needs more --choices to give each ballot new stars")
        as_json = options["json"]
        settings = LatencyOptions(
            members=options["members"],
            setup=options["setup"],
            ballots=options["ballots"],
            choices=options["choices"],
            seed=options["seed"],
            postgres_url=options["postgres_url"] or postgres_url(),
            redis_url=options["redis_url"] or redis_url(),
        )

        def log(line: str) -> None:
            if not as_json:
                self.stdout.write(line)
                self.stdout.flush()

        try:
            report = latency_run(settings, log)
        except RuntimeError as error:
            raise CommandError(str(error)) from error
        if as_json:
            self.stdout.write(json.dumps(report, sort_keys=True))
        else:
            self.stdout.write(latency_summary(report))
