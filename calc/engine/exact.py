"""Exact stars, with fractions, for the few values floating point cannot round with certainty.

Only the members a doubtful value depends on (its closure under active followings) are
solved: strongly connected components sinks first, singletons by averaging, cycles by
sparse Gaussian elimination. The work is bounded by its cost, not by a size: every fraction
operation is counted in machine words of the integers it handles (``WORD_BUDGET`` for one
call, at most ``1/COMPONENT_SHARE`` of it for one component), so a sparse ring of thousands
is solved while a dense tangle, whose fractions grow with every elimination, stops early.
A component past its budget is left undecided, and so is every component depending on it;
the caller keeps the floating-point rounding of those values only, which can differ from the
exact one only for a value within its error bound (1e-13 or less) of a boundary. Closures
of more than ``MAX_CLOSURE`` members are not searched at all.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np

from calc.engine.rounding import divide_half_even
from calc.engine.types import STAR_SCALE

if TYPE_CHECKING:
    import numpy.typing as npt

MAX_CLOSURE = 200_000
# Word operations of one call: about a second of fraction arithmetic on the 2-core machine
# (1.2-1.4 million a second on dense cycles, measured); a component may take half of it.
WORD_BUDGET = 1_500_000
COMPONENT_SHARE = 2
# Python's bookkeeping per cycle member (about 50 us), in word operations.
_MEMBER_COST = 50
# Plain integer sums and products (a singleton's averaging, no gcd per term) cost per word
# about a thirtieth of a fraction operation.
_PLAIN_WORDS = 32

_Exact = dict[int, tuple[int, list[int]]]  # member -> shared denominator, numerators


class _OverBudgetError(Exception):
    """The component would cost more than its budget; its values stay undecided."""


class _Budget:
    """Word operations left for the call and for the component being solved."""

    def __init__(self, total: int) -> None:
        self.share = total // COMPONENT_SHARE
        self.left = total
        self.component = 0

    def start_component(self) -> None:
        self.component = min(self.left, self.share)

    def spend(self, cost: int) -> None:
        self.left -= cost
        self.component -= cost
        if self.component < 0:
            raise _OverBudgetError


def _words(x: int) -> int:
    """Machine words of ``x``: what an operation on it costs, roughly."""
    return x.bit_length() // 64 + 1


def _fwords(x: Fraction) -> int:
    return _words(x.numerator) + _words(x.denominator)


def solve_exact(
    *,
    rows: npt.NDArray[np.int64],
    cols: npt.NDArray[np.int64],
    k: npt.NDArray[np.int64],
    rhs: npt.NDArray[np.int64],
    adj_indptr: npt.NDArray[np.int64],
    adj_indices: npt.NDArray[np.int64],
    budget: int = WORD_BUDGET,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Return exact rounded stars at (rows, cols) of ``k x - adj x = rhs`` and a mask of
    those decided; undecided ones (past the budget) are 0, for the caller to round.
    """
    stars = np.zeros(rows.size, dtype=np.int64)
    decided = np.zeros(rows.size, dtype=np.bool_)
    closure = _closure(np.unique(rows), adj_indptr, adj_indices)
    if closure.size > MAX_CLOSURE:
        return stars, decided
    needed = sorted(set(cols.tolist()))
    col_at = {c: i for i, c in enumerate(needed)}
    exact = _solve_closure(
        closure.tolist(), needed, k, rhs, adj_indptr, adj_indices, _Budget(budget)
    )
    for i, (r, c) in enumerate(zip(rows.tolist(), cols.tolist(), strict=True)):
        if r in exact:
            den, nums = exact[r]
            stars[i] = divide_half_even(nums[col_at[c]] * STAR_SCALE, den)
            decided[i] = True
    return stars, decided


def _closure(
    start: npt.NDArray[np.int64], indptr: npt.NDArray[np.int64], indices: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    seen = np.zeros(indptr.size - 1, dtype=np.bool_)
    seen[start] = True
    frontier = start
    while frontier.size:
        nxt = np.concatenate([indices[indptr[v] : indptr[v + 1]] for v in frontier.tolist()])
        nxt = np.unique(nxt[~seen[nxt]]) if nxt.size else nxt
        seen[nxt] = True
        frontier = nxt
    return np.flatnonzero(seen)


def _components(
    nodes: list[int], indptr: npt.NDArray[np.int64], indices: npt.NDArray[np.int64]
) -> list[list[int]]:
    """Return strongly connected components, sinks first (iterative Tarjan)."""
    succ = {v: indices[indptr[v] : indptr[v + 1]].tolist() for v in nodes}
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[int] = []
    out: list[list[int]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, 0)]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, i = work[-1]
            if i < len(succ[v]):
                work[-1] = (v, i + 1)
                w = succ[v][i]
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, 0))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
            if low[v] == index[v]:
                comp: list[int] = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                out.append(sorted(comp))
    return out


def _solve_closure(
    nodes: list[int],
    needed: list[int],
    k: npt.NDArray[np.int64],
    rhs: npt.NDArray[np.int64],
    indptr: npt.NDArray[np.int64],
    indices: npt.NDArray[np.int64],
    budget: _Budget,
) -> _Exact:
    """Return exact values of the closure members that fit the budget, sinks first.

    Values are kept as one shared denominator and integer numerators per member (all
    choices share the same averaging weights), which avoids a gcd per fraction operation.
    A component past its budget, or following one, is left out.
    """
    exact: _Exact = {}
    undecided: set[int] = set()
    for comp in _components(nodes, indptr, indices):
        outside = _successors(comp, indptr, indices)
        if undecided.intersection(outside):
            undecided.update(comp)
            continue
        budget.start_component()
        try:
            if len(comp) == 1:
                _single(comp[0], outside, needed, k, rhs, exact, budget)
            else:
                _cycle(comp, needed, k, rhs, indptr, indices, exact, budget)
        except _OverBudgetError:
            undecided.update(comp)
    return exact


def _successors(
    comp: list[int], indptr: npt.NDArray[np.int64], indices: npt.NDArray[np.int64]
) -> list[int]:
    """Return the members ``comp`` follows outside itself."""
    members = set(comp)
    return [
        f for v in comp for f in indices[indptr[v] : indptr[v + 1]].tolist() if f not in members
    ]


def _single(
    v: int,
    succ: list[int],
    needed: list[int],
    k: npt.NDArray[np.int64],
    rhs: npt.NDArray[np.int64],
    exact: _Exact,
    budget: _Budget,
) -> None:
    """Average the exact values ``v`` follows into ``exact[v]``."""
    dens = [exact[f][0] for f in succ]
    lcm = math.lcm(*dens) if dens else 1
    budget.spend((len(succ) + 1) * len(needed) * (1 + _words(lcm) // _PLAIN_WORDS))
    nums = [int(rhs[v, c]) * lcm for c in needed]
    for f in succ:
        den, fnums = exact[f]
        scale = lcm // den
        nums = [a + b * scale for a, b in zip(nums, fnums, strict=True)]
    den = int(k[v]) * lcm
    g = math.gcd(den, *nums)
    exact[v] = (den // g, [a // g for a in nums])


def _cycle(
    comp: list[int],
    needed: list[int],
    k: npt.NDArray[np.int64],
    rhs: npt.NDArray[np.int64],
    indptr: npt.NDArray[np.int64],
    indices: npt.NDArray[np.int64],
    exact: _Exact,
    budget: _Budget,
) -> None:
    """Solve one cyclic component exactly and store its values in ``exact``."""
    members = set(comp)
    width = len(needed)
    eqs: dict[int, dict[int, Fraction]] = {}
    consts: dict[int, list[Fraction]] = {}
    for v in comp:
        b = [Fraction(int(rhs[v, c])) for c in needed]
        row: dict[int, Fraction] = {v: Fraction(int(k[v]))}
        for f in indices[indptr[v] : indptr[v + 1]].tolist():
            if f in members:
                row[f] = row.get(f, Fraction(0)) - 1
            else:
                den, nums = exact[f]
                budget.spend(width * 2 * _words(den))
                for j in range(width):
                    b[j] += Fraction(nums[j], den)
        budget.spend(_MEMBER_COST + len(row) + width)
        eqs[v] = row
        consts[v] = b
    values = _eliminate(comp, eqs, consts, budget)
    for v, vec in values.items():
        den = math.lcm(*(x.denominator for x in vec)) if vec else 1
        exact[v] = (den, [x.numerator * (den // x.denominator) for x in vec])


def _eliminate(
    order: list[int],
    eqs: dict[int, dict[int, Fraction]],
    consts: dict[int, list[Fraction]],
    budget: _Budget,
) -> dict[int, list[Fraction]]:
    """Solve one cyclic component by sparse Gaussian elimination.

    Each update of a row by the pivot row costs, per entry, the words of the factor and of
    the entry: the fractions grow as elimination fills in, which a count of operations
    alone would not see.
    """
    holders: dict[int, set[int]] = {v: set() for v in order}
    for r, row in eqs.items():
        for var in row:
            holders[var].add(r)
    done: set[int] = set()
    for p in order:
        prow = eqs[p]
        pivot = prow[p]
        pconst = consts[p]
        terms = len(prow) - 1 + len(pconst)
        pwords = sum(_fwords(c) for c in prow.values()) + sum(_fwords(c) for c in pconst)
        for r in sorted(holders[p] - done - {p}):
            row = eqs[r]
            factor = row.pop(p) / pivot
            budget.spend(terms * _fwords(factor) + pwords)
            for var, coef in prow.items():
                if var == p:
                    continue
                new = row.get(var, Fraction(0)) - factor * coef
                if new:
                    row[var] = new
                    holders[var].add(r)
                else:
                    row.pop(var, None)
                    holders[var].discard(r)
            rc = consts[r]
            for j, c in enumerate(pconst):
                rc[j] -= factor * c
        done.add(p)
    return _substitute(order, eqs, consts, budget)


def _substitute(
    order: list[int],
    eqs: dict[int, dict[int, Fraction]],
    consts: dict[int, list[Fraction]],
    budget: _Budget,
) -> dict[int, list[Fraction]]:
    """Return the values of the eliminated (upper triangular) system, last pivot first."""
    values: dict[int, list[Fraction]] = {}
    words: dict[int, int] = {}
    for p in reversed(order):
        prow = eqs[p]
        acc = list(consts[p])
        for var, coef in prow.items():
            if var != p:
                budget.spend(len(acc) * _fwords(coef) + words[var])
                known = values[var]
                for j in range(len(acc)):
                    acc[j] -= coef * known[j]
        values[p] = [a / prow[p] for a in acc]
        words[p] = sum(_fwords(a) for a in values[p])
    return values
