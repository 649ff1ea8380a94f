"""Admin for community managers: communities, members, followings, decisions, ballots.

Every change goes through the service the API uses, with its checks, its event line (naming
the staff user) and the recalculation its saves trigger; a service's refusal is shown on the
form and nothing is saved. What no service lets staff change is read-only here: ballots and
followings (only the member changes their vote or delegation), anonymity (the member's own
choice), and deletions (members leave by themselves; a manager withdraws approval).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from django import forms
from django.contrib import admin, messages
from django.db.models import Count

from accounts.admin import ReadOnlyAdmin, staff_user
from core.errors import DomainError, Forbidden
from democracy.access import Staff
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
    TieBreakPolicy,
)
from democracy.pseudonyms import display_name
from democracy.services.communities import community_create, community_update
from democracy.services.decisions import ChoiceSpec, decision_create, decision_update
from democracy.services.memberships import membership_update

if TYPE_CHECKING:
    from django.db.models import Model, QuerySet
    from django.forms import BaseFormSet, ModelForm
    from django.http import HttpRequest, HttpResponse

# The refusal being shown while the change form is drawn a second time (see ServiceAdmin).
_refusal: ContextVar[DomainError | Forbidden | None] = ContextVar("_refusal", default=None)


@contextmanager
def _showing(refusal: DomainError | Forbidden) -> Iterator[None]:
    token = _refusal.set(refusal)
    try:
        yield
    finally:
        _refusal.reset(token)


def as_staff(request: HttpRequest) -> Staff:
    """Return the request's user as staff acting with a manager's powers."""
    return Staff(user=staff_user(request))


class ServiceAdmin(admin.ModelAdmin):
    """Save through a service, once the form and its inlines are valid.

    ``save_through_service`` calls the service and returns the saved row. If the service
    refuses, Django's transaction around the view undoes everything and the form is drawn
    again from the same POST with the service's message on the field it names
    (``service_fields`` maps the API's field names to the form's); the form being invalid
    then, nothing is saved the second time either.
    """

    service_fields: ClassVar[dict[str, str]] = {}

    def save_through_service(
        self,
        request: HttpRequest,
        form: ModelForm[Any],
        formsets: list[BaseFormSet[Any]],
        change: bool,
    ) -> Model:
        raise NotImplementedError

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        """Save nothing yet: the service saves everything in ``save_related``."""

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        saved = self.save_through_service(request, form, formsets, change)
        # The admin's history entry and next page need the new row's id.
        form.instance.pk = saved.pk

    def construct_change_message(
        self, request: HttpRequest, form: Any, formsets: Any, add: bool = False
    ) -> list[dict[str, Any]]:
        # The inlines were saved by the service, not by their formsets: list the form's changes.
        return super().construct_change_message(request, form, [], add)

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except (DomainError, Forbidden) as refusal:
            with _showing(refusal):
                return super().changeform_view(request, object_id, form_url, extra_context)

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> type[ModelForm[Any]]:
        form = super().get_form(request, obj, change, **kwargs)
        refusal = _refusal.get()
        if refusal is None:
            return form
        api_field = refusal.field if isinstance(refusal, DomainError) else None
        field = self.service_fields.get(api_field or "")
        message = str(refusal)

        # mypy cannot follow a base class that is a variable; it is the form Django built.
        class Refused(form):  # type: ignore[valid-type,misc]
            def clean(self) -> dict[str, Any]:
                cleaned = super().clean()
                self.add_error(field if field in self.fields else None, message)
                return cleaned

        return Refused


def _changed(form: ModelForm[Any], field: str, *, change: bool) -> Any:
    """Return a field's new value, or None (the services' "leave as it is") if unchanged."""
    if change and field not in form.changed_data:
        return None
    return form.cleaned_data[field]


class MembershipForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ("role", "is_manager", "is_approved")
        help_texts = {
            "role": "Lobbyists publish their ballots for others to follow and cannot be anonymous.",
            "is_manager": "Managers approve members and create, publish and close decisions.",
            "is_approved": "Unapproved members have applied but cannot vote or be followed yet. "
            "Withdraw approval to remove someone; members leave by themselves.",
        }


class MembershipInline(admin.TabularInline):
    """The community's members, listed; each is changed on its own page (the link)."""

    model = Membership
    fields = ("user", "role", "is_manager", "is_anonymous", "is_approved", "joined_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class CommunityForm(forms.ModelForm):
    class Meta:
        model = Community
        fields = (
            "name",
            "description",
            "auto_approve_applications",
            "tie_break_policy",
            "results_are_public",
        )


@admin.register(Community)
class CommunityAdmin(ServiceAdmin):
    form = CommunityForm
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
    service_fields: ClassVar[dict[str, str]] = {"name": "name"}

    def get_queryset(self, request: HttpRequest) -> QuerySet[Community]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_members=Count("memberships", distinct=True),
                n_decisions=Count("decisions", distinct=True),
            )
        )

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is not None:
            return super().get_fieldsets(request, obj)
        fields = CommunityForm.Meta.fields
        # As in the app, whoever creates a community is its first manager.
        return ((None, {"fields": fields, "description": "You become its first manager."}),)

    @admin.display(description="Members", ordering="n_members")
    def member_count(self, community: Community) -> int:
        return getattr(community, "n_members", 0)

    @admin.display(description="Decisions", ordering="n_decisions")
    def decision_count(self, community: Community) -> int:
        return getattr(community, "n_decisions", 0)

    def save_through_service(
        self, request: HttpRequest, form: Any, formsets: Any, change: bool
    ) -> Model:
        policy = _changed(form, "tie_break_policy", change=change)
        settings = {
            "description": _changed(form, "description", change=change),
            "auto_approve_applications": _changed(form, "auto_approve_applications", change=change),
            "tie_break_policy": TieBreakPolicy(policy) if policy is not None else None,
            "results_are_public": _changed(form, "results_are_public", change=change),
        }
        if not change:
            return community_create(
                user=staff_user(request), name=form.cleaned_data["name"], **settings
            )
        return community_update(
            user=as_staff(request),
            community=form.instance,
            name=_changed(form, "name", change=change),
            **settings,
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Membership)
class MembershipAdmin(ServiceAdmin):
    """Approve members, change their role and manager flag: what the app lets managers do."""

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
    fields = list_display
    readonly_fields = ("user", "community", "shown_as", "is_anonymous", "joined_at")
    actions = ("approve",)
    service_fields: ClassVar[dict[str, str]] = {
        "role": "role",
        "isManager": "is_manager",
        "isApproved": "is_approved",
    }

    @admin.display(description="Shown as")
    def shown_as(self, membership: Membership) -> str:
        return display_name(membership)

    def save_through_service(
        self, request: HttpRequest, form: Any, formsets: Any, change: bool
    ) -> Model:
        role = _changed(form, "role", change=change)
        return membership_update(
            user=as_staff(request),
            membership=form.instance,
            role=Role(role) if role is not None else None,
            is_manager=_changed(form, "is_manager", change=change),
            is_approved=_changed(form, "is_approved", change=change),
        )

    @admin.action(description="Approve selected memberships", permissions=("change",))
    def approve(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        """Approve waiting members one by one, each through the service as managers do."""
        waiting = list(queryset.filter(is_approved=False).select_related("user", "community"))
        approved = 0
        for membership in waiting:
            try:
                membership_update(user=as_staff(request), membership=membership, is_approved=True)
            except (DomainError, Forbidden) as refusal:
                messages.error(request, f"{display_name(membership)}: {refusal}")
                continue
            approved += 1
            self.log_change(request, membership, "Approved")
        self.message_user(request, f"Approved {approved} membership(s).", messages.SUCCESS)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # People join in the app; a manager here approves them.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Following)
class FollowingAdmin(ReadOnlyAdmin):
    """Delegations, read-only: only the follower may follow, re-tag or unfollow."""

    list_display = ("follower", "followee", "community", "tag_list", "order", "updated_at")
    list_filter = ("community",)
    search_fields = ("follower__user__username", "followee__user__username", "community__name")
    list_select_related = ("follower__user", "followee__user", "community")
    fields = ("community", "follower", "followee", "tags", "order", "created_at", "updated_at")
    readonly_fields = fields

    @admin.display(description="Tags")
    def tag_list(self, following: Following) -> str:
        return ", ".join(following.tags) or "all topics"


def _is_draft(decision: Decision | None) -> bool:
    return decision is None or decision.status == DecisionStatus.DRAFT


class ChoiceInline(admin.TabularInline):
    """Choices can change only while the decision is a draft, before anyone voted."""

    model = Choice
    fields = ("title", "description", "position")
    extra = 0

    def get_extra(self, request: HttpRequest, obj: Decision | None = None, **kwargs: Any) -> int:
        return 2 if obj is None else 0

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return () if _is_draft(obj) else self.fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _is_draft(obj) and super().has_add_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _is_draft(obj) and super().has_delete_permission(request, obj)


def _choices(formsets: list[Any]) -> tuple[list[ChoiceSpec], bool]:
    """Return the choices the inline holds, in position order, and whether any changed."""
    rows: list[tuple[int, int, ChoiceSpec]] = []
    changed = False
    for formset in formsets:
        if formset.model is not Choice:
            continue
        changed = changed or formset.has_changed()
        for index, choice in enumerate(formset.forms):
            data = choice.cleaned_data
            if not data or choice in formset.deleted_forms:
                continue
            spec = ChoiceSpec(title=data["title"], description=data.get("description", ""))
            rows.append((data.get("position") or 0, index, spec))
    return [spec for _, _, spec in sorted(rows, key=lambda row: row[:2])], changed


@admin.register(Decision)
class DecisionAdmin(ServiceAdmin):
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
    service_fields: ClassVar[dict[str, str]] = {"title": "title", "closesAt": "closes_at"}

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if obj is None:
            return self.readonly_fields
        # Moving a decision to another community would hand its ballots to strangers, and
        # only a draft can be edited.
        edited = () if _is_draft(obj) else ("title", "description", "closes_at")
        return (*self.readonly_fields, "community", *edited)

    def save_through_service(
        self, request: HttpRequest, form: Any, formsets: Any, change: bool
    ) -> Model:
        choices, choices_changed = _choices(formsets)
        closes_at: datetime | None = _changed(form, "closes_at", change=change)
        if not change:
            return decision_create(
                user=as_staff(request),
                community=form.cleaned_data["community"],
                title=form.cleaned_data["title"],
                description=form.cleaned_data["description"],
                closes_at=form.cleaned_data["closes_at"],
                choices=choices,
            )
        return decision_update(
            user=as_staff(request),
            decision=form.instance,
            title=_changed(form, "title", change=change),
            description=_changed(form, "description", change=change),
            closes_at=closes_at,
            choices=choices if choices_changed else None,
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


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
class BallotAdmin(ReadOnlyAdmin):
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
