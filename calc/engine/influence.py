"""Delegate influence: how many counted ballots each direct voter's ballot flows into.

The influence of direct voter ``d`` is the sum, over counted ballots ``b``, of the
probability that the walk from ``b`` ends at ``d`` (docs/voting-rules.md, "Influence"). With
``A = diag(k) - adjacency`` over delegated members, the walks end at ``A⁻¹B`` (``B``: their
followings of direct voters), so the influences are ``c_D + Bᵀ y`` with ``Aᵀ y = c_U`` (``c``:
1 for a counted ballot): one solve of the transposed averaging system. ``y_u`` is the counted
weight passing through ``u`` divided by ``k_u``, what each of ``u``'s followings carries:
``k_u y_u = c_u + Σ y_w`` over the delegated members ``w`` following ``u``.

Unlike the stars, these are sums that grow along the walk rather than averages, so error
bounds are carried as a second column that the same recursion sums: every value is the
float solution and a rigorous bound on its distance to the exact one. A value whose bound
cannot decide the half-to-even rounding at 8 places is recomputed with exact fractions over
the members whose ballots flow into it (``exact.py``, with its caps).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import splu

from calc.engine.averaging import AveragingSystem, distinct
from calc.engine.exact import solve_exact
from calc.engine.types import STAR_SCALE

if TYPE_CHECKING:
    import numpy.typing as npt

    IntArray = npt.NDArray[np.int64]
    FloatArray = npt.NDArray[np.float64]

_U = 2.0**-53
# Below this many delegated members one sparse LU of the whole transposed system beats
# solving its layers one after another (each layer costs a handful of numpy calls).
ONE_LU_LIMIT = 4096
# Layers of components solved one after another before the rest is solved as one system
# (as for the stars: a chain of delegates is as deep as it is long).
MAX_LAYERS = 256
# Tries at inflating a cyclic block's error bound until it provably dominates the error.
_SUPERSOLUTION_TRIES = 4


def influence(
    *,
    n: int,
    delegated: IntArray,
    src: IntArray,
    dst: IntArray,
    is_direct: npt.NDArray[np.bool_],
    counted: npt.NDArray[np.bool_],
    system: AveragingSystem | None,
) -> IntArray:
    """Return each member's influence in units of 10⁻⁸, rounded half to even (0 unless direct).

    ``src → dst`` are the active followings (out of delegated members only), ``counted``
    marks the counted ballots, and ``system`` is the averaging system the stars were solved
    on (None without delegated members). Its unknowns are reused as they are: a member of a
    collapsed chain passes everything on to its root and follows no direct voter, so the
    roots' counted weight is all the transposed solve needs.
    """
    out = np.zeros(n, dtype=np.int64)
    direct = np.flatnonzero(is_direct)
    if system is None:
        out[direct] = counted[direct].astype(np.int64) * STAR_SCALE
        return out
    k, unknown_of = system.k, system.unknown_of
    m = k.size
    c = np.bincount(unknown_of, weights=counted[delegated], minlength=m).astype(np.float64)
    # Transposed adjacency: for each unknown, the unknowns following it.
    edge_row = np.repeat(np.arange(m, dtype=np.int64), np.diff(system.indptr))
    by_followee = np.argsort(system.indices, kind="stable")
    in_indices = edge_row[by_followee]
    in_ptr = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(np.bincount(system.indices, minlength=m), out=in_ptr[1:])
    y, err = _solve_transposed(k, c, in_ptr, in_indices, system.labels)

    # Influence of direct voters: their own counted ballot plus what each following carries.
    pos = np.full(n, -1, dtype=np.int64)
    pos[delegated] = np.arange(delegated.size)
    to_d = is_direct[dst]
    d_of, u_of = dst[to_d], unknown_of[pos[src[to_d]]]
    value = counted.astype(np.float64)
    value += np.bincount(d_of, weights=y[u_of], minlength=n).astype(np.float64, copy=False)
    cnt = np.bincount(d_of, minlength=n).astype(np.float64)
    bound = np.bincount(d_of, weights=err[u_of], minlength=n).astype(np.float64, copy=False)
    bound += (cnt + 2.0) * _U * value
    bound *= 1.0 + (cnt + 8.0) * 2.0 * _U

    scaled = value[direct] * STAR_SCALE
    rounded = np.rint(scaled)
    # Rounding is certain unless the value's interval reaches a half (…5 at the 9th place);
    # scaling by 10⁸ and the subtraction add a few ulps of the scaled value.
    gap = np.abs(np.abs(scaled - rounded) - 0.5)
    doubtful = gap <= bound[direct] * STAR_SCALE + 8.0 * _U * (scaled + 1.0)
    result = rounded.astype(np.int64)
    if doubtful.any():
        exact = _exact(direct[doubtful], k, c, in_ptr, in_indices, u_of, d_of, counted)
        if exact is not None:
            result[doubtful] = exact
    out[direct] = result
    return out


def _exact(
    wanted: IntArray,
    k: IntArray,
    c: FloatArray,
    in_ptr: IntArray,
    in_indices: IntArray,
    u_of: IntArray,
    d_of: IntArray,
    counted: npt.NDArray[np.bool_],
) -> IntArray | None:
    """Return the exact rounded influence of ``wanted`` direct voters, or None past a cap.

    Each wanted voter joins the transposed system as one more unknown with ``k = 1`` and
    the unknowns following it as its inputs, so its value is its influence.
    """
    m, w = k.size, wanted.size
    at = np.full(counted.size, -1, dtype=np.int64)
    at[wanted] = np.arange(w)
    keep = at[d_of] >= 0
    rows = at[d_of[keep]]
    order = np.argsort(rows, kind="stable")
    d_ptr = np.zeros(w + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=w), out=d_ptr[1:])
    return solve_exact(
        rows=np.arange(m, m + w, dtype=np.int64),
        cols=np.zeros(w, dtype=np.int64),
        k=np.concatenate((k, np.ones(w, dtype=np.int64))),
        rhs=np.concatenate((c.astype(np.int64), counted[wanted].astype(np.int64)))[:, None],
        adj_indptr=np.concatenate((in_ptr, in_ptr[-1] + d_ptr[1:])),
        adj_indices=np.concatenate((in_indices, u_of[keep][order])),
    )


def _solve_transposed(
    k: IntArray,
    c: FloatArray,
    in_ptr: IntArray,
    in_indices: IntArray,
    labels: IntArray | None,
) -> tuple[FloatArray, FloatArray]:
    """Return ``y`` with ``k_u y_u - Σ_{w follows u} y_w = c_u`` and a bound on each error.

    Strongly connected components are solved sources first (a member after everyone who
    follows them), a layer at a time: members outside cycles by summing what their
    followers pass on, cyclic components by one sparse LU. ``labels`` are the components
    if the stars' solve found them (the transposed graph has the same ones).
    """
    m = k.size
    y = np.zeros(m, dtype=np.float64)
    err = np.zeros(m, dtype=np.float64)
    if not m:
        return y, err
    if m <= ONE_LU_LIMIT:
        _solve_block(np.arange(m, dtype=np.int64), k, c, in_ptr, in_indices, y, err)
        return y, err
    if labels is None:
        graph = sp.csr_matrix(
            (np.ones(in_indices.size, dtype=np.int8), in_indices, in_ptr), shape=(m, m)
        )
        _, found = connected_components(graph, directed=True, connection="strong")
        labels = found.astype(np.int64)
    n_comp = int(labels.max()) + 1
    size = np.bincount(labels, minlength=n_comp)
    members_of = np.argsort(labels, kind="stable")
    comp_start = np.cumsum(size) - size
    edge_row = np.repeat(np.arange(m, dtype=np.int64), np.diff(in_ptr))
    ca, cb = labels[edge_row], labels[in_indices]
    cross = ca != cb
    ca, cb = ca[cross], cb[cross]
    pending = np.bincount(ca, minlength=n_comp)
    by_source = np.argsort(cb, kind="stable")
    next_ptr = np.zeros(n_comp + 1, dtype=np.int64)
    np.cumsum(np.bincount(cb, minlength=n_comp), out=next_ptr[1:])
    next_comp = ca[by_source]

    kk = k.astype(np.float64)
    solved = np.zeros(n_comp, dtype=np.bool_)
    slot = np.empty(n_comp, dtype=np.int64)
    ready = np.flatnonzero(pending == 0)
    for _ in range(MAX_LAYERS):
        if not ready.size:
            return y, err
        solved[ready] = True
        single = ready[size[ready] == 1]
        if single.size:
            _sum_inputs(members_of[comp_start[single]], kk, c, in_ptr, in_indices, y, err)
        cyclic = ready[size[ready] > 1]
        if cyclic.size:
            block = np.concatenate(
                [members_of[comp_start[i] : comp_start[i] + size[i]] for i in cyclic.tolist()]
            )
            _solve_block(np.sort(block), k, c, in_ptr, in_indices, y, err)
        starts = next_ptr[ready]
        counts = next_ptr[ready + 1] - starts
        total = int(counts.sum())
        edges = np.arange(total, dtype=np.int64) + np.repeat(
            starts - (np.cumsum(counts) - counts), counts
        )
        after = next_comp[edges]
        np.subtract.at(pending, after, 1)
        ready = distinct(after[pending[after] == 0], slot)
    # A deep chain: what is left is solved together (its acyclic parts are triangular).
    rest = np.flatnonzero(~solved[labels])
    if rest.size:
        _solve_block(rest, k, c, in_ptr, in_indices, y, err)
    return y, err


def _sum_inputs(
    nodes: IntArray,
    kk: FloatArray,
    c: FloatArray,
    in_ptr: IntArray,
    in_indices: IntArray,
    y: FloatArray,
    err: FloatArray,
) -> None:
    """Set ``y = (c + Σ y_w) / k`` for members outside cycles whose followers are solved.

    Errors add up (these are sums, not averages): the inputs' bounds, divided by ``k``, plus
    the rounding of a sum of ``deg + 1`` non-negative terms and a division.
    """
    starts = in_ptr[nodes]
    counts = in_ptr[nodes + 1] - starts
    first = np.cumsum(counts) - counts
    total = int(counts.sum())
    value = c[nodes]
    bound = np.zeros(nodes.size, dtype=np.float64)
    some = counts > 0
    if total:
        edges = np.arange(total, dtype=np.int64) + np.repeat(starts - first, counts)
        sources = in_indices[edges]
        value[some] += np.add.reduceat(y[sources], first[some])
        bound[some] = np.add.reduceat(err[sources], first[some])
    k = kk[nodes]
    value /= k
    deg = counts.astype(np.float64)
    bound /= k
    bound += (deg + 2.0) * _U * value
    bound *= 1.0 + (deg + 8.0) * 2.0 * _U  # the bound's own rounding, upwards
    y[nodes] = value
    err[nodes] = bound


def _solve_block(
    block: IntArray,
    k: IntArray,
    c: FloatArray,
    in_ptr: IntArray,
    in_indices: IntArray,
    y: FloatArray,
    err: FloatArray,
) -> None:
    """Solve the transposed system over ``block`` by one sparse LU; bound each error.

    ``Aᵀ`` is an M-matrix, so ``A⁻ᵀ ≥ 0`` and the error is at most ``A⁻ᵀ q`` with ``q`` the
    residual, its rounding and the inputs' bounds. Any ``e ≥ 0`` with ``Aᵀ e ≥ q`` (checked
    with its own rounding) is then a bound: ``e - A⁻ᵀ q = A⁻ᵀ (Aᵀ e - q) ≥ 0``. The LU's own
    solution for ``q`` plus a little more is such an ``e``; if the check fails, a little
    more again, and as a last resort the bound is infinite (the exact step decides).
    """
    b = block.size
    local = np.full(k.size, -1, dtype=np.int64)
    local[block] = np.arange(b)
    starts = in_ptr[block]
    counts = in_ptr[block + 1] - starts
    total = int(counts.sum())
    edges = np.arange(total, dtype=np.int64) + np.repeat(
        starts - (np.cumsum(counts) - counts), counts
    )
    seg = np.repeat(np.arange(b, dtype=np.int64), counts)
    sources = in_indices[edges]
    where = local[sources]
    inside = where >= 0
    kk = k[block].astype(np.float64)
    g = c[block].copy()
    g_err = np.zeros(b, dtype=np.float64)
    deg = counts.astype(np.float64)
    if not inside.all():
        out_seg, out_src = seg[~inside], sources[~inside]
        np.add.at(g, out_seg, y[out_src])
        np.add.at(g_err, out_seg, err[out_src])
        g_err += (deg + 2.0) * _U * g
    diagonal = np.arange(b, dtype=np.int64)
    a = sp.csc_matrix(
        (
            np.concatenate([kk, np.full(int(inside.sum()), -1.0)]),
            (np.concatenate([diagonal, seg[inside]]), np.concatenate([diagonal, where[inside]])),
        ),
        shape=(b, b),
    )
    lu = splu(a, permc_spec="COLAMD", diag_pivot_thresh=0.0)
    sol = np.maximum(lu.solve(g), 0.0)  # the exact solution is >= 0

    abs_a = abs(a)
    res = np.abs(g - a @ sol)
    # Rounding of the residual's own computation: deg + 3 terms, each at most |A| |sol| or g.
    q = res + (deg + 4.0) * _U * (g + abs_a @ sol) + g_err
    q *= 1.0 + 1e-12
    e = np.zeros(b, dtype=np.float64)
    # Solving for q + τk instead of q leaves Aᵀ e - q ≈ τk > 0, room for the solve's and
    # the check's rounding; τ is relative, so the bound grows by a fraction ~τ at most.
    tau = 1e-8 * float((q / kk).max())
    for _ in range(_SUPERSOLUTION_TRIES if tau > 0.0 else 0):
        e = np.maximum(lu.solve(q + tau * kk), 0.0)
        lower = a @ e - (deg + 4.0) * _U * (abs_a @ e)  # a lower bound of Aᵀ e
        if (lower >= q).all():
            break
        tau *= 1e3
    else:
        if tau > 0.0:
            e = np.full(b, np.inf)
    y[block] = sol
    err[block] = e
