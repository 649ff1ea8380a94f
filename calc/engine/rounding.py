"""Exact division rounded half to even: the one rounding rule of every star value."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from calc.engine.types import scaled_to_decimal

if TYPE_CHECKING:
    from decimal import Decimal

    import numpy as np
    import numpy.typing as npt

N = TypeVar("N", int, "npt.NDArray[np.int64]")


def divide_half_even(num: N, den: N) -> N:
    """Return ``num / den`` rounded half to even, exactly (``den > 0``).

    Works alike on Python integers (any size, as exact fractions need) and on int64 arrays
    (element-wise, broadcasting), so scalar and vectorised paths cannot round differently.
    """
    q, r = divmod(num, den)
    twice = 2 * r
    up = (twice > den) | ((twice == den) & (q % 2 == 1))
    return q + up


def average(total: int, count: int) -> Decimal:
    """Return ``total / count`` (10⁻⁸ units per item) as 8 places, half to even; 0 if none."""
    return scaled_to_decimal(divide_half_even(total, count) if count else 0)
