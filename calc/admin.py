"""Calculations in the admin: read-only history of every recalculation, for audit.

Only the worker writes calculations; deleting one would hide what was computed.
"""

from __future__ import annotations

import json

from django.contrib import admin
from django.db.models.functions import Length

from accounts.admin import ReadOnlyAdmin
from calc.models import Calculation, StoredSnapshot


@admin.register(Calculation)
class CalculationAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "decision",
        "status",
        "is_final",
        "trigger",
        "requested_at",
        "duration_ms",
        "retry_count",
    )
    list_filter = ("status", "is_final", "decision__community")
    search_fields = ("decision__title", "trigger", "content_hash")
    exclude = ("results",)  # shown as JSON by results_json
    date_hierarchy = "requested_at"
    readonly_fields = (
        "decision",
        "generation",
        "status",
        "absorbed_by",
        "failed_stage",
        "trigger",
        "requested_at",
        "started_at",
        "finished_at",
        "duration_ms",
        "error",
        "retry_count",
        "is_final",
        "content_hash",
        "snapshot_size",
        "results_json",
        "worker",
    )

    @admin.display(description="Results")
    def results_json(self, calculation: Calculation) -> str:
        return json.dumps(calculation.results) if calculation.results is not None else "-"

    @admin.display(description="Snapshot stored (bytes: whole, or the changes to the previous)")
    def snapshot_size(self, calculation: Calculation) -> int:
        return (
            StoredSnapshot.objects.filter(calculation=calculation)
            .annotate(size=Length("canonical") + Length("columns") + Length("delta"))
            .values_list("size", flat=True)
            .first()
            or 0
        )
