"""One member's ballot as a result resolved it: direct, delegated (and from whom) or none.

Read from the same resolution (stored snapshot, resolution cache) as the result's ballots
and explanations, so it always agrees with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from calc import results
from calc.engine import Explanation
from calc.models import Calculation


class BallotStanding(StrEnum):
    DIRECT = "DIRECT"
    DELEGATED = "DELEGATED"
    ABSTAINING = "ABSTAINING"
    NOT_CALCULATED = "NOT_CALCULATED"


class AbstentionReason(StrEnum):
    FOLLOWS_NO_ONE = "FOLLOWS_NO_ONE"
    NO_MATCHING_DELEGATE = "NO_MATCHING_DELEGATE"
    JOINED_AFTER_RESULT = "JOINED_AFTER_RESULT"


ABSTENTION_MESSAGES = {
    AbstentionReason.FOLLOWS_NO_ONE: "You have not voted and follow no one on this decision.",
    AbstentionReason.NO_MATCHING_DELEGATE: (
        "None of the members you follow has a ballot here with a tag you follow them on."
    ),
    AbstentionReason.JOINED_AFTER_RESULT: "You joined after this result was calculated.",
}


@dataclass(frozen=True, slots=True)
class MemberStanding:
    """What a member holds in one result; equal values mean nothing changed for them.

    ``explanation`` goes one level deep: the ballot and the delegates it averages.
    """

    standing: BallotStanding
    is_counted: bool
    explanation: Explanation | None = None
    abstention: AbstentionReason | None = None


NOT_CALCULATED = MemberStanding(standing=BallotStanding.NOT_CALCULATED, is_counted=False)


def member_standing(calculation: Calculation | None, membership_id: int) -> MemberStanding:
    """Return the member's ballot in a completed calculation's result (None: no result yet)."""
    if calculation is None:
        return NOT_CALCULATED
    resolution = results.resolution_of(calculation)
    key = str(membership_id)
    if key not in resolution.resolved.member_index:
        return MemberStanding(
            BallotStanding.ABSTAINING, False, abstention=AbstentionReason.JOINED_AFTER_RESULT
        )
    explanation = results.explanation_of(calculation, membership_id, max_depth=1)
    if explanation is None:
        row = resolution.frozen.member_ids.index(key)
        follows = bool((resolution.frozen.follow_src == row).any())
        reason = (
            AbstentionReason.NO_MATCHING_DELEGATE if follows else AbstentionReason.FOLLOWS_NO_ONE
        )
        return MemberStanding(BallotStanding.ABSTAINING, False, abstention=reason)
    index = resolution.resolved.member_index[key]
    return MemberStanding(
        BallotStanding.DELEGATED if explanation.is_delegated else BallotStanding.DIRECT,
        is_counted=bool(resolution.resolved.is_voter[index]),
        explanation=explanation,
    )
