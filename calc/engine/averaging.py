"""Solve the averaging system in floating point, with a rigorous error bound per member.

For delegated members ``k_v x_v - sum(x_f) = b_v`` (``b_v`` sums the direct voters they
follow). Up to ``ONE_LU_LIMIT`` unknowns, Jacobi sweeps first (an acyclic system reaches its
exact floating-point fixed point after as many sweeps as its depth, small cycles settle
geometrically; far cheaper than an LU for a small system), else one sparse LU. Above,
strongly connected components are solved sinks first, a layer at a time, so long chains
never meet an LU and fill-in stays inside cycles.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import bicgstab, splu

if TYPE_CHECKING:
    import numpy.typing as npt

_U = 2.0**-53
# Up to this many delegated members one sparse LU of the whole system is cheaper than
# solving component layers one after another (fewer numpy calls, no fill to fear).
ONE_LU_LIMIT = 4096
# A cyclic block at least this large whose members follow more than 1.5 others inside it is
# a random-graph-like tangle: LU fill-in explodes there, while BiCGSTAB needs a few dozen
# sparse products (a walk leaves it quickly). Rings and chains keep the LU, which is
# cheap for them and where Krylov methods would crawl.
ITERATIVE_FROM = 2000
# Jacobi sweeps (two steps each) tried before the one LU: enough for the depth of any
# community seen so far; a deeper chain or a slowly mixing cycle falls back to the LU
# having lost well under 1 ms.
MAX_SWEEPS = 48
# Sweeps stop once no value moves by more than this (an acyclic system stops moving
# altogether; inside a cycle values settle geometrically). Whatever x they stop at, the
# bound comes from its residual; past SWEEP_ERROR_LIMIT the LU is used instead.
SWEEP_SETTLED = 2.0**-44
SWEEP_ERROR_LIMIT = 1e-11
# Layers of components solved one after another before the rest is solved as one system:
# communities seen so far are under 100 layers deep; a chain of delegates is as deep as long.
MAX_LAYERS = 256


@dataclass(frozen=True, slots=True, eq=False)
class AveragingSystem:
    """The system the stars were solved on, for the influence's transposed solve.

    ``k x - adjacency x = b`` over its unknowns (the delegated members, or the roots of
    their collapsed chains); ``unknown_of`` maps each delegated member (by position) to its
    unknown, and ``order`` is the order of a layered solve (None: solved all at once).
    """

    k: npt.NDArray[np.int64]
    indptr: npt.NDArray[np.int64]
    indices: npt.NDArray[np.int64]
    unknown_of: npt.NDArray[np.int64]
    order: SolveOrder | None


@dataclass(frozen=True, slots=True, eq=False)
class SolveOrder:
    """The order of a layered solve: each layer's members outside cycles and members of
    cyclic components (either may be empty), then the rest, solved as one system.

    Every member is solved after everyone they follow, so replayed backwards it solves
    each member after everyone following them (the transposed system's order).
    """

    singles: list[npt.NDArray[np.int64]]
    blocks: list[npt.NDArray[np.int64]]
    rest: npt.NDArray[np.int64]


def solve_float(
    k: npt.NDArray[np.int64],
    rhs_int: npt.NDArray[np.int64],
    indptr: npt.NDArray[np.int64],
    indices: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], SolveOrder | None]:
    """Return float stars (a row per member), an absolute error bound per member, and the
    order of the layered solve if there was one: the influence's transposed solve replays it.
    """
    if k.size <= ONE_LU_LIMIT:
        swept = _sweep(k, rhs_int, indptr, indices)
        if swept is not None:
            return (*swept, None)
        everyone = np.arange(k.size, dtype=np.int64)
        x = np.zeros(rhs_int.shape, dtype=np.float64)
        err = np.zeros(k.size, dtype=np.float64)
        _solve_block(everyone, k, rhs_int, indptr, indices, x, err, np.full(k.size, -1))
        return x, err, None
    return _solve_layers(k, rhs_int, indptr, indices)


def _sweep(
    k: npt.NDArray[np.int64],
    rhs_int: npt.NDArray[np.int64],
    indptr: npt.NDArray[np.int64],
    indices: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None:
    """Return float stars and error bounds by Jacobi sweeps, or None if they do not settle.

    With ``W = diag(1/k) adj`` and ``c = b / k``, ``x = c + W x`` is swept two steps at a time
    (``x <- c + W c + W² x``) until a sweep hardly moves x. An extra column (``b = k``)
    gives the expected steps ``t = A⁻¹k`` that the bound needs.
    """
    m = k.size
    n_choices = rhs_int.shape[1]
    kk = k.astype(np.float64)
    inv = 1.0 / kk
    c = np.concatenate((rhs_int, k[:, None]), axis=1, dtype=np.float64)
    c_t = c.T  # broadcasting along the long axis keeps numpy's inner loops long
    c_t /= kk
    w = sp.csr_matrix((inv[np.repeat(np.arange(m), np.diff(indptr))], indices, indptr), (m, m))
    w2 = w @ w
    c2 = w @ c
    c2 += c
    x = c2
    for _ in range(MAX_SWEEPS):
        y = w2 @ x
        y += c2
        change = np.subtract(y, x)
        x = y
        np.abs(change, out=change)
        if change.max() <= SWEEP_SETTLED:
            break
    else:
        return None
    # Scaled residual c + W x - x of the float x. Every entry is >= 0; the reciprocals, the
    # products, a sum of at most k terms and two more operations round by at most (k + 6)
    # units of 2⁻⁵³ of c + W x + x.
    wx = w @ x
    scaled = c + wx
    slack = scaled + x
    scaled -= x
    np.abs(scaled, out=scaled)
    slack_t = slack.T
    slack_t *= (kk + 6.0) * _U
    scaled += slack
    err = _bound(x, scaled, kk, 0.0)
    if not err.max() <= SWEEP_ERROR_LIMIT:  # a slowly mixing cycle: the LU does better
        return None
    return x[:, :n_choices], err


def _bound(
    sol: npt.NDArray[np.float64],
    scaled: npt.NDArray[np.float64],
    kk: npt.NDArray[np.float64],
    boundary: float,
) -> npt.NDArray[np.float64]:
    """Return the error bound of each row of ``sol`` (last column: the expected steps t).

    ``scaled`` is (|residual| + its rounding slack) / k.
    """
    rho_t = float(scaled[:, -1].max())
    if rho_t >= 0.5:
        return np.full(kk.size, np.inf)
    t_hat = np.abs(sol[:, -1])
    t_bound = t_hat + float(t_hat.max()) / (1.0 - rho_t) * rho_t
    spread = t_bound * 1.0001 * float(scaled[:, :-1].max())
    return boundary + spread + 5.0 * (kk + 2.0) * _U


def _gather(
    indptr: npt.NDArray[np.int64], nodes: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Return (edge ids of ``nodes`` in order, per-node counts, per-node first position)."""
    starts = indptr[nodes]
    counts = indptr[nodes + 1] - starts
    first = np.cumsum(counts) - counts
    total = int(counts.sum())
    edges = np.arange(total, dtype=np.int64) + np.repeat(starts - first, counts)
    return edges, counts, first


def _solve_layers(
    k: npt.NDArray[np.int64],
    rhs_int: npt.NDArray[np.int64],
    indptr: npt.NDArray[np.int64],
    indices: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], SolveOrder]:
    """Return float stars, a rigorous absolute error bound per member, and the solve order.

    Strongly connected components are solved sinks first, a layer at a time: single members
    by averaging what their delegates hold, cyclic components together by one sparse LU.
    """
    m = k.size
    graph = sp.csr_matrix((np.ones(indices.size, dtype=np.int8), indices, indptr), shape=(m, m))
    n_comp, labels = connected_components(graph, directed=True, connection="strong")
    labels = labels.astype(np.int64)
    size = np.bincount(labels, minlength=n_comp)
    members_of = np.argsort(labels, kind="stable")
    comp_start = np.cumsum(size) - size
    edge_src = np.repeat(np.arange(m, dtype=np.int64), np.diff(indptr))
    ca, cb = labels[edge_src], labels[indices]
    cross = ca != cb
    ca, cb = ca[cross], cb[cross]
    pending = np.bincount(ca, minlength=n_comp)
    by_target = np.argsort(cb, kind="stable")
    rev_ptr = np.zeros(n_comp + 1, dtype=np.int64)
    np.cumsum(np.bincount(cb, minlength=n_comp), out=rev_ptr[1:])
    rev_src = ca[by_target]

    x = np.zeros(rhs_int.shape, dtype=np.float64)
    err = np.zeros(m, dtype=np.float64)
    local = np.full(m, -1, dtype=np.int64)
    slot = np.empty(n_comp, dtype=np.int64)
    rhs_f = rhs_int.astype(np.float64)
    k_f = k.astype(np.float64)
    solved = np.zeros(n_comp, dtype=np.bool_)
    ready = np.flatnonzero(pending == 0)
    order = SolveOrder([], [], np.zeros(0, dtype=np.int64))
    for _ in range(MAX_LAYERS):
        if not ready.size:
            return x, err, order
        solved[ready] = True
        single = members_of[comp_start[ready[size[ready] == 1]]]
        if single.size:
            _average(single, k_f, rhs_f, indptr, indices, x, err)
        order.singles.append(single)
        cyclic = ready[size[ready] > 1]
        block = np.zeros(0, dtype=np.int64)
        if cyclic.size:
            block = np.sort(
                np.concatenate(
                    [members_of[comp_start[c] : comp_start[c] + size[c]] for c in cyclic.tolist()]
                )
            )
            _solve_block(block, k, rhs_int, indptr, indices, x, err, local)
        order.blocks.append(block)
        edges, _, _ = _gather(rev_ptr, ready)
        preds = rev_src[edges]
        np.subtract.at(pending, preds, 1)
        ready = distinct(preds[pending[preds] == 0], slot)
    # A deep chain of delegates: what is left is solved together, as one sparse system
    # (acyclic parts are triangular, so the LU does not fill in).
    rest = np.flatnonzero(~solved[labels])
    if rest.size:
        _solve_block(rest, k, rhs_int, indptr, indices, x, err, local, iterative=False)
    return x, err, SolveOrder(order.singles, order.blocks, rest)


def _average(
    nodes: npt.NDArray[np.int64],
    k: npt.NDArray[np.float64],
    rhs: npt.NDArray[np.float64],
    indptr: npt.NDArray[np.int64],
    indices: npt.NDArray[np.int64],
    x: npt.NDArray[np.float64],
    err: npt.NDArray[np.float64],
) -> None:
    """Set x for members outside cycles whose delegates are all solved: (b + Σx_f) / k."""
    edges, counts, first = _gather(indptr, nodes)
    total = rhs[nodes]
    worst = np.zeros(nodes.size, dtype=np.float64)
    some = counts > 0
    if edges.size:
        targets = indices[edges]
        total[some] += np.add.reduceat(x[targets], first[some], axis=0)
        worst[some] = np.maximum.reduceat(err[targets], first[some])
    kk = k[nodes]
    x[nodes] = total / kk[:, None]
    # Inputs carry their own bounds (a convex combination does not grow them); the sum of
    # k + 1 terms of at most 5 k and the division add at most 5 (k + 2) units of 2⁻⁵³.
    err[nodes] = worst + 5.0 * (kk + 2.0) * _U


def _solve_block(
    block: npt.NDArray[np.int64],
    k: npt.NDArray[np.int64],
    rhs_int: npt.NDArray[np.int64],
    indptr: npt.NDArray[np.int64],
    indices: npt.NDArray[np.int64],
    x: npt.NDArray[np.float64],
    err: npt.NDArray[np.float64],
    local: npt.NDArray[np.int64],
    *,
    iterative: bool = True,
) -> None:
    """Solve cyclic components together; bound the error from the residual.

    |x* - x̂| ≤ A⁻¹|r| + max input error ≤ t · max(|r_v| / k_v) + max input error, because
    A = diag(k) - adjacency is an M-matrix (A⁻¹ ≥ 0) and t = A⁻¹k is the expected number
    of steps to leave the block.
    """
    b = block.size
    n_choices = rhs_int.shape[1]
    local[block] = np.arange(b)
    edges, counts, _ = _gather(indptr, block)
    seg = np.repeat(np.arange(b, dtype=np.int64), counts)
    targets = indices[edges]
    where = local[targets]
    inside = where >= 0
    local[block] = -1
    kk = k[block].astype(np.float64)
    diagonal = np.arange(b, dtype=np.int64)
    a = sp.csc_matrix(
        (
            np.concatenate([kk, np.full(int(inside.sum()), -1.0)]),
            (np.concatenate([diagonal, seg[inside]]), np.concatenate([diagonal, where[inside]])),
        ),
        shape=(b, b),
    )
    rhs = np.empty((b, n_choices + 1), dtype=np.float64)
    rhs[:, :n_choices] = rhs_int[block]
    rhs[:, n_choices] = kk
    boundary = 0.0
    if not inside.all():
        out_seg, out_tgt = seg[~inside], targets[~inside]
        np.add.at(rhs[:, :n_choices], out_seg, x[out_tgt])
        boundary = float(err[out_tgt].max())
    sol = None
    if iterative and b >= ITERATIVE_FROM and inside.sum() > 1.5 * b:
        sol = _iterate(a, rhs, kk)
    if sol is None:
        sol = splu(a, permc_spec="COLAMD", diag_pivot_thresh=0.0).solve(rhs)
    res = np.abs(rhs - a @ sol)
    slack = (kk + 4.0)[:, None] * _U * (np.abs(rhs) + abs(a) @ np.abs(sol))
    x[block] = sol[:, :n_choices]
    err[block] = _bound(sol, (res + slack) / kk[:, None], kk, boundary)


def _iterate(
    a: sp.csc_matrix, rhs: npt.NDArray[np.float64], kk: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64] | None:
    """Return BiCGSTAB solutions column by column, or None if one does not converge."""
    op = a.tocsr()
    jacobi = sp.diags(1.0 / kk)
    out = np.empty_like(rhs)
    for j in range(rhs.shape[1]):
        col, info = bicgstab(
            op, rhs[:, j], x0=rhs[:, j] / kk, rtol=1e-15, atol=0.0, M=jacobi, maxiter=2000
        )
        if info != 0:
            return None
        out[:, j] = col
    return out


def distinct(values: npt.NDArray[np.int64], slot: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Return ``values`` without repeats, without sorting (``slot`` is scratch, len > max)."""
    where = np.arange(values.size, dtype=np.int64)
    slot[values] = where
    return values[slot[values] == where]
