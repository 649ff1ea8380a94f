"""Resolve delegated ballots: reach and tags by least fixed point, stars by the averaging system.

Stars are the unique solution of ``k_v x_v - sum(x_f for active f) = 0`` with direct voters
fixed (an absorbing Markov chain). It is solved in floating point (``averaging.py``), each
value with a rigorous error bound. A value whose bound cannot decide the half-to-even
rounding at 8 places (an exact tie such as ``…5`` at the 9th place, or a value too close to
one) is recomputed with exact fractions over the members it depends on (``exact.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order

from calc.engine.averaging import AveragingSystem, distinct, solve_float
from calc.engine.exact import solve_exact
from calc.engine.influence import influence
from calc.engine.rounding import divide_half_even
from calc.engine.types import STAR_SCALE, ResolvedBallots
from calc.engine.validation import index_decision

if TYPE_CHECKING:
    import numpy.typing as npt

    System = tuple[
        npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]
    ]

    from calc.engine.averaging import SolveOrder
    from calc.engine.columns import Decision
    from calc.engine.validation import Indexed

_REACH_BIT = np.uint64(1)
# Up to this many live followings, tags grow by whole sweeps (see ``_sweep_tags``).
SWEEP_TAGS_LIMIT = 20_000
# Rounds (or sweeps) of propagation before a search per tag bit finishes the job (see
# ``_search_tags``): communities seen so far settle in under 100 rounds.
MAX_TAG_ROUNDS = 256
# From this many delegated members, chains of single delegates are collapsed before the solve
# (see ``_collapse_links``); below, the system is small enough either way.
COLLAPSE_LINKS_FROM = 4096
_U = 2.0**-53
_SCALING_SLACK = 8.0 * float(np.spacing(5.0 * STAR_SCALE))


@dataclass(frozen=True, slots=True, eq=False)
class StarSolution:
    """The delegated members' float stars behind a resolve, for incremental updates.

    ``delegated`` are the member rows of the unknowns; ``k x - adjacency x = rhs`` is their
    averaging system (positions in ``delegated``, uncollapsed, ``rhs`` in whole stars), ``x``
    its float solution in stars and ``err`` a rigorous bound on each row's distance to the
    exact values (the rounded stars are the exact ones, whatever ``x``).
    """

    delegated: npt.NDArray[np.int64]
    k: npt.NDArray[np.int64]
    rhs: npt.NDArray[np.int64]
    indptr: npt.NDArray[np.int64]
    indices: npt.NDArray[np.int64]
    x: npt.NDArray[np.float64]
    err: npt.NDArray[np.float64]


def resolve_ballots(decision: Decision, *, indexed: Indexed | None = None) -> ResolvedBallots:
    """Return every member's ballot for ``decision`` (docs/voting-rules.md, "Delegated ballots").

    Validates the decision first (EngineInputError on malformed input) unless ``indexed``,
    ``index_decision(decision)``, is given. The result does not depend on the order of any
    input tuple: everything is indexed by sorted id.

    >>> from calc.engine import FrozenDecision, Member, Following, DirectBallot
    >>> d = FrozenDecision(("x",), (Member("a"), Member("b")),
    ...     (Following("b", "a", frozenset()),), (DirectBallot.of("a", {"x": 4}),))
    >>> resolve_ballots(d).ballot("b").stars
    (('x', Decimal('4.00000000')),)
    """
    ix = index_decision(decision) if indexed is None else indexed
    return resolve_indexed(ix, keep_solution=False)[0]


def resolve_indexed(
    ix: Indexed, *, keep_solution: bool
) -> tuple[ResolvedBallots, StarSolution | None]:
    """Return ``resolve_ballots`` of a validated decision, and with ``keep_solution`` the float
    solution of its stars (None without delegated members).
    """
    n = len(ix.member_ids)
    n_choices = len(ix.choice_ids)

    tag_names = tuple(sorted(set().union(*ix.ballot_tag_sets)))
    words = (len(tag_names) + 1 + 63) // 64
    bit_of = {t: i + 1 for i, t in enumerate(tag_names)}

    is_direct = np.zeros(n, dtype=np.bool_)
    is_direct[ix.ballot_member] = True
    tags = np.zeros((n, words), dtype=np.uint64)
    ballot_masks = _masks([_tag_int(t, bit_of) | 1 for t in ix.ballot_tag_sets], words)
    tags[ix.ballot_member] = ballot_masks[ix.ballot_tag_code]

    all_mask = (1 << (64 * words)) - 1
    follow_masks = _masks([_follow_int(t, bit_of, all_mask) for t in ix.follow_tag_sets], words)
    mask = follow_masks[ix.follow_tag_code]
    live = mask.any(axis=1)
    src, dst, order, mask = (
        ix.follow_src[live],
        ix.follow_dst[live],
        ix.follow_order[live],
        mask[live],
    )

    _propagate_tags(tags, src, dst, mask, np.flatnonzero(is_direct))

    has_ballot = np.asarray(tags.any(axis=1), dtype=np.bool_)
    matched = tags[dst] & mask
    active = matched.any(axis=1)
    src, dst, order, matched = src[active], dst[active], order[active], matched[active]
    matched[:, 0] &= ~_REACH_BIT
    tags[:, 0] &= ~_REACH_BIT

    stars = np.zeros((n, n_choices), dtype=np.int64)
    stars[ix.ballot_member] = ix.ballot_stars * STAR_SCALE
    delegated = np.flatnonzero(has_ballot & ~is_direct)
    system = solution = None
    if delegated.size:
        stars[delegated], system, solution = _solve_stars(
            n, delegated, src, dst, ix.ballot_member, ix.ballot_stars, keep_solution=keep_solution
        )
    weight = influence(
        n=n,
        delegated=delegated,
        src=src,
        dst=dst,
        is_direct=is_direct,
        counted=has_ballot & ix.is_voter,
        system=system,
    )

    # Explanations list active followings by (order, followee id); edges are already by
    # (follower, followee), so nothing moves when orders already rise with followee ids.
    if order.size:
        low, span = int(order.min()), int(order.max()) - int(order.min()) + 1
        if span * n < 2**62:  # one stable sort of a packed (follower, order) key
            perm = np.argsort(src * span + (order - low), kind="stable")
        else:
            perm = np.lexsort((dst, order, src))
        src, dst, order, matched = src[perm], dst[perm], order[perm], matched[perm]
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=ptr[1:])
    resolved = ResolvedBallots(
        member_ids=ix.member_ids,
        choice_ids=ix.choice_ids,
        tag_names=tag_names,
        is_voter=ix.is_voter,
        is_direct=is_direct,
        has_ballot=has_ballot,
        stars=stars,
        tag_bits=tags,
        active_ptr=ptr,
        active_followee=dst,
        active_tag_bits=matched,
        active_order=order,
        influence=weight,
        member_index=ix.member_index,
    )
    return resolved, solution


def ballot_tag_bits(
    tag_sets: list[frozenset[str]], tag_names: tuple[str, ...], words: int
) -> npt.NDArray[np.uint64]:
    """Return the tag bits ``resolve_ballots`` gives direct ballots with these tag sets."""
    bit_of = {t: i + 1 for i, t in enumerate(tag_names)}
    return _masks([_tag_int(t, bit_of) for t in tag_sets], words)


def _tag_int(tags: frozenset[str], bit_of: dict[str, int]) -> int:
    value = 0
    for t in tags:
        value |= 1 << bit_of[t]
    return value


def _follow_int(tags: frozenset[str], bit_of: dict[str, int], all_mask: int) -> int:
    """Return a following's tag filter: all bits (reach included) for 'every topic'."""
    if not tags:
        return all_mask
    value = 0
    for t in tags:
        bit = bit_of.get(t)
        if bit is not None:
            value |= 1 << bit
    return value


def _masks(values: list[int], words: int) -> npt.NDArray[np.uint64]:
    out = np.zeros((len(values), words), dtype=np.uint64)
    if words == 1:
        out[:, 0] = np.array(values, dtype=np.uint64) if values else 0
        return out
    for w in range(words):
        shift = 64 * w
        out[:, w] = np.array([(v >> shift) & 0xFFFFFFFFFFFFFFFF for v in values], dtype=np.uint64)
    return out


def _propagate_tags(
    tags: npt.NDArray[np.uint64],
    src: npt.NDArray[np.int64],
    dst: npt.NDArray[np.int64],
    mask: npt.NDArray[np.uint64],
    frontier: npt.NDArray[np.int64],
) -> None:
    """Grow ``tags`` in place to the least fixed point (semi-naive: only changed followees).

    Bit 0 is a reach token every direct voter holds and only 'every topic' followings pass,
    so a member is in R exactly when any bit is set, and a following is active exactly when
    its filter lets any bit of the followee through. Rounds advance one following along
    every path, so a deep chain or ring is finished by ``_search_tags`` instead.
    """
    if tags.shape[1] == 1 and src.size <= SWEEP_TAGS_LIMIT:
        if not _sweep_tags(tags.reshape(-1), src, dst, mask.reshape(-1)):
            _search_tags(tags, src, dst, mask)
        return
    n = tags.shape[0]
    slot = np.empty(n, dtype=np.int64)
    by_dst = np.argsort(dst)  # any order: OR is commutative
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(dst, minlength=n), out=ptr[1:])
    for _ in range(MAX_TAG_ROUNDS):
        starts = ptr[frontier]
        counts = ptr[frontier + 1] - starts
        total = int(counts.sum())
        if total == 0:
            return
        offsets = np.repeat(starts - (np.cumsum(counts) - counts), counts)
        edges = by_dst[np.arange(total, dtype=np.int64) + offsets]
        contrib = tags[dst[edges]] & mask[edges]
        keep = contrib.any(axis=1)
        edges, contrib = edges[keep], contrib[keep]
        if not edges.size:
            return
        followers = src[edges]
        before = tags[followers]
        np.bitwise_or.at(tags, followers, contrib)
        grew = (tags[followers] != before).any(axis=1)
        frontier = distinct(followers[grew], slot)
        if not frontier.size:
            return
    _search_tags(tags, src, dst, mask)


def _sweep_tags(
    tags: npt.NDArray[np.uint64],
    src: npt.NDArray[np.int64],
    dst: npt.NDArray[np.int64],
    mask: npt.NDArray[np.uint64],
) -> bool:
    """Grow one-word ``tags`` in place by sweeping every following until nothing grows.

    Fewer numpy calls per round than the semi-naive rounds, for small communities.
    ``src`` is ascending (followings are sorted by follower). Returns False if tags still
    grew after ``MAX_TAG_ROUNDS`` sweeps.
    """
    if not src.size:
        return True
    starts = np.flatnonzero(np.concatenate(([True], src[1:] != src[:-1])))
    followers = src[starts]
    held = tags[followers]
    for _ in range(MAX_TAG_ROUNDS):
        gained = np.bitwise_or.reduceat(tags[dst] & mask, starts)
        gained |= held
        if np.array_equal(gained, held):
            return True
        tags[followers] = held = gained
    return False


def _search_tags(
    tags: npt.NDArray[np.uint64],
    src: npt.NDArray[np.int64],
    dst: npt.NDArray[np.int64],
    mask: npt.NDArray[np.uint64],
) -> None:
    """Grow ``tags`` in place to the least fixed point by one graph search per tag bit.

    Bits travel independently (a following passes a bit or not), so a member ends up with
    a bit exactly when a path of followings passing it leads to a member holding it: a
    breadth-first search from every holder, backwards along those followings, whatever the
    depth. One search costs a pass over the followings, so this is kept for deep shapes.
    """
    n = tags.shape[0]
    for word in range(tags.shape[1]):
        held, passed = tags[:, word], mask[:, word]
        live = int(np.bitwise_or.reduce(held)) & int(np.bitwise_or.reduce(passed))
        while live:
            low = live & -live
            live ^= low
            bit = np.uint64(low)
            passes = (passed & bit) != 0
            holders = np.flatnonzero(held & bit)
            # Node n is a virtual start linked to every holder: one search for all of them.
            graph = sp.csr_matrix(
                (
                    np.ones(int(passes.sum()) + holders.size, dtype=np.float64),
                    (
                        np.concatenate((dst[passes], np.full(holders.size, n))),
                        np.concatenate((src[passes], holders)),
                    ),
                ),
                shape=(n + 1, n + 1),
            )
            reached = breadth_first_order(graph, n, directed=True, return_predecessors=False)
            held[reached[reached < n]] |= bit


def _solve_stars(
    n: int,
    delegated: npt.NDArray[np.int64],
    src: npt.NDArray[np.int64],
    dst: npt.NDArray[np.int64],
    ballot_member: npt.NDArray[np.int64],
    ballot_stars: npt.NDArray[np.int64],
    *,
    keep_solution: bool = False,
) -> tuple[npt.NDArray[np.int64], AveragingSystem, StarSolution | None]:
    """Return the scaled, rounded stars of the delegated members (rows like ``delegated``),
    the system they were solved on, and with ``keep_solution`` their float solution.
    """
    m = delegated.size
    n_choices = ballot_stars.shape[1]
    pos = np.full(n, -1, dtype=np.int64)
    pos[delegated] = np.arange(m)
    ballot_row = np.full(n, -1, dtype=np.int64)
    ballot_row[ballot_member] = np.arange(ballot_member.size)

    row = pos[src]  # ascending: edges are sorted by follower
    k = np.bincount(row, minlength=m).astype(np.int64)
    to_direct = ballot_row[dst] >= 0
    direct_ptr = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(np.bincount(row[to_direct], minlength=m), out=direct_ptr[1:])
    adj_direct = sp.csr_matrix(
        (np.ones(int(direct_ptr[-1]), dtype=np.int64), ballot_row[dst[to_direct]], direct_ptr),
        shape=(m, ballot_member.size),
    )
    rhs_int = np.asarray((adj_direct @ ballot_stars), dtype=np.int64).reshape(m, n_choices)
    to_u = ~to_direct
    indices = pos[dst[to_u]]
    indptr = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(np.bincount(row[to_u], minlength=m), out=indptr[1:])
    floats: list[npt.NDArray[np.float64]] | None = [] if keep_solution else None
    collapsed = _collapse_links(k, rhs_int, indptr, indices) if m >= COLLAPSE_LINKS_FROM else None
    if collapsed is not None:
        unknown_of, (k_r, rhs_r, indptr_r, indices_r) = collapsed
        rounded, order = _solve_rounded(k_r, rhs_r, indptr_r, indices_r, floats)
        system = AveragingSystem(k_r, indptr_r, indices_r, unknown_of, order)
        rounded = rounded[unknown_of]
    else:
        unknown_of = np.arange(m, dtype=np.int64)
        rounded, order = _solve_rounded(k, rhs_int, indptr, indices, floats)
        system = AveragingSystem(k, indptr, indices, unknown_of, order)
    solution = None
    if floats is not None:
        x, err = floats
        solution = StarSolution(
            delegated, k, rhs_int, indptr, indices, x[unknown_of], err[unknown_of]
        )
    return rounded, system, solution


def _collapse_links(
    k: npt.NDArray[np.int64],
    rhs_int: npt.NDArray[np.int64],
    indptr: npt.NDArray[np.int64],
    indices: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], System] | None:
    """Return each unknown's root and the system of roots alone, or None if nothing collapses.

    A *link* is a delegated member with one active following, to another delegated member:
    its stars are exactly its delegate's, so a chain of links takes the stars of the first
    member down the chain that is not one (its root, found by pointer jumping). Solving the
    roots alone keeps a long chain from widening error bounds step by step. An edge that
    leads back to its own root becomes a self-loop, folded into ``k`` (``k x = b + x + …``).
    """
    m = k.size
    degree = np.diff(indptr)
    link = (k == 1) & (degree == 1)
    if not link.any():
        return None
    target = np.arange(m, dtype=np.int64)
    target[link] = indices[indptr[:-1][link]]
    for _ in range(64):  # each round doubles the distance jumped
        jumped = target[target]
        if np.array_equal(jumped, target):
            break
        target = jumped
    if link[target].any():  # a ring of links only: no delegated member is one
        return None
    roots = np.flatnonzero(~link)
    at = np.full(m, -1, dtype=np.int64)
    at[roots] = np.arange(roots.size)
    edge_row = np.repeat(np.arange(m, dtype=np.int64), degree)
    of_root = ~link[edge_row]
    src = at[edge_row[of_root]]  # ascending, as the rows were
    dst = at[target[indices[of_root]]]
    loop = src == dst
    k_roots = k[roots] - np.bincount(src[loop], minlength=roots.size)
    if (k_roots < 1).any():  # cannot happen for delegated members; keep the full system
        return None
    src, dst = src[~loop], dst[~loop]
    indptr_roots = np.zeros(roots.size + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=roots.size), out=indptr_roots[1:])
    return at[target], (k_roots, rhs_int[roots], indptr_roots, dst)


def _solve_rounded(
    k: npt.NDArray[np.int64],
    rhs_int: npt.NDArray[np.int64],
    indptr: npt.NDArray[np.int64],
    indices: npt.NDArray[np.int64],
    floats: list[npt.NDArray[np.float64]] | None = None,
) -> tuple[npt.NDArray[np.int64], SolveOrder | None]:
    """Return the scaled stars of ``k x - adjacency x = rhs``, rounded half to even exactly,
    and the order of the layered solve if there was one. ``floats``, if given, receives the
    float solution and its error bounds.
    """
    m, n_choices = rhs_int.shape
    rounded = np.empty((m, n_choices), dtype=np.int64)
    if indices.size == 0:
        # Everyone follows direct voters only: x = b / k, rounded exactly with integers.
        rounded[:] = divide_half_even(rhs_int * STAR_SCALE, k[:, None])
        if floats is not None:
            # One division of exact integers: within half an ulp of at most 5.
            floats += [rhs_int / k[:, None], np.full(m, 8.0 * _U)]
        return rounded, None

    x, err, order = solve_float(k, rhs_int, indptr, indices)
    np.clip(x, 0.0, 5.0, out=x)
    if floats is not None:
        floats += [x.copy(), err]
    y = x
    y *= STAR_SCALE
    np.rint(y, out=rounded, casting="unsafe")
    # |y - rounded| is within 1/2 - window of a half only when the rounding is certain;
    # scaling by 10⁸ and the subtraction add at most a few ulps of 5·10⁸.
    y -= rounded
    np.abs(y, out=y)
    y -= 0.5
    np.abs(y, out=y)
    doubtful = y <= (err * STAR_SCALE + _SCALING_SLACK)[:, None]
    if doubtful.any():
        rows, cols = np.nonzero(doubtful)
        exact, decided = solve_exact(
            rows=rows, cols=cols, k=k, rhs=rhs_int, adj_indptr=indptr, adj_indices=indices
        )
        # Past the exact step's budget the float rounding stands (exact.py).
        rounded[rows[decided], cols[decided]] = exact[decided]
    return rounded, order
