"""The part of ``bench_latency`` and ``bench_ballots`` that is not the measurement itself.

Both start a setup of their own (embedded, or distributed on a throwaway PostgreSQL database
and Redis prefix), print progress lines unless ``--json`` asks for one JSON object, and turn
a setup that fails to start into a command error.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from django.core.management.base import BaseCommand, CommandError, CommandParser

from devtools.benchsetup import postgres_url, redis_url

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

Report = TypeVar("Report", bound=Mapping[str, object])
Settings = TypeVar("Settings", bound="DataclassInstance")


class SetupBenchCommand(BaseCommand):
    """A benchmark that starts the setup it measures."""

    def add_setup_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--setup", choices=["embedded", "distributed"], default="embedded", help="what to start"
        )
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

    def settings_from(self, kind: type[Settings], options: dict[str, Any]) -> Settings:
        """Return ``kind`` filled from the same-named options; URLs default to the environment."""
        values = {f.name: options[f.name] for f in dataclasses.fields(kind) if f.name in options}
        values["postgres_url"] = options["postgres_url"] or postgres_url()
        values["redis_url"] = options["redis_url"] or redis_url()
        return kind(**values)

    def run_and_report(
        self,
        options: dict[str, Any],
        run: Callable[[Callable[[str], None]], Report],
        summary: Callable[[Report], str],
    ) -> None:
        """Run the measurement with a progress log, then print its report."""
        as_json = options["json"]

        def log(line: str) -> None:
            if not as_json:
                self.stdout.write(line)
                self.stdout.flush()

        try:
            report = run(log)
        except RuntimeError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(json.dumps(report, sort_keys=True) if as_json else summary(report))
