"""Create and configure communities."""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING

from django.db import transaction

from core.errors import DomainError
from core.logs import Event, log_event
from democracy import errors
from democracy.access import actor_name, manager_or_staff_require, user_require
from democracy.errors import DemocracyErrorCode
from democracy.models import Community, Membership, Role, TieBreakPolicy
from democracy.text import COMMUNITY_DESCRIPTION, COMMUNITY_NAME, clean_text

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from accounts.models import User
    from democracy.access import Staff


def _clean_name(name: str, *, exclude_pk: int | None = None) -> str:
    # A name tells communities apart: its compatibility forms (full-width letters, a no-break
    # space, a ligature) become the plain ones, or a full-width "Riverside" would be another.
    name = unicodedata.normalize("NFKC", name)
    name = clean_text(name, what="A community name", field="name", limit=COMMUNITY_NAME)
    if not name:
        raise DomainError(DemocracyErrorCode.REQUIRED, errors.NAME_REQUIRED, field="name")
    others = Community.objects.filter(name__iexact=name)
    if exclude_pk is not None:
        others = others.exclude(pk=exclude_pk)
    if others.exists():
        raise DomainError(DemocracyErrorCode.NAME_TAKEN, errors.NAME_TAKEN, field="name")
    return name


def _clean_description(description: str) -> str:
    return clean_text(
        description,
        what="A community description",
        field="description",
        limit=COMMUNITY_DESCRIPTION,
        multiline=True,
    )


@transaction.atomic
def community_create(
    *,
    user: User | AnonymousUser | None,
    name: str,
    description: str = "",
    auto_approve_applications: bool = True,
    tie_break_policy: TieBreakPolicy = TieBreakPolicy.LOT,
    results_are_public: bool = False,
) -> Community:
    """Create a community; its creator becomes its first manager, as a voter."""
    creator = user_require(user)
    community = Community(
        name=_clean_name(name),
        description=_clean_description(description),
        auto_approve_applications=auto_approve_applications,
        tie_break_policy=tie_break_policy,
        results_are_public=results_are_public,
    )
    community.full_clean()
    community.save()
    Membership.objects.create(
        user=creator, community=community, role=Role.VOTER, is_manager=True, is_approved=True
    )
    log_event(Event.COMMUNITY_CREATED, creator.username, f"Community '{community.name}' created")
    return community


@transaction.atomic
def community_update(
    *,
    user: User | AnonymousUser | Staff | None,
    community: Community,
    name: str | None = None,
    description: str | None = None,
    auto_approve_applications: bool | None = None,
    tie_break_policy: TieBreakPolicy | None = None,
    results_are_public: bool | None = None,
) -> Community:
    """Change a community's settings (managers only); None leaves a setting as it is."""
    manager = manager_or_staff_require(user, community)
    community = Community.objects.select_for_update().get(pk=community.pk)
    if name is not None:
        community.name = _clean_name(name, exclude_pk=community.pk)
    if description is not None:
        community.description = _clean_description(description)
    if auto_approve_applications is not None:
        community.auto_approve_applications = auto_approve_applications
    if tie_break_policy is not None:
        community.tie_break_policy = tie_break_policy
    if results_are_public is not None:
        community.results_are_public = results_are_public
    community.full_clean()
    community.save()
    log_event(Event.COMMUNITY_UPDATED, actor_name(manager), f"Community '{community.name}' updated")
    return community
