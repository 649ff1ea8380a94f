"""The event log as the admin sees it: a model without a table.

It gives the admin index an entry and Django a permission, ``crowdvote.view_eventlog``,
that an administrator can grant to staff who monitor the site; the rows are lines of the
log files, read by ``core.logread``.
"""

from __future__ import annotations

from django.db import models


class EventLog(models.Model):
    class Meta:
        managed = False
        default_permissions = ("view",)
        verbose_name = "event log"
        verbose_name_plural = "event log"

    def __str__(self) -> str:
        return "event log"
