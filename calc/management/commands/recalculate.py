from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from calc.queue import request_recalculation
from democracy.models import Decision, DecisionStatus


class Command(BaseCommand):
    help = "Queue recalculation of decisions (a running worker picks them up)."

    def add_arguments(self, parser: CommandParser) -> None:
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--decision", type=int, help="One decision, by database id.")
        target.add_argument("--community", type=int, help="Every open decision of a community.")
        target.add_argument("--all", action="store_true", help="Every open decision.")

    def handle(
        self, *args: Any, decision: int | None, community: int | None, all: bool, **options: Any
    ) -> None:
        decisions = Decision.objects.exclude(status=DecisionStatus.DRAFT)
        if decision is not None:
            decisions = decisions.filter(pk=decision)
        elif community is not None:
            decisions = decisions.filter(community_id=community, status=DecisionStatus.OPEN)
        else:
            decisions = decisions.filter(status=DecisionStatus.OPEN)
        rows = list(decisions.values_list("pk", "community_id"))
        if not rows:
            raise CommandError("No published decision matches; nothing was queued.")
        with transaction.atomic():
            for pk, community_id in rows:
                request_recalculation(
                    community_id=community_id, decision_ids=[pk], trigger="Operator request"
                )
        self.stdout.write(f"Queued {len(rows)} decision(s) for recalculation.")
