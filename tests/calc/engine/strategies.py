"""Hypothesis strategies for small communities that exercise every rule of docs/voting-rules.md."""

from __future__ import annotations

import itertools
import os
import random
from typing import TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from calc.engine import DirectBallot, Following, FrozenDecision, Member, Role, TieBreakPolicy

# Applied per test, not as a global profile, so other suites keep their own settings.
# CALC_EXAMPLES raises the number of examples for a long local run.
calc_settings = settings(
    max_examples=int(os.environ.get("CALC_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

TAG_POOL = ("budget", "parks", "roads", "schools")
CHOICE_POOL = ("a", "b", "c", "d", "e")
T = TypeVar("T")


@st.composite
def decisions(
    draw: st.DrawFn, *, max_members: int = 12, max_choices: int = 4, tie_prone: bool = False
) -> FrozenDecision:
    """Return a random small community decision: cycles, lobbyists, tags, abstainers."""
    n = draw(st.integers(1, max_members))
    ids = draw(st.permutations([f"m{i:02d}" for i in range(max_members * 2)]))[:n]
    roles = draw(
        st.lists(st.sampled_from([Role.VOTER] * 4 + [Role.LOBBYIST]), min_size=n, max_size=n)
    )
    members = tuple(Member(i, r) for i, r in zip(ids, roles, strict=True))
    choices = tuple(draw(st.permutations(CHOICE_POOL))[: draw(st.integers(1, max_choices))])
    star_values = st.sampled_from([0, 5, 5, 3]) if tie_prone else st.integers(0, 5)
    tag_sets = st.frozensets(st.sampled_from(TAG_POOL), max_size=2)
    voters = draw(st.lists(st.sampled_from(ids), unique=True, min_size=int(tie_prone), max_size=n))
    ballots = []
    for v in voters:
        rated = draw(st.lists(st.sampled_from(choices), unique=True, max_size=len(choices)))
        stars = {c: draw(star_values) for c in rated}
        ballots.append(DirectBallot.of(v, stars, draw(tag_sets)))
    pairs = [(a, b) for a in ids for b in ids if a != b]
    chosen = (
        draw(st.lists(st.sampled_from(pairs), unique=True, max_size=min(len(pairs), 3 * n)))
        if pairs
        else []
    )
    if n >= 3 and draw(st.booleans()):
        # A chain or a ring through several members, often on every topic.
        ring = draw(st.permutations(ids))[: draw(st.integers(2, n))]
        links = list(itertools.pairwise(ring))
        if draw(st.booleans()):
            links.append((ring[-1], ring[0]))
        chosen = list(dict.fromkeys([*chosen, *links]))
    followings = tuple(
        Following(a, b, draw(st.one_of(st.just(frozenset()), tag_sets)), draw(st.integers(1, 3)))
        for a, b in chosen
    )
    policy = draw(st.sampled_from(list(TieBreakPolicy)))
    return FrozenDecision(choices, members, followings, tuple(ballots), policy)


def shuffled(decision: FrozenDecision, seed: int) -> FrozenDecision:
    """Return the same decision with every tuple (and each ballot's pairs) reordered."""
    rng = random.Random(seed)

    def mix(items: tuple[T, ...]) -> tuple[T, ...]:
        out = list(items)
        rng.shuffle(out)
        return tuple(out)

    ballots = tuple(DirectBallot(b.member, mix(b.stars), b.tags) for b in decision.ballots)
    return FrozenDecision(
        mix(decision.choices),
        mix(decision.members),
        mix(decision.followings),
        mix(ballots),
        decision.tie_break_policy,
    )


@st.composite
def averaging_layers(draw: st.DrawFn) -> FrozenDecision:
    """Return layers of delegates averaging 2, 4 or 5 members below: values with 9+ decimals.

    Such values often end exactly in 5 at the 9th place, where rounding half to even must
    be decided exactly, not by floating point.
    """
    choices = ("a", "b")
    base = draw(st.integers(2, 6))
    members = [Member(f"d{i}") for i in range(base)]
    ballots = [
        DirectBallot.of(f"d{i}", {"a": draw(st.integers(0, 5)), "b": draw(st.integers(0, 5))})
        for i in range(base)
    ]
    below = [m.id for m in members]
    followings = []
    for layer in range(draw(st.integers(1, 12))):
        fan = draw(st.sampled_from([2, 4, 5]))
        if fan > len(below):
            fan = 2
        vid = f"v{layer:02d}"
        members.append(Member(vid))
        for f in draw(st.permutations(below))[:fan]:
            followings.append(Following(vid, f))
        below.append(vid)
    return FrozenDecision(choices, tuple(members), tuple(followings), tuple(ballots))
