"""Admin for community managers: communities, members, followings, decisions, ballots.

Ballots are read-only here (a vote is changed only by its voter), and a decision's status
changes only through publishing and closing, which the API does with its side effects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count

from core.logs import Event, log_event
from democracy import errors
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
from democracy.pseudonyms import display_name

if TYPE_CHECKING:
    from django.db.models import QuerySet
    from django.http import HttpRequest


class MembershipForm(forms.ModelForm):
    """Explain the "lobbyists are public" rule instead of naming the database constraint."""

    class Meta:
        model = Membership
        fields = ("user", "community", "role", "is_manager", "is_anonymous", "is_approved")
        help_texts = {
            "role": "Lobbyists publish their ballots for others to follow and cannot be anonymous.",
            "is_manager": "Managers approve members and create, publish and close decisions.",
            "is_approved": "Unapproved members have applied but cannot vote or be followed yet.",
        }

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        if cleaned.get("role") == Role.LOBBYIST and cleaned.get("is_anonymous"):
            # On the field, so the model's own constraint check does not repeat the error.
            self.add_error("is_anonymous", errors.LOBBYIST_ANONYMOUS)
        return cleaned


class MembershipInline(admin.TabularInline):
    model = Membership
    form = MembershipForm
    fields = ("user", "role", "is_manager", "is_anonymous", "is_approved", "joined_at")
    readonly_fields = ("joined_at",)
    autocomplete_fields = ("user",)
    extra = 0
    show_change_link = True


@admin.register(Community)
class CommunityAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "member_count",
        "decision_count",
        "auto_approve_applications",
        "results_are_public",
        "tie_break_policy",
        "created_at",
    )
    list_filter = ("auto_approve_applications", "results_are_public", "tie_break_policy")
    search_fields = ("name", "description")
    readonly_fields = ("created_at",)
    inlines = (MembershipInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Community]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_members=Count("memberships", distinct=True),
                n_decisions=Count("decisions", distinct=True),
            )
        )

    @admin.display(description="Members", ordering="n_members")
    def member_count(self, community: Community) -> int:
        return getattr(community, "n_members", 0)

    @admin.display(description="Decisions", ordering="n_decisions")
    def decision_count(self, community: Community) -> int:
        return getattr(community, "n_decisions", 0)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    form = MembershipForm
    list_display = (
        "user",
        "community",
        "shown_as",
        "role",
        "is_manager",
        "is_anonymous",
        "is_approved",
        "joined_at",
    )
    list_filter = ("community", "role", "is_manager", "is_approved", "is_anonymous")
    search_fields = ("user__username", "user__email", "community__name")
    list_select_related = ("user", "community")
    autocomplete_fields = ("user", "community")
    readonly_fields = ("joined_at", "shown_as")
    actions = ("approve",)

    @admin.display(description="Shown as")
    def shown_as(self, membership: Membership) -> str:
        return display_name(membership) if membership.pk else "-"

    @admin.action(description="Approve selected memberships", permissions=("change",))
    def approve(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        """Approve waiting members one by one, so each save is validated and logged."""
        waiting = list(queryset.filter(is_approved=False).select_related("user", "community"))
        for membership in waiting:
            membership.is_approved = True
            membership.full_clean()
            membership.save(update_fields=["is_approved"])
            self.log_change(request, membership, "Approved")
            log_event(
                Event.MEMBER_APPROVED,
                request.user.get_username(),
                f"Approved {display_name(membership)} in '{membership.community.name}' (admin)",
            )
        self.message_user(request, f"Approved {len(waiting)} membership(s).", messages.SUCCESS)


class FollowingForm(forms.ModelForm):
    class Meta:
        model = Following
        fields = ("community", "follower", "followee", "tags", "order")
        help_texts = {
            "follower": "The member who delegates.",
            "followee": "The member whose ballots are followed.",
            "order": "1 is followed first; a later followee counts only where earlier ones "
            "have no ballot on the decision's tags.",
        }

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        community = cleaned.get("community")
        for field in ("follower", "followee"):
            member = cleaned.get(field)
            if community and member and member.community_id != community.pk:
                self.add_error(field, errors.FOLLOWEE_NOT_MEMBER)
        if cleaned.get("follower") and cleaned.get("follower") == cleaned.get("followee"):
            self.add_error("followee", errors.FOLLOW_SELF)
        return cleaned


@admin.register(Following)
class FollowingAdmin(admin.ModelAdmin):
    form = FollowingForm
    list_display = ("follower", "followee", "community", "tag_list", "order", "updated_at")
    list_filter = ("community",)
    search_fields = ("follower__user__username", "followee__user__username", "community__name")
    list_select_related = ("follower__user", "followee__user", "community")
    autocomplete_fields = ("community", "follower", "followee")
    readonly_fields = ("created_at", "updated_at")

    @admin.display(description="Tags")
    def tag_list(self, following: Following) -> str:
        return ", ".join(following.tags) or "all topics"


class ChoiceInline(admin.TabularInline):
    """Choices can change only while the decision is a draft, before anyone voted."""

    model = Choice
    fields = ("title", "description", "position")
    extra = 0

    def _frozen(self, obj: Decision | None) -> bool:
        return obj is not None and obj.status != DecisionStatus.DRAFT

    def get_extra(self, request: HttpRequest, obj: Decision | None = None, **kwargs: Any) -> int:
        return 2 if obj is None else 0

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return self.fields if self._frozen(obj) else ()

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not self._frozen(obj) and super().has_add_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not self._frozen(obj) and super().has_delete_permission(request, obj)


@admin.register(Decision)
class DecisionAdmin(admin.ModelAdmin):
    list_display = ("title", "community", "status", "closes_at", "published_at", "closed_at")
    list_filter = ("status", "community")
    search_fields = ("title", "description", "community__name")
    list_select_related = ("community",)
    autocomplete_fields = ("community",)
    date_hierarchy = "closes_at"
    readonly_fields = ("status", "published_at", "closed_at", "created_by", "created_at")
    fieldsets = (
        (None, {"fields": ("community", "title", "description", "closes_at")}),
        (
            "Status",
            {
                "fields": readonly_fields,
                "description": "Publish and close decisions in the app: that starts and "
                "finishes the vote and recalculates results.",
            },
        ),
    )
    inlines = (ChoiceInline,)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        # Moving a decision to another community would hand its ballots to strangers.
        moved = ("community",) if obj is not None else ()
        return (*self.readonly_fields, *moved)


class BallotStarInline(admin.TabularInline):
    model = BallotStar
    fields = ("choice", "stars")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Ballot)
class BallotAdmin(admin.ModelAdmin):
    """Direct ballots, read-only: only the voter may cast or retract a ballot."""

    list_display = ("decision", "membership", "tag_list", "cast_at", "updated_at")
    list_filter = ("decision__community", "decision__status")
    search_fields = ("decision__title", "membership__user__username", "decision__community__name")
    list_select_related = ("decision", "membership__user", "membership__community")
    fields = ("decision", "membership", "tags", "comment", "cast_at", "updated_at")
    readonly_fields = fields
    inlines = (BallotStarInline,)

    @admin.display(description="Tags")
    def tag_list(self, ballot: Ballot) -> str:
        return ", ".join(ballot.tags)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
