"""STAR voting tally over resolved ballots, exact with integers at 10⁸ scale."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from calc.engine.rounding import average
from calc.engine.tiebreak import FIVE_STARS, PROTOCOL, Contest, decide
from calc.engine.types import (
    ChoiceScore,
    EngineInputError,
    InfluenceRanking,
    Participation,
    Runoff,
    StarResult,
    TieBreakPolicy,
    scaled_to_decimal,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    import numpy.typing as npt

    from calc.engine.columns import Decision
    from calc.engine.types import ResolvedBallots


def tally_star(
    decision: Decision,
    resolved: ResolvedBallots,
    *,
    content_hash: str,
    choice_titles: Mapping[str, str] | None = None,
) -> StarResult:
    """Return the STAR result of the counted ballots (VOTER members with a ballot).

    ``content_hash`` seeds the reproducible lot; ``choice_titles`` only changes how the
    tiebreak sentences name choices. A one-choice decision is won by that choice as soon as
    one ballot is counted; with no counted ballot there is no winner and no finalist.

    >>> from calc.engine import FrozenDecision, Member, DirectBallot, resolve_ballots
    >>> d = FrozenDecision(("a", "b"), (Member("v"),), (), (DirectBallot.of("v", {"a": 5}),))
    >>> tally_star(d, resolve_ballots(d), content_hash="0" * 64).winner
    'a'
    """
    choice_ids = resolved.choice_ids
    if tuple(sorted(decision.choices)) != choice_ids or decision.member_count != len(
        resolved.member_ids
    ):
        raise EngineInputError("resolved ballots do not belong to this decision")
    if not isinstance(content_hash, str) or not content_hash:
        raise EngineInputError("content_hash must be a non-empty string")
    counted = resolved.counted
    ballots = np.ascontiguousarray(resolved.stars[counted])
    totals = tuple(int(v) for v in ballots.sum(axis=0, dtype=np.int64).tolist())
    fives = tuple(int(v) for v in np.count_nonzero(ballots == FIVE_STARS, axis=0).tolist())
    return star_result(
        resolved,
        ballots=ballots,
        totals=totals,
        fives=fives,
        policy=decision.tie_break_policy,
        content_hash=content_hash,
        choice_titles=choice_titles,
        influence=influence_ranking(resolved),
    )


def star_result(
    resolved: ResolvedBallots,
    *,
    ballots: npt.NDArray[np.int64],
    totals: tuple[int, ...],
    fives: tuple[int, ...],
    policy: TieBreakPolicy,
    content_hash: str,
    choice_titles: Mapping[str, str] | None,
    influence: InfluenceRanking,
) -> StarResult:
    """Return the STAR result from the counted ballots' figures: ``ballots`` (a row per
    counted ballot), each choice's total and five-star count, and the influence ranking.

    ``tally_star`` computes them; an incremental recalculation keeps them up to date.
    """
    choice_ids = resolved.choice_ids
    titles = choice_titles or {}
    count = int(ballots.shape[0])
    contest = Contest(
        choices=choice_ids,
        names=tuple(titles.get(c, c) for c in choice_ids),
        totals=totals,
        fives=fives,
        ballots=ballots,
        policy=policy,
        content_hash=content_hash,
    )
    outcome = decide(contest)
    scores = tuple(
        ChoiceScore(
            choice=c,
            total_stars=scaled_to_decimal(totals[i]),
            average_stars=average(totals[i], count),
            five_star_count=fives[i],
            total_scaled=totals[i],
        )
        for i, c in enumerate(choice_ids)
    )
    runoff = None
    if outcome.runoff is not None:
        a, b, pa, pb, none = outcome.runoff
        runoff = Runoff(choice_ids[a], choice_ids[b], pa, pb, none)
    n_direct = int(resolved.is_direct.sum())
    n_ballots = int(resolved.has_ballot.sum())
    participation = Participation(
        members=len(resolved.member_ids),
        voters=int(resolved.is_voter.sum()),
        direct_ballots=n_direct,
        delegated_ballots=n_ballots - n_direct,
        abstentions=len(resolved.member_ids) - n_ballots,
        counted_ballots=count,
    )
    return StarResult(
        scores=scores,
        finalists=tuple(choice_ids[c] for c in outcome.finalists),
        runoff=runoff,
        winner=None if outcome.winner is None else choice_ids[outcome.winner],
        tied_choices=tuple(choice_ids[c] for c in outcome.tied),
        tiebreaks=outcome.steps,
        participation=participation,
        content_hash=content_hash,
        tie_break_policy=policy,
        protocol=PROTOCOL,
        influence=influence,
    )


def influence_ranking(resolved: ResolvedBallots) -> InfluenceRanking:
    """Return every direct voter's influence, highest first, equal ones by member id."""
    direct = np.flatnonzero(resolved.is_direct)
    values = resolved.influence[direct]
    order = np.lexsort((direct, -values))  # rows are in member id order
    ids = resolved.member_ids
    return InfluenceRanking(
        members=tuple(map(ids.__getitem__, direct[order].tolist())),
        scaled=tuple(values[order].tolist()),
    )
