"""Finalists, runoff and ties by the Official STAR Voting Tiebreaker Protocol.

The rules are in docs/voting-rules.md, "Ties" (the scoring round and runoff: "The tally").
Choices are column numbers here; scores and five-star counts are exact integers. Every
tiebreak step applied is described in one sentence, in order.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from itertools import combinations
from typing import TYPE_CHECKING

import numpy as np

from calc.engine.types import STAR_SCALE, TieBreakPolicy, scaled_to_decimal

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy.typing as npt

PROTOCOL = (
    "Official STAR Voting Tiebreaker Protocol (docs.bettervoting.com/help/ties, July 2025); "
    "older texts differ only when three or more choices tie in the scoring round"
)


@dataclass(frozen=True, slots=True, eq=False)
class Contest:
    """Counted ballots and per-choice figures; ``ballots`` is (ballots, choices) int64."""

    choices: tuple[str, ...]
    names: tuple[str, ...]
    totals: tuple[int, ...]
    fives: tuple[int, ...]
    ballots: npt.NDArray[np.int64]
    policy: TieBreakPolicy
    content_hash: str
    _prefs: dict[tuple[int, int], int] = field(default_factory=dict)

    def prefer(self, a: int, b: int) -> int:
        """Return how many counted ballots give ``a`` strictly more stars than ``b``."""
        key = (a, b)
        if key not in self._prefs:
            self._prefs[key] = int(np.count_nonzero(self.ballots[:, a] > self.ballots[:, b]))
        return self._prefs[key]

    def lot_order(self, group: Sequence[int]) -> list[int]:
        """Return ``group`` ordered by SHA-256 of ``"<content hash>:<choice id>"``, lowest first."""

        def key(c: int) -> str:
            text = f"{self.content_hash}:{self.choices[c]}"
            return hashlib.sha256(text.encode("utf-8")).hexdigest()

        return sorted(group, key=key)

    def seed(self) -> str:
        return f"seed {self.content_hash[:8]}…"


@dataclass(frozen=True, slots=True)
class Outcome:
    """Column numbers of the finalists (in place order), winner and tie; sentences in order."""

    finalists: tuple[int, ...]
    runoff: tuple[int, int, int, int, int] | None
    winner: int | None
    tied: tuple[int, ...]
    steps: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Fill:
    advanced: tuple[int, ...]
    draw_group: tuple[int, ...]
    draw_places: int
    text: str


def _stars(scaled: int) -> str:
    return format(scaled_to_decimal(scaled).normalize(), "f") if scaled else "0"


def _ballots(count: int) -> str:
    return f"{count} ballot" if count == 1 else f"{count} ballots"


def _fives(count: int) -> str:
    return f"{count} five-star rating" if count == 1 else f"{count} five-star ratings"


def _names(contest: Contest, group: Sequence[int]) -> str:
    names = [contest.names[c] for c in group]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _advance(contest: Contest, group: Sequence[int]) -> str:
    return f"{_names(contest, group)} {'advances' if len(group) == 1 else 'advance'}"


def decide(contest: Contest) -> Outcome:
    """Return finalists, runoff, winner or tie, and the tiebreak steps in words."""
    count = contest.ballots.shape[0]
    n_choices = len(contest.choices)
    if count == 0:
        return Outcome((), None, None, (), ("No ballots were counted, so there is no winner.",))
    if n_choices == 1:
        return Outcome((0,), None, 0, (), ())
    totals = contest.totals
    levels = sorted(set(totals), reverse=True)
    top = [c for c in range(n_choices) if totals[c] == levels[0]]
    if len(top) == 2:
        return _after_scoring(contest, tuple(top), None, [])
    if len(top) == 1:
        second = [c for c in range(n_choices) if totals[c] == levels[1]]
        fill = _fill(contest, second, 1, "second place", levels[1])
        head: tuple[int, ...] = (top[0], *fill.advanced)
    else:
        fill = _fill(contest, top, 2, "first place", levels[0])
        head = fill.advanced
    return _after_scoring(contest, head, fill, [])


def _fill(contest: Contest, group: list[int], places: int, label: str, score: int) -> _Fill:
    """Apply head-to-head, then five-star ratings, to fill ``places`` from ``group``."""
    if len(group) <= places:
        return _Fill(tuple(group), (), 0, "")
    lead = f"Scoring round: {_names(contest, group)} tied for {label} at {_stars(score)} stars"
    fives = contest.fives
    if len(group) == 2 and places == 1:
        a, b = group
        pa, pb = contest.prefer(a, b), contest.prefer(b, a)
        if pa != pb:
            win = a if pa > pb else b
            return _Fill(
                (win,),
                (),
                0,
                f"{lead}; {contest.names[win]} is preferred head-to-head {max(pa, pb)} to "
                f"{min(pa, pb)}",
            )
        lead += f"; each is preferred head-to-head by {_ballots(pa)}"
        if fives[a] != fives[b]:
            win = a if fives[a] > fives[b] else b
            return _Fill(
                (win,),
                (),
                0,
                f"{lead}; {contest.names[win]} has more five-star ratings "
                f"({max(fives[a], fives[b])} to {min(fives[a], fives[b])})",
            )
        return _Fill((), (a, b), 1, f"{lead} and each has {_fives(fives[a])}")
    ratings = ", ".join(
        f"{contest.names[c]} {fives[c]}" for c in sorted(group, key=lambda c: (-fives[c], c))
    )
    clauses = [f"{lead}; five-star ratings: {ratings}"]
    advanced: list[int] = []
    remaining = list(group)
    while places:
        best = max(fives[c] for c in remaining)
        leaders = [c for c in remaining if fives[c] == best]
        if len(leaders) > places:
            clauses.append(
                f"{_names(contest, leaders)} remain tied for "
                f"{'the last place' if places == 1 else 'both places'}"
            )
            return _Fill(tuple(advanced), tuple(leaders), places, "; ".join(clauses))
        clauses.append(_advance(contest, leaders))
        advanced += leaders
        remaining = [c for c in remaining if c not in leaders]
        places -= len(leaders)
    return _Fill(tuple(advanced), (), 0, "; ".join(clauses))


def _runoff_core(contest: Contest, a: int, b: int) -> tuple[int | None, str, tuple[int, ...]]:
    """Return (winner or None if a draw is needed, sentence if tied, runoff counts)."""
    pa, pb = contest.prefer(a, b), contest.prefer(b, a)
    counts = (pa, pb, contest.ballots.shape[0] - pa - pb)
    if pa != pb:
        return (a if pa > pb else b), "", counts
    na, nb = contest.names[a], contest.names[b]
    text = f"Runoff: {na} and {nb} each preferred by {_ballots(pa)}"
    ta, tb = contest.totals[a], contest.totals[b]
    if ta != tb:
        win = a if ta > tb else b
        hi, lo = max(ta, tb), min(ta, tb)
        return (
            win,
            f"{text}; {contest.names[win]} has the higher score ({_stars(hi)} to {_stars(lo)})",
            counts,
        )
    fa, fb = contest.fives[a], contest.fives[b]
    text += f" and tied on score ({_stars(ta)} stars)"
    if fa != fb:
        win = a if fa > fb else b
        more = f"has more five-star ratings ({max(fa, fb)} to {min(fa, fb)})"
        return win, f"{text}; {contest.names[win]} {more}", counts
    return None, f"{text} and five-star ratings ({fa} each)", counts


def _possible_winners(contest: Contest, pair: tuple[int, int]) -> set[int]:
    winner, _, _ = _runoff_core(contest, *pair)
    return set(pair) if winner is None else {winner}


def _after_scoring(
    contest: Contest, head: tuple[int, ...], fill: _Fill | None, steps: list[str]
) -> Outcome:
    if fill is not None and fill.text and not fill.draw_group:
        steps.append(fill.text)
    if fill is not None and fill.draw_group:
        options = [head + extra for extra in combinations(fill.draw_group, fill.draw_places)]
        winners: set[int] = set()
        for finalists in options:
            winners |= _possible_winners(contest, (finalists[0], finalists[1]))
        if len(winners) == 1:
            (win,) = winners
            against = ", ".join(
                f"{contest.prefer(win, c)} to {contest.prefer(c, win)} against {contest.names[c]}"
                for c in fill.draw_group
            )
            shown = tuple(contest.lot_order(fill.draw_group)[: fill.draw_places])
            steps.append(
                f"{fill.text}; no draw is needed: {contest.names[win]} wins the runoff against "
                f"each of them ({against}); {_names(contest, shown)} "
                f"{'is' if len(shown) == 1 else 'are'} shown as finalist by lot order "
                f"({contest.seed()})"
            )
            head = head + shown
        elif contest.policy is TieBreakPolicy.UNRESOLVED:
            steps.append(
                f"{fill.text}; a draw is needed and the community's policy leaves it unresolved "
                "for a manager to settle"
            )
            return Outcome(head, None, None, tuple(sorted(fill.draw_group)), tuple(steps))
        else:
            drawn = tuple(contest.lot_order(fill.draw_group)[: fill.draw_places])
            steps.append(f"{fill.text}; lot ({contest.seed()}) drew {_names(contest, drawn)}")
            head = head + drawn
    a, b = head
    winner, text, counts = _runoff_core(contest, a, b)
    runoff = (a, b, *counts)
    if text:
        steps.append(text if winner is not None else "")
    if winner is None:
        if contest.policy is TieBreakPolicy.UNRESOLVED:
            steps[-1] = (
                f"{text}; a draw is needed and the community's policy leaves it unresolved for "
                "a manager to settle"
            )
            return Outcome(head, runoff, None, tuple(sorted((a, b))), tuple(steps))  # type: ignore[arg-type]
        winner = contest.lot_order((a, b))[0]
        steps[-1] = f"{text}; lot ({contest.seed()}) drew {contest.names[winner]}"
    return Outcome(head, runoff, winner, (), tuple(steps))  # type: ignore[arg-type]


FIVE_STARS = 5 * STAR_SCALE
