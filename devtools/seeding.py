"""Store a synthetic community from ``devtools.bench.generate`` in bulk, for benchmarks.

Rows are written with ``bulk_create``, so no per-row signal fires: a 100,000-member
community takes seconds instead of a recalculation request per row. One recalculation of
the new decision is requested at the end, in the same transaction; then the database's
statistics are refreshed (``ANALYZE``).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import User
from accounts.usernames import username_key
from calc.queue import request_recalculation
from democracy.models import (
    Ballot,
    BallotStar,
    Choice,
    Community,
    Decision,
    DecisionStatus,
    Following,
    Membership,
    Role,
)
from devtools.bench import generate

BATCH_SIZE = 2_000
OPEN_DAYS = 30


@dataclass(frozen=True, slots=True)
class Seeded:
    """What :func:`synthetic_seed` stored (primary keys and counts)."""

    community_id: int
    decision_id: int
    members: int
    followings: int
    direct_ballots: int
    choices: int
    extra_members: tuple[str, ...]


def _users(usernames: Sequence[str]) -> list[User]:
    # One unusable password for all: these accounts sign in only with issued tokens.
    password = make_password(None)
    return User.objects.bulk_create(
        # bulk_create skips save(), which keeps the look-alike key.
        [
            User(username=name, username_key=username_key(name), password=password)
            for name in usernames
        ],
        batch_size=BATCH_SIZE,
    )


def _analyze() -> None:
    """Refresh the planner's statistics, as after any bulk load.

    Without them PostgreSQL plans the first reads for near-empty tables until autovacuum
    catches up, and that catching up then competes with the benchmark for the CPU.
    """
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def synthetic_seed(
    *,
    members: int,
    choices: int = 10,
    seed: int = 0,
    name: str | None = None,
    extra_members: Sequence[str] = (),
) -> Seeded:
    """Store the community ``generate(members, choices, seed)`` describes, with one open decision.

    ``extra_members`` are usernames (created when missing) that join as approved voters
    whom nobody follows; the first of them manages the community.
    """
    frozen = generate(members, choices, seed)
    run = secrets.token_hex(3)
    with transaction.atomic():
        community = Community.objects.create(
            name=name or f"Synthetic {members} #{run}", description="devtools.seeding"
        )
        users = _users([f"syn{run}_{m.id}" for m in frozen.members])
        memberships = Membership.objects.bulk_create(
            [
                Membership(user=user, community=community, role=member.role.value)
                for user, member in zip(users, frozen.members, strict=True)
            ],
            batch_size=BATCH_SIZE,
        )
        membership_pk = {
            member.id: row.pk for member, row in zip(frozen.members, memberships, strict=True)
        }
        existing = {u.username: u for u in User.objects.filter(username__in=extra_members)}
        missing = [n for n in dict.fromkeys(extra_members) if n not in existing]
        existing.update({u.username: u for u in _users(missing)})
        Membership.objects.bulk_create(
            [
                Membership(
                    user=existing[username], community=community, role=Role.VOTER, is_manager=i == 0
                )
                for i, username in enumerate(dict.fromkeys(extra_members))
            ]
        )
        Following.objects.bulk_create(
            [
                Following(
                    community=community,
                    follower_id=membership_pk[f.follower],
                    followee_id=membership_pk[f.followee],
                    tags=sorted(f.tags),
                    order=f.order,
                )
                for f in frozen.followings
            ],
            batch_size=BATCH_SIZE,
        )
        now = timezone.now()
        # bulk_create, not save(): a saved decision would ask for its own recalculation.
        (decision,) = Decision.objects.bulk_create(
            [
                Decision(
                    community=community,
                    title=f"Synthetic decision ({members} members, seed {seed})",
                    status=DecisionStatus.OPEN,
                    closes_at=now + timedelta(days=OPEN_DAYS),
                    published_at=now,
                )
            ]
        )
        choice_rows = Choice.objects.bulk_create(
            [
                Choice(decision=decision, title=choice_id, position=position)
                for position, choice_id in enumerate(frozen.choices)
            ]
        )
        choice_pk = {c.title: c.pk for c in choice_rows}
        ballots = Ballot.objects.bulk_create(
            [
                Ballot(
                    decision=decision, membership_id=membership_pk[b.member], tags=sorted(b.tags)
                )
                for b in frozen.ballots
            ],
            batch_size=BATCH_SIZE,
        )
        BallotStar.objects.bulk_create(
            [
                BallotStar(ballot_id=row.pk, choice_id=choice_pk[choice_id], stars=int(stars))
                for row, ballot in zip(ballots, frozen.ballots, strict=True)
                for choice_id, stars in ballot.stars
            ],
            batch_size=BATCH_SIZE,
        )
        request_recalculation(
            community_id=community.pk,
            decision_ids=[decision.pk],
            trigger=f"Synthetic community of {members} members seeded",
        )
    _analyze()
    return Seeded(
        community_id=community.pk,
        decision_id=decision.pk,
        members=len(frozen.members) + len(existing),
        followings=len(frozen.followings),
        direct_ballots=len(frozen.ballots),
        choices=len(frozen.choices),
        extra_members=tuple(dict.fromkeys(extra_members)),
    )
