"""Cast, replace and retract a member's own ballot."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models.signals import post_save
from django.utils import timezone

from core.errors import DomainError
from core.logs import Event, log_event
from democracy import errors
from democracy.access import member_checked, member_require, membership_of, user_require
from democracy.ballot_rows import BallotWrite, ballot_ahead, ballot_of, ballot_write
from democracy.errors import DemocracyErrorCode
from democracy.models import Ballot, Choice, Decision, DecisionStatus, Membership
from democracy.pseudonyms import display_name
from democracy.selectors import BallotTarget
from democracy.signals import ballot_writing
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


def decision_not_open(status: str) -> DomainError:
    """Return the refusal of a ballot on a decision that is ``status`` (closed, draft)."""
    return DomainError(
        DemocracyErrorCode.DECISION_NOT_OPEN,
        errors.DECISION_NOT_OPEN.format(status=status),
        field="decisionId",
    )


def _require_open(decision: Decision) -> None:
    if decision.status == DecisionStatus.OPEN and decision.closes_at <= timezone.now():
        raise decision_not_open("closed")
    if decision.status != DecisionStatus.OPEN:
        raise decision_not_open(decision.status.lower())


def _clean_stars(choices: Iterable[Choice], stars: Sequence[StarsSpec]) -> dict[int, int]:
    choice_ids = {choice.pk for choice in choices}
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


@dataclass(frozen=True, slots=True)
class Cast:
    """A ballot just cast, and what each receiver of its save signal returned.

    ``reactions`` maps a receiver to its answer: calc's asks for the recalculation and
    answers with the queued calculations, which the API shows without reading them again.
    """

    ballot: Ballot
    created: bool
    reactions: dict[object, object]


def ballot_cast(
    *,
    user: User | AnonymousUser | None,
    decision: Decision,
    stars: Sequence[StarsSpec],
    tags: Iterable[str] = (),
    comment: str = "",
) -> Ballot:
    """Cast or replace the member's ballot; a choice left out counts as 0 stars."""
    signed_in = user_require(user)
    choices = list(decision.choices.all())
    target = BallotTarget(decision, choices, membership_of(signed_in, decision.community))
    return ballot_cast_reacted(target=target, stars=stars, tags=tags, comment=comment).ballot


def ballot_cast_reacted(
    *,
    target: BallotTarget,
    stars: Sequence[StarsSpec],
    tags: Iterable[str] = (),
    comment: str = "",
    answers_wanted: bool = True,
) -> Cast:
    """Cast or replace the ballot of ``target``'s voter; return it with its save signal's
    answers (``selectors.ballot_target`` loads the target in one statement). Without
    ``answers_wanted`` the receivers are told nobody reads them, to spare their work.

    Everything is checked before anything is written. The decision's row is locked only at
    the end, in key-share mode, when the save signal asks for the recalculation (or by
    ``_lock_open`` without a receiver): ballots on one decision share it, and a close waits
    for those in flight. Owning its transaction, a write of one statement goes to the
    signal's receivers unsent (``ballot_writing``), to ride in their message.
    """
    membership = member_checked(target.membership)
    decision = target.decision
    if decision.status == DecisionStatus.DRAFT:
        # It may have opened since the caller loaded it (rare: drafts take no ballots).
        decision.status, decision.closes_at = _status_of(decision)
    # Early, so that a refusal writes nothing: a decision that has opened never opens again
    # once closed. The check under the lock catches a close that commits meanwhile.
    _require_open(decision)
    rated = _clean_stars(target.choices, stars)
    clean_tags = normalize_tags(tags)
    comment = clean_text(
        comment, what="A comment", field="comment", limit=BALLOT_COMMENT, multiline=True
    )
    actor = display_name(membership)
    write = BallotWrite(
        decision_id=decision.pk,
        membership_id=membership.pk,
        tags=clean_tags,
        comment=comment,
        now=timezone.now(),
        rated=rated,
        every_choice=len(rated) == len(target.choices),
    )
    signalled = {"open_only": True, "answers_wanted": answers_wanted}
    ballot, created, answers = _carried(write, decision, membership, signalled) or (
        _written_then_signalled(write, decision, membership, signalled)
    )
    # Once committed: a cast rolled back is no vote, and the log's writes (each a wait for
    # the GIL in a busy server) are not made while the decision's row is locked.
    line = f"Vote {'cast' if created else 'replaced'} on decision '{decision.title}'"
    transaction.on_commit(lambda: log_event(Event.VOTE_CAST, actor, line), robust=True)
    return Cast(ballot, created, answers)


Signalled = tuple[Ballot, bool, dict[object, object]]


def _carried(
    write: BallotWrite, decision: Decision, membership: Membership, signalled: dict[str, bool]
) -> Signalled | None:
    """Hand the ballot's write to ``ballot_writing``'s receivers, to send at the head of
    their message, where all commit together; None when the write is more than one
    statement, a caller's transaction holds the cast, or nobody carried it."""
    if transaction.get_connection().in_atomic_block:
        return None
    ahead = ballot_ahead(write)
    if ahead is None:
        return None
    unsaved = Ballot(decision=decision, membership=membership, tags=write.tags)
    answers = ballot_writing.send(sender=Ballot, instance=unsaved, ahead=ahead, **signalled)
    if not ahead.sent:
        return None
    ballot, created = ballot_of(ahead)
    ballot.decision, ballot.membership = decision, membership
    return ballot, created, dict(answers)


def _written_then_signalled(
    write: BallotWrite, decision: Decision, membership: Membership, signalled: dict[str, bool]
) -> Signalled:
    """Write the ballot, then send its save signal, in one transaction."""
    # A transaction the cast owns commits with the change log's last message (PostgreSQL).
    owned = not transaction.get_connection().in_atomic_block
    # No savepoint of its own: the savepoint's two statements (one under the lock) are
    # spared, and a refusal under the lock, which only a close racing the cast causes,
    # rolls back the caller's whole transaction.
    with transaction.atomic(savepoint=False):
        ballot, created = ballot_write(write)
        # The loaded rows, not ids: the save signal names the member without fetching them.
        ballot.decision, ballot.membership = decision, membership
        # Rows written without signals above, so that the one save signal comes last: calc's
        # receiver logs the change only if the decision is open, which locks its row (shared)
        # and checks it.
        answers = post_save.send(
            sender=Ballot,
            instance=ballot,
            created=created,
            update_fields=None,
            raw=False,
            using=ballot._state.db,
            commit=owned,
            **signalled,
        )
        if not answers:
            _lock_open(decision)  # Nobody took the lock and checked: here, then.
    return ballot, created, dict(answers)


def _status_of(decision: Decision) -> tuple[str, datetime]:
    return Decision.objects.filter(pk=decision.pk).values_list("status", "closes_at").get()


def _lock_open(decision: Decision) -> None:
    """Lock the decision's row and check it is still open (a close may have committed since)."""
    decision.status, decision.closes_at = (
        Decision.objects.select_for_update()
        .filter(pk=decision.pk)
        .values_list("status", "closes_at")
        .get()
    )
    _require_open(decision)


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
