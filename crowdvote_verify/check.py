"""Recount a published snapshot with the exact reference and name the first difference."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

from crowdvote_verify.document import canonical_hash
from crowdvote_verify.model import VOTER
from crowdvote_verify.reference import (
    SCALE,
    RefResult,
    reference_resolve,
    reference_tally,
    round_half_even,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from crowdvote_verify.document import Published
    from crowdvote_verify.reference import RefBallot

PROTOCOL = (
    "Official STAR Voting Tiebreaker Protocol (docs.bettervoting.com/help/ties, July 2025); "
    "older texts differ only when three or more choices tie in the scoring round"
)


@dataclass(frozen=True, slots=True)
class Verdict:
    """``ok`` and the lines to print; the first line is the verdict itself."""

    ok: bool
    lines: tuple[str, ...]


class _Difference(Exception):
    pass


def places(scaled: int) -> str:
    """Return 10⁻⁸ units as the 8-place string the file uses (``3.50000000``)."""
    sign = "-" if scaled < 0 else ""
    whole, frac = divmod(abs(scaled), SCALE)
    return f"{sign}{whole}.{frac:08d}"


def _same(what: str, file_says: object, recount: object) -> None:
    if file_says != recount:
        raise _Difference(f"{what}: the file says {file_says!r}, the recount gives {recount!r}")


def verify(published: Published) -> Verdict:
    """Return OK when every ballot and the whole result recount the same, else the difference."""
    decision = published.decision
    recomputed = canonical_hash(decision)
    ballots = reference_resolve(decision)
    titles = published.choice_titles
    outcome = reference_tally(decision, ballots, published.content_hash, titles)
    try:
        _same("published hash (SHA-256 of the input)", published.published_hash, recomputed)
        result = published.result
        _same("result.contentHash", result.get("contentHash"), published.content_hash)
        _same("result.tieBreakPolicy", result.get("tieBreakPolicy"), decision.tie_break_policy)
        _check_ballots(published, ballots)
        _check_result(published, ballots, outcome)
    except _Difference as difference:
        return Verdict(False, (f"MISMATCH: first difference: {difference}",))
    return Verdict(True, _summary(published, outcome, recomputed))


def _who(published: Published, member: str) -> str:
    name = published.member_names.get(member)
    return f"{member} ({name})" if name else member


def _check_ballots(published: Published, ballots: Mapping[str, RefBallot]) -> None:
    choices = sorted(published.decision.choices)
    for member in sorted(set(ballots) | set(published.ballots)):
        who = _who(published, member)
        mine, theirs = ballots.get(member), published.ballots.get(member)
        if theirs is None or mine is None:
            has = "has no ballot" if theirs is None else "has a ballot"
            right = "one" if mine is not None else "none (abstains)"
            raise _Difference(f"ballot of {who}: the file {has}, the recount gives {right}")
        _same(f"ballot of {who}: isDelegated", theirs.is_delegated, mine.is_delegated)
        _same(f"ballot of {who}: tags", list(theirs.tags), sorted(mine.tags))
        _same(f"ballot of {who}: choices", sorted(theirs.stars), choices)
        for c in choices:
            label = f"ballot of {who}: stars for {_choice(published, c)}"
            _same(label, theirs.stars[c], places(mine.stars[c]))


def _choice(published: Published, choice: str) -> str:
    title = published.choice_titles.get(choice)
    return f"choice {choice} ({title})" if title else f"choice {choice}"


def _check_result(
    published: Published, ballots: Mapping[str, RefBallot], outcome: RefResult
) -> None:
    decision = published.decision
    result = published.result
    roles = {m.id: m.role for m in decision.members}
    direct = sum(1 for b in ballots.values() if not b.is_delegated)
    participation = {
        "members": len(decision.members),
        "voters": sum(1 for r in roles.values() if r == VOTER),
        "directBallots": direct,
        "delegatedBallots": len(ballots) - direct,
        "abstentions": len(decision.members) - len(ballots),
        "countedBallots": outcome.counted,
    }
    stated = result.get("participation")
    stated = stated if isinstance(stated, dict) else {}
    for key, value in participation.items():
        _same(f"result.participation.{key}", stated.get(key), value)
    scores = result.get("scores")
    by_choice = (
        {s.get("choice"): s for s in scores if isinstance(s, dict)}
        if isinstance(scores, list)
        else {}
    )
    _same("result.scores: choices", sorted(map(str, by_choice)), sorted(decision.choices))
    for c in sorted(decision.choices):
        score, label = by_choice[c], f"result.scores[{_choice(published, c)}]"
        average = (
            round_half_even(Fraction(outcome.totals[c], SCALE * outcome.counted))
            if outcome.counted
            else 0
        )
        _same(f"{label}.totalStars", score.get("totalStars"), places(outcome.totals[c]))
        _same(f"{label}.averageStars", score.get("averageStars"), places(average))
        _same(f"{label}.fiveStarCount", score.get("fiveStarCount"), outcome.fives[c])
    _same("result.finalists", result.get("finalists"), list(outcome.finalists))
    runoff = None
    if outcome.runoff is not None:
        first, second, prefer_first, prefer_second, none = outcome.runoff
        runoff = {
            "first": first,
            "second": second,
            "preferFirst": prefer_first,
            "preferSecond": prefer_second,
            "noPreference": none,
        }
    _same("result.runoff", result.get("runoff"), runoff)
    _same("result.tiedChoices", result.get("tiedChoices"), list(outcome.tied))
    _same("result.tiebreaks", result.get("tiebreaks"), list(outcome.tiebreaks))
    _same("result.winner", result.get("winner"), outcome.winner)
    _same("result.protocol", result.get("protocol"), PROTOCOL)


def _summary(published: Published, outcome: RefResult, recomputed: str) -> tuple[str, ...]:
    if outcome.winner is not None:
        headline = f"winner {_choice(published, outcome.winner)}"
    elif outcome.tied:
        headline = "no winner: tied " + ", ".join(_choice(published, c) for c in outcome.tied)
    else:
        headline = "no winner"
    lines = [
        f"OK: {published.title!s}: {headline}; every ballot and the result recount the same "
        f"({outcome.counted} counted of {len(published.decision.members)} members).",
        f"  published hash {recomputed} (recomputed from the file's input)",
        f"  content hash   {published.content_hash} (of the input as stored; seeds the lot)",
    ]
    if outcome.runoff is not None:
        first, second, a, b, none = outcome.runoff
        lines.append(
            f"  runoff: {_choice(published, first)} {a}, {_choice(published, second)} {b}, "
            f"no preference {none}"
        )
    lines += [f"  tiebreak: {sentence}" for sentence in outcome.tiebreaks]
    return tuple(lines)
