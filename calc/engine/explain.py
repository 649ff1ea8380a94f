"""Explain one member's ballot as a tree of active followings down to direct voters."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from calc.engine.rounding import average
from calc.engine.types import STAR_SCALE, EngineInputError, Explanation, ExplanationSource

if TYPE_CHECKING:
    from decimal import Decimal

    from calc.engine.columns import Decision
    from calc.engine.types import ResolvedBallots


def explain_ballot(
    decision: Decision,
    resolved: ResolvedBallots,
    member_id: str,
    *,
    max_depth: int | None = None,
) -> Explanation | None:
    """Return why ``member_id`` holds their ballot, or None when they have no ballot.

    Only the members reachable from this one are visited. Each delegated member is expanded
    once, at its shallowest occurrence (breadth first, followings by order then id); any
    later occurrence is a leaf without explanation, marked ``cycle`` when that member is on
    the path from the root. ``max_depth`` (1 = direct sources only) bounds the expansion.

    >>> from calc.engine import FrozenDecision, Member, Following, DirectBallot, resolve_ballots
    >>> d = FrozenDecision(("x",), (Member("a"), Member("b")),
    ...     (Following("b", "a", frozenset()),), (DirectBallot.of("a", {"x": 4}),))
    >>> [s.delegate for s in explain_ballot(d, resolve_ballots(d), "b").sources]
    ['a']
    """
    if tuple(sorted(decision.choices)) != resolved.choice_ids:
        raise EngineInputError("resolved ballots do not belong to this decision")
    if max_depth is not None and max_depth < 0:
        raise EngineInputError("max_depth must be at least 0")
    root = resolved.index_of(member_id)
    if not resolved.has_ballot[root]:
        return None
    ptr = resolved.active_ptr
    followee = resolved.active_followee
    is_direct = resolved.is_direct

    parent: dict[int, int] = {root: -1}
    depth = {root: 0}
    bfs: list[int] = []
    queue = deque([root])
    while queue:
        v = queue.popleft()
        bfs.append(v)
        if is_direct[v] or (max_depth is not None and depth[v] >= max_depth):
            continue
        for f in followee[ptr[v] : ptr[v + 1]].tolist():
            if f not in parent:
                parent[f] = v
                depth[f] = depth[v] + 1
                queue.append(f)

    tin, tout = _intervals(bfs, parent)
    built: dict[int, Explanation] = {}
    for v in reversed(bfs):
        expanded = not is_direct[v] and (max_depth is None or depth[v] < max_depth)
        sources: list[ExplanationSource] = []
        if expanded:
            start, stop = int(ptr[v]), int(ptr[v + 1])
            weight = _weight(stop - start)
            for e in range(start, stop):
                f = int(followee[e])
                owned = parent.get(f) == v and f != root
                nested: Explanation | None = None
                if is_direct[f]:
                    nested = built.get(f) or _leaf(resolved, f)
                elif owned and (max_depth is None or depth[f] < max_depth):
                    nested = built.get(f)
                cycle = not owned and not is_direct[f] and tin[f] <= tin[v] and tout[v] <= tout[f]
                sources.append(
                    ExplanationSource(
                        delegate=resolved.member_ids[f],
                        matched_tags=resolved.tags_from_bits(resolved.active_tag_bits[e]),
                        weight=weight,
                        stars=resolved.stars_of(f),
                        order=int(resolved.active_order[e]),
                        cycle=bool(cycle),
                        explanation=nested,
                    )
                )
        built[v] = Explanation(
            member=resolved.member_ids[v],
            is_delegated=not bool(is_direct[v]),
            tags=resolved.tags_from_bits(resolved.tag_bits[v]),
            stars=resolved.stars_of(v),
            sources=tuple(sources),
        )
    return built[root]


def _weight(count: int) -> Decimal:
    return average(STAR_SCALE, count)


def _leaf(resolved: ResolvedBallots, index: int) -> Explanation:
    return Explanation(
        member=resolved.member_ids[index],
        is_delegated=False,
        tags=resolved.tags_from_bits(resolved.tag_bits[index]),
        stars=resolved.stars_of(index),
        sources=(),
    )


def _intervals(order: list[int], parent: dict[int, int]) -> tuple[dict[int, int], dict[int, int]]:
    """Return DFS entry and exit times of the BFS tree, for O(1) ancestor tests."""
    children: dict[int, list[int]] = {}
    for v in order[1:]:
        children.setdefault(parent[v], []).append(v)
    tin: dict[int, int] = {}
    tout: dict[int, int] = {}
    clock = 0
    stack: list[tuple[int, bool]] = [(order[0], False)]
    while stack:
        v, leaving = stack.pop()
        if leaving:
            tout[v] = clock
            clock += 1
            continue
        tin[v] = clock
        clock += 1
        stack.append((v, True))
        stack.extend((c, False) for c in reversed(children.get(v, [])))
    return tin, tout
