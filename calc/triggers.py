"""Ask for recalculation whenever something a result depends on changes.

calc connects these receivers to democracy's models in ``CalcConfig.ready``, so democracy, a
lower layer, never imports calc. Receivers only work out the community and call
``calc.queue.request_recalculation``. A deletion cascaded from a membership (someone leaving)
is reported once, by the membership's own receiver, so one change is logged once per decision.

A trigger says what changed, never who: it is stored, broadcast to every subscriber and read
by anyone who sees the decision, so a name frozen in it would outlive a member's anonymity.
Who acted goes to the event log, which only staff read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db.models import Model, QuerySet
from django.db.models.signals import post_delete, post_save

from calc.models import Calculation, ChangeKind
from calc.queue import ChangeKey, NotLogged, request_recalculation
from core.ahead import Ahead
from democracy.models import (
    Ballot,
    Community,
    Decision,
    DecisionStatus,
    Following,
    Membership,
)
from democracy.pseudonyms import display_name
from democracy.services.ballots import decision_not_open
from democracy.signals import ballot_writing

BALLOT_CAST = "Ballot cast"
BALLOT_RETRACTED = "Ballot retracted"
FOLLOWING_CHANGED = "Delegation changed"
FOLLOWING_REMOVED = "Delegation removed"
MEMBER_JOINED = "Member joined"
MEMBERSHIP_CHANGED = "Membership changed"
MEMBER_LEFT = "Member left"


def calculations_requested(reactions: Mapping[object, object]) -> list[Calculation]:
    """Return the calculations ``ballot_saved`` queued, from a save signal's answers."""
    answer = reactions.get(ballot_saved)
    return (
        [item for item in answer if isinstance(item, Calculation)]
        if isinstance(answer, list)
        else []
    )


def recalculation_requested(reactions: Mapping[object, object]) -> bool:
    """Return whether ``ballot_saved`` asked for the recalculation (it answered)."""
    return ballot_saved in reactions


def _deleted_directly(origin: object, model: type[Model]) -> bool:
    """Return whether a deletion was asked for on ``model`` itself, not cascaded."""
    return isinstance(origin, model) or (isinstance(origin, QuerySet) and origin.model is model)


def _ballot(ballot: Ballot) -> ChangeKey:
    return ChangeKey(ChangeKind.BALLOT, ballot.membership_id)


def _following(following: Following) -> ChangeKey:
    return ChangeKey(ChangeKind.FOLLOWING, following.follower_id, following.followee_id)


def ballot_saved(
    sender: type[Ballot],
    instance: Ballot,
    open_only: bool = False,
    answers_wanted: bool = True,
    commit: bool = False,
    ahead: Ahead | None = None,
    **kwargs: Any,
) -> list[Calculation]:
    """Ask for the decision's recalculation; return its queued calculation (for the API),
    unless ``answers_wanted`` is false (nobody reads it: none is read).

    Connected to ``post_save`` and to democracy's ``ballot_writing``, which hands over the
    ballot's write not yet sent (``ahead``): it goes at the head of the log's message, and
    the cast's transaction is that one message.

    ``open_only`` (a cast): only an open decision takes the change, so the log share-locks
    its row and checks it in one statement, and a ballot on a decision closed meanwhile is
    refused here.
    ``commit``: the cast owns its transaction and writes nothing after this.
    """
    try:
        return request_recalculation(
            community_id=instance.membership.community_id,
            actor=display_name(instance.membership),
            decision_ids=[instance.decision_id],
            trigger=BALLOT_CAST,
            change=_ballot(instance),
            open_only=open_only,
            newest=answers_wanted,
            commit=commit,
            ahead=ahead,
        )
    except NotLogged:
        # Open when the cast began, so a close (or its closing time) came first; the
        # transaction is void, nothing more can be read in it.
        raise decision_not_open("closed") from None


def ballot_deleted(
    sender: type[Ballot], instance: Ballot, origin: object = None, **kwargs: Any
) -> None:
    if _deleted_directly(origin, Ballot):
        request_recalculation(
            community_id=instance.membership.community_id,
            actor=display_name(instance.membership),
            decision_ids=[instance.decision_id],
            trigger=BALLOT_RETRACTED,
            change=_ballot(instance),
        )


def following_saved(sender: type[Following], instance: Following, **kwargs: Any) -> None:
    request_recalculation(
        community_id=instance.community_id,
        actor=display_name(instance.follower),
        trigger=FOLLOWING_CHANGED,
        change=_following(instance),
    )


def following_deleted(
    sender: type[Following], instance: Following, origin: object = None, **kwargs: Any
) -> None:
    if _deleted_directly(origin, Following):
        request_recalculation(
            community_id=instance.community_id,
            actor=display_name(instance.follower),
            trigger=FOLLOWING_REMOVED,
            change=_following(instance),
        )


def membership_saved(
    sender: type[Membership], instance: Membership, created: bool, **kwargs: Any
) -> None:
    # An application waiting for approval counts in no result (snapshots read approved
    # members only): a stranger applying and leaving again must not drive calculations.
    if created and not instance.is_approved:
        return
    request_recalculation(
        community_id=instance.community_id,
        actor=display_name(instance),
        trigger=MEMBER_JOINED if created else MEMBERSHIP_CHANGED,
        change=ChangeKey(ChangeKind.MEMBERSHIP, instance.pk),
    )


def membership_deleted(
    sender: type[Membership], instance: Membership, origin: object = None, **kwargs: Any
) -> None:
    if instance.is_approved and not _deleted_directly(origin, Community):
        request_recalculation(
            community_id=instance.community_id,
            actor=display_name(instance),
            trigger=MEMBER_LEFT,
            change=ChangeKey(ChangeKind.MEMBERSHIP, instance.pk),
        )


def decision_saved(sender: type[Decision], instance: Decision, **kwargs: Any) -> None:
    changed = kwargs.get("update_fields") or ()
    if "status" in changed and instance.status != DecisionStatus.DRAFT:
        request_recalculation(
            community_id=instance.community_id,
            decision_ids=[instance.pk],
            trigger=f"Decision {instance.status.lower()}",
        )


def connect() -> None:
    """Connect every receiver once (``dispatch_uid`` guards against double imports)."""
    post_save.connect(ballot_saved, sender=Ballot, dispatch_uid="recalc.ballot_saved")
    ballot_writing.connect(ballot_saved, sender=Ballot, dispatch_uid="recalc.ballot_writing")
    post_delete.connect(ballot_deleted, sender=Ballot, dispatch_uid="recalc.ballot_deleted")
    post_save.connect(following_saved, sender=Following, dispatch_uid="recalc.following_saved")
    post_delete.connect(
        following_deleted, sender=Following, dispatch_uid="recalc.following_deleted"
    )
    post_save.connect(membership_saved, sender=Membership, dispatch_uid="recalc.membership_saved")
    post_delete.connect(
        membership_deleted, sender=Membership, dispatch_uid="recalc.membership_deleted"
    )
    post_save.connect(decision_saved, sender=Decision, dispatch_uid="recalc.decision_saved")
