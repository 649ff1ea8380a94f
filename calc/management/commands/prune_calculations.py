from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from calc.models import Calculation, CalculationStatus
from calc.snapshot import snapshots_detach


class Command(BaseCommand):
    help = (
        "Delete non-final calculations older than the retention (CALC_RETENTION_DAYS), "
        "keeping each decision's latest completed one. A kept snapshot stored as changes to "
        "a deleted one is stored whole first."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=settings.CALC_RETENTION_DAYS)
        parser.add_argument("--dry-run", action="store_true")

    def handle(self, *args: Any, days: int, dry_run: bool, **options: Any) -> None:
        latest_completed = (
            Calculation.objects.filter(
                decision_id=OuterRef("decision_id"), status=CalculationStatus.COMPLETED
            )
            .order_by("-id")
            .values("id")[:1]
        )
        old = Calculation.objects.filter(
            is_final=False,
            requested_at__lt=timezone.now() - timedelta(days=days),
            status__in=[
                CalculationStatus.COMPLETED,
                CalculationStatus.FAILED,
                CalculationStatus.ABSORBED,
            ],
        ).exclude(pk=Subquery(latest_completed))
        count = old.count()
        if not dry_run:
            with transaction.atomic():
                doomed = list(old.values_list("pk", flat=True))
                snapshots_detach(doomed)
                Calculation.objects.filter(pk__in=doomed).delete()
        verb = "Would delete" if dry_run else "Deleted"
        self.stdout.write(f"{verb} {count} calculation(s) older than {days} days.")
