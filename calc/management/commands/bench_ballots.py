"""``manage.py bench_ballots``: how many ballots per second one decision takes."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from calc.benchsetup import postgres_url, redis_url
from calc.throughput import ThroughputOptions, throughput_run, throughput_summary


class Command(BaseCommand):
    help = (
        "Start a fresh setup (embedded, or distributed on a throwaway PostgreSQL database and "
        "Redis prefix), then cast ballots on one decision from C client processes for S "
        "seconds and report ballots per second and how many calculations they caused."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--setup", choices=["embedded", "distributed"], default="embedded", help="what to start"
        )
        parser.add_argument("--clients", type=int, default=4, help="client processes (C)")
        parser.add_argument("--seconds", type=float, default=15.0, help="how long to cast (S)")
        parser.add_argument("--voters", type=int, default=40, help="members who cast")
        parser.add_argument("--members", type=int, default=100, help="community size")
        parser.add_argument("--postgres-url", default=None, help="as for bench_latency")
        parser.add_argument("--redis-url", default=None, help="as for bench_latency")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["clients"] < 1:
            raise CommandError("--clients must be at least 1")
        if options["voters"] < options["clients"]:
            raise CommandError("--voters must be at least --clients (each client casts for some)")
        if options["seconds"] <= 0:
            raise CommandError("--seconds must be positive")
        if options["members"] < 1:
            raise CommandError("--members must be at least 1")
        as_json = options["json"]
        settings = ThroughputOptions(
            setup=options["setup"],
            clients=options["clients"],
            seconds=options["seconds"],
            voters=options["voters"],
            members=options["members"],
            postgres_url=options["postgres_url"] or postgres_url(),
            redis_url=options["redis_url"] or redis_url(),
        )

        def log(line: str) -> None:
            if not as_json:
                self.stdout.write(line)
                self.stdout.flush()

        try:
            report = throughput_run(settings, log)
        except RuntimeError as error:
            raise CommandError(str(error)) from error
        if as_json:
            self.stdout.write(json.dumps(report, sort_keys=True))
        else:
            self.stdout.write(throughput_summary(report))
