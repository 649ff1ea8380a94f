"""Cast, replace and retract a member's own ballot."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from core.errors import DomainError
from core.logs import Event, log_event
from democracy import errors
from democracy.access import member_require
from democracy.errors import DemocracyErrorCode
from democracy.models import Ballot, BallotStar, Decision, DecisionStatus
from democracy.pseudonyms import display_name
from democracy.tags import normalize_tags
from democracy.text import BALLOT_COMMENT, clean_text

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from accounts.models import User

MAX_STARS = 5


@dataclass(frozen=True, slots=True)
class StarsSpec:
    choice_id: int
    stars: int


def _require_open(decision: Decision) -> None:
    if decision.status == DecisionStatus.OPEN and decision.closes_at <= timezone.now():
        status = "closed"
    elif decision.status != DecisionStatus.OPEN:
        status = decision.status.lower()
    else:
        return
    raise DomainError(
        DemocracyErrorCode.DECISION_NOT_OPEN,
        errors.DECISION_NOT_OPEN.format(status=status),
        field="decisionId",
    )


def _clean_stars(decision: Decision, stars: Sequence[StarsSpec]) -> dict[int, int]:
    choice_ids = set(decision.choices.values_list("id", flat=True))
    rated: dict[int, int] = {}
    for spec in stars:
        if isinstance(spec.stars, bool) or not isinstance(spec.stars, int):
            raise DomainError(DemocracyErrorCode.INVALID_STARS, errors.INVALID_STARS, field="stars")
        if not 0 <= spec.stars <= MAX_STARS:
            raise DomainError(DemocracyErrorCode.INVALID_STARS, errors.INVALID_STARS, field="stars")
        if spec.choice_id not in choice_ids:
            raise DomainError(
                DemocracyErrorCode.UNKNOWN_CHOICE, errors.UNKNOWN_CHOICE, field="stars"
            )
        if spec.choice_id in rated:
            raise DomainError(
                DemocracyErrorCode.DUPLICATE_STARS, errors.DUPLICATE_STARS, field="stars"
            )
        rated[spec.choice_id] = spec.stars
    return rated


@transaction.atomic
def ballot_cast(
    *,
    user: User | AnonymousUser | None,
    decision: Decision,
    stars: Sequence[StarsSpec],
    tags: Iterable[str] = (),
    comment: str = "",
) -> Ballot:
    """Cast or replace the member's ballot; a choice left out counts as 0 stars."""
    decision = Decision.objects.select_for_update().select_related("community").get(pk=decision.pk)
    membership = member_require(user, decision.community)
    _require_open(decision)
    rated = _clean_stars(decision, stars)
    clean_tags = normalize_tags(tags)
    comment = clean_text(
        comment, what="A comment", field="comment", limit=BALLOT_COMMENT, multiline=True
    )

    ballot = Ballot.objects.filter(decision=decision, membership=membership).first()
    created = ballot is None
    ballot = ballot or Ballot()
    # The loaded rows, not ids: the save signal names the member without fetching them again.
    ballot.decision, ballot.membership = decision, membership
    ballot.tags = clean_tags
    ballot.comment = comment
    ballot.save()
    ballot.stars.all().delete()
    BallotStar.objects.bulk_create(
        BallotStar(ballot=ballot, choice_id=choice_id, stars=value)
        for choice_id, value in rated.items()
    )
    verb = "cast" if created else "replaced"
    log_event(
        Event.VOTE_CAST, display_name(membership), f"Vote {verb} on decision '{decision.title}'"
    )
    return ballot


@transaction.atomic
def ballot_retract(*, user: User | AnonymousUser | None, decision: Decision) -> None:
    """Delete the member's ballot: their delegates represent them again."""
    decision = Decision.objects.select_for_update().select_related("community").get(pk=decision.pk)
    membership = member_require(user, decision.community)
    _require_open(decision)
    deleted, _ = Ballot.objects.filter(decision=decision, membership=membership).delete()
    if not deleted:
        raise DomainError(DemocracyErrorCode.NO_BALLOT, errors.NO_BALLOT, field="decisionId")
    log_event(
        Event.VOTE_RETRACTED,
        display_name(membership),
        f"Vote retracted on decision '{decision.title}'",
    )
