"""``manage.py bench_incremental``: time one ballot recalculated incrementally vs in full."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.management.base import BaseCommand, CommandError

from devtools import bench_incremental

if TYPE_CHECKING:
    from django.core.management.base import CommandParser


class Command(BaseCommand):
    help = (
        "Apply single-ballot changes to a synthetic community incrementally, time them against "
        "a full engine run, and check both give the same output; --json prints one object."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        bench_incremental.add_arguments(parser)

    def handle(self, *args: object, **options: object) -> None:
        try:
            report = bench_incremental.execute(options, self.stdout)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if not report["identical"]:
            raise CommandError("the incremental output differs from the full recalculation")
