"""The admin's event log page, as an operator watching the site uses it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from core.logread import LogScan
from core.logs import EVENT_LOGGER, EventFormatter, daily_file_handler
from crowdvote.admin import EventLogAdmin
from democracy.pseudonyms import pseudonym
from democracy.services.ballots import StarsSpec, ballot_cast
from democracy.services.memberships import membership_join, membership_update
from tests.factories import CommunityFactory, DecisionFactory, UserFactory

pytestmark = pytest.mark.django_db

URL = reverse("admin:crowdvote_eventlog_changelist")


@pytest.fixture
def log_dir(tmp_path: Path, settings) -> Path:
    settings.LOG_DIR = tmp_path
    return tmp_path


def line(n: int, *, level: str = "INFO", event: str = "VOTE_CAST", actor: str = "bob") -> str:
    return f"[2026-12-01 10:{n // 60:02d}:{n % 60:02d}] [{level}] [{event}] [{actor}] - Event {n}"


def write(path: Path, lines: list[str]) -> None:
    path.write_text("".join(f"{text}\n" for text in lines), encoding="utf-8")


def messages(response) -> list[str]:
    assert response.status_code == 200
    return [entry.message for entry in response.context["entries"]]


def test_staff_see_the_newest_events_first_with_every_field(admin_client, log_dir) -> None:
    write(
        log_dir / "crowdvote.log",
        [line(1), line(2, level="ERROR", event="CALC_FAILED", actor="system")],
    )

    response = admin_client.get(URL)

    assert messages(response) == ["Event 2", "Event 1"]
    html = response.content.decode()
    for text in ("2026-12-01 10:00:02", "ERROR", "CALC_FAILED", "system", "Event 2", "bob"):
        assert text in html


def test_the_admin_index_links_to_the_event_log(admin_client, log_dir) -> None:
    assert URL in admin_client.get(reverse("admin:index")).content.decode()
    system = reverse("admin:app_list", kwargs={"app_label": "crowdvote"})
    assert URL in admin_client.get(system).content.decode()


def test_rotated_files_follow_the_current_one_newest_first(admin_client, log_dir) -> None:
    write(log_dir / "crowdvote.log", [line(5)])
    write(log_dir / "crowdvote.log.2026-11-30", [line(3), line(4)])
    write(log_dir / "crowdvote.log.2026-11-29", [line(1), line(2)])
    write(log_dir / "unrelated.log", [line(9)])

    assert messages(admin_client.get(URL)) == [f"Event {n}" for n in (5, 4, 3, 2, 1)]


def test_filter_by_level_shows_that_level_and_above(admin_client, log_dir) -> None:
    write(
        log_dir / "crowdvote.log",
        [line(1), line(2, level="WARNING"), line(3, level="ERROR"), line(4, level="DEBUG")],
    )

    assert messages(admin_client.get(URL, {"level": "WARNING"})) == ["Event 3", "Event 2"]
    assert messages(admin_client.get(URL, {"level": "ERROR"})) == ["Event 3"]


def test_filter_by_event_type(admin_client, log_dir) -> None:
    write(log_dir / "crowdvote.log", [line(1), line(2, event="SIGN_IN_FAILED"), line(3)])

    assert messages(admin_client.get(URL, {"event": "SIGN_IN_FAILED"})) == ["Event 2"]


def test_search_matches_actor_event_and_message_ignoring_case(admin_client, log_dir) -> None:
    write(
        log_dir / "crowdvote.log",
        [line(1, actor="Carol"), line(2, event="TALLY_COMPLETE"), line(3)],
    )

    assert messages(admin_client.get(URL, {"q": "carol"})) == ["Event 1"]
    assert messages(admin_client.get(URL, {"q": "tally"})) == ["Event 2"]
    assert messages(admin_client.get(URL, {"q": "event 3"})) == ["Event 3"]
    assert messages(admin_client.get(URL, {"q": "event 3", "event": "TALLY_COMPLETE"})) == []


def test_an_unknown_filter_is_refused_with_a_message(admin_client, log_dir) -> None:
    write(log_dir / "crowdvote.log", [line(1)])

    response = admin_client.get(URL, {"event": "NO_SUCH_EVENT"})

    assert messages(response) == []
    assert "NO_SUCH_EVENT is not one of the available choices" in response.content.decode()


def test_pages_of_a_hundred_go_back_in_time(admin_client, log_dir) -> None:
    write(log_dir / "crowdvote.log", [line(n) for n in range(250)])

    first = admin_client.get(URL, {"q": "event"})
    third = admin_client.get(URL, {"q": "event", "p": 3})

    assert messages(first) == [f"Event {n}" for n in range(249, 149, -1)]
    assert first.context["older_url"] == "?q=event&p=2"
    assert messages(third) == [f"Event {n}" for n in range(49, -1, -1)]
    assert third.context["older_url"] == ""
    assert third.context["newer_url"] == "?q=event&p=2"


def test_malformed_lines_are_skipped_and_counted(admin_client, log_dir) -> None:
    write(
        log_dir / "crowdvote.log",
        [
            line(1),
            "Traceback (most recent call last):",
            '  File "x.py", line 1',
            "[2026-12-01 10:00:02] [LOUD] [VOTE_CAST] [bob] - an unknown level",
            "[2026-12-01 10:00:03] [INFO] [VOTE_CAST] [bob] no separator",
            "",
            "\x00\xff garbage",
            line(4),
        ],
    )
    with (log_dir / "crowdvote.log").open("ab") as file:
        file.write(b"\xff\xfe not UTF-8\n")

    response = admin_client.get(URL)

    assert messages(response) == ["Event 4", "Event 1"]
    assert "6 lines not in the event format" in response.content.decode()


def test_a_huge_log_is_read_only_from_its_end(admin_client, log_dir, monkeypatch) -> None:
    path = log_dir / "crowdvote.log"
    write(path, [line(1, actor="ancient")])
    with path.open("r+b") as file:  # a sparse gigabyte: reading it all would take memory and time
        file.truncate(1 << 30)
        file.seek(0, 2)
        file.write("".join(f"{line(n)}\n" for n in range(2, 500)).encode())
    write(log_dir / "crowdvote.log.2026-11-30", [line(0, actor="ancient")])
    monkeypatch.setattr(EventLogAdmin, "scan_bytes", 64 * 1024)

    newest = admin_client.get(URL)
    searched = admin_client.get(URL, {"q": "ancient"})

    assert messages(newest)[:2] == ["Event 499", "Event 498"]
    assert messages(searched) == []
    assert searched.context["scan"].bytes_read <= 64 * 1024
    assert "Only the newest 64.0\xa0KB of the log were read" in searched.content.decode()


def test_the_scan_reads_no_more_than_its_budget_across_files(log_dir) -> None:
    write(log_dir / "crowdvote.log", [line(n) for n in range(1000)])
    write(log_dir / "crowdvote.log.2026-11-30", [line(n) for n in range(1000)])
    size = (log_dir / "crowdvote.log").stat().st_size

    scan = LogScan(log_dir, max_bytes=size + 100)
    entries = list(scan)

    assert scan.bytes_read == size + 100
    assert scan.exhausted
    assert len(entries) == 1000 + 1  # the current file, and the whole last line of the other
    assert scan.skipped == 0  # the torn line the budget cut through is not counted


@pytest.fixture
def event_log(log_dir: Path) -> Iterator[None]:
    """Write the events services log into ``log_dir``, as the server does."""
    handler = daily_file_handler(str(log_dir))
    handler.setFormatter(EventFormatter(datefmt="%Y-%m-%d %H:%M:%S"))
    EVENT_LOGGER.addHandler(handler)
    yield
    EVENT_LOGGER.removeHandler(handler)
    handler.close()


def test_anonymous_members_appear_by_the_pseudonym_the_log_wrote(
    admin_client, event_log, django_capture_on_commit_callbacks
) -> None:
    alice = UserFactory(username="alice")
    decision = DecisionFactory(community=CommunityFactory(auto_approve_applications=True))
    membership = membership_join(user=alice, community=decision.community)
    membership_update(user=alice, membership=membership, is_anonymous=True)
    choice = decision.choices.first()
    with django_capture_on_commit_callbacks(execute=True):  # a vote is logged once committed
        ballot_cast(user=alice, decision=decision, stars=[StarsSpec(choice_id=choice.pk, stars=5)])

    entries = admin_client.get(URL).context["entries"]

    by_event = {entry.event: entry for entry in entries}
    cast, changed, joined = (
        by_event[e] for e in ("VOTE_CAST", "MEMBERSHIP_CHANGED", "MEMBER_JOINED")
    )
    name = pseudonym(membership.pk)
    for entry in (cast, changed):
        assert entry.actor == name
        assert "alice" not in f"{entry.actor} {entry.message}"
    # Lines are shown as written: the join, logged before she turned anonymous, names her.
    assert joined.actor == "alice"


def test_staff_granted_the_permission_see_the_log(log_dir) -> None:
    write(log_dir / "crowdvote.log", [line(1)])
    monitor = UserFactory(is_staff=True)
    monitor.user_permissions.add(Permission.objects.get(codename="view_eventlog"))
    client = Client()
    client.force_login(monitor)

    assert messages(client.get(URL)) == ["Event 1"]
    assert URL in client.get(reverse("admin:index")).content.decode()


def test_staff_without_the_permission_are_refused(log_dir) -> None:
    write(log_dir / "crowdvote.log", [line(1, actor="secret-actor")])
    client = Client()
    client.force_login(UserFactory(is_staff=True))

    response = client.get(URL)

    assert response.status_code == 403
    assert "secret-actor" not in response.content.decode()
    assert URL not in client.get(reverse("admin:index")).content.decode()


@pytest.mark.parametrize("signed_in", [True, False], ids=["member", "visitor"])
def test_non_staff_are_sent_to_the_admin_sign_in(log_dir, signed_in) -> None:
    write(log_dir / "crowdvote.log", [line(1)])
    client = Client()
    if signed_in:
        client.force_login(UserFactory())

    response = client.get(URL)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


@pytest.mark.parametrize("view", ["add", "change", "delete", "history"])
def test_there_is_nothing_to_add_change_or_delete(admin_client, log_dir, view) -> None:
    base = URL.rstrip("/")
    path = f"{base}/add/" if view == "add" else f"{base}/1/{view}/"
    assert admin_client.get(path).status_code in (302, 404)


def test_no_log_yet_shows_an_empty_page(admin_client, log_dir) -> None:
    response = admin_client.get(URL)

    assert messages(response) == []
    assert "No events." in response.content.decode()


def test_log_level_of_events_is_kept(admin_client, log_dir, event_log) -> None:
    EVENT_LOGGER.warning("Something odd", extra={"event": "CALC_FAILED", "actor": "system"})

    (entry,) = admin_client.get(URL, {"level": "WARNING"}).context["entries"]
    assert (entry.level, entry.event, entry.actor) == ("WARNING", "CALC_FAILED", "system")
