"""Slow reference written straight from docs/voting-rules.md, with exact fractions.

The verifier recounts a published snapshot with it; the tests and ``bench_calc
--compare-reference`` compare the engine against it. It shares no code with ``calc.engine``
(it reads any decision shaped like ``crowdvote_verify.model``'s, the engine's included),
favours the plain reading of the text over speed, and must stay that way: do not optimise it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from fractions import Fraction
from itertools import combinations
from typing import TYPE_CHECKING

from crowdvote_verify.model import UNRESOLVED, VOTER

if TYPE_CHECKING:
    from collections.abc import Mapping

    from crowdvote_verify.model import BallotLike, DecisionLike

SCALE = 10**8
NO_BALLOTS = "No ballots were counted, so there is no winner."
UNSETTLED = (
    "a draw is needed and the community's policy leaves it unresolved for a manager to settle"
)


@dataclass(frozen=True, slots=True)
class RefBallot:
    """A resolved ballot: stars in 10⁻⁸ units per choice id, tags, and whether delegated."""

    stars: dict[str, int]
    tags: frozenset[str]
    is_delegated: bool


@dataclass(frozen=True, slots=True)
class RefResult:
    """The tally facts the engine must reproduce, tiebreak sentences included."""

    totals: dict[str, int]
    fives: dict[str, int]
    finalists: tuple[str, ...]
    runoff: tuple[str, str, int, int, int] | None
    winner: str | None
    tied: tuple[str, ...]
    draws: int
    counted: int
    tiebreaks: tuple[str, ...] = ()


def round_half_even(value: Fraction) -> int:
    """Return value in units of 10⁻⁸, rounded half to even."""
    scaled = value * SCALE
    floor = scaled.numerator // scaled.denominator
    rest = scaled - floor
    if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and floor % 2 == 1):
        floor += 1
    return floor


def reference_resolve(decision: DecisionLike) -> dict[str, RefBallot]:
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


def reference_influence(decision: DecisionLike) -> dict[str, Fraction]:
    """Return each direct voter's exact influence (docs/voting-rules.md, "Influence").

    The probability that the walk from a delegated member ends at direct voter ``d`` solves
    the averaging system with ``d``'s ballot replaced by 1 and every other by 0; the
    influence of ``d`` sums it over the counted ballots, plus 1 for ``d``'s own if counted.
    """
    direct, _, follows = _reach(decision)
    voters = {m.id for m in decision.members if m.role == VOTER}
    ends = sorted(direct)
    given = {d: {e: int(e == d) for e in ends} for d in ends}
    walks = _solve(ends, given, follows)
    return {
        d: Fraction(int(d in voters))
        + sum((walks[v][d] for v in follows if v in voters), start=Fraction(0))
        for d in ends
    }


def _reach(
    decision: DecisionLike,
) -> tuple[dict[str, BallotLike], dict[str, set[str]], dict[str, list[str]]]:
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


def stars_text(scaled: int) -> str:
    """Return stars in 10⁻⁸ units as the sentences write them: ``8``, ``7.5``, ``0``."""
    whole, frac = divmod(scaled, SCALE)
    return f"{whole}.{frac:08d}".rstrip("0").rstrip(".")


def _count(n: int, one: str) -> str:
    return f"{n} {one}" if n == 1 else f"{n} {one}s"


def reference_tally(
    decision: DecisionLike,
    ballots: dict[str, RefBallot],
    content_hash: str,
    names: Mapping[str, str] | None = None,
) -> RefResult:
    """Return the STAR result following docs/voting-rules.md (sections 4 and 5) step by step.

    ``names`` only changes how the tiebreak sentences name choices (by id without it).
    """
    roles = {m.id: m.role for m in decision.members}
    counted = [b.stars for m, b in sorted(ballots.items()) if roles[m] == VOTER]
    choices = sorted(decision.choices)
    totals = {c: sum(b[c] for b in counted) for c in choices}
    fives = {c: sum(1 for b in counted if b[c] == 5 * SCALE) for c in choices}
    unresolved = decision.tie_break_policy == UNRESOLVED
    seed = f"seed {content_hash[:8]}\u2026"
    steps: list[str] = []

    def name(c: str) -> str:
        return (names or {}).get(c, c)

    def listed(group: list[str]) -> str:
        words = [name(c) for c in group]
        return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]

    def result(
        finalists: list[str],
        counts: tuple[str, str, int, int, int] | None,
        winner: str | None,
        tied: list[str],
        draws: int,
    ) -> RefResult:
        return RefResult(
            totals,
            fives,
            tuple(finalists),
            counts,
            winner,
            tuple(sorted(tied)),
            draws,
            len(counted),
            tuple(steps),
        )

    if not counted:
        steps.append(NO_BALLOTS)
        return result([], None, None, [], 0)
    if len(choices) == 1:
        return result(choices, None, choices[0], [], 0)

    def prefer(a: str, b: str) -> int:
        return sum(1 for x in counted if x[a] > x[b])

    def lot(group: list[str]) -> list[str]:
        return sorted(
            group, key=lambda c: hashlib.sha256(f"{content_hash}:{c}".encode()).hexdigest()
        )

    def runoff(a: str, b: str) -> tuple[str | None, str]:
        """Return the runoff winner (None when only a draw can decide) and its sentence."""
        pa, pb = prefer(a, b), prefer(b, a)
        if pa != pb:
            return (a if pa > pb else b), ""
        text = f"Runoff: {name(a)} and {name(b)} each preferred by {_count(pa, 'ballot')}"
        if totals[a] != totals[b]:
            win = a if totals[a] > totals[b] else b
            hi, lo = sorted((totals[a], totals[b]), reverse=True)
            return (
                win,
                f"{text}; {name(win)} has the higher score ({stars_text(hi)} to {stars_text(lo)})",
            )
        text += f" and tied on score ({stars_text(totals[a])} stars)"
        if fives[a] != fives[b]:
            win = a if fives[a] > fives[b] else b
            hi, lo = sorted((fives[a], fives[b]), reverse=True)
            return win, f"{text}; {name(win)} has more five-star ratings ({hi} to {lo})"
        return None, f"{text} and five-star ratings ({fives[a]} each)"

    # Scoring round: who advances (5.1).
    best = max(totals.values())
    first = [c for c in choices if totals[c] == best]
    determined: list[str] = []
    pending: list[str] = []
    places = 0
    label, score = "", 0
    if len(first) == 1:
        determined = first
        score = max(totals[c] for c in choices if c not in first)
        pending = [c for c in choices if totals[c] == score]
        places, label = 1, "second place"
    elif len(first) == 2:
        determined = first
    else:
        pending = first
        places, label, score = 2, "first place", best
    draw_group: list[str] = []
    text = ""
    if places and len(pending) <= places:
        determined += pending
    elif places:
        text = f"Scoring round: {listed(pending)} tied for {label} at {stars_text(score)} stars"
    if text and places == 1 and len(pending) == 2:
        a, b = pending
        pa, pb = prefer(a, b), prefer(b, a)
        if pa != pb:
            win = a if pa > pb else b
            text += f"; {name(win)} is preferred head-to-head {max(pa, pb)} to {min(pa, pb)}"
            determined.append(win)
        else:
            text += f"; each is preferred head-to-head by {_count(pa, 'ballot')}"
            if fives[a] != fives[b]:
                win = a if fives[a] > fives[b] else b
                hi, lo = sorted((fives[a], fives[b]), reverse=True)
                text += f"; {name(win)} has more five-star ratings ({hi} to {lo})"
                determined.append(win)
            else:
                text += f" and each has {_count(fives[a], 'five-star rating')}"
                draw_group = pending
    elif text:
        ratings = sorted(pending, key=lambda c: (-fives[c], c))
        text += "; five-star ratings: " + ", ".join(f"{name(c)} {fives[c]}" for c in ratings)
        group = list(pending)
        while places:
            top = max(fives[c] for c in group)
            leaders = [c for c in group if fives[c] == top]
            if len(leaders) > places:
                last = "the last place" if places == 1 else "both places"
                text += f"; {listed(leaders)} remain tied for {last}"
                draw_group = leaders
                break
            text += f"; {listed(leaders)} {'advances' if len(leaders) == 1 else 'advance'}"
            determined += leaders
            group = [c for c in group if c not in leaders]
            places -= len(leaders)
    draws = 0
    if draw_group:
        outcomes: set[str] = set()
        for extra in combinations(draw_group, places):
            pair = [*determined, *extra]
            possible, _ = runoff(pair[0], pair[1])
            outcomes |= set(pair) if possible is None else {possible}
        if len(outcomes) == 1:
            # The winner does not depend on the draw; the lot only picks who is shown (5.3).
            (sure,) = outcomes
            against = ", ".join(
                f"{prefer(sure, c)} to {prefer(c, sure)} against {name(c)}" for c in draw_group
            )
            shown = lot(draw_group)[:places]
            verb = "is" if len(shown) == 1 else "are"
            steps.append(
                f"{text}; no draw is needed: {name(sure)} wins the runoff against each of them "
                f"({against}); {listed(shown)} {verb} shown as finalist by lot order ({seed})"
            )
            determined += shown
        elif unresolved:
            steps.append(f"{text}; {UNSETTLED}")
            return result(determined, None, None, draw_group, 1)
        else:
            drawn = lot(draw_group)[:places]
            steps.append(f"{text}; lot ({seed}) drew {listed(drawn)}")
            determined += drawn
            draws = 1
    elif text:
        steps.append(text)
    # Automatic runoff (5.2).
    a, b = determined
    pa, pb = prefer(a, b), prefer(b, a)
    counts = (a, b, pa, pb, len(counted) - pa - pb)
    decided, text = runoff(a, b)
    if decided is None:
        draws += 1
        if unresolved:
            steps.append(f"{text}; {UNSETTLED}")
            return result(determined, counts, None, [a, b], draws)
        decided = lot([a, b])[0]
        text += f"; lot ({seed}) drew {name(decided)}"
    if text:
        steps.append(text)
    return result(determined, counts, decided, [], draws)
