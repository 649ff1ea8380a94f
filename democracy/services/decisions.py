"""Create, edit, publish and close decisions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from core.errors import DomainError
from core.logs import Event, log_event
from core.times import representable_in_utc
from democracy import errors
from democracy.access import Staff, actor_name, manager_or_staff_require
from democracy.errors import DemocracyErrorCode
from democracy.models import Choice, Community, Decision, DecisionStatus, Membership
from democracy.text import (
    CHOICE_DESCRIPTION,
    CHOICE_TITLE,
    DECISION_DESCRIPTION,
    DECISION_TITLE,
    clean_text,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from accounts.models import User

MIN_CHOICES = 2
MAX_CHOICES = 50


@dataclass(frozen=True, slots=True)
class ChoiceSpec:
    title: str
    description: str = ""


def _clean_title(title: str) -> str:
    title = clean_text(title, what="A decision title", field="title", limit=DECISION_TITLE)
    if not title:
        raise DomainError(DemocracyErrorCode.REQUIRED, errors.TITLE_REQUIRED, field="title")
    return title


def _clean_description(description: str) -> str:
    return clean_text(
        description,
        what="A decision description",
        field="description",
        limit=DECISION_DESCRIPTION,
        multiline=True,
    )


def _check_closes_at(closes_at: datetime) -> None:
    if timezone.is_naive(closes_at):
        raise DomainError(
            DemocracyErrorCode.INVALID_DATETIME, errors.NAIVE_DATETIME, field="closesAt"
        )
    if not representable_in_utc(closes_at):
        raise DomainError(
            DemocracyErrorCode.INVALID_DATETIME, errors.DATETIME_OUT_OF_RANGE, field="closesAt"
        )
    if closes_at <= timezone.now():
        raise DomainError(
            DemocracyErrorCode.CLOSES_IN_PAST, errors.CLOSES_IN_PAST, field="closesAt"
        )


def _clean_choices(choices: Sequence[ChoiceSpec]) -> list[ChoiceSpec]:
    if len(choices) < MIN_CHOICES:
        message = errors.TOO_FEW_CHOICES.format(minimum=MIN_CHOICES)
        raise DomainError(DemocracyErrorCode.TOO_FEW_CHOICES, message, field="choices")
    if len(choices) > MAX_CHOICES:
        message = errors.TOO_MANY_CHOICES.format(maximum=MAX_CHOICES)
        raise DomainError(DemocracyErrorCode.TOO_MANY_CHOICES, message, field="choices")
    cleaned: list[ChoiceSpec] = []
    seen: set[str] = set()
    for spec in choices:
        title = clean_text(spec.title, what="A choice title", field="choices", limit=CHOICE_TITLE)
        if not title:
            raise DomainError(
                DemocracyErrorCode.REQUIRED, errors.CHOICE_TITLE_REQUIRED, field="choices"
            )
        if title.lower() in seen:
            message = errors.DUPLICATE_CHOICE.format(title=title)
            raise DomainError(DemocracyErrorCode.DUPLICATE_CHOICE, message, field="choices")
        seen.add(title.lower())
        description = clean_text(
            spec.description,
            what="A choice description",
            field="choices",
            limit=CHOICE_DESCRIPTION,
            multiline=True,
        )
        cleaned.append(ChoiceSpec(title=title, description=description))
    return cleaned


def _save_choices(decision: Decision, choices: Sequence[ChoiceSpec]) -> None:
    rows = [
        Choice(decision=decision, title=spec.title, description=spec.description, position=i)
        for i, spec in enumerate(choices)
    ]
    for row in rows:
        row.full_clean(exclude=["decision"])
    Choice.objects.bulk_create(rows)


def _locked(decision: Decision) -> Decision:
    # FOR UPDATE, not a plain update: ballots in flight hold the row's key-share lock
    # (calc.queue), and a change of status must wait for them.
    return Decision.objects.select_for_update().select_related("community").get(pk=decision.pk)


def _require_draft(decision: Decision) -> None:
    if decision.status != DecisionStatus.DRAFT:
        message = errors.DECISION_NOT_DRAFT.format(status=decision.status.lower())
        raise DomainError(DemocracyErrorCode.DECISION_NOT_DRAFT, message, field="decisionId")


@transaction.atomic
def decision_create(
    *,
    user: User | AnonymousUser | Staff | None,
    community: Community,
    title: str,
    closes_at: datetime,
    choices: Sequence[ChoiceSpec],
    description: str = "",
) -> Decision:
    """Create a draft decision with its choices (managers only)."""
    manager = manager_or_staff_require(user, community)
    decision = Decision(
        community=community,
        title=_clean_title(title),
        description=_clean_description(description),
        closes_at=closes_at,
        created_by=manager if isinstance(manager, Membership) else None,
    )
    _check_closes_at(closes_at)
    cleaned = _clean_choices(choices)
    decision.full_clean()
    decision.save()
    _save_choices(decision, cleaned)
    log_event(
        Event.DECISION_CREATED,
        actor_name(manager),
        f"Decision '{decision.title}' created in '{community.name}' with {len(cleaned)} choices",
    )
    return decision


@transaction.atomic
def decision_update(
    *,
    user: User | AnonymousUser | Staff | None,
    decision: Decision,
    title: str | None = None,
    description: str | None = None,
    closes_at: datetime | None = None,
    choices: Sequence[ChoiceSpec] | None = None,
) -> Decision:
    """Edit a draft decision (managers only); given choices replace all of them."""
    manager = manager_or_staff_require(user, decision.community)
    decision = _locked(decision)
    _require_draft(decision)
    if title is not None:
        decision.title = _clean_title(title)
    if description is not None:
        decision.description = _clean_description(description)
    if closes_at is not None:
        _check_closes_at(closes_at)
        decision.closes_at = closes_at
    decision.full_clean()
    decision.save()
    if choices is not None:
        cleaned = _clean_choices(choices)
        decision.choices.all().delete()
        _save_choices(decision, cleaned)
    log_event(Event.DECISION_UPDATED, actor_name(manager), f"Decision '{decision.title}' edited")
    return decision


@transaction.atomic
def decision_publish(*, user: User | AnonymousUser | Staff | None, decision: Decision) -> Decision:
    """Open a draft decision for ballots; its choices are frozen from now on."""
    manager = manager_or_staff_require(user, decision.community)
    decision = _locked(decision)
    _require_draft(decision)
    _check_closes_at(decision.closes_at)
    decision.status = DecisionStatus.OPEN
    decision.published_at = timezone.now()
    decision.save(update_fields=["status", "published_at"])
    log_event(
        Event.DECISION_PUBLISHED, actor_name(manager), f"Decision '{decision.title}' published"
    )
    return decision


@transaction.atomic
def decision_close(*, user: User | AnonymousUser | Staff | None, decision: Decision) -> Decision:
    """Close an open decision now (managers only): no more ballots."""
    manager = manager_or_staff_require(user, decision.community)
    return _close(decision, actor=manager)


def _close(decision: Decision, *, actor: Membership | Staff | None) -> Decision:
    decision = _locked(decision)
    if decision.status != DecisionStatus.OPEN:
        message = errors.DECISION_NOT_OPEN.format(status=decision.status.lower())
        raise DomainError(DemocracyErrorCode.DECISION_NOT_OPEN, message, field="decisionId")
    if actor is None and decision.closes_at > timezone.now():
        raise DomainError(
            DemocracyErrorCode.DECISION_NOT_DUE, errors.DECISION_NOT_DUE, field="decisionId"
        )
    decision.status = DecisionStatus.CLOSED
    decision.closed_at = timezone.now()
    decision.save(update_fields=["status", "closed_at"])
    who = actor_name(actor) if actor else "system"
    log_event(Event.DECISION_CLOSED, who, f"Decision '{decision.title}' closed")
    return decision


@transaction.atomic
def decision_close_due(*, decision: Decision) -> Decision:
    """Close an open decision whose closing time has passed (the worker's sweeper)."""
    return _close(decision, actor=None)
