"""``manage.py seed_synthetic --members N``: a benchmark community stored in bulk."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from devtools.seeding import synthetic_seed


class Command(BaseCommand):
    help = (
        "Store the synthetic community of devtools.bench (members, roles, followings, direct "
        "ballots) with one open decision, in bulk, and queue one recalculation."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--members", type=int, required=True, help="community size")
        parser.add_argument("--choices", type=int, default=10, help="choices of the decision")
        parser.add_argument("--seed", type=int, default=0, help="generator seed")
        parser.add_argument("--name", help="community name (default: a unique one)")
        parser.add_argument(
            "--member",
            action="append",
            default=[],
            metavar="USERNAME",
            help="also add this user (created if missing) as a voter nobody follows; "
            "the first one manages the community (repeatable)",
        )
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        members, choices = options["members"], options["choices"]
        if members < 1 or choices < 1:
            raise CommandError("--members and --choices must be at least 1")
        started = time.perf_counter()
        seeded = synthetic_seed(
            members=members,
            choices=choices,
            seed=options["seed"],
            name=options["name"],
            extra_members=options["member"],
        )
        report = {**asdict(seeded), "seconds": round(time.perf_counter() - started, 3)}
        if options["json"]:
            self.stdout.write(json.dumps(report, sort_keys=True))
        else:
            self.stdout.write(
                f"Community {seeded.community_id}: {seeded.members:,} members, "
                f"{seeded.followings:,} followings, {seeded.direct_ballots:,} direct ballots; "
                f"decision {seeded.decision_id} queued for calculation "
                f"({report['seconds']:.1f}s)"
            )
