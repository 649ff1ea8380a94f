"""Exact stars, with fractions, for the few values floating point cannot round with certainty.

Only the members a doubtful value depends on (its closure under active followings) are
solved: strongly connected components sinks first, singletons by averaging, cycles by
sparse Gaussian elimination. The work is capped (``MAX_FRACTION_OPS``, ``MAX_CLOSURE``,
``MAX_EXACT_CYCLE``): past a cap the floating-point rounding is kept, which can differ from
the exact one only for a value within its error bound (1e-13 or less) of a boundary, in
practice only inside a tangle of hundreds of members following each other in cycles.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from calc.engine.rounding import divide_half_even
from calc.engine.types import STAR_SCALE

if TYPE_CHECKING:
    import numpy.typing as npt

MAX_FRACTION_OPS = 5_000_000
MAX_CLOSURE = 200_000
# Fractions in a cyclic component grow with its size; past this the exact step is skipped.
MAX_EXACT_CYCLE = 400


class _OverBudgetError(Exception):
    """The exact solve would take too long; the caller keeps the float rounding."""


def solve_exact(
    *,
    rows: npt.NDArray[np.int64],
    cols: npt.NDArray[np.int64],
    k: npt.NDArray[np.int64],
    rhs: npt.NDArray[np.int64],
    adj_indptr: npt.NDArray[np.int64],
    adj_indices: npt.NDArray[np.int64],
    budget: int = MAX_FRACTION_OPS,
) -> npt.NDArray[np.int64] | None:
    """Return exact rounded stars at (rows, cols) of ``k x - adj x = rhs``, or None if too big."""
    closure = _closure(np.unique(rows), adj_indptr, adj_indices)
    if (
        closure.size > MAX_CLOSURE
        or _largest_cycle(closure, adj_indptr, adj_indices) > MAX_EXACT_CYCLE
    ):
        return None
    needed = sorted(set(cols.tolist()))
    try:
        values = _solve_closure(closure.tolist(), needed, k, rhs, adj_indptr, adj_indices, budget)
    except _OverBudgetError:
        return None
    col_at = {c: i for i, c in enumerate(needed)}
    exact = [values[r][col_at[c]] for r, c in zip(rows.tolist(), cols.tolist(), strict=True)]
    return np.array(
        [divide_half_even(v.numerator * STAR_SCALE, v.denominator) for v in exact],
        dtype=np.int64,
    )


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


def _largest_cycle(
    nodes: npt.NDArray[np.int64], indptr: npt.NDArray[np.int64], indices: npt.NDArray[np.int64]
) -> int:
    """Return the size of the largest strongly connected component among ``nodes``."""
    full = sp.csr_matrix(
        (np.ones(indices.size, dtype=np.int8), indices, indptr), shape=(indptr.size - 1,) * 2
    )
    sub = full[nodes][:, nodes]
    _, labels = connected_components(sub, directed=True, connection="strong")
    return int(np.bincount(labels).max()) if labels.size else 0


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
    budget: int,
) -> dict[int, list[Fraction]]:
    """Return exact values of every closure member, component by component, sinks first.

    Values are kept as one shared denominator and integer numerators per member (all
    choices share the same averaging weights), which avoids a gcd per fraction operation.
    """
    exact: dict[int, tuple[int, list[int]]] = {}
    ops = 0
    for comp in _components(nodes, indptr, indices):
        if len(comp) == 1:
            v = comp[0]
            succ = indices[indptr[v] : indptr[v + 1]].tolist()
            dens = [exact[f][0] for f in succ]
            lcm = math.lcm(*dens) if dens else 1
            nums = [int(rhs[v, c]) * lcm for c in needed]
            for f in succ:
                den, fnums = exact[f]
                scale = lcm // den
                nums = [a + b * scale for a, b in zip(nums, fnums, strict=True)]
            den = int(k[v]) * lcm
            g = math.gcd(den, *nums)
            exact[v] = (den // g, [a // g for a in nums])
            ops += (len(succ) + 1) * len(needed)
        else:
            ops = _cycle(comp, needed, k, rhs, indptr, indices, exact, ops, budget)
        if ops > budget:
            raise _OverBudgetError
    return {v: [Fraction(a, den) for a in nums] for v, (den, nums) in exact.items()}


def _cycle(
    comp: list[int],
    needed: list[int],
    k: npt.NDArray[np.int64],
    rhs: npt.NDArray[np.int64],
    indptr: npt.NDArray[np.int64],
    indices: npt.NDArray[np.int64],
    exact: dict[int, tuple[int, list[int]]],
    ops: int,
    budget: int,
) -> int:
    """Solve one cyclic component exactly; store its values in ``exact``; return ops."""
    if len(comp) > MAX_EXACT_CYCLE:
        raise _OverBudgetError
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
                for j in range(width):
                    b[j] += Fraction(nums[j], den)
        ops += len(row) + width
        eqs[v] = row
        consts[v] = b
    values: dict[int, list[Fraction]] = {}
    ops = _eliminate(comp, eqs, consts, values, ops, budget)
    for v, vec in values.items():
        den = math.lcm(*(x.denominator for x in vec)) if vec else 1
        exact[v] = (den, [x.numerator * (den // x.denominator) for x in vec])
    return ops


def _eliminate(
    order: list[int],
    eqs: dict[int, dict[int, Fraction]],
    consts: dict[int, list[Fraction]],
    values: dict[int, list[Fraction]],
    ops: int,
    budget: int,
) -> int:
    """Solve one cyclic component by sparse Gaussian elimination; return the ops count."""
    holders: dict[int, set[int]] = {v: set() for v in order}
    for r, row in eqs.items():
        for var in row:
            holders[var].add(r)
    done: set[int] = set()
    for p in order:
        prow = eqs[p]
        pivot = prow[p]
        pconst = consts[p]
        for r in sorted(holders[p] - done - {p}):
            row = eqs[r]
            factor = row.pop(p) / pivot
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
            ops += len(prow) + len(pconst)
            if ops > budget:
                raise _OverBudgetError
        done.add(p)
    for p in reversed(order):
        prow = eqs[p]
        acc = list(consts[p])
        for var, coef in prow.items():
            if var != p:
                known = values[var]
                for j in range(len(acc)):
                    acc[j] -= coef * known[j]
        values[p] = [a / prow[p] for a in acc]
    return ops
