"""Timestamps read through psycopg's own loader (``crowdvote.postgresql``), on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import psycopg
import pytest
from django.db import connection, connections
from django.test import override_settings

from accounts.models import ApiToken
from crowdvote.postgresql.base import TIMESTAMPTZ_OID
from tests.concurrency import require_postgres
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _loader() -> type:
    with connection.cursor() as cursor:
        return cursor.cursor.adapters.get_loader(TIMESTAMPTZ_OID, psycopg.pq.Format.TEXT)


def test_a_timestamp_reads_back_as_the_same_instant_in_utc() -> None:
    require_postgres()
    written = datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=timezone(timedelta(hours=5)))
    token = ApiToken.objects.create(user=UserFactory(), token_hash="h" * 64, name="t")
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=written)

    read = ApiToken.objects.get(pk=token.pk).last_used_at

    assert read == written
    assert read is not None
    assert read.tzinfo is UTC
    assert (read.day, read.hour) == (28, 20)  # 01:30 at +05:00 is 20:30 the day before


def test_an_absent_timestamp_reads_as_none() -> None:
    require_postgres()
    token = ApiToken.objects.create(user=UserFactory(), token_hash="n" * 64, name="t")

    assert ApiToken.objects.get(pk=token.pk).revoked_at is None


def test_the_cursor_keeps_the_connections_loader_and_parses_with_psycopgs() -> None:
    require_postgres()
    loader = _loader()

    # Django registers its own Python loader on a cursor whose label differs.
    assert loader.__module__ == "crowdvote.postgresql.base"
    assert loader.timezone is UTC
    with connection.cursor() as cursor:
        parser = loader(TIMESTAMPTZ_OID, cursor.cursor)._psycopg
    assert type(parser) is psycopg.adapters.get_loader(TIMESTAMPTZ_OID, psycopg.pq.Format.TEXT)


@override_settings(USE_TZ=False)
def test_without_time_zones_djangos_naive_loader_stays() -> None:
    require_postgres()
    wrapper = connections.create_connection("default")

    params = wrapper.get_connection_params()

    loader = params["context"].get_loader(TIMESTAMPTZ_OID, psycopg.pq.Format.TEXT)
    assert loader.__module__ == "django.db.backends.postgresql.psycopg_any"
    assert loader.timezone is None
