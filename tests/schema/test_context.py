"""Global IDs: the one decoder the API and the widget share."""

from __future__ import annotations

import base64

import pytest

from core.errors import DomainError
from schema.context import decode_pk, global_pk


def global_id(type_name: str, pk: object) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (global_id("Decision", 12), 12),
        (global_id("Decision", ""), None),
        (global_id("Decision", "-1"), None),
        (global_id("Choice", 12), None),
        ("RGVjaXNpb246MTI", None),  # missing padding
        (base64.b64encode(b"Decision12").decode(), None),  # no colon
        ("", None),
        # Other digits than 0-9: "٣" would alias decision 3, "²" made int() fail.
        (global_id("Decision", "٣"), None),
        (global_id("Decision", "²"), None),
        (global_id("Decision", "\uff11\uff12"), None),  # full-width 12
        (global_id("Decision", " 12"), None),
        (global_id("Decision", 2**63 - 1), 2**63 - 1),
        (global_id("Decision", 2**63), None),  # beyond any database key
        (global_id("Decision", "9" * 5000), None),  # beyond int()'s digit limit
    ],
)
def test_global_pk_reads_only_ids_of_the_named_type(raw: str, expected: int | None) -> None:
    assert global_pk(raw, type_name="Decision") == expected


def test_decode_pk_refuses_an_id_of_another_type_with_invalid_id() -> None:
    with pytest.raises(DomainError) as refused:
        decode_pk(global_id("Choice", 12), type_name="Decision", field="decisionId")
    assert (refused.value.code, refused.value.field) == ("INVALID_ID", "decisionId")
