"""Admin for people and their sign-in secrets.

Secrets are stored hashed and are never editable here: tokens and links are shown by a
short hash prefix only, and a token is revoked through its service (kept for the record),
not edited or deleted. People are deactivated, not deleted: deleting a user would take
their memberships, delegations and ballots with them, past the checks of leaving.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm, UsernameField
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.utils import timezone

from accounts.models import ApiToken, MagicLink, User
from accounts.services.tokens import token_revoke

if TYPE_CHECKING:
    from django.db.models import QuerySet
    from django.http import HttpRequest

HASH_PREFIX_LENGTH = 8


def hash_prefix(token_hash: str) -> str:
    """Return enough of a hash to tell two secrets apart, not enough to be useful."""
    return f"{token_hash[:HASH_PREFIX_LENGTH]}…"


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows staff may look at, but not add, change or delete: no service lets them write these."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


def staff_user(request: HttpRequest) -> User:
    """Return the signed-in user of an admin request, whom services name in the event log."""
    if not isinstance(request.user, User):  # the admin site lets only staff in
        raise PermissionDenied
    return request.user


EMAIL_TAKEN = "Another account already uses this email address."


def email_free(email: str, *, user: User) -> str:
    """Return ``email`` lower-cased, or raise if another account uses it in any case."""
    email = email.strip().lower()
    if email and User.objects.filter(email__iexact=email).exclude(pk=user.pk).exists():
        raise forms.ValidationError(EMAIL_TAKEN, code="email_taken")
    return email


class UserCreateForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("username", "email")
        field_classes = {"username": UsernameField}
        help_texts = {
            "email": "Sign-in links are sent here. Leave empty for script-only accounts.",
        }

    def clean_email(self) -> str:
        return email_free(self.cleaned_data["email"], user=self.instance)


class UserEditForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"
        field_classes = {"username": UsernameField}
        help_texts = {
            "email": "Sign-in links are sent here. Each address belongs to one account.",
        }

    def clean_email(self) -> str:
        return email_free(self.cleaned_data["email"], user=self.instance)


class ApiTokenInline(admin.TabularInline):
    model = ApiToken
    fields = ("name", "short_hash", "created_at", "last_used_at", "revoked_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name = "API token"

    @admin.display(description="Token hash")
    def short_hash(self, token: ApiToken) -> str:
        return hash_prefix(token.token_hash)

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserEditForm
    add_form = UserCreateForm
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("username", "email", "usable_password", "password1", "password2"),
                "description": (
                    "People normally sign in with an emailed link and need no password: "
                    "leave password-based authentication disabled unless they use the admin."
                ),
            },
        ),
    )
    list_display = ("username", "email", "is_active", "is_staff", "active_tokens", "last_login")
    list_filter = ("is_active", "is_staff", "is_superuser")
    search_fields = ("username", "email", "first_name", "last_name")
    inlines = (ApiTokenInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                active_token_count=Count(
                    "api_tokens", filter=Q(api_tokens__revoked_at__isnull=True)
                )
            )
        )

    @admin.display(description="Active API tokens", ordering="active_token_count")
    def active_tokens(self, user: User) -> int:
        return getattr(user, "active_token_count", 0)

    def get_inlines(self, request: HttpRequest, obj: User | None) -> list[type]:
        return list(self.inlines) if obj is not None else []

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    """Read-only list of tokens; the only change is the "revoke" action."""

    list_display = (
        "__str__",
        "user",
        "name",
        "short_hash",
        "is_active",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    list_filter = (("revoked_at", admin.EmptyFieldListFilter), "created_at")
    search_fields = ("user__username", "user__email", "name")
    list_select_related = ("user",)
    fields = ("user", "name", "short_hash", "created_at", "last_used_at", "revoked_at")
    readonly_fields = fields
    actions = ("revoke",)
    date_hierarchy = "created_at"

    @admin.display(description="Token hash")
    def short_hash(self, token: ApiToken) -> str:
        return hash_prefix(token.token_hash)

    @admin.display(description="Active", boolean=True)
    def is_active(self, token: ApiToken) -> bool:
        return token.is_active

    @admin.action(description="Revoke selected tokens", permissions=("revoke",))
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        """Revoke each active token; requests carrying it are anonymous from now on."""
        tokens = list(queryset.filter(revoked_at__isnull=True).select_related("user"))
        for token in tokens:
            token_revoke(token=token, by=staff_user(request))
            self.log_change(request, token, "Revoked")
        self.message_user(request, f"Revoked {len(tokens)} token(s).", messages.SUCCESS)

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("accounts.change_apitoken")


class MagicLinkStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("pending", "Waiting"), ("used", "Used"), ("expired", "Expired unused")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[MagicLink]) -> QuerySet[MagicLink]:
        now = timezone.now()
        if self.value() == "pending":
            return queryset.filter(used_at__isnull=True, expires_at__gt=now)
        if self.value() == "used":
            return queryset.filter(used_at__isnull=False)
        if self.value() == "expired":
            return queryset.filter(used_at__isnull=True, expires_at__lte=now)
        return queryset


@admin.register(MagicLink)
class MagicLinkAdmin(ReadOnlyAdmin):
    """Read-only record of sign-in links, to answer "did my email arrive?" questions."""

    list_display = (
        "email",
        "status",
        "requested_ip",
        "created_at",
        "expires_at",
        "used_at",
        "short_hash",
    )
    list_filter = (MagicLinkStatusFilter, "created_at")
    search_fields = ("email", "requested_ip")
    fields = list_display
    readonly_fields = fields
    date_hierarchy = "created_at"

    @admin.display(description="Token hash")
    def short_hash(self, link: MagicLink) -> str:
        return hash_prefix(link.token_hash)

    @admin.display(description="Status")
    def status(self, link: MagicLink) -> str:
        if link.used_at is not None:
            return "Used"
        return "Expired unused" if link.expires_at <= timezone.now() else "Waiting"
