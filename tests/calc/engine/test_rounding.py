"""One rounding rule: exact division half to even, alike on integers and on arrays."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from calc.engine.rounding import average, divide_half_even


@given(st.integers(min_value=0, max_value=10**30), st.integers(min_value=1, max_value=10**12))
def test_integers_round_like_exact_fractions(num: int, den: int) -> None:
    assert divide_half_even(num, den) == round(Fraction(num, den))


@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=5 * 10**8 * 10**6),
            st.integers(min_value=1, max_value=10**6),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_arrays_round_like_integers(pairs: list[tuple[int, int]]) -> None:
    num = np.array([n for n, _ in pairs], dtype=np.int64)
    den = np.array([d for _, d in pairs], dtype=np.int64)
    got = divide_half_even(num, den)
    assert got.dtype == np.int64
    assert got.tolist() == [divide_half_even(n, d) for n, d in pairs]


def test_halves_go_to_the_even_neighbour() -> None:
    assert [divide_half_even(n, 2) for n in (1, 3, 5, 7)] == [0, 2, 2, 4]
    assert divide_half_even(np.array([[1], [3]], dtype=np.int64), np.array([2])).tolist() == [
        [0],
        [2],
    ]


def test_average_is_eight_places_and_zero_without_items() -> None:
    assert average(2 * 10**8, 3) == Decimal("0.66666667")
    assert format(average(0, 0), "f") == "0.00000000"
