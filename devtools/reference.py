"""Slow reference written straight from docs/voting-rules.md, with exact fractions.

Tests and ``bench_calc --compare-reference`` compare the engine against it. It shares no
code with ``calc.engine`` beyond the input types, favours the plain reading of the text over
speed, and must stay that way: do not optimise it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from fractions import Fraction
from itertools import combinations
from typing import TYPE_CHECKING

from calc.engine.types import Role, TieBreakPolicy

if TYPE_CHECKING:
    from calc.engine.types import DirectBallot, FrozenDecision

SCALE = 10**8


@dataclass(frozen=True, slots=True)
class RefBallot:
    """A resolved ballot: stars in 10⁻⁸ units per choice id, tags, and whether delegated."""

    stars: dict[str, int]
    tags: frozenset[str]
    is_delegated: bool


@dataclass(frozen=True, slots=True)
class RefResult:
    """The tally facts the engine must reproduce (tiebreak sentences aside)."""

    totals: dict[str, int]
    fives: dict[str, int]
    finalists: tuple[str, ...]
    runoff: tuple[str, str, int, int, int] | None
    winner: str | None
    tied: tuple[str, ...]
    draws: int
    counted: int


def round_half_even(value: Fraction) -> int:
    """Return value in units of 10⁻⁸, rounded half to even."""
    scaled = value * SCALE
    floor = scaled.numerator // scaled.denominator
    rest = scaled - floor
    if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and floor % 2 == 1):
        floor += 1
    return floor


def reference_resolve(decision: FrozenDecision) -> dict[str, RefBallot]:
    """Return each member with a ballot mapped to it (docs/voting-rules.md, section 3)."""
    direct, tags, follows = _reach(decision)
    choices = sorted(decision.choices)
    given = {d: dict(b.stars) for d, b in direct.items()}
    values = _solve(choices, given, follows)
    result: dict[str, RefBallot] = {}
    for d, b in direct.items():
        stars = {c: given[d].get(c, 0) * SCALE for c in choices}
        result[d] = RefBallot(stars, frozenset(b.tags), False)
    for v in follows:
        result[v] = RefBallot(
            {c: round_half_even(values[v][c]) for c in choices}, frozenset(tags[v]), True
        )
    return result


def reference_influence(decision: FrozenDecision) -> dict[str, Fraction]:
    """Return each direct voter's exact influence (docs/voting-rules.md, "Influence").

    The probability that the walk from a delegated member ends at direct voter ``d`` solves
    the averaging system with ``d``'s ballot replaced by 1 and every other by 0; the
    influence of ``d`` sums it over the counted ballots, plus 1 for ``d``'s own if counted.
    """
    direct, _, follows = _reach(decision)
    voters = {m.id for m in decision.members if m.role is Role.VOTER}
    ends = sorted(direct)
    given = {d: {e: int(e == d) for e in ends} for d in ends}
    walks = _solve(ends, given, follows)
    return {
        d: Fraction(int(d in voters))
        + sum((walks[v][d] for v in follows if v in voters), start=Fraction(0))
        for d in ends
    }


def _reach(
    decision: FrozenDecision,
) -> tuple[dict[str, DirectBallot], dict[str, set[str]], dict[str, list[str]]]:
    """Return direct ballots, everyone's tags, and each delegated member's active followings."""
    direct = {b.member: b for b in decision.ballots}
    reach: set[str] = set(direct)
    tags: dict[str, set[str]] = {d: set(b.tags) for d, b in direct.items()}
    changed = True
    while changed:
        changed = False
        for f in decision.followings:
            v, w, s = f.follower, f.followee, f.tags
            if v in direct or w not in reach:
                continue
            if s and not (s & tags[w]):
                continue
            gained = set(tags[w]) if not s else (s & tags[w])
            if v not in reach:
                reach.add(v)
                tags[v] = set()
                changed = True
            if not gained <= tags[v]:
                tags[v] |= gained
                changed = True

    def active(v: str) -> list[str]:
        out = []
        for f in decision.followings:
            if f.follower != v or f.followee not in reach:
                continue
            if not f.tags or f.tags & tags[f.followee]:
                out.append(f.followee)
        return sorted(out)

    return direct, tags, {v: active(v) for v in sorted(reach - set(direct))}


def _solve(
    choices: list[str],
    given: dict[str, dict[str, int]],
    follows: dict[str, list[str]],
) -> dict[str, dict[str, Fraction]]:
    """Solve |A(v)| x_v - Σ x_f = Σ s_d exactly by Gaussian elimination on sparse rows."""
    delegated = list(follows)
    rows: dict[str, dict[str, Fraction]] = {}
    rhs: dict[str, dict[str, Fraction]] = {}
    for v in delegated:
        row = {v: Fraction(len(follows[v]))}
        b = {c: Fraction(0) for c in choices}
        for f in follows[v]:
            if f in given:
                for c in choices:
                    b[c] += given[f].get(c, 0)
            else:
                row[f] = row.get(f, Fraction(0)) - 1
        rows[v] = row
        rhs[v] = b
    for i, p in enumerate(delegated):
        pivot = rows[p][p]
        for q in delegated[i + 1 :]:
            if p not in rows[q]:
                continue
            factor = rows[q].pop(p) / pivot
            for var, coef in rows[p].items():
                if var != p:
                    rows[q][var] = rows[q].get(var, Fraction(0)) - factor * coef
                    if rows[q][var] == 0:
                        del rows[q][var]
            for c in choices:
                rhs[q][c] -= factor * rhs[p][c]
    values: dict[str, dict[str, Fraction]] = {}
    for p in reversed(delegated):
        values[p] = {}
        for c in choices:
            acc = rhs[p][c]
            for var, coef in rows[p].items():
                if var != p:
                    acc -= coef * values[var][c]
            values[p][c] = acc / rows[p][p]
    return values


def reference_tally(
    decision: FrozenDecision, ballots: dict[str, RefBallot], content_hash: str
) -> RefResult:
    """Return the STAR result following docs/voting-rules.md (section 5) step by step."""
    roles = {m.id: m.role for m in decision.members}
    counted = [b.stars for m, b in sorted(ballots.items()) if roles[m] is Role.VOTER]
    choices = sorted(decision.choices)
    totals = {c: sum(b[c] for b in counted) for c in choices}
    fives = {c: sum(1 for b in counted if b[c] == 5 * SCALE) for c in choices}

    def nothing(finalists: tuple[str, ...], winner: str | None) -> RefResult:
        return RefResult(totals, fives, finalists, None, winner, (), 0, len(counted))

    if not counted:
        return nothing((), None)
    if len(choices) == 1:
        return nothing((choices[0],), choices[0])

    def prefer(a: str, b: str) -> int:
        return sum(1 for x in counted if x[a] > x[b])

    def lot(group: list[str]) -> list[str]:
        return sorted(
            group, key=lambda c: hashlib.sha256(f"{content_hash}:{c}".encode()).hexdigest()
        )

    def runoff(a: str, b: str) -> tuple[str | None, tuple[str, str, int, int, int]]:
        pa, pb = prefer(a, b), prefer(b, a)
        counts = (a, b, pa, pb, len(counted) - pa - pb)
        if pa != pb:
            return (a if pa > pb else b), counts
        if totals[a] != totals[b]:
            return (a if totals[a] > totals[b] else b), counts
        if fives[a] != fives[b]:
            return (a if fives[a] > fives[b] else b), counts
        return None, counts

    # Scoring round.
    best = max(totals.values())
    first = [c for c in choices if totals[c] == best]
    determined: list[str] = []
    pending: list[str] = []
    places = 0
    if len(first) == 1:
        determined = first
        second_score = max(totals[c] for c in choices if c not in first)
        pending = [c for c in choices if totals[c] == second_score]
        places = 1
    elif len(first) == 2:
        determined = first
    else:
        pending = first
        places = 2
    draw_group: list[str] = []
    if places and len(pending) <= places:
        determined += pending
    elif places == 1 and len(pending) == 2:
        a, b = pending
        if prefer(a, b) != prefer(b, a):
            determined.append(a if prefer(a, b) > prefer(b, a) else b)
        elif fives[a] != fives[b]:
            determined.append(a if fives[a] > fives[b] else b)
        else:
            draw_group = pending
    elif places:
        group = list(pending)
        while places:
            top = max(fives[c] for c in group)
            leaders = [c for c in group if fives[c] == top]
            if len(leaders) > places:
                draw_group = leaders
                break
            determined += leaders
            group = [c for c in group if c not in leaders]
            places -= len(leaders)
    draws = 0
    if draw_group:
        outcomes: set[str] = set()
        for extra in combinations(draw_group, places):
            pair = [*determined, *extra]
            win, _ = runoff(pair[0], pair[1])
            outcomes |= set(pair) if win is None else {win}
        if len(outcomes) == 1:
            # The winner does not depend on the draw; the lot only picks who is shown.
            shown = [*determined, *lot(draw_group)[:places]]
            _, counts = runoff(shown[0], shown[1])
            return RefResult(
                totals, fives, tuple(shown), counts, outcomes.pop(), (), 0, len(counted)
            )
        if decision.tie_break_policy is TieBreakPolicy.UNRESOLVED:
            return RefResult(
                totals,
                fives,
                tuple(determined),
                None,
                None,
                tuple(sorted(draw_group)),
                1,
                len(counted),
            )
        determined += lot(draw_group)[:places]
        draws = 1
    a, b = determined
    win, counts = runoff(a, b)
    if win is None:
        draws += 1
        if decision.tie_break_policy is TieBreakPolicy.UNRESOLVED:
            return RefResult(
                totals, fives, (a, b), counts, None, tuple(sorted((a, b))), draws, len(counted)
            )
        win = lot([a, b])[0]
    return RefResult(totals, fives, (a, b), counts, win, (), draws, len(counted))
