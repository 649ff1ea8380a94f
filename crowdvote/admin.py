"""The admin's event log page: recent lines of the event log, newest first.

Lines are shown as the log wrote them: the actor is a username, an anonymous member's
pseudonym or ``system``, and nothing is looked up to name anyone else. Only superusers and
staff granted ``crowdvote.view_eventlog`` may open it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path

from accounts.admin import ReadOnlyAdmin
from core.logread import LEVELS, EventQuery, LogEntry, LogScan, events_page
from core.logs import Event
from crowdvote.models import EventLog

if TYPE_CHECKING:
    from django.http import HttpRequest
    from django.urls import URLPattern

PAGE_SIZE = 100
MAX_PAGE = 1000


class EventLogFilter(forms.Form):
    level = forms.ChoiceField(
        required=False,
        choices=[("", "All levels"), *((level, f"{level} and above") for level in LEVELS[1:])],
    )
    event = forms.ChoiceField(
        required=False, choices=[("", "All events"), *((event, event) for event in Event)]
    )
    q = forms.CharField(required=False, max_length=200, strip=True, label="Search")
    p = forms.IntegerField(required=False, min_value=1, max_value=MAX_PAGE, label="Page")


@admin.register(EventLog)
class EventLogAdmin(ReadOnlyAdmin):
    # How much of the log one page may read, from the newest line back (about 50,000 lines).
    scan_bytes = 8 * 1024 * 1024

    def get_urls(self) -> list[URLPattern]:
        # One page and no rows: the change, history and delete views have nothing to show.
        name = f"{self.opts.app_label}_{self.opts.model_name}_changelist"
        return [path("", self.admin_site.admin_view(self.changelist_view), name=name)]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> TemplateResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = EventLogFilter(request.GET)
        scan = LogScan(settings.LOG_DIR, max_bytes=self.scan_bytes)
        entries: list[LogEntry] = []
        has_older, page = False, 1
        if form.is_valid():
            page = form.cleaned_data["p"] or 1
            query = EventQuery(
                min_level=form.cleaned_data["level"],
                event=form.cleaned_data["event"],
                text=form.cleaned_data["q"],
            )
            entries, has_older = events_page(
                scan, query, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
            )
        context = {
            **self.admin_site.each_context(request),
            "title": "Event log",
            "opts": self.opts,
            "form": form,
            "entries": entries,
            "scan": scan,
            "newer_url": _page_url(request, page - 1) if page > 1 else "",
            "older_url": _page_url(request, page + 1) if has_older and page < MAX_PAGE else "",
            "page": page,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/crowdvote/eventlog/change_list.html", context)


def _page_url(request: HttpRequest, page: int) -> str:
    query = request.GET.copy()
    query["p"] = str(page)
    return f"?{query.urlencode()}"
