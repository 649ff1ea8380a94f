"""Pure calculation engine: delegation, STAR tally and explanations (no Django)."""

from __future__ import annotations

from calc.engine.columns import Decision, DecisionColumns, decision_columns
from calc.engine.delegation import resolve_ballots
from calc.engine.explain import explain_ballot
from calc.engine.jsonio import (
    columns_from_json,
    content_hash,
    decision_from_json,
    decision_to_json,
)
from calc.engine.star import tally_star
from calc.engine.types import (
    STAR_SCALE,
    ChoiceScore,
    DirectBallot,
    EngineInputError,
    Explanation,
    ExplanationSource,
    Following,
    FrozenDecision,
    InfluenceRanking,
    Member,
    MemberBallot,
    MemberInfluence,
    Participation,
    ResolvedBallots,
    Role,
    Runoff,
    StarResult,
    TieBreakPolicy,
)
from calc.engine.validation import decision_from_columns

__all__ = [
    "STAR_SCALE",
    "ChoiceScore",
    "Decision",
    "DecisionColumns",
    "DirectBallot",
    "EngineInputError",
    "Explanation",
    "ExplanationSource",
    "Following",
    "FrozenDecision",
    "InfluenceRanking",
    "Member",
    "MemberBallot",
    "MemberInfluence",
    "Participation",
    "ResolvedBallots",
    "Role",
    "Runoff",
    "StarResult",
    "TieBreakPolicy",
    "columns_from_json",
    "content_hash",
    "decision_columns",
    "decision_from_columns",
    "decision_from_json",
    "decision_to_json",
    "explain_ballot",
    "resolve_ballots",
    "tally_star",
]
