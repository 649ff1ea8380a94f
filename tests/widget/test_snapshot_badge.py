"""The FINAL badge is a link, filled in by widget.js with the final snapshot and its hash."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

from tests.widget.test_views import public_decision, widget_url

pytestmark = pytest.mark.django_db


def test_the_final_badge_is_a_link_with_a_place_for_the_hash() -> None:
    html = Client().get(widget_url(public_decision())).content.decode()

    assert (
        '<a class="badge" id="final-badge" target="_blank" rel="noopener" hidden>'
        'FINAL <code id="final-hash"></code></a>'
    ) in html


def test_the_script_asks_for_the_final_snapshot_s_url_and_hash() -> None:
    found = finders.find("widget/widget.js")
    assert found
    script = Path(found).read_text(encoding="utf-8")

    assert "... on Calculation { snapshotUrl snapshotHash }" in script
    assert "if (results.isFinal) showSnapshot(results.calculationId);" in script
