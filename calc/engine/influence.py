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
the members whose ballots flow into it (``exact.py``, within its budget).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order
from scipy.sparse.linalg import SuperLU, splu

from calc.engine.averaging import MAX_SWEEPS, SWEEP_SETTLED, AveragingSystem
from calc.engine.exact import solve_exact
from calc.engine.types import STAR_SCALE

if TYPE_CHECKING:
    import numpy.typing as npt

    IntArray = npt.NDArray[np.int64]
    FloatArray = npt.NDArray[np.float64]

_U = 2.0**-53
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
    y, err = _solve_transposed(system, c, np.float64)

    pos = np.full(n, -1, dtype=np.int64)
    pos[delegated] = np.arange(delegated.size)
    to_d = is_direct[dst]
    d_of, u_of = dst[to_d], unknown_of[pos[src[to_d]]]
    result, doubtful = _round(direct, d_of, u_of, y, err, counted)
    if doubtful.any():
        # Again in extended precision (64-bit mantissas where the platform has them: bounds
        # 2,048 times tighter), over the members whose ballots flow into the doubtful ones;
        # what stays doubtful is in practice an exact tie, for the exact step.
        wanted = direct[doubtful]
        upstream = _upstream(system, u_of[np.isin(d_of, wanted)])
        y_long, err_long = _solve_transposed(system, c, np.longdouble, upstream, (y, err))
        again, still = _round(wanted, d_of, u_of, y_long, err_long, counted)
        result[doubtful] = again
        if still.any():
            exact, decided = _exact(wanted[still], system, c, u_of, d_of, counted)
            # Past the exact step's budget the float rounding stands (exact.py).
            again[np.flatnonzero(still)[decided]] = exact[decided]
            result[doubtful] = again
    out[direct] = result
    return out


def _round(
    voters: IntArray,
    d_of: IntArray,
    u_of: IntArray,
    y: npt.NDArray[np.floating],
    err: npt.NDArray[np.floating],
    counted: npt.NDArray[np.bool_],
) -> tuple[IntArray, npt.NDArray[np.bool_]]:
    """Return the influence of ``voters`` rounded to 10⁻⁸, and which roundings are doubtful.

    A voter's influence is their own counted ballot plus what each following of them
    carries; its bound sums theirs, plus the rounding of the sum. Rounding is certain unless
    the value's interval reaches a half (…5 at the 9th place); scaling by 10⁸ and the
    subtraction add a few ulps of the scaled value.
    """
    dtype = y.dtype
    unit = float(np.finfo(dtype).eps) / 2.0
    at = np.full(counted.size, -1, dtype=np.int64)
    at[voters] = np.arange(voters.size)
    keep = at[d_of] >= 0
    rows, carried = at[d_of[keep]], u_of[keep]
    value = counted[voters].astype(dtype)
    np.add.at(value, rows, y[carried])
    bound = np.zeros(voters.size, dtype=dtype)
    np.add.at(bound, rows, err[carried])
    cnt = np.bincount(rows, minlength=voters.size).astype(dtype)
    bound += (cnt + 2.0) * unit * value
    bound *= 1.0 + (cnt + 8.0) * 2.0 * unit
    scaled = value * STAR_SCALE
    rounded = np.rint(scaled)
    gap = np.abs(np.abs(scaled - rounded) - 0.5)
    doubtful = gap <= bound * STAR_SCALE + 8.0 * unit * (scaled + 1.0)
    return rounded.astype(np.int64), np.asarray(doubtful, dtype=np.bool_)


def _upstream(system: AveragingSystem, start: IntArray) -> npt.NDArray[np.bool_]:
    """Return the mask of unknowns whose ballots flow into ``start`` (``start`` included)."""
    m = system.k.size
    followers = system.indices.size
    # Node m is a virtual start linked to every start: one search for all of them.
    graph = sp.csr_matrix(
        (
            np.ones(followers + start.size, dtype=np.int8),
            (
                np.concatenate((system.indices, np.full(start.size, m))),
                np.concatenate(
                    (np.repeat(np.arange(m, dtype=np.int64), np.diff(system.indptr)), start)
                ),
            ),
        ),
        shape=(m + 1, m + 1),
    )
    reached = breadth_first_order(graph, m, directed=True, return_predecessors=False)
    mask = np.zeros(m + 1, dtype=np.bool_)
    mask[reached] = True
    return mask[:m]


def _exact(
    wanted: IntArray,
    system: AveragingSystem,
    c: FloatArray,
    u_of: IntArray,
    d_of: IntArray,
    counted: npt.NDArray[np.bool_],
) -> tuple[IntArray, npt.NDArray[np.bool_]]:
    """Return the exact rounded influence of ``wanted`` direct voters and which are decided
    (the others went past the exact step's budget).

    Each wanted voter joins the transposed system as one more unknown with ``k = 1`` and
    the unknowns following it as its inputs, so its value is its influence.
    """
    k = system.k
    m, w = k.size, wanted.size
    # Transposed adjacency: for each unknown, the unknowns following it.
    forward = sp.csr_matrix(
        (np.ones(system.indices.size, dtype=np.int8), system.indices, system.indptr), (m, m)
    )
    backward = forward.tocsc()
    in_ptr, in_indices = backward.indptr.astype(np.int64), backward.indices.astype(np.int64)
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
    system: AveragingSystem,
    c: FloatArray,
    dtype: type[np.floating],
    only: npt.NDArray[np.bool_] | None = None,
    blocks_from: tuple[npt.NDArray[np.floating], npt.NDArray[np.floating]] | None = None,
) -> tuple[npt.NDArray[np.floating], npt.NDArray[np.floating]]:
    """Return ``y`` with ``k_u y_u - Σ_{w follows u} y_w = c_u`` and a bound on each error.

    The stars' layered solve is replayed backwards, so a member comes after everyone who
    follows them: members outside cycles sum what their followers passed on, cyclic
    components are solved together by one sparse LU; then each pushes its ``y`` along its
    followings. Without a layered solve (small systems) it is one LU. ``only`` restricts
    the solve to members nobody outside it follows; ``blocks_from`` gives values and bounds
    of cyclic components already solved (the LU works in float64 only).
    """
    k, indptr, indices = system.k, system.indptr, system.indices
    m = k.size
    unit = float(np.finfo(dtype).eps) / 2.0
    y = np.zeros(m, dtype=dtype)
    err = np.zeros(m, dtype=dtype)
    acc = np.zeros(m, dtype=dtype)  # what followers passed on so far
    acc_err = np.zeros(m, dtype=dtype)
    in_deg = np.bincount(indices, minlength=m).astype(dtype)
    kk = k.astype(dtype)
    cc = c.astype(dtype)
    order = system.order
    if order is None:
        steps = [(np.zeros(0, dtype=np.int64), np.arange(m, dtype=np.int64))]
        if not indices.size:  # everyone follows direct voters only
            steps = [steps[0][::-1]]
    else:
        steps = [(np.zeros(0, dtype=np.int64), order.rest)]
        steps += zip(reversed(order.singles), reversed(order.blocks), strict=True)
    for single, block in steps:
        if only is not None:
            single, block = single[only[single]], block[only[block]]
        if block.size:
            if blocks_from is None:
                _solve_block(block, system, cc, acc, acc_err, in_deg, y, err, sweep=order is None)
            else:
                y[block], err[block] = blocks_from[0][block], blocks_from[1][block]
            _push(block, indptr, indices, y, err, acc, acc_err)
        if single.size:
            _sum_inputs(single, kk, cc, acc, acc_err, in_deg, y, err, unit)
            _push(single, indptr, indices, y, err, acc, acc_err)
    return y, err


def _push(
    nodes: IntArray,
    indptr: IntArray,
    indices: IntArray,
    y: npt.NDArray[np.floating],
    err: npt.NDArray[np.floating],
    acc: npt.NDArray[np.floating],
    acc_err: npt.NDArray[np.floating],
) -> None:
    """Add each solved member's ``y`` (and bound) to everyone they follow."""
    starts = indptr[nodes]
    counts = indptr[nodes + 1] - starts
    total = int(counts.sum())
    if not total:
        return
    edges = np.arange(total, dtype=np.int64) + np.repeat(
        starts - (np.cumsum(counts) - counts), counts
    )
    targets = indices[edges]
    np.add.at(acc, targets, np.repeat(y[nodes], counts))
    np.add.at(acc_err, targets, np.repeat(err[nodes], counts))


def _sum_inputs(
    nodes: IntArray,
    kk: npt.NDArray[np.floating],
    c: npt.NDArray[np.floating],
    acc: npt.NDArray[np.floating],
    acc_err: npt.NDArray[np.floating],
    in_deg: npt.NDArray[np.floating],
    y: npt.NDArray[np.floating],
    err: npt.NDArray[np.floating],
    unit: float,
) -> None:
    """Set ``y = (c + Σ y_w) / k`` for members outside cycles whose followers are solved.

    Errors add up (these are sums, not averages): the inputs' bounds, divided by ``k``, plus
    the rounding of a sum of ``deg + 1`` non-negative terms and a division.
    """
    k = kk[nodes]
    value = c[nodes] + acc[nodes]
    value /= k
    deg = in_deg[nodes]
    bound = acc_err[nodes] / k
    bound += (deg + 2.0) * unit * value
    bound *= 1.0 + (deg + 8.0) * 2.0 * unit  # the bound's own rounding, upwards
    y[nodes] = value
    err[nodes] = bound


def _solve_block(
    block: IntArray,
    system: AveragingSystem,
    c: FloatArray,
    acc: FloatArray,
    acc_err: FloatArray,
    in_deg: FloatArray,
    y: FloatArray,
    err: FloatArray,
    *,
    sweep: bool = False,
) -> None:
    """Solve the transposed system over ``block`` by one sparse LU (or, for a small system
    solved whole, Jacobi sweeps if they settle); bound each error.

    ``Aᵀ`` is an M-matrix, so ``A⁻ᵀ ≥ 0`` and the error is at most ``A⁻ᵀ q`` with ``q`` the
    residual, its rounding and the inputs' bounds. Any ``e ≥ 0`` with ``Aᵀ e ≥ q`` (checked
    with its own rounding) is then a bound: ``e - A⁻ᵀ q = A⁻ᵀ (Aᵀ e - q) ≥ 0``. The LU's own
    solution for ``q`` plus a little more is such an ``e``; if the check fails, a little
    more again, and as a last resort the bound is infinite (the exact step decides).
    """
    k, indptr, indices = system.k, system.indptr, system.indices
    b = block.size
    local = np.full(k.size, -1, dtype=np.int64)
    local[block] = np.arange(b)
    starts = indptr[block]
    counts = indptr[block + 1] - starts
    total = int(counts.sum())
    edges = np.arange(total, dtype=np.int64) + np.repeat(
        starts - (np.cumsum(counts) - counts), counts
    )
    col = np.repeat(np.arange(b, dtype=np.int64), counts)  # the follower
    row = local[indices[edges]]  # the followee, its row in Aᵀ
    inside = row >= 0
    row, col = row[inside], col[inside]
    kk = k[block].astype(np.float64)
    deg = in_deg[block]
    # Inputs from followers outside the block, with the rounding of their sum.
    g = c[block] + acc[block]
    g_err = acc_err[block] + (deg + 2.0) * _U * g
    diagonal = np.arange(b, dtype=np.int64)
    a = sp.csr_matrix(
        (
            np.concatenate([kk, np.full(row.size, -1.0)]),
            (np.concatenate([diagonal, row]), np.concatenate([diagonal, col])),
        ),
        shape=(b, b),
    )
    w = None
    if sweep:
        w = sp.csr_matrix((1.0 / kk[row], (row, col)), shape=(b, b))
    solve = _Solver(a, kk, w)
    sol = np.maximum(solve(g), 0.0)  # the exact solution is >= 0

    abs_a = abs(a)
    res = np.abs(g - a @ sol)
    # Rounding of the residual's own computation: deg + 3 terms, each at most |A| |sol| or g.
    q = res + (deg + 4.0) * _U * (g + abs_a @ sol) + g_err
    q *= 1.0 + 1e-12
    e = np.zeros(b, dtype=np.float64)
    # Solving for q + τk instead of q leaves Aᵀ e - q ≈ τk > 0, room for the solve's and
    # the check's rounding; τ is relative, so the bound grows by a fraction ~τ at most.
    tau = 1e-8 * float((q / kk).max())
    for attempt in range(_SUPERSOLUTION_TRIES if tau > 0.0 else 0):
        e = np.maximum(solve(q + tau * kk, lu=attempt > 0), 0.0)
        lower = a @ e - (deg + 4.0) * _U * (abs_a @ e)  # a lower bound of Aᵀ e
        if (lower >= q).all():
            break
        tau *= 1e3
    else:
        if tau > 0.0:
            e = np.full(b, np.inf)
    y[block] = sol
    err[block] = e


class _Solver:
    """Solves ``Aᵀ x = rhs`` for one block: Jacobi sweeps when given ``w = I - diag(1/k) Aᵀ``
    and they settle (as for the stars, far cheaper than an LU for a small system), else one
    sparse LU, factorised when first needed. Any approximate solution will do: the bounds
    come from residuals.
    """

    def __init__(self, a: sp.csr_matrix, kk: FloatArray, w: sp.csr_matrix | None) -> None:
        self.a, self.kk, self.w = a, kk, w
        self.w2 = None if w is None else w @ w
        self.lu: SuperLU | None = None

    def __call__(self, rhs: FloatArray, *, lu: bool = False) -> FloatArray:
        if self.w is not None and self.w2 is not None and not lu:
            c1 = rhs / self.kk
            c2 = c1 + self.w @ c1
            x = c2
            for _ in range(MAX_SWEEPS):
                nxt = self.w2 @ x
                nxt += c2
                change = float(np.abs(nxt - x).max())
                x = nxt
                if change <= SWEEP_SETTLED * float(np.abs(x).max()):
                    return np.asarray(x, dtype=np.float64)
        if self.lu is None:
            self.lu = splu(self.a.tocsc(), permc_spec="COLAMD", diag_pivot_thresh=0.0)
        return np.asarray(self.lu.solve(rhs), dtype=np.float64)
