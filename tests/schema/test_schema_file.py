"""The committed ``schema.graphql`` is the code's schema: an API change is a reviewed diff.

Code generators and front ends read that file; tests/schema/api_contract.graphql instead
lists the names clients were promised, which the schema may grow beyond.
"""

from __future__ import annotations

import difflib
from io import StringIO
from pathlib import Path

from django.core.management import call_command

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema.graphql"
REGENERATE = "python manage.py export_schema > schema.graphql"


def test_committed_schema_file_is_the_code_schema() -> None:
    out = StringIO()
    call_command("export_schema", stdout=out)
    exported = out.getvalue()
    committed = SCHEMA_FILE.read_text() if SCHEMA_FILE.exists() else ""

    diff = "".join(
        difflib.unified_diff(
            committed.splitlines(keepends=True),
            exported.splitlines(keepends=True),
            "schema.graphql (committed)",
            "export_schema (code)",
        )
    )
    assert not diff, (
        "The API changed but schema.graphql did not. If the change is deliberate, run "
        f"`{REGENERATE}` and commit the file with the change.\n{diff}"
    )
