"""What one document may ask for: tokens, cost, depth and aliases, each refused with a code."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from graphql import get_introspection_query, parse, validate

from accounts.models import User
from democracy.models import Community, Membership
from schema import schema as schema_module
from schema.limits import MAX_VARIABLE_DEPTH, cost_rule, document_refusal, variables_refusal
from schema.schema import schema
from tests.factories import CommunityFactory
from tests.schema.sockets import STATUS

API_GUIDE = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def refusal(response) -> dict:
    """Return the refusal's error, with all its messages; each limit exceeded says so."""
    assert response.status == 200
    assert response.body["data"] is None
    errors = response.body["errors"]
    assert {error["extensions"]["code"] for error in errors} == {"QUERY_TOO_COMPLEX"}
    return {"message": " ".join(error["message"] for error in errors)}


@pytest.mark.django_db
@pytest.mark.parametrize("signed_in", [False, True])
def test_a_210_kb_document_of_5000_fields_is_refused_at_once(graphql_as, user, signed_in):
    fields = " ".join(f"c{i}: communities {{ totalCount }}" for i in range(5000))
    document = "{ " + fields.replace("communities", "communities".ljust(20)) + " }"
    assert len(document) > 210_000
    client = graphql_as(user if signed_in else None)
    error = refusal(client(document))
    assert "GRAPHQL_MAX_DOCUMENT_BYTES" in error["message"]
    assert "65,536 bytes" in error["message"]


@pytest.mark.django_db
def test_a_document_of_500_fields_is_refused_for_its_tokens(graphql_as):
    document = "{ " + " ".join(f"c{i}: communities {{ totalCount }}" for i in range(500)) + " }"
    assert len(document) < settings.GRAPHQL_MAX_DOCUMENT_BYTES
    error = refusal(graphql_as(None)(document))
    assert "GRAPHQL_MAX_TOKENS" in error["message"]
    assert "2,000 tokens" in error["message"]


@pytest.mark.django_db
def test_nested_pages_are_refused_for_their_cost(graphql_as):
    CommunityFactory()
    costly = (
        "{ communities { edges { node { name members { edges { node { displayName"
        " following { followee { displayName } } } } } } } } }"
    )
    error = refusal(graphql_as(None)(costly))
    assert "GRAPHQL_MAX_COST" in error["message"]
    assert "limit of 20,000" in error["message"]


@pytest.mark.django_db
def test_small_pages_of_the_same_shape_are_answered(graphql_as):
    CommunityFactory(name="Garden", results_are_public=True)
    cheap = (
        "{ communities(first: 5) { edges { node { name members(first: 20) { edges { node {"
        " displayName following { followee { displayName } } } } } } } } }"
    )
    response = graphql_as(None)(cheap)
    assert response.body["data"]["communities"]["edges"][0]["node"]["name"] == "Garden"


def cost(document: str, *, page_size: int = 100) -> int:
    """Return the cost the rule computes for ``document`` (reported against a limit of 0)."""
    rule = cost_rule(max_cost=0, page_size=page_size)
    [error] = validate(schema._schema, parse(document), [rule])
    return int(re.search(r"about ([\d,]+) values", error.message)[1].replace(",", ""))


def test_cost_counts_fields_times_the_items_of_their_lists():
    # communities (1) + 10 x (edges (1) + node (1) + name (1)) = 31
    assert cost("{ communities(first: 10) { edges { node { name } } } }") == 31
    # A page without first, or with a variable, counts as the largest page.
    assert cost("{ communities { edges { node { name } } } }") == 301
    assert cost("query($n: Int) { communities(first: $n) { edges { node { name } } } }") == 301
    # Plain lists count 10 items: me (1) + memberships (1) + 10 x role (1) = 12
    assert cost("{ me { memberships { role } } }") == 12


def test_fragments_count_where_they_are_spread_and_cycles_do_not_loop():
    spread = "{ me { ...M ...M } } fragment M on User { memberships { role } }"
    assert cost(spread) == 1 + 2 * 11
    cycle = "{ me { ...A } } fragment A on User { ...B } fragment B on User { ...A }"
    rule = cost_rule(max_cost=10, page_size=100)
    assert validate(schema._schema, parse(cycle), [rule]) == []


def test_introspection_for_tools_is_within_the_limits():
    assert schema.execute_sync(get_introspection_query(descriptions=True)).errors is None


def test_every_query_in_the_api_guide_is_within_the_limits():
    rule = cost_rule(max_cost=settings.GRAPHQL_MAX_COST, page_size=settings.GRAPHQL_MAX_PAGE_SIZE)
    blocks = re.findall(r"```graphql\n(.*?)```", API_GUIDE.read_text(), re.S)
    documents = [b for b in blocks if b.lstrip().startswith(("query", "subscription", "{"))]
    assert documents
    for document in documents:
        assert validate(schema._schema, parse(document), [rule]) == [], document


@pytest.mark.django_db
def test_depth_and_alias_limits_answer_with_the_code(graphql_as, user):
    deep = "{ me { memberships { " + "community { members { edges { node { " * 3 + "id"
    deep += " } } } }" * 3 + " } } }"
    assert "exceeds maximum operation depth" in refusal(graphql_as(user)(deep))["message"]
    many = "{ " + " ".join(f"a{i}: me {{ username }}" for i in range(40)) + " }"
    assert "aliases found" in refusal(graphql_as(None)(many))["message"]


@pytest.mark.django_db
def test_the_limits_are_validated_once_per_document(graphql_as, monkeypatch):
    """The rules are built once, so the validation cache hits for a repeated document."""
    [cost_limit] = [rule for rule in schema_module.LIMITS if rule.__name__ == "CostLimit"]
    runs = []
    original = cost_limit.__init__
    monkeypatch.setattr(
        cost_limit, "__init__", lambda self, context: runs.append(1) or original(self, context)
    )
    document = "{ communities(first: 3) { totalCount } __typename }"
    graphql_as(None)(document)
    graphql_as(None)(document)
    assert len(runs) <= 1


@pytest.mark.django_db
def test_a_document_just_within_the_cost_limit_is_answered(graphql_as):
    users = User.objects.bulk_create([User(username=f"voter{i}") for i in range(2000)])
    communities = Community.objects.bulk_create(
        [Community(name=f"Community {i}", results_are_public=True) for i in range(100)]
    )
    Membership.objects.bulk_create(
        Membership(user=users[c * 20 + j], community=communities[c], is_anonymous=j % 2 == 0)
        for c in range(100)
        for j in range(20)
    )

    def document(members: int) -> str:
        return (
            f"{{ communities(first: 100) {{ edges {{ node {{ name members(first: {members}) {{"
            " edges { node { displayName role isManager } } } } } } }"
        )

    largest = max(n for n in range(1, 101) if cost(document(n)) <= settings.GRAPHQL_MAX_COST)
    assert cost(document(largest + 1)) > settings.GRAPHQL_MAX_COST
    response = graphql_as(None)(document(largest))
    assert len(response.data["communities"]["edges"]) == 100


def test_a_connection_s_total_count_is_not_multiplied_by_its_page():
    assert cost("{ communities { totalCount } }") == 2
    assert cost("{ communities(first: 7) { totalCount edges { node { name } } } }") == 1 + 1 + 7 * 3


@pytest.mark.django_db
def test_a_cached_document_is_refused_and_its_variables_checked_every_time(graphql_as, user):
    """Parsing and validation are cached per document text; the verdicts are not lost."""
    CommunityFactory()
    costly = (
        "{ communities { edges { node { name members { edges { node { displayName"
        " following { followee { displayName } } } } } } } } }"
    )
    first, again = refusal(graphql_as(None)(costly)), refusal(graphql_as(None)(costly))
    assert first == again
    assert "GRAPHQL_MAX_COST" in again["message"]

    typed = "query($n: Int!) { communities(first: $n) { totalCount } }"
    assert "errors" not in graphql_as(user)(typed, n=2).body
    wrong = graphql_as(user)(typed, n="two").body["errors"]
    assert wrong[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "errors" not in graphql_as(user)(typed, n=1).body


def test_a_document_over_the_byte_limit_is_refused_before_parsing(settings):
    settings.GRAPHQL_MAX_DOCUMENT_BYTES = 100

    assert document_refusal("{ me { id } }" + " " * 87) is None  # exactly 100 bytes
    refused = document_refusal("{ me { id } }" + "#" * 88)
    assert refused is not None
    assert "more than 100 bytes (GRAPHQL_MAX_DOCUMENT_BYTES)" in refused
    # Counted in UTF-8: 30 characters of 4 bytes each are 120 bytes.
    assert document_refusal("#" + "\U0001f600" * 30) is not None
    assert document_refusal(None) is None  # not a document: the view says so


def test_variables_are_refused_for_a_long_list_at_any_depth(settings):
    settings.GRAPHQL_MAX_LIST_ITEMS = 3
    stars = [{"choiceId": "Q2hvaWNlOjE=", "stars": 5}]

    assert variables_refusal({"input": {"stars": stars * 3, "tags": ["a"]}}) is None
    refused = variables_refusal({"input": {"stars": stars * 4}})
    assert refused == "A list in the variables has 4 items, more than 3 (GRAPHQL_MAX_LIST_ITEMS)."
    assert variables_refusal([[1, 2, 3, 4]]) is not None
    assert variables_refusal(None) is None


def test_variables_nesting_deeper_than_any_input_are_refused():
    nested: object = 1
    for _ in range(MAX_VARIABLE_DEPTH):
        nested = {"a": nested}
    assert variables_refusal(nested) is None

    refused = variables_refusal([nested])
    assert refused == f"The variables nest deeper than {MAX_VARIABLE_DEPTH} levels."


SSE = {"Accept": "text/event-stream"}
# A comment costs no token, but the parser and validation caches keep every byte of it.
PADDED = "{ __typename } #" + "x" * 70_000
LONG_LIST = {"x": list(range(101))}


def over_http(query: str, variables: dict, *, method: str, headers: dict) -> dict:
    """Return the JSON answer of /graphql, asserting it is the refusal of a whole request."""
    if method == "GET":
        params = {"query": query, "variables": json.dumps(variables)}
        response = Client().get("/graphql", params, headers=headers)
    else:
        body = json.dumps({"query": query, "variables": variables})
        response = Client().post("/graphql", body, content_type="application/json", headers=headers)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["data"] is None
    [error] = body["errors"]
    return error


WAYS = [("POST", {}), ("POST", SSE), ("GET", {}), ("GET", SSE)]


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "headers"), WAYS)
@pytest.mark.parametrize("query", [PADDED, "subscription { " + PADDED, PADDED + "\n{"])
def test_a_document_over_its_bytes_is_refused_before_it_is_parsed(query, method, headers):
    error = over_http(query, {}, method=method, headers=headers)
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"  # not GRAPHQL_PARSE_FAILED
    assert "GRAPHQL_MAX_DOCUMENT_BYTES" in error["message"]


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "headers"), WAYS)
@pytest.mark.parametrize("query", ["{ __typename }", STATUS])
def test_variables_with_a_long_list_are_refused_before_coercion(query, method, headers):
    error = over_http(query, LONG_LIST, method=method, headers=headers)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "101 items, more than 100 (GRAPHQL_MAX_LIST_ITEMS)" in error["message"]
