"""Incremental recalculation: apply typed changes, re-solving only what they reach.

A direct ballot whose stars change (same member, same tags) changes no reach, tag or active
following, and no influence: only the stars of the members whose walks can end at that
voter (its upstream through active followings). Stars are linear in the ballots, so their
new float values are the old ones plus ``p · Δs``, with ``p`` the probability that the walk
from each of them ends at the voter: one small solve over the upstream set alone (nothing
outside it can reach the voter). Each value keeps a rigorous error bound, and a value
whose bound straddles a rounding boundary is decided by the exact step over the whole
system, as in a full resolve: the rounded stars are the exact ones either way, so the
output is the full recalculation's, byte for byte. The tally is redone from per-choice
totals updated by the changed rows.

A following out of a member holding a direct ballot is ignored by every rule, so adding,
changing or removing one changes the input (and its content hash) but no ballot. A member
who joins holds no ballot and follows nobody: every later row moves up, nothing else
changes. A member without a delegated ballot who changes role changes a head count, and
for a direct ballot one tally row and exactly one unit of its owner's influence. A first
ballot of a member who held none and whom nobody follows, with tags some ballot already
had, is only its own ballot: a tally row and its owner's influence (1, or 0 for a
lobbyist). Every other change (a ballot cast by a member who held a delegated ballot or
whom someone follows, retracted, or whose tags change; any other following; members
leaving; a member with a delegated ballot changing role) is applied to the input and
resolved in full.
Either way the canonical text behind the content hash is edited, not written again
(``canonical.py``).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order

from calc.engine.averaging import solve_float
from calc.engine.canonical import BALLOTS, FOLLOWINGS, MEMBERS, CanonicalText
from calc.engine.columns import MAX_STARS, MIN_STARS, DecisionColumns, decision_columns
from calc.engine.delegation import StarSolution, ballot_tag_bits, resolve_indexed
from calc.engine.exact import solve_exact
from calc.engine.star import influence_ranking, star_result
from calc.engine.tiebreak import FIVE_STARS
from calc.engine.types import (
    STAR_SCALE,
    DirectBallot,
    EngineInputError,
    Following,
    Member,
    Role,
    SortedIdIndex,
    TieBreakPolicy,
    coerce_enum,
)
from calc.engine.validation import index_columns

if TYPE_CHECKING:
    import numpy.typing as npt

    from calc.engine.canonical import Edit
    from calc.engine.columns import Decision
    from calc.engine.types import InfluenceRanking, ResolvedBallots, StarResult
    from calc.engine.validation import Indexed

    IntArray = npt.NDArray[np.int64]

T = TypeVar("T", bound=np.generic)
_U = 2.0**-53
# Rounding of the update x + p·Δs (|p·Δs| ≤ 5, |x| ≤ 5) and of the scaled comparison, in
# units of 2⁻⁵³, as in a full resolve.
_UPDATE_SLACK = 16.0 * _U
_SCALING_SLACK = 8.0 * float(np.spacing(5.0 * STAR_SCALE))
# Error bounds grow by ~10⁻¹⁵ per update; past this a full resolve starts afresh.
MAX_CARRIED_ERROR = 1e-10


@dataclass(frozen=True, slots=True)
class BallotCast:
    """A member casts or replaces their direct ballot."""

    ballot: DirectBallot


@dataclass(frozen=True, slots=True)
class BallotRetracted:
    member: str


@dataclass(frozen=True, slots=True)
class FollowingSet:
    """A following is added, or its tags and order replaced."""

    following: Following


@dataclass(frozen=True, slots=True)
class FollowingRemoved:
    follower: str
    followee: str


@dataclass(frozen=True, slots=True)
class MemberJoined:
    member: Member


@dataclass(frozen=True, slots=True)
class MemberLeft:
    """A member leaves: their ballot and every following to or from them go too."""

    member: str


@dataclass(frozen=True, slots=True)
class RoleChanged:
    member: str
    role: Role


Change = (
    BallotCast
    | BallotRetracted
    | FollowingSet
    | FollowingRemoved
    | MemberJoined
    | MemberLeft
    | RoleChanged
)


@dataclass(eq=False, slots=True)
class IncrementalState:
    """A decision's input (sorted columns), its resolved ballots and result, and what an
    incremental update needs: the float star solution, the counted ballots and their totals.

    ``apply_changes`` consumes a state (it updates some of these arrays in place); use the
    one it returns. ``last_mode`` says how the last update was made ("build", "full",
    "stars": only stars upstream of changed ballots, "input": no ballot changed), and
    ``last_solved`` how many delegated members it solved.
    """

    columns: DecisionColumns
    text: CanonicalText
    resolved: ResolvedBallots
    result: StarResult
    content_hash: str
    choice_titles: Mapping[str, str] | None
    solution: StarSolution | None
    position: IntArray  # each member's row in solution.delegated, or -1
    followers: sp.csr_matrix  # active followings, followee row -> follower row
    counted_rows: IntArray
    counted_stars: IntArray
    totals: IntArray
    fives: IntArray
    influence: InfluenceRanking
    last_mode: str = "build"
    last_solved: int = 0
    consumed: bool = False


@dataclass(frozen=True, slots=True)
class PreparedInput:
    """A validated input in id order and its canonical text: what a full resolve starts from."""

    indexed: Indexed
    columns: DecisionColumns
    text: CanonicalText

    @property
    def content_hash(self) -> str:
        return self.text.digest


def prepare_input(decision: Decision) -> PreparedInput:
    """Validate ``decision`` and write its canonical text (``content_hash`` without resolving)."""
    columns = decision if isinstance(decision, DecisionColumns) else decision_columns(decision)
    ix = index_columns(columns)
    ordered = _sorted_columns(ix, columns.tie_break_policy)
    return PreparedInput(ix, ordered, CanonicalText(ordered))


def build_state(
    decision: Decision | PreparedInput, *, choice_titles: Mapping[str, str] | None = None
) -> IncrementalState:
    """Return the state of a full resolve and tally of ``decision`` (validated first)."""
    prepared = decision if isinstance(decision, PreparedInput) else prepare_input(decision)
    return _full(prepared.columns, choice_titles, prepared.text, mode="build", ix=prepared.indexed)


def _sorted_columns(ix: Indexed, policy: TieBreakPolicy) -> DecisionColumns:
    """Return the validated input as columns in id order, as the state keeps them."""
    return DecisionColumns(
        choices=ix.choice_ids,
        member_ids=ix.member_ids,
        is_voter=ix.is_voter,
        follow_src=ix.all_follow_src,
        follow_dst=ix.all_follow_dst,
        follow_tag_sets=ix.follow_tag_sets,
        follow_tag_code=ix.all_follow_tag_code,
        follow_order=ix.all_follow_order,
        ballot_member=ix.ballot_member,
        ballot_stars=ix.ballot_stars,
        ballot_tag_sets=ix.ballot_tag_sets,
        ballot_tag_code=ix.ballot_tag_code,
        tie_break_policy=policy,
    )


@dataclass(frozen=True, slots=True)
class EditedInput:
    """Changes applied to a state's input, not yet resolved: the new input and its hash."""

    edit: _Edit
    columns: DecisionColumns
    text: CanonicalText

    @property
    def content_hash(self) -> str:
        return self.text.digest


def edit_input(state: IncrementalState, changes: Iterable[Change]) -> EditedInput:
    """Return the input after ``changes``, in order; ``state`` is left as it was.

    A malformed change raises EngineInputError.
    """
    if state.consumed:
        raise EngineInputError("this incremental state was already used; use the one returned")
    edit = _Edit(state.columns)
    for change in changes:
        edit.apply(change)
    columns = edit.columns()
    return EditedInput(edit, columns, state.text.edited(columns, edit.edits))


def apply_edited(
    state: IncrementalState, edited: EditedInput
) -> tuple[IncrementalState, ResolvedBallots, StarResult]:
    """Resolve and tally ``edited`` (from ``edit_input(state, …)``); ``state`` is consumed."""
    if state.consumed:
        raise EngineInputError("this incremental state was already used; use the one returned")
    edit, columns, text = edited.edit, edited.columns, edited.text
    if (
        edit.full
        or _too_uncertain(state)
        or _delegated_role_change(state, edit)
        or not _first_ballots_alone(state, columns, edit)
    ):
        new = _full(compact_tags(columns), state.choice_titles, text, mode="full")
        state.consumed = True
        return new, new.resolved, new.result
    state.consumed = True  # from here on its arrays change
    if edit.joined:
        rows = np.array(sorted(map(SortedIdIndex(columns.member_ids).__getitem__, edit.joined)))
        state = _with_newcomers(state, columns, rows)
    if edit.roles:
        state = _with_roles(state, columns)
    star_changes = edit.star_changes
    if edit.first_ballots:
        index = SortedIdIndex(columns.member_ids)
        rows = np.array(sorted(map(index.__getitem__, edit.first_ballots)), dtype=np.int64)
        state = _with_first_ballots(state, columns, rows)
        star_changes = {r: s for r, s in star_changes.items() if r not in set(rows.tolist())}
    updated = _update_stars(state, columns, star_changes, text)
    if updated is None:  # the exact step gave up: resolve in full, as a fresh calculation would
        updated = _full(compact_tags(columns), state.choice_titles, text, mode="full")
    return updated, updated.resolved, updated.result


def apply_changes(
    state: IncrementalState, changes: Iterable[Change]
) -> tuple[IncrementalState, ResolvedBallots, StarResult]:
    """Return the new state, resolved ballots and result after ``changes``, in order.

    The output is byte-identical to ``resolve_ballots`` and ``tally_star`` of the changed
    input (with its ``content_hash``). A malformed change raises EngineInputError and
    leaves ``state`` as it was; otherwise ``state`` is consumed.
    """
    return apply_edited(state, edit_input(state, changes))


def changes_applied(columns: DecisionColumns, changes: Iterable[Change]) -> DecisionColumns:
    """Return ``columns`` (in id order, as a state keeps them) after ``changes``, unresolved.

    What rebuilds an input stored as changes: the columns a state would hold after them.
    """
    edit = _Edit(columns)
    for change in changes:
        edit.apply(change)
    return compact_tags(edit.columns())


def _with_newcomers(
    state: IncrementalState, columns: DecisionColumns, rows: IntArray
) -> IncrementalState:
    """Return ``state`` with members without ballot or following at ``rows`` (of
    ``columns``): every member row moves up past them; nothing resolves differently.
    """
    old = state.resolved
    n = len(columns.member_ids)
    kept = np.ones(n, dtype=np.bool_)
    kept[rows] = False
    moved = np.flatnonzero(kept)  # each old row's new row

    def spread(values: npt.NDArray[T]) -> npt.NDArray[T]:
        out = np.zeros((n, *values.shape[1:]), dtype=values.dtype)
        out[moved] = values
        return out

    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(spread(np.diff(old.active_ptr)), out=ptr[1:])
    # Roles as they were (a role change in the same batch is applied next), newcomers' own.
    is_voter = spread(old.is_voter)
    is_voter[rows] = columns.is_voter[rows]
    resolved = replace(
        old,
        member_ids=columns.member_ids,
        member_index=SortedIdIndex(columns.member_ids),
        is_voter=is_voter,
        is_direct=spread(old.is_direct),
        has_ballot=spread(old.has_ballot),
        stars=spread(old.stars),
        tag_bits=spread(old.tag_bits),
        active_ptr=ptr,
        active_followee=moved[old.active_followee],
        influence=spread(old.influence),
    )
    solution = state.solution
    if solution is not None:
        solution = replace(solution, delegated=moved[solution.delegated])
    position = np.full(n, -1, dtype=np.int64)
    position[moved] = state.position
    graph = state.followers.tocoo()
    followers = sp.csr_matrix(
        (graph.data, (moved[graph.row], moved[graph.col])), shape=(n, n), dtype=np.float64
    )
    followers.sum_duplicates()
    return replace(
        state,
        resolved=resolved,
        solution=solution,
        position=position,
        followers=followers,
        counted_rows=moved[state.counted_rows],
    )


def _delegated_role_change(state: IncrementalState, edit: _Edit) -> bool:
    """Return whether a member holding a delegated ballot changed role: their walk's weight
    in every influence downstream changes (resolved in full).
    """
    old = state.resolved
    return any(m not in edit.joined and bool(old.is_delegated[old.index_of(m)]) for m in edit.roles)


def _with_roles(state: IncrementalState, columns: DecisionColumns) -> IncrementalState:
    """Return ``state`` with the roles of ``columns``, changed only for members without a
    delegated ballot: a direct ballot now counted (or no longer) adds (or takes) exactly one
    to its owner's influence and one row to the tally; an abstainer changes a head count.
    """
    old = state.resolved
    is_voter = columns.is_voter
    flipped = np.flatnonzero(old.is_voter != is_voter)
    direct = flipped[old.is_direct[flipped]]
    if not direct.size:
        return replace(state, resolved=replace(old, is_voter=is_voter))
    influence = old.influence.copy()
    sign = np.where(is_voter[direct], 1, -1).astype(np.int64)
    influence[direct] += sign * STAR_SCALE
    resolved = replace(old, is_voter=is_voter, influence=influence)
    counted_rows = np.flatnonzero(resolved.counted)
    counted_stars = np.ascontiguousarray(resolved.stars[counted_rows])
    rows = resolved.stars[direct]
    totals = state.totals + (sign[:, None] * rows).sum(axis=0)
    fives = state.fives + (sign[:, None] * (rows == FIVE_STARS)).sum(axis=0)
    return replace(
        state,
        resolved=resolved,
        counted_rows=counted_rows,
        counted_stars=counted_stars,
        totals=totals,
        fives=fives,
        influence=influence_ranking(resolved),
    )


def _first_ballots_alone(state: IncrementalState, columns: DecisionColumns, edit: _Edit) -> bool:
    """Return whether every first ballot of ``edit`` changes nobody else's ballot: its member
    held no ballot, nobody follows them (a following could become active) and its tags are
    known ones (a new tag renumbers every member's tag bits).
    """
    if not edit.first_ballots:
        return True
    old = state.resolved
    known = set(old.tag_names)
    index = SortedIdIndex(columns.member_ids)
    for member in edit.first_ballots:
        if member not in edit.joined and old.has_ballot[old.index_of(member)]:
            return False
        row = index[member]
        at = int(np.searchsorted(columns.ballot_member, row))
        if not columns.ballot_tag_sets[int(columns.ballot_tag_code[at])] <= known:
            return False
        if np.any(columns.follow_dst == row):
            return False
    return True


def _with_first_ballots(
    state: IncrementalState, columns: DecisionColumns, rows: IntArray
) -> IncrementalState:
    """Return ``state`` with first direct ballots of ``rows``, members nobody follows: each is
    its own ballot, with its owner's influence (1 if counted, 0 for a lobbyist), and, when
    counted, one more tally row.
    """
    old = state.resolved
    at = np.searchsorted(columns.ballot_member, rows)
    is_direct, has_ballot = old.is_direct.copy(), old.has_ballot.copy()
    is_direct[rows] = has_ballot[rows] = True
    stars, tag_bits, influence = old.stars.copy(), old.tag_bits.copy(), old.influence.copy()
    stars[rows] = columns.ballot_stars[at] * STAR_SCALE
    tag_sets = [columns.ballot_tag_sets[int(c)] for c in columns.ballot_tag_code[at].tolist()]
    tag_bits[rows] = ballot_tag_bits(tag_sets, old.tag_names, tag_bits.shape[1])
    influence[rows] = np.where(old.is_voter[rows], STAR_SCALE, 0)
    resolved = replace(
        old,
        is_direct=is_direct,
        has_ballot=has_ballot,
        stars=stars,
        tag_bits=tag_bits,
        influence=influence,
    )
    counted_rows = np.flatnonzero(resolved.counted)
    added = stars[rows[old.is_voter[rows]]]
    return replace(
        state,
        resolved=resolved,
        counted_rows=counted_rows,
        counted_stars=np.ascontiguousarray(stars[counted_rows]),
        totals=state.totals + added.sum(axis=0),
        fives=state.fives + np.count_nonzero(added == FIVE_STARS, axis=0),
        influence=influence_ranking(resolved),
    )


def _too_uncertain(state: IncrementalState) -> bool:
    sol = state.solution
    return sol is not None and sol.err.size > 0 and float(sol.err.max()) > MAX_CARRIED_ERROR


def _full(
    columns: DecisionColumns,
    choice_titles: Mapping[str, str] | None,
    text: CanonicalText | None,
    *,
    mode: str,
    ix: Indexed | None = None,
) -> IncrementalState:
    """Return the state of a full resolve of ``columns``; ``text`` is their canonical text
    if known (the columns are then in id order already), ``ix`` their index if known.
    """
    ix = index_columns(columns) if ix is None else ix
    resolved, solution = resolve_indexed(ix, keep_solution=True)
    columns = _sorted_columns(ix, columns.tie_break_policy)
    text = CanonicalText(columns) if text is None else text
    digest = text.digest
    counted_rows = np.flatnonzero(resolved.counted)
    counted_stars = np.ascontiguousarray(resolved.stars[counted_rows])
    totals = counted_stars.sum(axis=0, dtype=np.int64)
    fives = np.count_nonzero(counted_stars == FIVE_STARS, axis=0).astype(np.int64)
    influence = influence_ranking(resolved)
    n = len(resolved.member_ids)
    position = np.full(n, -1, dtype=np.int64)
    if solution is not None:
        position[solution.delegated] = np.arange(solution.delegated.size)
    follower = np.repeat(np.arange(n, dtype=np.int64), np.diff(resolved.active_ptr))
    # Float weights in canonical form: the search takes the matrix as it is, without a copy.
    followers = sp.csr_matrix(
        (np.ones(follower.size, dtype=np.float64), (resolved.active_followee, follower)),
        shape=(n, n),
    )
    followers.sum_duplicates()
    result = _tally(
        resolved, counted_stars, totals, fives, columns, digest, choice_titles, influence
    )
    return IncrementalState(
        columns=columns,
        text=text,
        resolved=resolved,
        result=result,
        content_hash=digest,
        choice_titles=choice_titles,
        solution=solution,
        position=position,
        followers=followers,
        counted_rows=counted_rows,
        counted_stars=counted_stars,
        totals=totals,
        fives=fives,
        influence=influence,
        last_mode=mode,
        last_solved=0 if solution is None else int(solution.delegated.size),
    )


def _tally(
    resolved: ResolvedBallots,
    counted_stars: IntArray,
    totals: IntArray,
    fives: IntArray,
    columns: DecisionColumns,
    digest: str,
    choice_titles: Mapping[str, str] | None,
    influence: InfluenceRanking,
) -> StarResult:
    return star_result(
        resolved,
        ballots=counted_stars,
        totals=tuple(int(v) for v in totals.tolist()),
        fives=tuple(int(v) for v in fives.tolist()),
        policy=columns.tie_break_policy,
        content_hash=digest,
        choice_titles=choice_titles,
        influence=influence,
    )


def _update_stars(
    state: IncrementalState,
    columns: DecisionColumns,
    changed: dict[int, IntArray],
    text: CanonicalText,
) -> IncrementalState | None:
    """Return the state with the stars of ``changed`` direct voters (row -> old stars, in
    whole stars) updated, and of everyone upstream; None if the exact step gives up.
    """
    resolved = state.resolved
    new_stars = columns.ballot_stars
    touched_direct = np.array(sorted(changed), dtype=np.int64)
    at = np.searchsorted(columns.ballot_member, touched_direct)
    digest = text.digest
    delta = {
        d: new_stars[i] - changed[d]
        for d, i in zip(touched_direct.tolist(), at.tolist(), strict=True)
    }
    delta = {d: s for d, s in delta.items() if s.any()}
    stars = resolved.stars
    touched = touched_direct
    solved = 0
    if delta and state.solution is not None:
        stars = stars.copy()
        sol = state.solution
        reached: list[IntArray] = []
        for d, ds in delta.items():
            upstream = _reach(state, d, ds)
            reached.append(upstream)
        positions = np.unique(np.concatenate(reached)) if reached else np.zeros(0, np.int64)
        solved = int(positions.size)
        if positions.size:
            rounded = _round(sol, positions)
            if rounded is None:
                return None
            stars[sol.delegated[positions]] = rounded
            touched = np.union1d(touched, sol.delegated[positions])
    elif delta:
        stars = stars.copy()
    stars[touched_direct] = new_stars[at] * STAR_SCALE
    new_resolved = replace(resolved, stars=stars)

    counted = touched[resolved.counted[touched]]
    rows = np.searchsorted(state.counted_rows, counted)
    old = state.counted_stars[rows]
    new = stars[counted]
    state.totals += (new - old).sum(axis=0)
    state.fives += np.count_nonzero(new == FIVE_STARS, axis=0) - np.count_nonzero(
        old == FIVE_STARS, axis=0
    )
    state.counted_stars[rows] = new
    result = _tally(
        new_resolved,
        state.counted_stars,
        state.totals,
        state.fives,
        columns,
        digest,
        state.choice_titles,
        state.influence,
    )
    return IncrementalState(
        columns=columns,
        text=text,
        resolved=new_resolved,
        result=result,
        content_hash=digest,
        choice_titles=state.choice_titles,
        solution=state.solution,
        position=state.position,
        followers=state.followers,
        counted_rows=state.counted_rows,
        counted_stars=state.counted_stars,
        totals=state.totals,
        fives=state.fives,
        influence=state.influence,
        last_mode="stars" if delta else "input",
        last_solved=solved,
    )


def _reach(state: IncrementalState, d: int, ds: IntArray) -> IntArray:
    """Add ``p · Δs`` to the float stars of everyone upstream of direct voter ``d``, update
    their error bounds and the system's right-hand side; return their positions.

    ``p_v`` (the probability that the walk from ``v`` ends at ``d``) solves the averaging
    system restricted to the upstream set ``U``: ``k_v p_v - Σ p_f = [v follows d]`` over
    ``f`` in ``U``, since from anyone outside ``U`` no walk reaches ``d``.
    """
    sol = state.solution
    assert sol is not None
    found = breadth_first_order(state.followers, d, directed=True, return_predecessors=False)
    members = np.sort(found[found != d].astype(np.int64))
    if not members.size:
        return members
    positions = state.position[members]
    m = sol.k.size
    local = np.full(m, -1, dtype=np.int64)
    local[positions] = np.arange(positions.size)
    starts = sol.indptr[positions]
    counts = sol.indptr[positions + 1] - starts
    first = np.cumsum(counts) - counts
    edges = np.arange(int(counts.sum()), dtype=np.int64) + np.repeat(starts - first, counts)
    row = np.repeat(np.arange(positions.size, dtype=np.int64), counts)
    target = local[sol.indices[edges]]
    keep = target >= 0
    row, target = row[keep], target[keep]
    indptr = np.zeros(positions.size + 1, dtype=np.int64)
    np.cumsum(np.bincount(row, minlength=positions.size), out=indptr[1:])
    direct_followers = state.followers.indices[
        state.followers.indptr[d] : state.followers.indptr[d + 1]
    ]
    rhs = np.zeros((positions.size, 1), dtype=np.int64)
    rhs[local[state.position[direct_followers]], 0] = 1
    k = sol.k[positions]
    if target.size:
        p, err_p, _ = solve_float(k, rhs, indptr, target)
        p = np.clip(p[:, 0], 0.0, 1.0)
    else:
        p = rhs[:, 0] / k
        err_p = np.full(positions.size, 8.0 * _U)
    sol.rhs[positions[rhs[:, 0] == 1]] += ds
    x = sol.x[positions]
    x += p[:, None] * ds.astype(np.float64)[None, :]
    np.clip(x, 0.0, float(MAX_STARS), out=x)
    sol.x[positions] = x
    sol.err[positions] += err_p * float(np.abs(ds).max()) + _UPDATE_SLACK
    return positions


def _round(sol: StarSolution, positions: IntArray) -> IntArray | None:
    """Return the scaled stars of ``positions`` rounded half to even exactly, as a full
    resolve does: from the float values when their bounds decide it, else exactly; None
    if the exact step leaves one undecided (past its budget), for a full resolve.
    """
    y = sol.x[positions] * STAR_SCALE
    rounded = np.rint(y).astype(np.int64)
    gap = np.abs(np.abs(y - rounded) - 0.5)
    doubtful = gap <= (sol.err[positions] * STAR_SCALE + _SCALING_SLACK)[:, None]
    if doubtful.any():
        rows, cols = np.nonzero(doubtful)
        exact, decided = solve_exact(
            rows=positions[rows],
            cols=cols,
            k=sol.k,
            rhs=sol.rhs,
            adj_indptr=sol.indptr,
            adj_indices=sol.indices,
        )
        if not decided.all():
            # A full resolve keeps the float rounding of its own float values there, which
            # these updated ones need not match: only a full resolve gives the same stars.
            return None
        rounded[rows, cols] = exact
    return rounded


def compact_tags(columns: DecisionColumns) -> DecisionColumns:
    """Return ``columns`` with only the tag sets in use (a full resolve names the tags of
    every ballot tag set, used or not).
    """
    used, code = np.unique(columns.ballot_tag_code, return_inverse=True)
    if used.size == len(columns.ballot_tag_sets):
        return columns
    sets = tuple(columns.ballot_tag_sets[i] for i in used.tolist())
    return replace(columns, ballot_tag_sets=sets, ballot_tag_code=code.astype(np.int64))


class _Edit:
    """Changes applied to sorted columns one by one, copying what they touch.

    Notes which direct ballots changed stars only (``star_changes``: row -> stars before
    the first such change) and whether anything else needs a full resolve (``full``).
    """

    def __init__(self, columns: DecisionColumns) -> None:
        self.base = columns
        self.ids = columns.member_ids
        self.is_voter = columns.is_voter
        self.src, self.dst = columns.follow_src, columns.follow_dst
        self.follow_sets = columns.follow_tag_sets
        self.follow_code, self.order = columns.follow_tag_code, columns.follow_order
        self.voter_row, self.stars = columns.ballot_member, columns.ballot_stars
        self.ballot_sets, self.ballot_code = columns.ballot_tag_sets, columns.ballot_tag_code
        self.choice_at = {c: j for j, c in enumerate(columns.choices)}
        self.full = False
        self.joined: set[str] = set()
        self.roles: set[str] = set()  # members whose role changed
        self.edits: list[Edit] = []
        self.star_changes: dict[int, IntArray] = {}
        self.first_ballots: set[str] = set()  # members casting a ballot they did not hold

    def columns(self) -> DecisionColumns:
        return DecisionColumns(
            choices=self.base.choices,
            member_ids=self.ids,
            is_voter=self.is_voter,
            follow_src=self.src,
            follow_dst=self.dst,
            follow_tag_sets=self.follow_sets,
            follow_tag_code=self.follow_code,
            follow_order=self.order,
            ballot_member=self.voter_row,
            ballot_stars=self.stars,
            ballot_tag_sets=self.ballot_sets,
            ballot_tag_code=self.ballot_code,
            tie_break_policy=self.base.tie_break_policy,
        )

    def row(self, member: object) -> int:
        if isinstance(member, str):
            i = bisect_left(self.ids, member)
            if i < len(self.ids) and self.ids[i] == member:
                return i
        raise EngineInputError(f"unknown member {member!r}")

    def ballot_at(self, row: int) -> int | None:
        i = int(np.searchsorted(self.voter_row, row))
        return i if i < self.voter_row.size and int(self.voter_row[i]) == row else None

    def apply(self, change: Change) -> None:
        if isinstance(change, BallotCast):
            self.cast(change.ballot)
        elif isinstance(change, BallotRetracted):
            self.retract(change.member)
        elif isinstance(change, FollowingSet):
            self.follow(change.following)
        elif isinstance(change, FollowingRemoved):
            self.unfollow(change.follower, change.followee)
        elif isinstance(change, MemberJoined):
            self.join(change.member)
        elif isinstance(change, MemberLeft):
            self.leave(change.member)
        elif isinstance(change, RoleChanged):
            row = self.row(change.member)
            role = coerce_enum(Role, change.role, f"member {change.member!r} role")
            if bool(self.is_voter[row]) != (role == Role.VOTER):
                self.is_voter = self.is_voter.copy()
                self.is_voter[row] = role == Role.VOTER
                self.edits.append((MEMBERS, "set", row))
                self.roles.add(change.member)
        else:
            raise EngineInputError(f"not a change: {change!r}")

    def cast(self, ballot: DirectBallot) -> None:
        if not isinstance(ballot, DirectBallot):
            raise EngineInputError(f"not a ballot: {ballot!r}")
        row = self.row(ballot.member)
        values = np.zeros(len(self.choice_at), dtype=np.int64)
        seen: set[str] = set()
        for choice, value in ballot.stars:
            if choice not in self.choice_at:
                raise EngineInputError(f"ballot of {ballot.member!r}: unknown choice {choice!r}")
            if choice in seen:
                raise EngineInputError(
                    f"ballot of {ballot.member!r}: choice {choice!r} given twice"
                )
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise EngineInputError(f"ballot of {ballot.member!r}: stars must be integers")
            if not MIN_STARS <= value <= MAX_STARS:
                raise EngineInputError(
                    f"ballot of {ballot.member!r}: stars for {choice!r} must be an integer 0-5, "
                    f"got {value!r}"
                )
            seen.add(choice)
            values[self.choice_at[choice]] = value
        for tag in ballot.tags:
            if not isinstance(tag, str) or not tag:
                raise EngineInputError(f"ballot of {ballot.member!r}: tags must be non-empty")
        try:
            code = self.ballot_sets.index(ballot.tags)
        except ValueError:
            code = len(self.ballot_sets)
            self.ballot_sets = (*self.ballot_sets, ballot.tags)
        at = self.ballot_at(row)
        if at is None:
            i = int(np.searchsorted(self.voter_row, row))
            self.voter_row = np.insert(self.voter_row, i, row)
            self.stars = np.insert(self.stars.reshape(-1, values.size), i, values, axis=0)
            self.ballot_code = np.insert(self.ballot_code, i, code)
            self.edits.append((BALLOTS, "insert", i))
            self.first_ballots.add(ballot.member)
            return
        self.edits.append((BALLOTS, "set", at))
        if int(self.ballot_code[at]) != code:
            self.ballot_code = self.ballot_code.copy()
            self.ballot_code[at] = code
            self.full = self.full or ballot.member not in self.first_ballots
        if row not in self.star_changes:
            self.star_changes[row] = np.array(self.stars[at])
        self.stars = self.stars.copy() if self.stars is self.base.ballot_stars else self.stars
        self.stars[at] = values

    def retract(self, member: str) -> None:
        at = self.ballot_at(self.row(member))
        if at is None:
            raise EngineInputError(f"member {member!r} has no ballot to retract")
        self.voter_row = np.delete(self.voter_row, at)
        self.stars = np.delete(self.stars, at, axis=0)
        self.ballot_code = np.delete(self.ballot_code, at)
        self.edits.append((BALLOTS, "delete", at))
        self.full = True

    def _following_at(self, src: int, dst: int) -> tuple[int, bool]:
        n = len(self.ids)
        keys = self.src * n + self.dst
        i = int(np.searchsorted(keys, src * n + dst))
        return i, i < keys.size and int(keys[i]) == src * n + dst

    def follow(self, following: Following) -> None:
        if not isinstance(following, Following):
            raise EngineInputError(f"not a following: {following!r}")
        src, dst = self.row(following.follower), self.row(following.followee)
        if src == dst:
            raise EngineInputError(f"member {following.follower!r} follows themself")
        order = following.order
        if isinstance(order, bool) or not isinstance(order, int | np.integer):
            raise EngineInputError(
                f"following {following.follower!r} -> {following.followee!r}: "
                f"order must be an integer, got {order!r}"
            )
        for tag in following.tags:
            if not isinstance(tag, str) or not tag:
                raise EngineInputError("following tags must be non-empty strings")
        try:
            code = self.follow_sets.index(following.tags)
        except ValueError:
            code = len(self.follow_sets)
            self.follow_sets = (*self.follow_sets, following.tags)
        i, found = self._following_at(src, dst)
        if found:
            self.follow_code, self.order = self.follow_code.copy(), self.order.copy()
            self.follow_code[i], self.order[i] = code, order
            self.edits.append((FOLLOWINGS, "set", i))
        else:
            self.edits.append((FOLLOWINGS, "insert", i))
            self.src, self.dst = np.insert(self.src, i, src), np.insert(self.dst, i, dst)
            self.follow_code = np.insert(self.follow_code, i, code)
            self.order = np.insert(self.order, i, order)
        self._note_following(src)

    def unfollow(self, follower: str, followee: str) -> None:
        src, dst = self.row(follower), self.row(followee)
        i, found = self._following_at(src, dst)
        if not found:
            raise EngineInputError(f"no following {follower!r} -> {followee!r} to remove")
        self.src, self.dst = np.delete(self.src, i), np.delete(self.dst, i)
        self.follow_code, self.order = np.delete(self.follow_code, i), np.delete(self.order, i)
        self.edits.append((FOLLOWINGS, "delete", i))
        self._note_following(src)

    def _note_following(self, src: int) -> None:
        # Followings out of a direct voter are ignored: only the input changes.
        if self.ballot_at(src) is None:
            self.full = True

    def join(self, member: Member) -> None:
        if not isinstance(member, Member) or not isinstance(member.id, str) or not member.id:
            raise EngineInputError(f"not a member: {member!r}")
        i = bisect_left(self.ids, member.id)
        if i < len(self.ids) and self.ids[i] == member.id:
            raise EngineInputError(f"duplicate member {member.id!r}")
        self.ids = (*self.ids[:i], member.id, *self.ids[i:])
        self.is_voter = np.insert(self.is_voter, i, member.role == Role.VOTER)
        self.edits.append((MEMBERS, "insert", i))
        self.src, self.dst = self.src + (self.src >= i), self.dst + (self.dst >= i)
        self.voter_row = self.voter_row + (self.voter_row >= i)
        self.star_changes = {r + (r >= i): s for r, s in self.star_changes.items()}
        # A newcomer holds no ballot and follows nobody: nothing resolves differently.
        self.joined.add(member.id)

    def leave(self, member: str) -> None:
        i = self.row(member)
        self.joined.discard(member)
        self.ids = (*self.ids[:i], *self.ids[i + 1 :])
        self.is_voter = np.delete(self.is_voter, i)
        keep = (self.src != i) & (self.dst != i)
        self.edits += [(FOLLOWINGS, "delete", j) for j in np.flatnonzero(~keep)[::-1].tolist()]
        self.edits += [(BALLOTS, "delete", j) for j in np.flatnonzero(self.voter_row == i).tolist()]
        self.edits.append((MEMBERS, "delete", i))
        self.src, self.dst = self.src[keep], self.dst[keep]
        self.follow_code, self.order = self.follow_code[keep], self.order[keep]
        self.src, self.dst = self.src - (self.src > i), self.dst - (self.dst > i)
        kept = self.voter_row != i
        self.voter_row, self.stars = self.voter_row[kept], self.stars[kept]
        self.ballot_code = self.ballot_code[kept]
        self.voter_row = self.voter_row - (self.voter_row > i)
        self.star_changes = {r - (r > i): s for r, s in self.star_changes.items() if r != i}
        self.full = True
