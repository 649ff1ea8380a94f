"""Casting, replacing and retracting a member's own ballot."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection, connections, transaction
from django.utils import timezone

from calc.queue import LOG_STATEMENT
from calc.services import decision_calculate
from core.errors import DomainError, Forbidden, NotAuthenticated
from democracy.models import Ballot, BallotStar, DecisionStatus, Role
from democracy.pseudonyms import pseudonym
from democracy.services.ballots import StarsSpec, ballot_cast, ballot_retract
from democracy.services.decisions import decision_close
from tests.democracy.conftest import assert_error
from tests.factories import BallotFactory, DecisionFactory, MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def decision():
    return DecisionFactory(choices=["Park", "Road", "Pool"])


@pytest.fixture
def member(decision):
    return MembershipFactory(community=decision.community)


def rate(decision, **stars: object) -> list[StarsSpec]:
    """Return star specs keyed by choice title."""
    return [
        StarsSpec(choice_id=decision.choices.get(title=title).pk, stars=value)  # type: ignore[arg-type]
        for title, value in stars.items()
    ]


def stored(ballot: Ballot) -> dict[str, int]:
    return {row.choice.title: row.stars for row in BallotStar.objects.filter(ballot=ballot)}


def test_cast_stores_only_the_rated_choices(
    decision, member, events, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        ballot = ballot_cast(
            user=member.user,
            decision=decision,
            stars=rate(decision, Park=5, Road=0),
            tags=[" Budget Plans ", "parks"],
            comment="  Green first.  ",
        )
    ballot.refresh_from_db()
    assert (ballot.decision, ballot.membership) == (decision, member)
    assert stored(ballot) == {"Park": 5, "Road": 0}
    assert ballot.tags == ["budget-plans", "parks"]
    assert ballot.comment == "Green first."
    record = events.one("VOTE_CAST")
    assert record.actor == member.user.username
    assert "cast" in record.getMessage()


def test_casting_again_replaces_the_ballot(
    decision, member, events, django_capture_on_commit_callbacks
):
    first = ballot_cast(
        user=member.user, decision=decision, stars=rate(decision, Park=5, Road=2), tags=["a"]
    )
    with django_capture_on_commit_callbacks(execute=True):
        second = ballot_cast(user=member.user, decision=decision, stars=rate(decision, Pool=3))
    assert second.pk == first.pk
    assert Ballot.objects.count() == 1
    assert stored(second) == {"Pool": 3}
    second.refresh_from_db()
    assert second.tags == []
    assert "replaced" in events.of("VOTE_CAST")[-1].getMessage()


def test_a_vote_is_logged_once_committed_and_never_when_rolled_back(
    decision, member, events, django_capture_on_commit_callbacks
):
    with transaction.atomic():
        ballot_cast(user=member.user, decision=decision, stars=rate(decision, Park=5))
        assert events.of("VOTE_CAST") == []  # the decision's row is still locked here
        transaction.set_rollback(True)
    assert events.of("VOTE_CAST") == []
    with django_capture_on_commit_callbacks(execute=True):
        ballot_cast(user=member.user, decision=decision, stars=rate(decision, Park=4))
    assert len(events.of("VOTE_CAST")) == 1


def test_a_ballot_may_rate_nothing(decision, member):
    ballot = ballot_cast(user=member.user, decision=decision, stars=[])
    assert stored(ballot) == {}


def test_a_lobbyist_may_vote(decision):
    lobbyist = MembershipFactory(community=decision.community, role=Role.LOBBYIST)
    ballot = ballot_cast(user=lobbyist.user, decision=decision, stars=rate(decision, Road=4))
    assert stored(ballot) == {"Road": 4}


@pytest.mark.parametrize("value", [6, -1, 2.5, 3.0, "4", True, False, None])
def test_stars_outside_whole_numbers_0_to_5_are_refused(decision, member, unchanged, value):
    with unchanged(), pytest.raises(DomainError) as raised:
        ballot_cast(user=member.user, decision=decision, stars=rate(decision, Park=value))
    assert_error(raised, "INVALID_STARS", "stars")


def test_bad_stars_leave_an_earlier_ballot_as_it_was(decision, member, unchanged):
    BallotFactory(decision=decision, membership=member, stars={"Park": 1})
    with unchanged(), pytest.raises(DomainError) as raised:
        ballot_cast(user=member.user, decision=decision, stars=rate(decision, Road=5, Park=6))
    assert_error(raised, "INVALID_STARS", "stars")


def test_a_choice_of_another_decision_is_refused(decision, member, unchanged):
    other = DecisionFactory(community=decision.community, choices=["Park", "Road"])
    stars = [*rate(decision, Road=3), *rate(other, Park=5)]
    with unchanged(), pytest.raises(DomainError) as raised:
        ballot_cast(user=member.user, decision=decision, stars=stars)
    assert_error(raised, "UNKNOWN_CHOICE", "stars")


def test_rating_a_choice_twice_is_refused(decision, member, unchanged):
    stars = [*rate(decision, Park=3), *rate(decision, Park=4)]
    with unchanged(), pytest.raises(DomainError) as raised:
        ballot_cast(user=member.user, decision=decision, stars=stars)
    assert_error(raised, "DUPLICATE_STARS", "stars")


@pytest.mark.parametrize(
    ("status", "closes_in"),
    [
        pytest.param(DecisionStatus.DRAFT, timedelta(days=1), id="draft"),
        pytest.param(DecisionStatus.CLOSED, timedelta(days=1), id="closed"),
        pytest.param(DecisionStatus.OPEN, -timedelta(seconds=1), id="past-closing-time"),
    ],
)
def test_a_decision_that_is_not_open_refuses_a_ballot(member, unchanged, status, closes_in):
    decision = DecisionFactory(
        community=member.community, status=status, closes_at=timezone.now() + closes_in
    )
    with unchanged(), pytest.raises(DomainError) as raised:
        ballot_cast(user=member.user, decision=decision, stars=rate(decision, Yes=5))
    assert_error(raised, "DECISION_NOT_OPEN", "decisionId")


def test_past_closing_time_the_refusal_says_closed(member):
    decision = DecisionFactory(
        community=member.community, closes_at=timezone.now() - timedelta(seconds=1)
    )
    with pytest.raises(DomainError) as raised:
        ballot_cast(user=member.user, decision=decision, stars=[])
    assert "closed" in raised.value.message


def test_a_non_member_cannot_vote(decision, unchanged):
    outsider = MembershipFactory()
    with unchanged(), pytest.raises(Forbidden):
        ballot_cast(user=outsider.user, decision=decision, stars=rate(decision, Park=5))


def test_voting_requires_sign_in(decision, unchanged):
    with unchanged(), pytest.raises(NotAuthenticated):
        ballot_cast(user=AnonymousUser(), decision=decision, stars=rate(decision, Park=5))


def test_an_invalid_ballot_tag_is_refused(decision, member, unchanged):
    with unchanged(), pytest.raises(DomainError) as raised:
        ballot_cast(
            user=member.user, decision=decision, stars=rate(decision, Park=5), tags=["ok", "n/a"]
        )
    assert_error(raised, "INVALID_TAG", "tags")
    assert "'n/a'" in raised.value.message


def test_more_than_twenty_tags_are_refused(decision, member, unchanged):
    tags = [f"topic-{i}" for i in range(21)]
    with unchanged(), pytest.raises(DomainError) as raised:
        ballot_cast(user=member.user, decision=decision, stars=[], tags=tags)
    assert_error(raised, "TOO_MANY_TAGS", "tags")


def test_twenty_tags_are_kept(decision, member):
    tags = sorted(f"topic-{i:02}" for i in range(20))
    assert ballot_cast(user=member.user, decision=decision, stars=[], tags=tags).tags == tags


def test_a_comment_with_a_nul_is_refused(decision, member, unchanged):
    with unchanged(), pytest.raises(DomainError) as raised:
        ballot_cast(user=member.user, decision=decision, stars=[], comment="fine\x00")
    assert_error(raised, "INVALID_CHARACTERS", "comment")


def test_a_comment_too_long_is_refused(decision, member, unchanged):
    with unchanged(), pytest.raises(DomainError) as raised:
        ballot_cast(user=member.user, decision=decision, stars=[], comment="x" * 2001)
    assert_error(raised, "TOO_LONG", "comment")


def test_a_comment_of_the_longest_length_is_kept(decision, member):
    ballot = ballot_cast(user=member.user, decision=decision, stars=[], comment="x" * 2000)
    ballot.refresh_from_db()
    assert len(ballot.comment) == 2000


def test_retract_deletes_the_ballot_and_its_stars(decision, member, events):
    BallotFactory(decision=decision, membership=member, stars={"Park": 5})
    kept = BallotFactory(decision=decision, stars={"Road": 1})
    ballot_retract(user=member.user, decision=decision)
    assert list(Ballot.objects.all()) == [kept]
    assert list(BallotStar.objects.values_list("ballot_id", flat=True)) == [kept.pk]
    assert events.one("VOTE_RETRACTED").actor == member.user.username


def test_retracting_without_a_ballot_is_refused(decision, member, unchanged):
    BallotFactory(decision=decision, stars={"Road": 1})
    with unchanged(), pytest.raises(DomainError) as raised:
        ballot_retract(user=member.user, decision=decision)
    assert_error(raised, "NO_BALLOT", "decisionId")


def test_retracting_on_a_closed_decision_is_refused(member, unchanged):
    decision = DecisionFactory(community=member.community, status=DecisionStatus.CLOSED)
    BallotFactory(decision=decision, membership=member, stars={"Yes": 5})
    with unchanged(), pytest.raises(DomainError) as raised:
        ballot_retract(user=member.user, decision=decision)
    assert_error(raised, "DECISION_NOT_OPEN", "decisionId")


def test_a_non_member_cannot_retract(decision, unchanged):
    outsider = MembershipFactory()
    BallotFactory(decision=decision, stars={"Road": 1})
    with unchanged(), pytest.raises(Forbidden):
        ballot_retract(user=outsider.user, decision=decision)


def test_votes_log_an_anonymous_member_by_pseudonym(
    decision, events, django_capture_on_commit_callbacks
):
    member = MembershipFactory(
        community=decision.community, is_anonymous=True, user__username="secretsam"
    )
    with django_capture_on_commit_callbacks(execute=True):
        ballot_cast(user=member.user, decision=decision, stars=rate(decision, Park=5))
    ballot_retract(user=member.user, decision=decision)
    assert events.one("VOTE_CAST").actor == pseudonym(member.pk)
    assert events.one("VOTE_RETRACTED").actor == pseudonym(member.pk)
    assert "secretsam" not in " ".join(events.lines())


def test_a_decision_that_closed_since_the_caller_loaded_it_refuses_the_ballot_whole(
    decision, member, unchanged
):
    """The caller's copy still says open; the change log, which checks the stored row, does
    not take it (SQLite reads the row again, PostgreSQL fails the log's message)."""
    type(decision).objects.filter(pk=decision.pk).update(
        closes_at=timezone.now() - timedelta(seconds=1)
    )
    with unchanged(), pytest.raises(DomainError) as refused, transaction.atomic():
        ballot_cast(user=member.user, decision=decision, stars=rate(decision, Park=5))
    assert_error(refused, "DECISION_NOT_OPEN", "decisionId")
    assert "closed" in refused.value.message


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs concurrent writers: SQLite runs one write transaction at a time",
)
def test_a_ballot_overtaken_by_the_decisions_close_is_refused_whole(decision, member):
    """The decision's row is share-locked only at the end of a cast: a close that commits
    while the ballot is being written is seen there, and the ballot rolls back instead of
    landing after the final result."""
    manager = MembershipFactory(community=decision.community, is_manager=True)
    at_lock, closed = threading.Event(), threading.Event()

    def close_first(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        if sql.startswith(f"EXECUTE {LOG_STATEMENT}_") and not at_lock.is_set():
            at_lock.set()  # Every ballot row is written; the lock and the check come next.
            assert closed.wait(10)
        return execute(sql, params, many, context)

    def cast() -> None:
        try:
            with connection.execute_wrapper(close_first):
                ballot_cast(user=member.user, decision=decision, stars=rate(decision, Park=5))
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        casting = pool.submit(cast)
        assert at_lock.wait(10)
        try:
            decision_close(user=manager.user, decision=decision)
        finally:
            closed.set()
        with pytest.raises(DomainError) as refused:
            casting.result(timeout=30)
    assert refused.value.code == "DECISION_NOT_OPEN"
    assert not Ballot.objects.exists()
    assert not BallotStar.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs concurrent writers: SQLite runs one write transaction at a time",
)
def test_a_ballot_written_in_its_logs_message_rolls_back_with_it(decision, member):
    """Rating every choice, a cast that owns its transaction sends its write and its log as
    one message, which PostgreSQL runs as one transaction: a close that commits while the
    written ballot waits for the decision's row refuses all of it."""
    holder = connections.create_connection("default")

    def cast() -> None:
        try:
            ballot_cast(
                user=member.user, decision=decision, stars=rate(decision, Park=5, Road=1, Pool=0)
            )
        finally:
            connection.close()

    try:
        with holder.cursor() as closing, ThreadPoolExecutor(max_workers=1) as pool:
            closing.execute("BEGIN")
            # As a close does: the row locked FOR UPDATE first (a plain update would not
            # exclude the cast's key-share lock).
            closing.execute(
                'SELECT 1 FROM "democracy_decision" WHERE id = %s FOR UPDATE', [decision.pk]
            )
            closing.execute(
                'UPDATE "democracy_decision" SET status = %s WHERE id = %s',
                [DecisionStatus.CLOSED.value, decision.pk],
            )
            casting = pool.submit(cast)
            _wait_for_lock_waits(1)  # Written; its log waits for the decision's row.
            closing.execute("COMMIT")
            with pytest.raises(DomainError) as refused:
                casting.result(timeout=30)
    finally:
        holder.close()
    assert refused.value.code == "DECISION_NOT_OPEN"
    assert not Ballot.objects.exists()
    assert not BallotStar.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs concurrent writers: SQLite runs one write transaction at a time",
)
def test_a_close_waits_for_a_ballot_in_flight_and_its_final_result_counts_it(decision, member):
    """A ballot past its check holds the decision's row in key-share mode until it commits:
    a close that comes then waits, so the ballot is never left out of the final result."""
    manager = MembershipFactory(community=decision.community, is_manager=True)
    checked, closing = threading.Event(), threading.Event()

    def cast_then_linger() -> None:
        try:
            with transaction.atomic():
                ballot_cast(user=member.user, decision=decision, stars=rate(decision, Park=4))
                checked.set()
                assert closing.wait(10)
                time.sleep(0.3)  # the close is waiting for this transaction meanwhile
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        casting = pool.submit(cast_then_linger)
        assert checked.wait(10)
        closing.set()
        decision_close(user=manager.user, decision=decision)
        # Had the close not waited, it would be back while the ballot was still uncommitted.
        assert Ballot.objects.filter(decision=decision).exists()
        casting.result(timeout=30)
    [final] = decision_calculate(decision.pk)
    assert final.is_final
    assert final.results["participation"]["directBallots"] == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs concurrent writers: SQLite runs one write transaction at a time",
)
@pytest.mark.parametrize("earlier", [False, True], ids=["first ballot", "replacement"])
@pytest.mark.parametrize(
    ("first_stars", "second_stars"),
    [
        ({"Park": 5}, {"Road": 4}),  # the second leaves out a choice the first rated
        # Every choice rated: on PostgreSQL the ballot and its stars are one statement.
        ({"Park": 5, "Road": 1, "Pool": 2}, {"Park": 0, "Road": 4, "Pool": 3}),
    ],
    ids=["some choices", "every choice"],
)
def test_the_same_members_casts_at_once_replace_one_another_whole(
    decision, member, earlier, first_stars, second_stars
):
    """The ballot's row is the member's lock: a second cast waits for the first to commit,
    then replaces all of it, so the stars are one cast's, never a mix of both.

    The first cast is held after its write by a session holding the decision's row as a
    close would: with every choice rated, its write and its log are one message."""
    if earlier:
        ballot_cast(user=member.user, decision=decision, stars=rate(decision, Pool=1))

    def cast(stars: dict[str, int]) -> None:
        try:
            ballot_cast(user=member.user, decision=decision, stars=rate(decision, **stars))
        finally:
            connection.close()

    holder = connections.create_connection("default")
    try:
        with holder.cursor() as held:
            held.execute("BEGIN")
            held.execute(
                'SELECT 1 FROM "democracy_decision" WHERE id = %s FOR UPDATE', [decision.pk]
            )
            with ThreadPoolExecutor(max_workers=2) as pool:
                first = pool.submit(cast, first_stars)
                _wait_for_lock_waits(1)  # The first cast's rows are written, not committed.
                second = pool.submit(cast, second_stars)
                try:
                    _wait_for_lock_waits(2)  # The second waits for the first's ballot row.
                finally:
                    held.execute("ROLLBACK")
                first.result(timeout=30)
                second.result(timeout=30)
    finally:
        holder.close()
    (ballot,) = Ballot.objects.all()
    assert stored(ballot) == second_stars


def _wait_for_lock_waits(sessions: int) -> None:
    """Return once ``sessions`` other sessions wait for a lock."""
    deadline = time.monotonic() + 10
    waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
    with connection.cursor() as cursor:
        while True:
            cursor.execute(waiting)
            if cursor.fetchone()[0] >= sessions:
                return
            assert time.monotonic() < deadline, f"fewer than {sessions} casts waited"
            time.sleep(0.02)
