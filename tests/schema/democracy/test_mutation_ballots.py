"""castBallot and retractBallot through the API, and reading the ballot back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from calc.queue import LOG_STATEMENT
from democracy.models import Ballot, BallotStar, DecisionStatus
from tests.concurrency import require_postgres
from tests.factories import DecisionFactory, MembershipFactory
from tests.schema.conftest import gid

pytestmark = pytest.mark.django_db

CAST = """
mutation($input: CastBallotInput!) {
  castBallot(input: $input) {
    ballot { isDelegated tags comment membership { displayName }
             stars { choice { title } stars } }
    errors { code field message }
  }
}"""
RETRACT = """mutation($id: ID!) { retractBallot(decisionId: $id) { ok errors { code field } } }"""
MY_BALLOT = """
query($id: ID!) { decision(id: $id) { myBallot { tags comment stars { choice { title } stars } } } }
"""


@pytest.fixture
def voter(user):
    return MembershipFactory(user=user)


@pytest.fixture
def decision(voter):
    return DecisionFactory(community=voter.community, choices=["Park", "Road", "Pool"])


def stars_input(decision, **ratings):
    choices = {choice.title: gid(choice) for choice in decision.choices.all()}
    return [{"choiceId": choices[title], "stars": value} for title, value in ratings.items()]


def test_cast_ballot_reads_back_with_unrated_choices_at_zero(graphql_as, voter, decision):
    client = graphql_as(voter.user)
    payload = client(
        CAST,
        input={
            "decisionId": gid(decision),
            "stars": stars_input(decision, Park=5, Road=2),
            "tags": ["Budget"],
            "comment": "Parks first",
        },
    ).data["castBallot"]
    assert payload["errors"] == []
    assert payload["ballot"] == {
        "isDelegated": False,
        "tags": ["budget"],
        "comment": "Parks first",
        "membership": {"displayName": "alice"},
        "stars": [
            {"choice": {"title": "Park"}, "stars": "5.00000000"},
            {"choice": {"title": "Road"}, "stars": "2.00000000"},
            {"choice": {"title": "Pool"}, "stars": "0.00000000"},
        ],
    }
    mine = client(MY_BALLOT, id=gid(decision)).data["decision"]["myBallot"]
    assert mine["tags"] == ["budget"]
    assert [s["stars"] for s in mine["stars"]] == ["5.00000000", "2.00000000", "0.00000000"]


def test_replacing_a_ballot_reads_and_writes_in_few_statements(graphql_as, voter, decision):
    # Each statement is a round trip, and the ones under the row lock hold other voters back.
    client = graphql_as(voter.user)
    every = stars_input(decision, Park=5, Road=0, Pool=1)
    ballot = {"decisionId": gid(decision), "stars": every}
    assert client(CAST, input=ballot).data["castBallot"]["errors"] == []
    with CaptureQueriesContext(connection) as captured:
        assert client(CAST, input=ballot).data["castBallot"]["errors"] == []
    statements = [q["sql"] for q in captured.captured_queries]
    # The decision, its community and choices and the voter's membership: one read,
    # prepared on PostgreSQL (tests/test_prepared.py).
    if connection.vendor == "postgresql":
        (read,) = [sql for sql in statements if sql.startswith("EXECUTE crowdvote_ballot_target_")]
    else:
        (read,) = [sql for sql in statements if '"democracy_membership"' in sql]
        assert '"democracy_decision"' in read
        assert '"democracy_choice"' in read
    assert not any(sql.startswith("SELECT 1 AS") for sql in statements)
    if connection.vendor == "postgresql":
        # The token, that read, the ballot with its stars, then the bump with its change-log
        # row and the queued calculation in one message (the cast owns its transaction).
        assert len(statements) == 4, statements
    else:
        # The ballot, then its stars; the change-log row and queued calculation (the
        # client asks for no calculation: none is read); the mutation's savepoint pair.
        assert len(statements) == 8, statements
    # A ballot that leaves a choice out also deletes any star it had there, after the upsert.
    some = {"decisionId": gid(decision), "stars": stars_input(decision, Park=5)}
    with CaptureQueriesContext(connection) as captured:
        assert client(CAST, input=some).data["castBallot"]["errors"] == []
    statements = [q["sql"] for q in captured.captured_queries]
    assert len(statements) == (6 if connection.vendor == "postgresql" else 9), statements
    assert client(MY_BALLOT, id=gid(decision)).data["decision"]["myBallot"]["stars"] == [
        {"choice": {"title": "Park"}, "stars": "5.00000000"},
        {"choice": {"title": "Road"}, "stars": "0.00000000"},
        {"choice": {"title": "Pool"}, "stars": "0.00000000"},
    ]


def test_the_decisions_row_is_share_locked_for_the_last_few_statements_only(
    graphql_as, voter, decision
):
    """Ballots on one decision never queue for its row: each share-locks it from the check
    that the decision is still open to its commit, and changes nothing on it."""
    client = graphql_as(voter.user)
    ballot = {"decisionId": gid(decision), "stars": stars_input(decision, Park=5)}
    assert client(CAST, input=ballot).data["castBallot"]["errors"] == []
    with CaptureQueriesContext(connection) as captured:
        assert client(CAST, input=ballot).data["castBallot"]["errors"] == []
    statements = [q["sql"] for q in captured.captured_queries]
    stars = max(i for i, sql in enumerate(statements) if 'INTO "democracy_ballotstar"' in sql)
    # The change logged, as written (SQLite) or prepared (PostgreSQL, once per connection).
    log = (f"EXECUTE {LOG_STATEMENT}_", 'INSERT INTO "calc_change"')
    locked = next(i for i, sql in enumerate(statements) if i > stars and sql.startswith(log))
    # The transaction ends with the cast's last statement (PostgreSQL) or with the mutation's
    # (a savepoint inside the test's, SQLite).
    releases = [i for i, sql in enumerate(statements) if sql.startswith("RELEASE SAVEPOINT")]
    held = statements[locked : max(releases, default=len(statements))]
    assert all("democracy_ballot" not in sql for sql in held)  # Every ballot row written before.
    assert not any(sql.startswith("UPDATE") for sql in statements)
    # The change logged under the share lock (which checks the decision is open) and a
    # QUEUED calculation unless one waits (the client asks for no calculation to show): one
    # message on PostgreSQL (which would also carry the COMMIT, were the test not holding
    # the transaction open), two statements on SQLite.
    assert len(held) <= (1 if connection.vendor == "postgresql" else 2), held
    if connection.vendor == "postgresql":  # the log and the queue, prepared
        assert held[0].count("EXECUTE ") == 2
        assert held[0].count("; ") == 1


NEWEST = "SELECT max(id) FROM"  # calc.queue's read of each decision's newest calculation


QUEUED = "calculations { status changeCount }"


@pytest.mark.parametrize(
    "selection",
    [QUEUED, f"... on BallotPayload {{ {QUEUED} }}", "...Queued"],
    ids=["field", "inline fragment", "fragment"],
)
def test_the_queued_calculation_is_read_only_for_a_client_that_asks_for_it(
    graphql_as, voter, decision, selection
):
    client = graphql_as(voter.user)
    ballot = {"decisionId": gid(decision), "stars": stars_input(decision, Park=5)}
    bare = "mutation($input: CastBallotInput!) { castBallot(input: $input) { message } }"
    with CaptureQueriesContext(connection) as captured:
        unread = client(bare, input=ballot).data["castBallot"]
    assert unread == {"message": "Vote recorded! Results are being recalculated…"}
    assert not any(NEWEST in q["sql"] for q in captured.captured_queries)
    asked = f"mutation($input: CastBallotInput!) {{ castBallot(input: $input) {{ {selection} }} }}"
    if selection == "...Queued":
        asked += f" fragment Queued on BallotPayload {{ {QUEUED} }}"
    with CaptureQueriesContext(connection) as captured:
        read = client(asked, input=ballot).data["castBallot"]
    assert read == {"calculations": [{"status": "QUEUED", "changeCount": 2}]}
    assert sum(NEWEST in q["sql"] for q in captured.captured_queries) == 1


@pytest.mark.django_db(transaction=True)
def test_on_postgresql_a_cast_commits_in_its_last_message(graphql_as, voter, decision):
    """The mutation leaves the transaction to the cast, whose last message carries the
    COMMIT: the decision's row is locked only while PostgreSQL runs it."""
    require_postgres()
    client = graphql_as(voter.user)
    ballot = {"decisionId": gid(decision), "stars": stars_input(decision, Park=5)}
    with CaptureQueriesContext(connection) as captured:
        assert client(CAST, input=ballot).data["castBallot"]["errors"] == []
    sent = [q["sql"] for q in captured.captured_queries]
    [last] = [i for i, sql in enumerate(sent) if sql.startswith(f"EXECUTE {LOG_STATEMENT}_")]
    assert sent[last].endswith("; COMMIT")
    # After it, only what runs once committed: the worker's wake-up looks up who keeps it.
    assert all(sql.startswith("SELECT") or sql == "COMMIT" for sql in sent[last + 1 :])
    assert Ballot.objects.filter(decision=decision).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_ballot_rating_every_choice_is_written_in_its_logs_message(graphql_as, voter, decision):
    """Its ballot, log and queue are one message sent outside any transaction (no BEGIN
    before it, no COMMIT in it): PostgreSQL runs it as one transaction, in one round trip."""
    require_postgres()
    client = graphql_as(voter.user)
    every = {"decisionId": gid(decision), "stars": stars_input(decision, Park=5, Road=0, Pool=1)}
    assert client(CAST, input=every).data["castBallot"]["errors"] == []  # prepares
    sent: list[tuple[str, bool]] = []

    def watch(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        sent.append((sql, connection.get_autocommit()))
        return execute(sql, params, many, context)

    every["stars"] = stars_input(decision, Park=1, Road=2, Pool=3)
    with connection.execute_wrapper(watch):
        assert client(CAST, input=every).data["castBallot"]["errors"] == []
    [(message, autocommit)] = [(sql, auto) for sql, auto in sent if LOG_STATEMENT in sql]
    assert message.startswith("EXECUTE crowdvote_ballot_write_")
    assert "COMMIT" not in message
    assert autocommit  # no BEGIN went before it
    # The token, the decision read, then that message: three round trips.
    reads = ("EXECUTE crowdvote_token_", "EXECUTE crowdvote_ballot_target_")
    assert [sql.startswith(read) for (sql, _), read in zip(sent, reads, strict=False)] == [True] * 2
    assert sent[2] == (message, autocommit)
    mine = client(MY_BALLOT, id=gid(decision)).data["decision"]["myBallot"]["stars"]
    assert [s["stars"] for s in mine] == ["1.00000000", "2.00000000", "3.00000000"]


def test_a_queued_calculation_counts_the_changes_it_gathered(graphql_as, voter, decision):
    cast = """mutation($input: CastBallotInput!) { castBallot(input: $input) {
      calculations { status trigger changeCount } } }"""
    client = graphql_as(voter.user)
    ballot = {"decisionId": gid(decision), "stars": stars_input(decision, Park=5)}
    first = client(cast, input=ballot).data["castBallot"]["calculations"]
    again = client(cast, input=ballot).data["castBallot"]["calculations"]
    trigger = "Ballot cast"  # Names nobody: every member reads it.
    assert first == [{"status": "QUEUED", "trigger": trigger, "changeCount": 1}]
    assert again == [{"status": "QUEUED", "trigger": trigger, "changeCount": 2}]


def test_casting_again_replaces_the_ballot(graphql_as, voter, decision):
    client = graphql_as(voter.user)
    client(CAST, input={"decisionId": gid(decision), "stars": stars_input(decision, Park=5)})
    client(CAST, input={"decisionId": gid(decision), "stars": stars_input(decision, Road=4)})
    assert Ballot.objects.count() == 1
    assert list(BallotStar.objects.values_list("choice__title", "stars")) == [("Road", 4)]


@pytest.mark.parametrize(
    ("ratings", "code"),
    [({"Park": 6}, "INVALID_STARS"), ({"Park": -1}, "INVALID_STARS")],
)
def test_stars_outside_zero_to_five_change_nothing(graphql_as, voter, decision, ratings, code):
    payload = graphql_as(voter.user)(
        CAST, input={"decisionId": gid(decision), "stars": stars_input(decision, **ratings)}
    ).data["castBallot"]
    assert payload["errors"][0]["code"] == code
    assert payload["errors"][0]["field"] == "stars"
    assert not Ballot.objects.exists()


def test_non_integer_stars_are_refused_by_the_schema(graphql_as, voter, decision):
    stars = stars_input(decision, Park=1)
    stars[0]["stars"] = 3.5
    response = graphql_as(voter.user)(CAST, input={"decisionId": gid(decision), "stars": stars})
    assert response.body["data"] is None
    assert "Int cannot represent non-integer value" in response.body["errors"][0]["message"]
    assert not Ballot.objects.exists()


def test_choice_of_another_decision_is_refused(graphql_as, voter, decision):
    other = DecisionFactory(community=voter.community, choices=["Elsewhere", "Nowhere"])
    payload = graphql_as(voter.user)(
        CAST, input={"decisionId": gid(decision), "stars": stars_input(other, Elsewhere=3)}
    ).data["castBallot"]
    assert payload["errors"][0]["code"] == "UNKNOWN_CHOICE"
    assert not Ballot.objects.exists()


def test_rating_a_choice_twice_is_refused(graphql_as, voter, decision):
    stars = stars_input(decision, Park=1) + stars_input(decision, Park=2)
    payload = graphql_as(voter.user)(
        CAST, input={"decisionId": gid(decision), "stars": stars}
    ).data["castBallot"]
    assert payload["errors"][0]["code"] == "DUPLICATE_STARS"


@pytest.mark.parametrize(
    ("status", "code"),
    # A voter cannot see a draft: its ID is unknown to them, as in every other path.
    [(DecisionStatus.DRAFT, "INVALID_ID"), (DecisionStatus.CLOSED, "DECISION_NOT_OPEN")],
)
def test_ballot_on_draft_or_closed_decision_is_refused(graphql_as, voter, decision, status, code):
    decision.status = status
    decision.save()
    payload = graphql_as(voter.user)(
        CAST, input={"decisionId": gid(decision), "stars": stars_input(decision, Park=3)}
    ).data["castBallot"]
    assert payload["errors"][0]["code"] == code
    assert not Ballot.objects.exists()


def test_ballot_after_closing_time_is_refused_before_the_sweeper_closes_it(
    graphql_as, voter, decision
):
    decision.closes_at = timezone.now() - timedelta(seconds=1)
    decision.save()
    payload = graphql_as(voter.user)(
        CAST, input={"decisionId": gid(decision), "stars": stars_input(decision, Park=3)}
    ).data["castBallot"]
    assert payload["errors"][0]["code"] == "DECISION_NOT_OPEN"
    assert "closed" in payload["errors"][0]["message"]


def test_a_strangers_ballot_finds_no_such_decision_in_a_private_community(graphql_as, decision):
    outsider = MembershipFactory()
    response = graphql_as(outsider.user)(
        CAST, input={"decisionId": gid(decision), "stars": stars_input(decision, Park=3)}
    )
    # The same answer as for an unknown ID: a refusal would tell them it exists.
    [error] = response.data["castBallot"]["errors"]
    assert (error["code"], error["field"]) == ("INVALID_ID", "decisionId")
    assert not Ballot.objects.exists()


def test_a_strangers_ballot_in_a_public_community_is_forbidden(graphql_as, decision):
    decision.community.results_are_public = True
    decision.community.save(update_fields=["results_are_public"])
    outsider = MembershipFactory()
    response = graphql_as(outsider.user)(
        CAST, input={"decisionId": gid(decision), "stars": stars_input(decision, Park=3)}
    )
    assert response.error_codes == ["FORBIDDEN"]
    assert not Ballot.objects.exists()


def test_ballot_with_bad_tag_changes_nothing(graphql_as, voter, decision):
    payload = graphql_as(voter.user)(
        CAST,
        input={
            "decisionId": gid(decision),
            "stars": stars_input(decision, Park=3),
            "tags": ["ok", "no/slashes"],
        },
    ).data["castBallot"]
    assert payload["errors"][0]["code"] == "INVALID_TAG"
    assert "no/slashes" in payload["errors"][0]["message"]
    assert not Ballot.objects.exists()


def test_retract_ballot_then_nothing_left_to_retract(graphql_as, voter, decision):
    client = graphql_as(voter.user)
    client(CAST, input={"decisionId": gid(decision), "stars": stars_input(decision, Park=3)})
    assert client(RETRACT, id=gid(decision)).data["retractBallot"] == {"ok": True, "errors": []}
    assert client(MY_BALLOT, id=gid(decision)).data["decision"]["myBallot"] is None
    again = client(RETRACT, id=gid(decision)).data["retractBallot"]
    assert again["errors"] == [{"code": "NO_BALLOT", "field": "decisionId"}]
