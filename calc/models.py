"""Calculations: one row per recalculation of a decision, with its frozen input and result."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.json_text import JSONTextField
from democracy.models import Decision


class CalculationStatus(models.TextChoices):
    QUEUED = "QUEUED", "Queued"
    CREATING = "CREATING", "Creating snapshot"
    READY = "READY", "Snapshot ready"
    STAGING = "STAGING", "Resolving delegated ballots"
    TALLYING = "TALLYING", "Tallying"
    COMPLETED = "COMPLETED", "Completed"
    FAILED = "FAILED", "Failed"
    # Queued, then covered by a running calculation's snapshot before it ran: see absorbed_by.
    ABSORBED = "ABSORBED", "Absorbed by a running calculation"


RUNNING = (
    CalculationStatus.CREATING,
    CalculationStatus.READY,
    CalculationStatus.STAGING,
    CalculationStatus.TALLYING,
)


class Calculation(models.Model):
    """One calculation of a decision from one consistent snapshot (``stored_snapshot``)."""

    decision = models.ForeignKey(Decision, on_delete=models.CASCADE, related_name="calculations")
    generation = models.PositiveBigIntegerField(
        default=0, help_text="The decision's requested generation this calculation read."
    )
    status = models.CharField(
        max_length=10, choices=CalculationStatus.choices, default=CalculationStatus.QUEUED
    )
    failed_stage = models.CharField(max_length=10, choices=CalculationStatus.choices, blank=True)
    trigger = models.CharField(max_length=250)
    change_count = models.PositiveIntegerField(
        default=1, help_text="Changes covered: the trigger and those absorbed while queued."
    )
    requested_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    retry_count = models.PositiveSmallIntegerField(default=0)
    is_final = models.BooleanField(default=False)
    content_hash = models.CharField(max_length=64, blank=True)
    results = JSONTextField(null=True, blank=True)
    worker = models.CharField(max_length=120, blank=True)
    absorbed_by = models.ForeignKey(
        "self",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="absorbed",
        help_text="The calculation whose snapshot covered this one's changes before it ran.",
    )

    class Meta:
        ordering = ["-id"]
        get_latest_by = "id"
        constraints = [
            models.UniqueConstraint(
                fields=["decision"], condition=Q(is_final=True), name="calculation_one_final"
            ),
            models.UniqueConstraint(
                fields=["decision"],
                condition=Q(status=CalculationStatus.QUEUED),
                name="calculation_one_queued",
            ),
            models.CheckConstraint(
                condition=Q(status__in=CalculationStatus.values), name="calculation_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(is_final=True) | Q(status=CalculationStatus.COMPLETED),
                name="calculation_final_is_completed",
            ),
            models.CheckConstraint(
                condition=Q(status=CalculationStatus.ABSORBED, absorbed_by__isnull=False)
                | (~Q(status=CalculationStatus.ABSORBED) & Q(absorbed_by__isnull=True)),
                name="calculation_absorbed_by_another",
            ),
        ]
        indexes = [models.Index(fields=["decision", "status"], name="calculation_decision_status")]

    def __str__(self) -> str:
        return f"Calculation {self.pk} of decision {self.decision_id} ({self.status})"


class StoredSnapshot(models.Model):
    """The frozen input of one calculation, in a row of its own: whole, or as what changed.

    Apart from the calculation, so that its status updates never rewrite megabytes. A whole
    snapshot holds ``canonical``, the canonical JSON zlib-compressed (its SHA-256 is the
    content hash), and ``columns``, the same input as compressed arrays read back in
    milliseconds (empty for snapshots stored before it existed). A snapshot stored as what
    changed holds only ``delta``, the changes from ``previous`` (``calc/snapshot_delta.py``);
    ``depth`` counts the deltas back to a whole one.
    """

    calculation = models.OneToOneField(
        Calculation, on_delete=models.CASCADE, primary_key=True, related_name="stored_snapshot"
    )
    canonical = models.BinaryField(blank=True, default=b"")
    columns = models.BinaryField(blank=True, default=b"")
    # RESTRICT: a snapshot another one is built on cannot go alone (pruning re-bases first),
    # but both may go together, as when their decision is deleted.
    previous = models.ForeignKey(
        "self", on_delete=models.RESTRICT, null=True, blank=True, related_name="next"
    )
    delta = models.BinaryField(blank=True, default=b"")
    depth = models.PositiveSmallIntegerField(default=0)

    def __str__(self) -> str:
        return f"Snapshot of calculation {self.pk}"


class ChangeKind(models.TextChoices):
    BALLOT = "BALLOT", "A ballot (member_id's on this decision)"
    FOLLOWING = "FOLLOWING", "A following (member_id follows other_id)"
    MEMBERSHIP = "MEMBERSHIP", "A membership (member_id), with its ballot and followings"
    WHOLE = "WHOLE", "Anything else: the next calculation reads the decision whole"


class Change(models.Model):
    """One change to a decision's input: which rows to read again, not their values.

    Appended by the change's own transaction, which takes only a share lock on the decision
    (so ballots never wait for each other). ``generation`` is NULL until a worker stamps the
    waiting changes with the decision's next generation, just before its snapshot
    (``calc.calculation_rows.generation_stamped``): a worker that kept generation N reads
    N+1… from here, and reads the decision whole when any is missing.
    """

    # Looked up by the indexes below, which start with it.
    decision = models.ForeignKey(
        Decision, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    generation = models.PositiveBigIntegerField(null=True, blank=True)
    kind = models.CharField(max_length=10, choices=ChangeKind.choices)
    member_id = models.BigIntegerField(null=True, blank=True)
    other_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["decision", "generation"], name="change_decision_generation"),
            # Every cast counts its decision's waiting changes and every stamp updates them:
            # a decision's whole log, which a storm grows by hundreds a second, is not read.
            models.Index(
                fields=["decision"], condition=Q(generation__isnull=True), name="change_waiting"
            ),
        ]

    def __str__(self) -> str:
        stamped = "waiting" if self.generation is None else f"generation {self.generation}"
        return f"Change of decision {self.decision_id}, {stamped} ({self.kind})"
