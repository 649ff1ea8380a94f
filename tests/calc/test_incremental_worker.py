"""The worker's incremental path: changes read from the log, applied to the state it kept.

Every calculation is compared with a whole read of the same moment made apart: content
hash, stored result and the stored snapshot rebuilt from its chain of changes.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import timedelta
from io import StringIO
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import RestrictedError
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import calc.kept
import calc.services
from calc.calculation_input import input_read
from calc.calculation_rows import generation_stamped
from calc.delta_read import delta_read
from calc.engine.incremental import build_state, prepare_input
from calc.kept import Kept, kept_states
from calc.models import Calculation, Change, StoredSnapshot
from calc.queue import request_recalculation
from calc.result_json import result_to_json
from calc.services import decision_calculate
from calc.snapshot import snapshot_load, snapshot_read
from core.errors import DomainError, Forbidden
from democracy.models import Decision, Membership, Role
from democracy.services.ballots import StarsSpec, ballot_cast, ballot_retract
from democracy.services.followings import following_delete, following_upsert
from democracy.services.memberships import membership_join, membership_leave, membership_update
from tests.factories import DecisionFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

TAGS = ["roads", "parks", "budget"]


def whole(decision: Decision) -> tuple[str, dict[str, object]]:
    """Return the content hash and stored result of a whole read, made apart from the worker."""
    snapshot = snapshot_read(decision.pk)
    state = build_state(prepare_input(snapshot.frozen), choice_titles=snapshot.choice_titles)
    return state.content_hash, result_to_json(state.result)


def calculate(decision: Decision) -> Calculation:
    [calculation] = decision_calculate(decision.pk)
    return calculation


def community_with(decision: Decision, members: int, rng: random.Random) -> list[Membership]:
    people = [MembershipFactory(community=decision.community) for _ in range(members)]
    for member in people:
        for followee in rng.sample(people, 2):
            if followee != member:
                following_upsert(
                    user=member.user,
                    community=decision.community,
                    followee=followee,
                    tags=rng.sample(TAGS, rng.randint(0, 1)),
                )
    for member in people[: members // 3]:
        cast(decision, member, rng)
    return people


def cast(decision: Decision, member: Membership, rng: random.Random) -> None:
    stars = [StarsSpec(c.pk, rng.randint(0, 5)) for c in decision.choices.all()]
    ballot_cast(user=member.user, decision=decision, stars=stars, tags=rng.sample(TAGS, 1))


def change_something(
    decision: Decision, people: list[Membership], manager: Membership, rng: random.Random
) -> str:
    """Make one random change through the services; return what it was."""
    community = decision.community
    present = list(Membership.objects.filter(pk__in=[m.pk for m in people]))
    approved = [m for m in present if m.is_approved]
    member = rng.choice(approved)
    kind = rng.choice(
        [
            "cast",
            "cast",
            "cast",
            "retract",
            "follow",
            "unfollow",
            "role",
            "approval",
            "leave",
            "join",
        ]
    )
    if kind == "retract":
        member = rng.choice(list(Membership.objects.filter(ballots__decision=decision)) or [member])
    elif kind == "unfollow":
        member = rng.choice(list(Membership.objects.filter(following__isnull=False)) or [member])
    if kind == "cast":
        cast(decision, member, rng)
    elif kind == "retract":
        ballot_retract(user=member.user, decision=decision)
    elif kind == "follow":
        following_upsert(
            user=member.user,
            community=community,
            followee=rng.choice([m for m in approved if m != member]),
            tags=rng.sample(TAGS, rng.randint(0, 2)),
            order=rng.randint(1, 3),
        )
    elif kind == "unfollow":
        followee = rng.choice([f.followee for f in member.following.all()] or [member])
        following_delete(user=member.user, community=community, followee=followee)
    elif kind == "role":
        role = Role.LOBBYIST if member.role == Role.VOTER else Role.VOTER
        membership_update(user=member.user, membership=member, role=role)
    elif kind == "approval":
        member = rng.choice(present)
        membership_update(user=manager.user, membership=member, is_approved=not member.is_approved)
    elif kind == "leave":
        membership_leave(user=member.user, community=community)
    else:
        people.append(membership_join(user=UserFactory(), community=community))
    return kind


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_incremental_calculation_equals_a_whole_read(seed: int, settings) -> None:
    settings.CALC_DEBOUNCE_MS = 0
    settings.CALC_SNAPSHOT_CHAIN = 8  # some whole snapshots along the way
    rng = random.Random(seed)
    decision = DecisionFactory(choices=["Park", "Road", "Bridge"])
    manager = MembershipFactory(community=decision.community, is_manager=True)
    people = community_with(decision, 12, rng)
    first = calculate(decision)
    assert StoredSnapshot.objects.get(pk=first.pk).depth == 0

    made: list[str] = []
    for _ in range(50):
        try:
            made.append(change_something(decision, people, manager, rng))
        except (DomainError, Forbidden):
            continue  # refused whole (no ballot to retract, the last manager…): nothing to do
        calculation = calculate(decision)
        content_hash, result = whole(decision)
        assert calculation.content_hash == content_hash, made
        assert calculation.results == result, made
        rebuilt = build_state(prepare_input(snapshot_load(calculation.pk)))
        assert rebuilt.content_hash == content_hash, made
    depths = list(StoredSnapshot.objects.values_list("depth", flat=True))
    assert max(depths) == 7  # chains, re-based every 8
    assert depths.count(0) >= 4
    assert "cast" in made
    assert set(made) & {"follow", "unfollow"}
    assert set(made) & {"leave", "join", "approval"}


def test_a_ballot_is_read_as_one_change_and_stored_as_it(settings) -> None:
    settings.CALC_DEBOUNCE_MS = 0
    rng = random.Random(7)
    decision = DecisionFactory(choices=["Park", "Road"])
    people = community_with(decision, 9, rng)
    first = calculate(decision)
    kept = kept_states.take(decision.pk)
    assert kept is not None
    assert kept.generation == first.generation
    kept_states.put(decision.pk, kept)

    cast(decision, people[-1], rng)
    generation_stamped(decision.pk)
    read = input_read(decision.pk, kept)
    assert read.read_as == f"1 change to generation {first.generation}"
    second = calculate(decision)
    stored = StoredSnapshot.objects.get(pk=second.pk)
    assert (stored.previous_id, stored.depth, bytes(stored.canonical)) == (first.pk, 1, b"")
    whole_size = len(StoredSnapshot.objects.get(pk=first.pk).columns)
    assert len(stored.delta) < whole_size / 4


def test_a_storms_ballots_are_read_back_in_four_statements(settings) -> None:
    """The decision (with the kept calculation's check), its choices, the log, and the
    ballots with their stars: however many ballots, and written by hand."""
    settings.CALC_DEBOUNCE_MS = 0
    rng = random.Random(11)
    decision = DecisionFactory(choices=["Park", "Road"])
    people = community_with(decision, 9, rng)
    calculate(decision)
    kept = kept_states.take(decision.pk)
    assert kept is not None
    for member in people[:5]:
        cast(decision, member, rng)
    generation_stamped(decision.pk)
    with CaptureQueriesContext(connection) as captured:
        delta = delta_read(
            decision.pk,
            kept.state.columns,
            kept.generation,
            (kept.snapshot.calculation_id, kept.state.content_hash),
        )
    assert delta is not None
    assert {type(change).__name__ for change in delta.changes} == {"BallotCast"}
    reads = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("SELECT")]
    assert len(reads) == 4, reads
    assert not any(" AS " in sql for sql in reads)  # the ORM aliases every column it reads


def test_a_worker_that_kept_nothing_restores_the_last_snapshot_and_replays(settings) -> None:
    settings.CALC_DEBOUNCE_MS = 0
    settings.CALC_SNAPSHOT_CHAIN = 64
    rng = random.Random(3)
    decision = DecisionFactory(choices=["Park", "Road"])
    people = community_with(decision, 6, rng)
    calculate(decision)
    for member in people[:3]:
        cast(decision, member, rng)
        last = calculate(decision)
    kept_states.clear()  # a restart, or another worker
    cast(decision, people[4], rng)
    cast(decision, people[5], rng)
    generation_stamped(decision.pk)
    read = input_read(decision.pk, None)
    assert read.read_as == (
        f"2 changes to generation {last.generation} (restored from calculation {last.pk}'s snapshot)"
    )
    calculation = calculate(decision)
    stored = StoredSnapshot.objects.get(pk=calculation.pk)
    assert (stored.previous_id, stored.depth) == (last.pk, 4)
    assert (calculation.content_hash, calculation.results) == whole(decision)
    assert prepare_input(snapshot_load(calculation.pk)).content_hash == calculation.content_hash


def test_a_snapshot_that_does_not_match_its_hash_is_not_restored(settings, caplog) -> None:
    settings.CALC_DEBOUNCE_MS = 0
    rng = random.Random(4)
    decision = DecisionFactory(choices=["Park", "Road"])
    people = community_with(decision, 6, rng)
    first = calculate(decision)
    other = DecisionFactory(choices=["Park", "Road"])
    community_with(other, 3, rng)
    elsewhere = calculate(other)
    wrong = StoredSnapshot.objects.get(pk=elsewhere.pk)
    StoredSnapshot.objects.filter(pk=first.pk).update(
        canonical=wrong.canonical, columns=wrong.columns
    )
    kept_states.clear()
    cast(decision, people[0], rng)
    assert input_read(decision.pk, None).read_as == "read whole"
    assert f"Snapshot of calculation {first.pk} does not match its content hash" in caplog.text
    calculation = calculate(decision)
    assert (calculation.content_hash, calculation.results) == whole(decision)


def test_a_decision_never_calculated_is_read_whole(settings) -> None:
    settings.CALC_DEBOUNCE_MS = 0
    decision = DecisionFactory(choices=["Park", "Road"])
    community_with(decision, 4, random.Random(6))
    assert input_read(decision.pk, None).read_as == "read whole"


@pytest.mark.parametrize("gap", ["log pruned", "generation without a change", "whole change"])
def test_a_gap_in_the_log_means_a_whole_read(gap: str, settings) -> None:
    settings.CALC_DEBOUNCE_MS = 0
    rng = random.Random(5)
    decision = DecisionFactory(choices=["Park", "Road"])
    people = community_with(decision, 6, rng)
    calculate(decision)
    cast(decision, people[1], rng)
    if gap == "whole change":
        request_recalculation(
            community_id=decision.community_id, trigger="t", decision_ids=[decision.pk]
        )
    generation_stamped(decision.pk)
    if gap == "log pruned":
        Change.objects.filter(decision=decision).delete()
    elif gap == "generation without a change":
        Decision.objects.filter(pk=decision.pk).update(calc_requested_gen=5_000)
    read = input_read(decision.pk, kept_states.take(decision.pk))
    assert read.read_as == "read whole"


def test_a_kept_state_of_another_database_is_not_used(settings) -> None:
    """Ids come back after a rollback (or a restored backup): the state must match by hash."""
    settings.CALC_DEBOUNCE_MS = 0
    rng = random.Random(11)
    decision = DecisionFactory(choices=["Park", "Road"])
    people = community_with(decision, 6, rng)
    first = calculate(decision)
    Calculation.objects.filter(pk=first.pk).update(content_hash="0" * 64)
    cast(decision, people[2], rng)
    assert input_read(decision.pk, kept_states.take(decision.pk)).read_as == "read whole"


def test_pruning_keeps_every_kept_snapshot_whole_or_on_a_kept_base(settings) -> None:
    settings.CALC_DEBOUNCE_MS = 0
    rng = random.Random(13)
    decision = DecisionFactory(choices=["Park", "Road"])
    people = community_with(decision, 6, rng)
    calculations = [calculate(decision)]
    for member in people[:3]:
        cast(decision, member, rng)
        calculations.append(calculate(decision))
    hashes = [c.content_hash for c in calculations]
    assert list(StoredSnapshot.objects.order_by("pk").values_list("depth", flat=True)) == [
        0,
        1,
        2,
        3,
    ]
    old = timezone.now() - timedelta(days=40)
    Calculation.objects.filter(pk__in=[c.pk for c in calculations[:3]]).update(requested_at=old)
    out = StringIO()
    call_command("prune_calculations", stdout=out)
    assert "Deleted 3 calculation(s)" in out.getvalue()
    [kept] = StoredSnapshot.objects.all()
    assert (kept.pk, kept.previous_id, kept.depth) == (calculations[-1].pk, None, 0)
    assert build_state(prepare_input(snapshot_load(kept.pk))).content_hash == hashes[-1]


def test_a_snapshot_built_on_another_cannot_lose_it_alone(settings) -> None:
    settings.CALC_DEBOUNCE_MS = 0
    rng = random.Random(17)
    decision = DecisionFactory(choices=["Park", "Road"])
    people = community_with(decision, 4, rng)
    first = calculate(decision)
    cast(decision, people[0], rng)
    calculate(decision)
    with pytest.raises(RestrictedError), transaction.atomic():
        Calculation.objects.filter(pk=first.pk).delete()
    decision.delete()  # both go together: nothing is left pointing anywhere
    assert not StoredSnapshot.objects.exists()


def test_the_debounce_counts_from_the_last_calculations_end(settings, monkeypatch) -> None:
    settings.CALC_DEBOUNCE_MS = 0
    rng = random.Random(19)
    decision = DecisionFactory(choices=["Park", "Road"])
    people = community_with(decision, 4, rng)
    calculate(decision)
    settings.CALC_DEBOUNCE_MS = 300
    slept: list[float] = []
    monkeypatch.setattr(calc.services.time, "sleep", slept.append)
    now = 1000.0  # the kept states' clock stands still, however slow the machine
    monkeypatch.setattr(calc.kept, "time", SimpleNamespace(monotonic=lambda: now))

    def finished_ago(seconds: float) -> None:
        kept = kept_states.take(decision.pk)
        assert kept is not None
        kept_states.put(decision.pk, replace(kept, finished=now - seconds))

    finished_ago(0.1)
    cast(decision, people[0], rng)
    calculate(decision)  # a burst may be under way: waits what is left of the 300 ms
    assert slept == [pytest.approx(0.2)]
    finished_ago(1)
    cast(decision, people[1], rng)
    calculate(decision)  # quiet for longer than the debounce: at once
    assert len(slept) == 1
    kept_states.clear()
    cast(decision, people[2], rng)
    calculate(decision)  # nothing kept, nothing known: the whole wait
    assert slept[1:] == [0.3]


def test_in_a_storm_calculations_are_spaced_to_their_share_of_the_time(
    settings, monkeypatch
) -> None:
    settings.CALC_DEBOUNCE_MS = 0
    rng = random.Random(23)
    decision = DecisionFactory(choices=["Park", "Road"])
    people = community_with(decision, 4, rng)
    calculate(decision)
    settings.CALC_DEBOUNCE_MS, settings.CALC_STORM_SHARE = 50, 0.25
    settings.CALC_STORM_INTERVAL_MS = 250
    slept: list[float] = []
    monkeypatch.setattr(calc.services.time, "sleep", slept.append)
    # As if each calculation began the instant the last one ended, however slow the machine.
    monkeypatch.setattr(Kept, "since_finished", lambda kept: 0.0)

    def kept_as(took: float, overtaken: bool) -> None:
        kept = kept_states.take(decision.pk)
        assert kept is not None
        kept_states.put(decision.pk, replace(kept, took=took, overtaken=overtaken))

    kept_as(took=0.2, overtaken=True)
    cast(decision, people[0], rng)
    calculate(decision)  # 200 ms of work: the next may start 800 ms after the last began
    assert slept == [pytest.approx(0.6)]
    kept_as(took=0.2, overtaken=False)
    cast(decision, people[1], rng)
    calculate(decision)  # nothing came while it ran: only the debounce
    assert slept[1:] == [pytest.approx(0.05)]
    kept_as(took=0.001, overtaken=True)
    cast(decision, people[2], rng)
    calculate(decision)  # a quick one in a storm: the next starts 250 ms after it began
    assert slept[2:] == [pytest.approx(0.249)]
    settings.CALC_STORM_INTERVAL_MS = 0
    kept_as(took=0.001, overtaken=True)
    cast(decision, people[3], rng)
    calculate(decision)  # no interval: the debounce still applies
    assert slept[3:] == [pytest.approx(0.05)]


def test_a_calculation_overtaken_by_changes_says_so_and_how_long_it_took(
    settings, monkeypatch
) -> None:
    settings.CALC_DEBOUNCE_MS = 0
    rng = random.Random(29)
    decision = DecisionFactory(choices=["Park", "Road"])
    people = community_with(decision, 4, rng)
    calculate(decision)
    kept: list[Kept] = []
    put = kept_states.put
    monkeypatch.setattr(kept_states, "put", lambda pk, state: (kept.append(state), put(pk, state)))

    def overtake(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        if "calc_storedsnapshot" in sql and not overtaking:
            overtaking.append(sql)  # the snapshot is read: a ballot lands before the result
            cast(decision, people[1], rng)
        return execute(sql, params, many, context)

    overtaking: list[str] = []
    cast(decision, people[0], rng)
    with connection.execute_wrapper(overtake):
        ran = decision_calculate(decision.pk)

    assert overtaking
    assert len(ran) == 2  # the ballot that overtook the first got its own
    assert [state.overtaken for state in kept] == [True, False]
    assert all(state.took > 0 for state in kept)


def test_states_past_the_memory_bound_go_least_recent_first_and_come_back_from_snapshots(
    settings,
) -> None:
    settings.CALC_DEBOUNCE_MS = 0
    settings.CALC_KEPT_MEMBERS = 10
    rng = random.Random(21)
    older, newer = (DecisionFactory(choices=["Park", "Road"]) for _ in range(2))
    older_people = community_with(older, 6, rng)
    community_with(newer, 6, rng)
    calculate(older)
    calculate(newer)  # 12 members kept in all: the older decision's state goes
    assert kept_states.take(older.pk) is None
    kept = kept_states.take(newer.pk)
    assert kept is not None
    kept_states.put(newer.pk, kept)
    cast(older, older_people[0], rng)
    assert "restored from calculation" in input_read(older.pk, None).read_as
    calculation = calculate(older)
    assert (calculation.content_hash, calculation.results) == whole(older)
