"""Rewrite stored triggers that froze a member's name ("<name> joined") to name nobody.

Triggers are read by every member and by visitors of public communities, so a name frozen
before its member turned anonymous would unmask them. Texts that name nobody are kept; every
other text is rewritten by its pattern, or to a generic text when none matches.
"""

from __future__ import annotations

import re

from django.db import migrations

KEPT = re.compile(
    r"^(Decision (open|closed)|Retry after a failure|Operator request"
    r"|Synthetic community of \d+ members seeded|Ballot cast|Ballot retracted"
    r"|Delegation changed|Delegation removed|Member joined|Membership changed|Member left"
    r"|Recalculation requested by a manager)$"
)
REWRITES = (
    (re.compile(r"^Ballot cast by "), "Ballot cast"),
    (re.compile(r"^Ballot retracted by "), "Ballot retracted"),
    (re.compile(r"^Recalculation requested by "), "Recalculation requested by a manager"),
    (re.compile(r"^Membership of .* changed$", re.S), "Membership changed"),
    (re.compile(r" unfollowed ", re.S), "Delegation removed"),
    (re.compile(r" follows ", re.S), "Delegation changed"),
    (re.compile(r" joined$"), "Member joined"),
    (re.compile(r" left$"), "Member left"),
)
GENERIC = "Community changed"


def name_free(trigger: str) -> str:
    if KEPT.match(trigger):
        return trigger
    for pattern, text in REWRITES:
        if pattern.search(trigger):
            return text
    return GENERIC


def rewrite(apps, schema_editor):
    calculation = apps.get_model("calc", "Calculation")
    rows = calculation.objects.values_list("pk", "trigger").iterator(chunk_size=2000)
    by_text: dict[str, list[int]] = {}
    for pk, trigger in rows:
        new = name_free(trigger)
        if new != trigger:
            by_text.setdefault(new, []).append(pk)
    for text, pks in by_text.items():
        for start in range(0, len(pks), 500):
            calculation.objects.filter(pk__in=pks[start : start + 500]).update(trigger=text)


class Migration(migrations.Migration):
    dependencies = [("calc", "0004_calculation_absorbed_by")]

    operations = [migrations.RunPython(rewrite, migrations.RunPython.noop)]
