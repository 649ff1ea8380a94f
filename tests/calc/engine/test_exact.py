"""The exact step: budgeted by the words its fractions hold, undecided per component."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from calc.engine.exact import COMPONENT_SHARE, _Budget, _closure, _solve_closure, solve_exact

IntArray = npt.NDArray[np.int64]
Graph = tuple[IntArray, IntArray, IntArray, IntArray]  # k, rhs, indptr, indices
HALF_BILLION = 200_000_000  # 1 / 2·10⁸ = 0.000000005, a half at the ninth place


def _graph(succ: list[list[int]], k: list[int], rhs: list[int]) -> Graph:
    indptr = np.zeros(len(succ) + 1, dtype=np.int64)
    np.cumsum([len(s) for s in succ], out=indptr[1:])
    indices = np.array([f for s in succ for f in s], dtype=np.int64)
    return (
        np.array(k, dtype=np.int64),
        np.array(rhs, dtype=np.int64)[:, None],
        indptr,
        indices,
    )


def _ring(n: int, num: int) -> Graph:
    """Member 0 holds num / 2·10⁸; members 1..n follow the next in a ring, 1 also member 0.

    Every ring member's value is exactly member 0's.
    """
    succ: list[list[int]] = [[]] + [[v % n + 1] for v in range(1, n + 1)]
    succ[1].append(0)
    return _graph(succ, [HALF_BILLION] + [2] + [1] * (n - 1), [num] + [0] * n)


def _tangle(n: int, extra: int, seed: int) -> tuple[list[list[int]], list[int]]:
    """Member 0 is a voter; 1..n a ring where each also follows ``extra`` random members."""
    rng = np.random.default_rng(seed)
    succ: list[list[int]] = [[]]
    for v in range(1, n + 1):
        s = {v % n + 1} | {int(f) for f in rng.integers(1, n + 1, size=extra)}
        s.discard(v)
        succ.append(sorted(s | ({0} if v == 1 else set())))
    return succ, [1] + [len(s) for s in succ[1:]]


def _solve(graph: Graph, rows: list[int], budget: int | None = None) -> tuple[list, list]:
    k, rhs, indptr, indices = graph
    extra = {} if budget is None else {"budget": budget}
    stars, decided = solve_exact(
        rows=np.array(rows, dtype=np.int64),
        cols=np.zeros(len(rows), dtype=np.int64),
        k=k,
        rhs=rhs,
        adj_indptr=indptr,
        adj_indices=indices,
        **extra,
    )
    return stars.tolist(), decided.tolist()


@pytest.mark.parametrize(("num", "stars"), [(1, 0), (199_999_999, 100_000_000)])
def test_a_ring_of_hundreds_holding_a_half_is_rounded_half_to_even(num: int, stars: int) -> None:
    """0.000000005 goes down to 0, 0.999999995 up to 1.00000000 (both even)."""
    got, decided = _solve(_ring(401, num), [1, 200, 401])
    assert decided == [True] * 3
    assert got == [stars] * 3


def test_a_sparse_ring_of_thousands_fits_the_default_budget() -> None:
    got, decided = _solve(_ring(2_000, 1), [1_000])
    assert (got, decided) == ([0], [True])


def _tangle_beside_a_chain() -> Graph:
    """A dense tangle (0..200), then y (a half-billionth of 2), x following y alone
    (exactly 0.000000005) and z following the tangle and y.
    """
    succ, k = _tangle(200, 2, seed=1)
    y = len(succ)  # x = y + 1, z = y + 2
    succ += [[], [y], [1, y]]
    return _graph(succ, [*k, HALF_BILLION // 2, 2, 2], [1] + [0] * 200 + [1, 0, 0])


def test_a_value_beside_a_tangle_past_its_budget_is_still_exact() -> None:
    graph = _tangle_beside_a_chain()
    x, z = graph[0].size - 2, graph[0].size - 1
    got, decided = _solve(graph, [x, 5, z], budget=100_000)
    assert decided == [True, False, False]  # z follows the tangle: undecided too
    assert got[0] == 0  # 0.000000005, half to even


def test_a_dense_tangle_stops_within_its_share_of_the_budget() -> None:
    k, rhs, indptr, indices = _tangle_beside_a_chain()
    total = 100_000
    budget = _Budget(total)
    nodes = _closure(np.array([k.size - 1]), indptr, indices).tolist()
    exact = _solve_closure(nodes, [0], k, rhs, indptr, indices, budget)
    assert set(exact) == {0, k.size - 3}  # the voter and y; not the tangle, not z
    spent = total - budget.left
    share = total // COMPONENT_SHARE
    # Stopped at the first step past its share: one step costs a few hundred at most here.
    assert share < spent < share + 2_000
