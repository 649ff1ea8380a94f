"""``manage.py bench_calc``: time the pure engine (a thin wrapper around ``devtools.bench``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.management.base import BaseCommand, CommandError

from devtools import bench

if TYPE_CHECKING:
    from django.core.management.base import CommandParser


class Command(BaseCommand):
    help = (
        "Time delegation resolution and the STAR tally on a synthetic community "
        "(or a decision in the JSON form with --input); print one JSON object with --json."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        bench.add_arguments(parser)

    def handle(self, *args: object, **options: object) -> None:
        settings = bench.options_from(options)
        if settings.members < 1 or settings.choices < 1:
            raise CommandError("--members and --choices must be at least 1")
        bench.execute(settings, self.stdout)
