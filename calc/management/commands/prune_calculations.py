from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from calc.pruning import calculations_old, changes_old, pruned


class Command(BaseCommand):
    help = (
        "Delete non-final calculations older than the retention (CALC_RETENTION_DAYS), "
        "keeping each decision's latest completed one, and the logged changes that old "
        "which that result already counts. A kept snapshot stored as changes to a deleted "
        "one is stored whole first."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=settings.CALC_RETENTION_DAYS)
        parser.add_argument("--dry-run", action="store_true")

    def handle(self, *args: Any, days: int, dry_run: bool, **options: Any) -> None:
        before = timezone.now() - timedelta(days=days)
        if dry_run:
            calculations, changes = calculations_old(before).count(), changes_old(before).count()
        else:
            calculations, changes = pruned(before)
        verb = "Would delete" if dry_run else "Deleted"
        self.stdout.write(
            f"{verb} {calculations} calculation(s) older than {days} days, "
            f"and {changes} logged change(s) their decisions' results count."
        )
