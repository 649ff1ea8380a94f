"""Scalars whose wire format is part of the contract."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import strawberry


def _serialize(value: Decimal) -> str:
    # Fixed-point always: str() would print zero with 8 places as "0E-8".
    return format(value, "f")


def _parse(value: object) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a decimal number") from None


DECIMAL = strawberry.scalar(
    name="Decimal",
    description='A fixed-point decimal number as a string, e.g. "3.66666667".',
    serialize=_serialize,
    parse_value=_parse,
)
