"""Statements prepared once per connection (``core.prepared``), on PostgreSQL."""

from __future__ import annotations

import secrets

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from accounts.services.tokens import token_authenticate, token_issue
from calc.models import Change
from core.prepared import execute_sql
from democracy.models import Ballot
from democracy.selectors import ballot_target
from democracy.services.ballots import StarsSpec, ballot_cast
from tests.concurrency import require_postgres
from tests.factories import DecisionFactory, MembershipFactory

pytestmark = pytest.mark.django_db(transaction=True)


class Boom(Exception):
    pass


def _fresh_sql() -> str:
    """A statement no connection has prepared yet: its text differs in every test."""
    return f"SELECT %s::bigint * {secrets.randbelow(10**9) + 2} + %s::bigint"


def _run(message: str, params: list[int]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(message, params)
        (value,) = cursor.fetchone()
    return int(value)


def test_a_statement_is_prepared_on_first_use_and_then_only_executed() -> None:
    require_postgres()
    sql = _fresh_sql()
    factor = int(sql.split("* ")[1].split(" ")[0])
    with CaptureQueriesContext(connection) as captured, connection.cursor() as cursor:
        first = execute_sql(cursor, "crowdvote_test", sql)
        again = execute_sql(cursor, "crowdvote_test", sql)
    (prepare,) = [query["sql"] for query in captured.captured_queries]
    assert prepare.startswith("PREPARE crowdvote_test_")
    assert prepare.endswith(f"SELECT $1::bigint * {factor} + $2::bigint")
    assert first == again
    assert first.startswith("EXECUTE crowdvote_test_")
    assert first.endswith("(%s, %s)")
    assert _run(f"{first}; {first}", [3, 4, 0, 0]) == 3 * factor + 4  # rides in a message


def test_a_statement_without_parameters_is_executed_by_name_alone() -> None:
    require_postgres()
    with connection.cursor() as cursor:
        message = execute_sql(cursor, "crowdvote_test", f"SELECT {secrets.randbelow(10**9)}")
    assert "(" not in message
    assert _run(message, []) >= 0


def test_what_was_prepared_outlives_a_rollback() -> None:
    require_postgres()
    sql = _fresh_sql()
    prepared: list[str] = []

    def prepare_then_fail() -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            prepared.append(execute_sql(cursor, "crowdvote_test", sql))
            raise Boom

    with pytest.raises(Boom):
        prepare_then_fail()
    (message,) = prepared
    with CaptureQueriesContext(connection) as captured, connection.cursor() as cursor:
        assert execute_sql(cursor, "crowdvote_test", sql) == message
    assert captured.captured_queries == []
    assert _run(message, [0, 5]) == 5


def test_each_connection_prepares_for_itself() -> None:
    require_postgres()
    sql = _fresh_sql()
    with connection.cursor() as cursor:
        message = execute_sql(cursor, "crowdvote_test", sql)
    other = connections.create_connection("default")
    try:
        with CaptureQueriesContext(other) as captured, other.cursor() as cursor:
            assert execute_sql(cursor, "crowdvote_test", sql) == message
            cursor.execute(message, [1, 1])
            assert cursor.fetchone() is not None
        assert captured.captured_queries[0]["sql"].startswith("PREPARE crowdvote_test_")
    finally:
        other.close()


def test_turned_off_the_statement_is_sent_as_written(settings) -> None:  # type: ignore[no-untyped-def]
    settings.DATABASE_PREPARED_STATEMENTS = False
    sql = _fresh_sql()
    with CaptureQueriesContext(connection) as captured, connection.cursor() as cursor:
        assert execute_sql(cursor, "crowdvote_test", sql) == sql
    assert captured.captured_queries == []


def test_turned_off_a_cast_sends_its_log_as_written(settings) -> None:  # type: ignore[no-untyped-def]
    require_postgres()
    settings.DATABASE_PREPARED_STATEMENTS = False
    decision = DecisionFactory(choices=["Park", "Road"])
    member = MembershipFactory(community=decision.community)
    park = decision.choices.get(title="Park")
    with CaptureQueriesContext(connection) as captured:
        ballot_cast(user=member.user, decision=decision, stars=[StarsSpec(park.pk, 4)])
    sent = [query["sql"] for query in captured.captured_queries]
    assert not any(sql.startswith(("PREPARE", "EXECUTE")) for sql in sent)
    (log,) = [sql for sql in sent if 'INSERT INTO "calc_change"' in sql]
    assert "FOR KEY SHARE" in log
    assert log.endswith("; COMMIT")
    assert Change.objects.filter(decision=decision, kind="BALLOT", member_id=member.pk).count() == 1


def test_elsewhere_than_postgresql_the_statement_is_sent_as_written() -> None:
    if connection.vendor == "postgresql":
        pytest.skip("PostgreSQL prepares it")
    sql = _fresh_sql()
    with CaptureQueriesContext(connection) as captured, connection.cursor() as cursor:
        assert execute_sql(cursor, "crowdvote_test", sql) == sql
    assert captured.captured_queries == []


def test_a_cast_reads_its_token_and_decision_and_writes_its_ballot_by_name() -> None:
    """A ballot storm runs these once per ballot; planned each time, they cost PostgreSQL
    more than running them."""
    require_postgres()
    decision = DecisionFactory(choices=["Park", "Road"])
    member = MembershipFactory(community=decision.community)
    _, raw = token_issue(user=member.user)
    choices = {choice.title: choice.pk for choice in decision.choices.all()}

    def cast(park: int, road: int) -> list[str]:
        with CaptureQueriesContext(connection) as captured:
            token = token_authenticate(raw)
            assert token is not None
            target = ballot_target(decision.pk, token.user)
            assert target is not None
            assert target.membership == member
            stars = [StarsSpec(choices["Park"], park), StarsSpec(choices["Road"], road)]
            ballot_cast(user=token.user, decision=target.decision, stars=stars)
        return [query["sql"] for query in captured.captured_queries]

    cast(5, 1)
    sent = cast(2, 4)

    for name in ("crowdvote_token_", "crowdvote_ballot_target_", "crowdvote_ballot_write_"):
        assert any(sql.startswith(f"EXECUTE {name}") for sql in sent), name
    assert not any(sql.startswith("PREPARE") for sql in sent)  # once per connection
    stored = Ballot.objects.get(decision=decision, membership=member)
    assert dict(stored.stars.values_list("choice__title", "stars")) == {"Park": 2, "Road": 4}


def test_turned_off_a_cast_carries_its_ballot_as_written_in_its_logs_message(settings) -> None:  # type: ignore[no-untyped-def]
    require_postgres()
    settings.DATABASE_PREPARED_STATEMENTS = False
    decision = DecisionFactory(choices=["Park", "Road"])
    member = MembershipFactory(community=decision.community)
    stars = [StarsSpec(choice.pk, 3) for choice in decision.choices.all()]
    with CaptureQueriesContext(connection) as captured:
        ballot_cast(user=member.user, decision=decision, stars=stars)
    sent = [query["sql"] for query in captured.captured_queries]
    assert not any(sql.startswith(("PREPARE", "EXECUTE")) for sql in sent)
    (message,) = [sql for sql in sent if 'INSERT INTO "calc_change"' in sql]
    assert message.startswith('WITH saved AS (INSERT INTO "democracy_ballot"')
    assert "COMMIT" not in message
    ballot = Ballot.objects.get(decision=decision, membership=member)
    assert sorted(ballot.stars.values_list("stars", flat=True)) == [3, 3]
