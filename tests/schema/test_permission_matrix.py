"""The permission matrix: every mutation, and every field reachable from Query, x every role.

The tables below are the spec, one line per operation, one column per caller (see
``permission_world``): signed out, a stranger (signed in, no membership), a pending
applicant, a member (voter), a lobbyist, a manager, and a staff superuser without
membership, whom the API treats as just a user. Each operation goes through the real
``/graphql`` view; its outcome is compared with its line. The tables are checked against the
schema both ways: a new mutation or field without a line fails, and so does a line whose
operation is gone. Subscriptions are in ``test_permission_matrix_subscriptions``.

Outcomes: ``A`` allowed (a value: not null, not an empty list or connection), ``N`` not
visible (null, an empty list or connection, a ``totalCount`` of 0), a GraphQL error's code
(``UNAUTH``, ``FORBID``), or a ``UserError`` code.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.apps import apps
from django.db import transaction
from django.test import Client
from graphql import (
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
)

from schema.schema import schema
from tests.schema.permission_world import MAGIC_LINK, ROLES, World
from tests.schema.test_fuzz import fingerprint

pytestmark = pytest.mark.django_db

A, N = "A", "N"
UNAUTH, FORBID = "UNAUTHENTICATED", "FORBIDDEN"
PRIVATE, PUBLIC = False, True
GRAPHQL = schema._schema


@pytest.fixture(scope="module")
def world(django_db_setup: None, django_db_blocker: Any) -> Iterator[World]:
    """The world, built once for the module; each test runs in a savepoint inside it."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield World()
        transaction.set_rollback(True)


def post(world: World, role: str, document: str, variables: dict[str, str]) -> dict[str, Any]:
    headers = {}
    if role in world.tokens:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {world.tokens[role]}"
    body = json.dumps({"query": document, "variables": variables})
    response = Client().post("/graphql", body, content_type="application/json", **headers)
    assert response.status_code < 500, (role, document, response.content[:500])
    answer: dict[str, Any] = response.json()
    return answer


def ids_of(world: World, public: bool) -> dict[str, str]:
    """Return the IDs of the world by name: those of one community, and the users'."""
    return {**world.place(public).ids, **{f"{k}User": v for k, v in world.users_ids.items()}}


def with_variables(document: str, world: World, public: bool) -> tuple[str, dict[str, str]]:
    """Declare the ``$name`` IDs a document uses, taken from the world's community."""
    ids = ids_of(world, public)
    names = sorted(set(re.findall(r"\$(\w+)", document)))
    declared = ", ".join(f"${name}: ID!" for name in names)
    head = f"({declared})" if names else ""
    return head, {name: ids[name] for name in names}


def error_code(error: dict[str, Any]) -> str:
    code: str = error.get("extensions", {}).get("code") or "NO CODE: " + error["message"]
    return code


# --- Reading: who sees which object, by each way to reach it --------------------------------

NODE = "node(id: $id) { id }"
DECISION = "decision(id: $id) { id }"
DECISIONS = "community(id: $community) { decisions { edges { node { id } } } }"
MEMBERS = "community(id: $community) { members { edges { node { id } } } }"

# (how, community, which object of the world): whether each caller sees it.
# fmt: off
READS = [
    # how       where    what                   nobody stranger pending member lobbyist manager staff
    (NODE,      PRIVATE, "community",          (A,     A,       A,      A,     A,       A,      A)),
    (NODE,      PRIVATE, "open",               (N,     N,       N,      A,     A,       A,      N)),
    (NODE,      PRIVATE, "draft",              (N,     N,       N,      N,     N,       A,      N)),
    (NODE,      PRIVATE, "closed",             (N,     N,       N,      A,     A,       A,      N)),
    (NODE,      PRIVATE, "managerMembership",  (N,     N,       N,      A,     A,       A,      N)),
    (NODE,      PRIVATE, "memberMembership",   (N,     N,       N,      A,     A,       A,      N)),
    (NODE,      PRIVATE, "lobbyistMembership", (N,     N,       N,      A,     A,       A,      N)),
    (NODE,      PRIVATE, "anonMembership",     (N,     N,       N,      A,     A,       A,      N)),
    (NODE,      PRIVATE, "pendingMembership",  (N,     N,       A,      N,     N,       A,      N)),
    (NODE,      PRIVATE, "following",          (N,     N,       N,      A,     A,       A,      N)),
    (NODE,      PRIVATE, "openChoice",         (N,     N,       N,      A,     A,       A,      N)),
    (NODE,      PRIVATE, "draftChoice",        (N,     N,       N,      N,     N,       A,      N)),
    (NODE,      PRIVATE, "calculation",        (N,     N,       N,      A,     A,       A,      N)),
    (NODE,      PRIVATE, "results",            (N,     N,       N,      A,     A,       A,      N)),
    (NODE,      PRIVATE, "memberUser",         (N,     N,       N,      A,     N,       N,      N)),
    (NODE,      PUBLIC,  "community",          (A,     A,       A,      A,     A,       A,      A)),
    (NODE,      PUBLIC,  "open",               (A,     A,       A,      A,     A,       A,      A)),
    (NODE,      PUBLIC,  "draft",              (N,     N,       N,      N,     N,       A,      N)),
    (NODE,      PUBLIC,  "closed",             (A,     A,       A,      A,     A,       A,      A)),
    (NODE,      PUBLIC,  "managerMembership",  (A,     A,       A,      A,     A,       A,      A)),
    (NODE,      PUBLIC,  "memberMembership",   (A,     A,       A,      A,     A,       A,      A)),
    (NODE,      PUBLIC,  "lobbyistMembership", (A,     A,       A,      A,     A,       A,      A)),
    (NODE,      PUBLIC,  "anonMembership",     (A,     A,       A,      A,     A,       A,      A)),
    (NODE,      PUBLIC,  "pendingMembership",  (N,     N,       A,      N,     N,       A,      N)),
    (NODE,      PUBLIC,  "following",          (A,     A,       A,      A,     A,       A,      A)),
    (NODE,      PUBLIC,  "openChoice",         (A,     A,       A,      A,     A,       A,      A)),
    (NODE,      PUBLIC,  "draftChoice",        (N,     N,       N,      N,     N,       A,      N)),
    (NODE,      PUBLIC,  "calculation",        (A,     A,       A,      A,     A,       A,      A)),
    (NODE,      PUBLIC,  "results",            (A,     A,       A,      A,     A,       A,      A)),
    (NODE,      PUBLIC,  "memberUser",         (N,     N,       N,      A,     N,       N,      N)),
    (DECISION,  PRIVATE, "open",               (N,     N,       N,      A,     A,       A,      N)),
    (DECISION,  PRIVATE, "draft",              (N,     N,       N,      N,     N,       A,      N)),
    (DECISION,  PRIVATE, "closed",             (N,     N,       N,      A,     A,       A,      N)),
    (DECISION,  PUBLIC,  "open",               (A,     A,       A,      A,     A,       A,      A)),
    (DECISION,  PUBLIC,  "draft",              (N,     N,       N,      N,     N,       A,      N)),
    (DECISION,  PUBLIC,  "closed",             (A,     A,       A,      A,     A,       A,      A)),
    (DECISIONS, PRIVATE, "open",               (N,     N,       N,      A,     A,       A,      N)),
    (DECISIONS, PRIVATE, "draft",              (N,     N,       N,      N,     N,       A,      N)),
    (DECISIONS, PRIVATE, "closed",             (N,     N,       N,      A,     A,       A,      N)),
    (DECISIONS, PUBLIC,  "open",               (A,     A,       A,      A,     A,       A,      A)),
    (DECISIONS, PUBLIC,  "draft",              (N,     N,       N,      N,     N,       A,      N)),
    (DECISIONS, PUBLIC,  "closed",             (A,     A,       A,      A,     A,       A,      A)),
    (MEMBERS,   PRIVATE, "managerMembership",  (N,     N,       N,      A,     A,       A,      N)),
    (MEMBERS,   PRIVATE, "anonMembership",     (N,     N,       N,      A,     A,       A,      N)),
    (MEMBERS,   PRIVATE, "pendingMembership",  (N,     N,       N,      N,     N,       N,      N)),
    (MEMBERS,   PUBLIC,  "managerMembership",  (A,     A,       A,      A,     A,       A,      A)),
    (MEMBERS,   PUBLIC,  "anonMembership",     (A,     A,       A,      A,     A,       A,      A)),
    (MEMBERS,   PUBLIC,  "pendingMembership",  (N,     N,       N,      N,     N,       N,      N)),
]
# fmt: on


def seen(answer: dict[str, Any], target: str) -> str:
    """Return whether the object ``target`` is in the answer."""
    if answer.get("errors"):
        return error_code(answer["errors"][0])
    return A if f'"{target}"' in json.dumps(answer["data"]) else N


HOW = {NODE: "node", DECISION: "decision", DECISIONS: "decisions", MEMBERS: "members"}


@pytest.mark.parametrize(
    ("how", "public", "what", "expected"),
    READS,
    ids=[
        f"{HOW[how]}-{'public' if public else 'private'}-{what}" for how, public, what, _ in READS
    ],
)
def test_reading(world: World, how: str, public: bool, what: str, expected: tuple[str, ...]):
    document = how.replace("$id", f"${what}")
    head, variables = with_variables(document, world, public)
    target = ids_of(world, public)[what]
    actual = tuple(
        seen(post(world, role, f"query{head} {{ {document} }}", variables), target)
        for role in ROLES
    )
    assert actual == expected, f"it answers ({', '.join(actual)})"


# --- Fields: every field of every type reachable from Query --------------------------------

# How the field table reaches one object of each type, from the root, in either community.
OPEN = "decision(id: $open)"
RESULTS = (OPEN, "results")
ROUTES: dict[str, tuple[str, ...]] = {
    "Query": (),
    "Node": ("node(id: $open)",),
    "CommunityConnection": ("communities",),
    "CommunityEdge": ("communities", "edges"),
    "PageInfo": ("communities", "pageInfo"),
    "Community": ("community(id: $community)",),
    "MembershipConnection": ("community(id: $community)", "members"),
    "MembershipEdge": ("community(id: $community)", "members", "edges"),
    "Membership": ("node(id: $anonMembership)", "... on Membership"),
    "Following": ("node(id: $following)", "... on Following"),
    "User": ("me",),
    "DecisionConnection": ("community(id: $community)", "decisions"),
    "DecisionEdge": ("community(id: $community)", "decisions", "edges"),
    "Decision": (OPEN,),
    "Choice": ("node(id: $openChoice)", "... on Choice"),
    "Ballot": (OPEN, "myBallot"),
    "ChoiceStars": (OPEN, "myBallot", "stars"),
    "Calculation": (OPEN, "calculation"),
    "CalculationConnection": (OPEN, "snapshots"),
    "CalculationEdge": (OPEN, "snapshots", "edges"),
    "DecisionResults": RESULTS,
    "ChoiceScore": (*RESULTS, "scores"),
    "Runoff": (*RESULTS, "runoff"),
    "Participation": (*RESULTS, "participation"),
    "BallotConnection": (*RESULTS, "ballots"),
    "BallotEdge": (*RESULTS, "ballots", "edges"),
    "InfluenceConnection": (*RESULTS, "influence"),
    "InfluenceEdge": (*RESULTS, "influence", "edges"),
    "BallotExplanation": (OPEN, "explanation(membershipId: $managerMembership)"),
    "BallotSource": (OPEN, "explanation(membershipId: $managerMembership)", "sources"),
    "ResultsHistoryConnection": (OPEN, "resultsHistory"),
    "ResultsHistoryEdge": (OPEN, "resultsHistory", "edges"),
    "ResultsHistoryEntry": (OPEN, "resultsHistory", "edges", "node"),
}
# Arguments of the fields that require some.
ARGUMENTS = {
    "Query.node": "(id: $open)",
    "Query.community": "(id: $community)",
    "Query.decision": "(id: $open)",
    "Decision.explanation": "(membershipId: $managerMembership)",
}

# Each cell: the outcome in the private community, then in the public one ("NA": not visible
# in the private community, visible in the public one).
AA, AN, NA, NN = "AA", "AN", "NA", "NN"
# fmt: off
FIELDS = {
    # type.field                           nobody stranger pending member lobbyist manager staff
    "Ballot.comment":                     (NN,    NN,      NN,     AA,    NN,      NN,     NN),
    "Ballot.isDelegated":                 (NN,    NN,      NN,     AA,    NN,      AA,     NN),
    "Ballot.membership":                  (NN,    NN,      NN,     AA,    NN,      AA,     NN),
    "Ballot.stars":                       (NN,    NN,      NN,     AA,    NN,      AA,     NN),
    "Ballot.tags":                        (NN,    NN,      NN,     AA,    NN,      AA,     NN),
    "BallotConnection.edges":             (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "BallotConnection.pageInfo":          (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "BallotConnection.totalCount":        (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "BallotEdge.cursor":                  (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "BallotEdge.node":                    (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "InfluenceConnection.edges":          (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "InfluenceConnection.pageInfo":       (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "InfluenceConnection.totalCount":     (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "InfluenceEdge.cursor":               (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "InfluenceEdge.influence":            (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "InfluenceEdge.node":                 (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "BallotExplanation.isDelegated":      (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "BallotExplanation.membership":       (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "BallotExplanation.sources":          (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "BallotExplanation.stars":            (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "BallotExplanation.tags":             (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "BallotSource.delegate":              (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "BallotSource.explanation":           (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "BallotSource.isCycle":               (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "BallotSource.matchedTags":           (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "BallotSource.order":                 (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "BallotSource.stars":                 (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "BallotSource.weight":                (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Calculation.absorbedBy":             (NN,    NN,      NN,     NN,    NN,      NN,     NN),
    "Calculation.changeCount":            (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Calculation.contentHash":            (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Calculation.decision":               (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Calculation.durationMs":             (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Calculation.error":                  (NN,    NN,      NN,     NN,    NN,      NN,     NN),
    "Calculation.failedStage":            (NN,    NN,      NN,     NN,    NN,      NN,     NN),
    "Calculation.finishedAt":             (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Calculation.generation":             (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Calculation.id":                     (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Calculation.isFinal":                (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Calculation.requestedAt":            (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Calculation.retryCount":             (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Calculation.snapshotHash":           (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Calculation.snapshotUrl":            (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Calculation.startedAt":              (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Calculation.status":                 (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Calculation.trigger":                (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "CalculationConnection.edges":        (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "CalculationConnection.pageInfo":     (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "CalculationConnection.totalCount":   (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "CalculationEdge.cursor":             (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "CalculationEdge.node":               (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Choice.description":                 (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Choice.id":                          (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Choice.title":                       (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "ChoiceScore.averageStars":           (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "ChoiceScore.choice":                 (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "ChoiceScore.fiveStarCount":          (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "ChoiceScore.totalStars":             (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "ChoiceStars.choice":                 (NN,    NN,      NN,     AA,    NN,      AA,     NN),
    "ChoiceStars.stars":                  (NN,    NN,      NN,     AA,    NN,      AA,     NN),
    "Community.autoApproveApplications":  (AA,    AA,      AA,     AA,    AA,      AA,     AA),
    "Community.decisions":                (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Community.description":              (AA,    AA,      AA,     AA,    AA,      AA,     AA),
    "Community.id":                       (AA,    AA,      AA,     AA,    AA,      AA,     AA),
    "Community.members":                  (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Community.myMembership":             (NN,    NN,      AA,     AA,    AA,      AA,     NN),
    "Community.name":                     (AA,    AA,      AA,     AA,    AA,      AA,     AA),
    "Community.resultsArePublic":         (AA,    AA,      AA,     AA,    AA,      AA,     AA),
    "Community.tieBreakPolicy":           (AA,    AA,      AA,     AA,    AA,      AA,     AA),
    "CommunityConnection.edges":          (AA,    AA,      AA,     AA,    AA,      AA,     AA),
    "CommunityConnection.pageInfo":       (AA,    AA,      AA,     AA,    AA,      AA,     AA),
    "CommunityConnection.totalCount":     (AA,    AA,      AA,     AA,    AA,      AA,     AA),
    "CommunityEdge.cursor":               (AA,    AA,      AA,     AA,    AA,      AA,     AA),
    "CommunityEdge.node":                 (AA,    AA,      AA,     AA,    AA,      AA,     AA),
    "Decision.calculation":               (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Decision.choices":                   (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Decision.closesAt":                  (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Decision.community":                 (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Decision.description":               (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Decision.explanation":               (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Decision.id":                        (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Decision.myBallot":                  (NN,    NN,      NN,     AA,    NN,      AA,     NN),
    "Decision.results":                   (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Decision.resultsHistory":            (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Decision.snapshots":                 (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Decision.status":                    (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Decision.title":                     (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "DecisionConnection.edges":           (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "DecisionConnection.pageInfo":        (AA,    AA,      AA,     AA,    AA,      AA,     AA),
    "DecisionConnection.totalCount":      (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "DecisionEdge.cursor":                (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "DecisionEdge.node":                  (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "DecisionResults.ballots":            (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "DecisionResults.calculatedAt":       (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "DecisionResults.calculationId":      (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "DecisionResults.finalists":          (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "DecisionResults.id":                 (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "DecisionResults.influence":          (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "DecisionResults.isFinal":            (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "DecisionResults.participation":      (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "DecisionResults.runoff":             (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "DecisionResults.scores":             (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "DecisionResults.tieBreakProtocol":   (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "DecisionResults.tiebreaks":          (NN,    NN,      NN,     NN,    NN,      NN,     NN),
    "DecisionResults.tiedChoices":        (NN,    NN,      NN,     NN,    NN,      NN,     NN),
    "DecisionResults.winner":             (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Following.followee":                 (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Following.follower":                 (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Following.id":                       (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Following.order":                    (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Following.tags":                     (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Membership.community":               (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Membership.displayName":             (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Membership.followers":               (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Membership.following":               (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Membership.id":                      (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Membership.isAnonymous":             (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Membership.isApproved":              (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Membership.isManager":               (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Membership.role":                    (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "MembershipConnection.edges":         (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "MembershipConnection.pageInfo":      (AA,    AA,      AA,     AA,    AA,      AA,     AA),
    "MembershipConnection.totalCount":    (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "MembershipEdge.cursor":              (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "MembershipEdge.node":                (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Node.id":                            (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "PageInfo.endCursor":                 (AA,    AA,      AA,     AA,    AA,      AA,     AA),
    "PageInfo.hasNextPage":               (AA,    AA,      AA,     AA,    AA,      AA,     AA),
    "PageInfo.hasPreviousPage":           (AA,    AA,      AA,     AA,    AA,      AA,     AA),
    "PageInfo.startCursor":               (AA,    AA,      AA,     AA,    AA,      AA,     AA),
    "Participation.abstentions":          (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Participation.countedBallots":       (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Participation.delegatedBallots":     (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Participation.directBallots":        (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Participation.members":              (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Participation.voters":               (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Query.communities":                  (AA,    AA,      AA,     AA,    AA,      AA,     AA),
    "Query.community":                    (AA,    AA,      AA,     AA,    AA,      AA,     AA),
    "Query.decision":                     (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Query.me":                           (NN,    AA,      AA,     AA,    AA,      AA,     AA),
    "Query.node":                         (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "ResultsHistoryConnection.edges":     (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "ResultsHistoryConnection.pageInfo":  (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "ResultsHistoryConnection.totalCount":(NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "ResultsHistoryEdge.cursor":          (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "ResultsHistoryEdge.node":            (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "ResultsHistoryEntry.calculatedAt":   (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "ResultsHistoryEntry.calculationId":  (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "ResultsHistoryEntry.countedBallots": (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "ResultsHistoryEntry.isFinal":        (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "ResultsHistoryEntry.scores":         (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "ResultsHistoryEntry.tiedChoices":    (NN,    NN,      NN,     NN,    NN,      NN,     NN),
    "ResultsHistoryEntry.trigger":        (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "ResultsHistoryEntry.winner":         (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Runoff.first":                       (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Runoff.noPreference":                (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Runoff.preferFirst":                 (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Runoff.preferSecond":                (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "Runoff.second":                      (NA,    NA,      NA,     AA,    AA,      AA,     NA),
    "User.id":                            (NN,    AA,      AA,     AA,    AA,      AA,     AA),
    "User.memberships":                   (NN,    NN,      AA,     AA,    AA,      AA,     NN),
    "User.username":                      (NN,    AA,      AA,     AA,    AA,      AA,     AA),
}
# fmt: on


def _named(type_: GraphQLOutputType) -> GraphQLOutputType:
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        type_ = type_.of_type
    return type_


def reachable(root: str) -> set[str]:
    """Return every ``Type.field`` reachable from the root type ``root``."""
    found: set[str] = set()
    todo, done = [root], set()
    while todo:
        name = todo.pop()
        if name in done:
            continue
        done.add(name)
        type_ = GRAPHQL.get_type(name)
        assert isinstance(type_, GraphQLObjectType | GraphQLInterfaceType)
        if isinstance(type_, GraphQLInterfaceType):
            todo += [t.name for t in GRAPHQL.get_possible_types(type_)]
        for field_name, field in type_.fields.items():
            found.add(f"{name}.{field_name}")
            inner = _named(field.type)
            if isinstance(inner, GraphQLObjectType | GraphQLInterfaceType):
                todo.append(inner.name)
    return found


def field_selection(type_name: str, field_name: str) -> str:
    type_ = GRAPHQL.get_type(type_name)
    assert isinstance(type_, GraphQLObjectType | GraphQLInterfaceType)
    field = type_.fields[field_name]
    key = f"{type_name}.{field_name}"
    required = [n for n, arg in field.args.items() if isinstance(arg.type, GraphQLNonNull)]
    arguments = ARGUMENTS[key] if required else ""
    inner = _named(field.type)
    if not isinstance(inner, GraphQLObjectType | GraphQLInterfaceType):
        return f"{field_name}{arguments}"
    if inner.name.endswith("Connection"):
        return f"{field_name}{arguments} {{ edges {{ __typename }} }}"
    return f"{field_name}{arguments} {{ __typename }}"


def _document(type_name: str, fields: list[str]) -> str:
    inner = " ".join(field_selection(type_name, f) for f in fields)
    for step in reversed(ROUTES[type_name]):
        inner = f"{step} {{ {inner} }}"
    return inner


def _walk(data: Any, steps: tuple[str, ...]) -> tuple[Any, list[str | int]]:
    """Return the routed object (None when absent) and its response path."""
    path: list[str | int] = []
    for step in steps:
        if step.startswith("..."):
            continue
        if not isinstance(data, dict):
            return None, path
        key = step.split("(")[0]
        data = data.get(key)
        path.append(key)
        if isinstance(data, list):
            if not data:
                return None, path
            data = data[0]
            path.append(0)
    return data, path


def value_outcome(value: Any, field: str = "") -> str:
    if value is None or value == [] or (isinstance(value, dict) and value.get("edges") == []):
        return N
    return N if field == "totalCount" and value == 0 else A


def type_outcomes(world: World, type_name: str, public: bool) -> dict[str, list[str]]:
    """Return each field's outcome for every role, in one request per role."""
    type_ = GRAPHQL.get_type(type_name)
    assert isinstance(type_, GraphQLObjectType | GraphQLInterfaceType)
    fields = list(type_.fields)
    document = _document(type_name, fields)
    head, variables = with_variables(document, world, public)
    outcomes: dict[str, list[str]] = {f: [] for f in fields}
    for role in ROLES:
        answer = post(world, role, f"query{head} {{ {document} }}", variables)
        obj, path = _walk(answer.get("data"), ROUTES[type_name])
        errors = {}
        for error in answer.get("errors") or []:
            where = error.get("path") or []
            if where[: len(path)] == path and len(where) > len(path):
                errors.setdefault(where[len(path)], error_code(error))
        for f in fields:
            if f in errors:
                outcomes[f].append(errors[f])
            elif obj is None:
                outcomes[f].append(N)
            else:
                outcomes[f].append(value_outcome(obj.get(f), f))
    return outcomes


def cell_of(private: str, public: str) -> str:
    return private + public if len(private) == len(public) == 1 else f"{private}/{public}"


def test_every_field_reachable_from_query_has_a_line_and_every_line_a_field():
    fields = reachable("Query")
    assert sorted(fields - set(FIELDS)) == [], "fields without a line in FIELDS"
    assert sorted(set(FIELDS) - fields) == [], "lines of FIELDS for fields that are gone"
    assert {key.split(".")[0] for key in fields} == set(ROUTES), "types without a route"


@pytest.mark.parametrize("type_name", sorted(ROUTES))
def test_fields(world: World, type_name: str):
    private = type_outcomes(world, type_name, PRIVATE)
    public = type_outcomes(world, type_name, PUBLIC)
    actual = {
        f"{type_name}.{f}": tuple(cell_of(p, q) for p, q in zip(private[f], public[f], strict=True))
        for f in private
    }
    expected = {key: row for key, row in FIELDS.items() if key.split(".")[0] == type_name}
    if actual != expected:
        lines = "\n".join(f'    "{k}": ({", ".join(v)}),' for k, v in actual.items())
        pytest.fail(f"{type_name} differs from FIELDS; it answers:\n{lines}")


# --- Mutations: each against fresh state; a refused one changes nothing --------------------

# The arguments of each mutation's line.
NEW_EMAIL = 'email: "newcomer@example.org"'
LINK = f'token: "{MAGIC_LINK}"'
NEW_COMMUNITY = 'input: {name: "Allotments"}'
DESCRIBE = 'input: {communityId: $community, description: "Ours"}'
COMMUNITY = "communityId: $community"
JOIN_ANONYMOUSLY = "communityId: $community, isAnonymous: true"
APPROVE_PENDING = "input: {membershipId: $pendingMembership, isApproved: true}"
MEMBER_TO_LOBBYIST = "input: {membershipId: $memberMembership, role: LOBBYIST}"
MEMBER_ANONYMOUS = "input: {membershipId: $memberMembership, isAnonymous: true}"
PROMOTE_MEMBER = "input: {membershipId: $memberMembership, isManager: true}"
DEMOTE_MANAGER = "input: {membershipId: $managerMembership, isManager: false}"
PENDING_TO_LOBBYIST = "input: {membershipId: $pendingMembership, role: LOBBYIST}"
FOLLOW_ANON = 'input: {communityId: $community, followeeId: $anonMembership, tags: ["parks"]}'
FOLLOW_PENDING = "input: {communityId: $community, followeeId: $pendingMembership}"
UNFOLLOW_ANON = "communityId: $community, followeeId: $anonMembership"
NEW_DECISION = (
    'input: {communityId: $community, title: "Benches", closesAt: "2099-01-01T00:00:00Z", '
    'choices: [{title: "oak"}, {title: "steel"}]}'
)
RENAME_DRAFT = 'input: {decisionId: $draft, title: "Renamed"}'
RENAME_OPEN = 'input: {decisionId: $open, title: "Renamed"}'
DRAFT_DECISION = "decisionId: $draft"
OPEN_DECISION = "decisionId: $open"
CLOSED_DECISION = "decisionId: $closed"
VOTE_OPEN = "input: {decisionId: $open, stars: [{choiceId: $openChoice, stars: 3}]}"
VOTE_DRAFT = "input: {decisionId: $draft, stars: [{choiceId: $draftChoice, stars: 3}]}"
NONE = ""
# The UserError codes in the table.
ALREADY_MEMBER, LAST_MANAGER = "ALREADY_MEMBER", "LAST_MANAGER"
NOT_MEMBER, NOT_FOLLOWING, NO_BALLOT = "NOT_MEMBER", "NOT_FOLLOWING", "NO_BALLOT"
NOT_DRAFT, NOT_OPEN, FINAL = "DECISION_NOT_DRAFT", "DECISION_NOT_OPEN", "DECISION_FINAL"
INVALID_ID = "INVALID_ID"

# (mutation, community, its arguments): the outcome for each caller.
# fmt: off
MUTATIONS = [
    # mutation              where    arguments             nobody  stranger    pending         member          lobbyist        manager         staff
    ("requestMagicLink",    PRIVATE, NEW_EMAIL,           (A,      A,          A,              A,              A,              A,              A)),
    ("signInWithMagicLink", PRIVATE, LINK,                (A,      A,          A,              A,              A,              A,              A)),
    ("signOut",             PRIVATE, NONE,                (UNAUTH, A,          A,              A,              A,              A,              A)),
    ("createCommunity",     PRIVATE, NEW_COMMUNITY,       (UNAUTH, A,          A,              A,              A,              A,              A)),
    ("updateCommunity",     PRIVATE, DESCRIBE,            (UNAUTH, FORBID,     FORBID,         FORBID,         FORBID,         A,              FORBID)),
    ("updateCommunity",     PUBLIC,  DESCRIBE,            (UNAUTH, FORBID,     FORBID,         FORBID,         FORBID,         A,              FORBID)),
    ("joinCommunity",       PRIVATE, COMMUNITY,           (UNAUTH, A,          ALREADY_MEMBER, ALREADY_MEMBER, ALREADY_MEMBER, ALREADY_MEMBER, A)),
    ("joinCommunity",       PUBLIC,  JOIN_ANONYMOUSLY,    (UNAUTH, A,          ALREADY_MEMBER, ALREADY_MEMBER, ALREADY_MEMBER, ALREADY_MEMBER, A)),
    ("leaveCommunity",      PRIVATE, COMMUNITY,           (UNAUTH, FORBID,     A,              A,              A,              LAST_MANAGER,   FORBID)),
    ("leaveCommunity",      PUBLIC,  COMMUNITY,           (UNAUTH, FORBID,     A,              A,              A,              LAST_MANAGER,   FORBID)),
    ("updateMembership",    PRIVATE, APPROVE_PENDING,     (UNAUTH, INVALID_ID, FORBID,         INVALID_ID,     INVALID_ID,     A,              INVALID_ID)),
    ("updateMembership",    PRIVATE, PENDING_TO_LOBBYIST, (UNAUTH, INVALID_ID, FORBID,         INVALID_ID,     INVALID_ID,     A,              INVALID_ID)),
    ("updateMembership",    PRIVATE, MEMBER_TO_LOBBYIST,  (UNAUTH, INVALID_ID, INVALID_ID,     A,              FORBID,         A,              INVALID_ID)),
    ("updateMembership",    PRIVATE, MEMBER_ANONYMOUS,    (UNAUTH, INVALID_ID, INVALID_ID,     A,              FORBID,         FORBID,         INVALID_ID)),
    ("updateMembership",    PRIVATE, PROMOTE_MEMBER,      (UNAUTH, INVALID_ID, INVALID_ID,     FORBID,         FORBID,         A,              INVALID_ID)),
    ("updateMembership",    PRIVATE, DEMOTE_MANAGER,      (UNAUTH, INVALID_ID, INVALID_ID,     FORBID,         FORBID,         LAST_MANAGER,   INVALID_ID)),
    ("follow",              PRIVATE, FOLLOW_ANON,         (UNAUTH, INVALID_ID, INVALID_ID,     A,              A,              A,              INVALID_ID)),
    ("follow",              PUBLIC,  FOLLOW_ANON,         (UNAUTH, FORBID,     FORBID,         A,              A,              A,              FORBID)),
    ("follow",              PRIVATE, FOLLOW_PENDING,      (UNAUTH, INVALID_ID, FORBID,         INVALID_ID,     INVALID_ID,     NOT_MEMBER,     INVALID_ID)),
    ("unfollow",            PRIVATE, UNFOLLOW_ANON,       (UNAUTH, INVALID_ID, INVALID_ID,     A,              NOT_FOLLOWING,  NOT_FOLLOWING,  INVALID_ID)),
    ("createDecision",      PRIVATE, NEW_DECISION,        (UNAUTH, FORBID,     FORBID,         FORBID,         FORBID,         A,              FORBID)),
    ("updateDecision",      PRIVATE, RENAME_DRAFT,        (UNAUTH, INVALID_ID, INVALID_ID,     INVALID_ID,     INVALID_ID,     A,              INVALID_ID)),
    ("updateDecision",      PRIVATE, RENAME_OPEN,         (UNAUTH, INVALID_ID, INVALID_ID,     FORBID,         FORBID,         NOT_DRAFT,      INVALID_ID)),
    ("publishDecision",     PRIVATE, DRAFT_DECISION,      (UNAUTH, INVALID_ID, INVALID_ID,     INVALID_ID,     INVALID_ID,     A,              INVALID_ID)),
    ("closeDecision",       PRIVATE, OPEN_DECISION,       (UNAUTH, INVALID_ID, INVALID_ID,     FORBID,         FORBID,         A,              INVALID_ID)),
    ("closeDecision",       PRIVATE, CLOSED_DECISION,     (UNAUTH, INVALID_ID, INVALID_ID,     FORBID,         FORBID,         NOT_OPEN,       INVALID_ID)),
    ("castBallot",          PRIVATE, VOTE_OPEN,           (UNAUTH, INVALID_ID, INVALID_ID,     A,              A,              A,              INVALID_ID)),
    ("castBallot",          PUBLIC,  VOTE_OPEN,           (UNAUTH, FORBID,     FORBID,         A,              A,              A,              FORBID)),
    ("castBallot",          PRIVATE, VOTE_DRAFT,          (UNAUTH, INVALID_ID, INVALID_ID,     INVALID_ID,     INVALID_ID,     NOT_OPEN,       INVALID_ID)),
    ("retractBallot",       PRIVATE, OPEN_DECISION,       (UNAUTH, INVALID_ID, INVALID_ID,     A,              NO_BALLOT,      NO_BALLOT,      INVALID_ID)),
    ("retractBallot",       PUBLIC,  OPEN_DECISION,       (UNAUTH, FORBID,     FORBID,         A,              NO_BALLOT,      NO_BALLOT,      FORBID)),
    ("retractBallot",       PRIVATE, DRAFT_DECISION,      (UNAUTH, INVALID_ID, INVALID_ID,     INVALID_ID,     INVALID_ID,     NOT_OPEN,       INVALID_ID)),
    ("recalculateDecision", PRIVATE, OPEN_DECISION,       (UNAUTH, INVALID_ID, INVALID_ID,     FORBID,         FORBID,         A,              INVALID_ID)),
    ("recalculateDecision", PUBLIC,  OPEN_DECISION,       (UNAUTH, FORBID,     FORBID,         FORBID,         FORBID,         A,              FORBID)),
    ("recalculateDecision", PRIVATE, DRAFT_DECISION,      (UNAUTH, INVALID_ID, INVALID_ID,     INVALID_ID,     INVALID_ID,     NOT_OPEN,       INVALID_ID)),
    ("recalculateDecision", PRIVATE, CLOSED_DECISION,     (UNAUTH, INVALID_ID, INVALID_ID,     FORBID,         FORBID,         FINAL,          INVALID_ID)),
]
# fmt: on


# Bookkeeping of every signed-in request, not a change a mutation makes.
IGNORED_COLUMNS = {"accounts.ApiToken": {"last_used_at"}}


def state() -> tuple[tuple[int, ...], dict[str, str]]:
    """Return every table's row count and a digest of each table's rows."""
    digests = {}
    for model in apps.get_models():
        if model._meta.managed:
            ignored = IGNORED_COLUMNS.get(model._meta.label, set())
            columns = [f.attname for f in model._meta.concrete_fields if f.name not in ignored]
            rows = model._default_manager.order_by("pk").values_list(*columns)
            digests[model._meta.label] = hashlib.sha256(repr(list(rows)).encode()).hexdigest()
    return fingerprint(), digests


def mutation_outcome(answer: dict[str, Any], name: str) -> str:
    if answer.get("errors"):
        return error_code(answer["errors"][0])
    user_errors = answer["data"][name]["errors"]
    return user_errors[0]["code"] if user_errors else A


def test_every_mutation_has_a_line_and_every_line_a_mutation():
    mutation = GRAPHQL.mutation_type
    assert mutation is not None
    assert {row[0] for row in MUTATIONS} == set(mutation.fields)


@pytest.mark.parametrize(
    ("name", "public", "arguments", "expected"),
    MUTATIONS,
    ids=[f"{row[0]}({row[2]})" for row in MUTATIONS],
)
def test_mutation(world: World, name: str, public: bool, arguments: str, expected: tuple):
    call = f"{name}({arguments})" if arguments else name
    head, variables = with_variables(call, world, public)
    document = f"mutation{head} {{ {call} {{ errors {{ code }} }} }}"
    actual = []
    for role in ROLES:
        with transaction.atomic():
            before = state()
            outcome = mutation_outcome(post(world, role, document, variables), name)
            if outcome != A:
                after = state()
                changed = [k for k in before[1] if before[1][k] != after[1][k]]
                assert after == before, f"{role}: refused with {outcome} but changed {changed}"
            actual.append(outcome)
            transaction.set_rollback(True)
    assert tuple(actual) == expected, f"it answers ({', '.join(actual)})"
