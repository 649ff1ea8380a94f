"""Communities, memberships, followings, decisions, choices and direct ballots.

Integrity that the database can hold is declared here as constraints; rules that need
context (who may act, what may change in which status) live in ``democracy.services``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower

from democracy import errors


class Role(models.TextChoices):
    VOTER = "VOTER", "Voter"
    LOBBYIST = "LOBBYIST", "Lobbyist"


class TieBreakPolicy(models.TextChoices):
    LOT = "LOT", "Reproducible lot"
    UNRESOLVED = "UNRESOLVED", "Leave unresolved"


class DecisionStatus(models.TextChoices):
    DRAFT = "DRAFT", "Draft"
    OPEN = "OPEN", "Open"
    CLOSED = "CLOSED", "Closed"


class Community(models.Model):
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    auto_approve_applications = models.BooleanField(
        default=True, help_text="Approve people who join without a manager's review."
    )
    tie_break_policy = models.CharField(
        max_length=12, choices=TieBreakPolicy.choices, default=TieBreakPolicy.LOT
    )
    results_are_public = models.BooleanField(
        default=False, help_text="Anyone, signed in or not, may see decisions and results."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "communities"
        ordering = ["id"]
        constraints = [
            # The service's message, for forms (the admin's) that check constraints first.
            models.UniqueConstraint(
                Lower("name"),
                name="community_name_unique_ci",
                violation_error_message=errors.NAME_TAKEN,
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VOTER)
    is_manager = models.BooleanField(default=False)
    is_anonymous = models.BooleanField(
        default=False, help_text="Shown by a stable pseudonym wherever results are shown."
    )
    is_approved = models.BooleanField(default=True)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "community"], name="membership_once"),
            models.CheckConstraint(
                condition=~Q(role=Role.LOBBYIST, is_anonymous=True),
                name="membership_lobbyist_not_anonymous",
            ),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="membership_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.community}"


class Following(models.Model):
    """``follower`` delegates to ``followee`` on ``tags`` (empty: every topic)."""

    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="followings")
    follower = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="following")
    followee = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="followers")
    tags = models.JSONField(default=list, blank=True, help_text="Normalised tags; empty = all.")
    order = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["follower_id", "order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["follower", "followee"], name="following_once"),
            models.CheckConstraint(condition=~Q(follower=F("followee")), name="following_not_self"),
            models.CheckConstraint(condition=Q(order__gte=1), name="following_order_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.follower_id} → {self.followee_id}"


class Decision(models.Model):
    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="decisions")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    status = models.CharField(
        max_length=6, choices=DecisionStatus.choices, default=DecisionStatus.DRAFT
    )
    closes_at = models.DateTimeField()
    created_by = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    # Recalculation bookkeeping, written only by calc's worker: before its snapshot it stamps
    # the changes waiting in the decision's log with generation N+1 (requested); once it has
    # calculated generation N, it marks it completed. Changes themselves never write here.
    calc_requested_gen = models.PositiveBigIntegerField(default=0, editable=False)
    calc_completed_gen = models.PositiveBigIntegerField(default=0, editable=False)
    calc_lease_owner = models.CharField(max_length=120, blank=True, editable=False)
    calc_lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    calc_failures = models.PositiveSmallIntegerField(default=0, editable=False)
    calc_retry_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The channel of the worker keeping this decision's state: its wake-ups go there.
    calc_kept_by = models.CharField(max_length=100, blank=True, editable=False)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["status", "closes_at"], name="decision_status_closes"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=DecisionStatus.values), name="decision_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.title


class Choice(models.Model):
    decision = models.ForeignKey(Decision, on_delete=models.CASCADE, related_name="choices")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint("decision", Lower("title"), name="choice_title_unique_ci"),
        ]

    def __str__(self) -> str:
        return self.title


class Ballot(models.Model):
    """A member's own (direct) ballot; delegated ballots exist only in calculations."""

    decision = models.ForeignKey(Decision, on_delete=models.CASCADE, related_name="ballots")
    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="ballots")
    tags = models.JSONField(default=list, blank=True)
    comment = models.TextField(blank=True, max_length=2000)
    cast_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["decision", "membership"], name="ballot_once"),
        ]

    def __str__(self) -> str:
        return f"Ballot of {self.membership_id} on {self.decision_id}"


class BallotStar(models.Model):
    ballot = models.ForeignKey(Ballot, on_delete=models.CASCADE, related_name="stars")
    choice = models.ForeignKey(Choice, on_delete=models.CASCADE, related_name="+")
    stars = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["choice__position", "choice_id"]
        constraints = [
            models.UniqueConstraint(fields=["ballot", "choice"], name="ballot_star_once"),
            models.CheckConstraint(
                condition=Q(stars__gte=0, stars__lte=5), name="ballot_star_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.stars} stars for choice {self.choice_id}"
