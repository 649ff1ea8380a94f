"""The only adapter between the database and the engine: freeze a decision, store it, load it.

Member ids in the frozen input are membership primary keys and choice ids are choice primary
keys, both as strings. Only approved members take part.
"""

from __future__ import annotations

import gc
import hashlib
import io
import json
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from itertools import repeat
from operator import itemgetter, ne
from typing import TYPE_CHECKING, Any

import numpy as np
from django.db import connection, transaction

from calc.engine import (
    DecisionColumns,
    EngineInputError,
    FrozenDecision,
    Role,
    TieBreakPolicy,
    decision_to_json,
)
from calc.engine.columns import decision_columns, tag_codes
from calc.engine.incremental import Change, changes_applied
from calc.engine.jsonio import columns_from_json
from calc.models import Calculation, StoredSnapshot
from calc.snapshot_delta import changes_pack, changes_unpack
from democracy.models import Ballot, BallotStar, Choice, Decision, DecisionStatus, Membership
from democracy.models import Following as FollowingRow

if TYPE_CHECKING:
    from calc.engine.canonical import CanonicalText
    from calc.engine.validation import Indexed

# Level 1 compresses a 20 MB snapshot 7:1 in 0.1 s; level 6 gains 30% more for 3x the time.
COMPRESSION_LEVEL = 1


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A decision frozen for the engine, with what the worker needs to know of that moment."""

    frozen: DecisionColumns
    generation: int
    status: DecisionStatus
    choice_titles: dict[str, str]


@contextmanager
def one_moment() -> Iterator[None]:
    """Run the block's reads in one consistent snapshot (inside a caller's transaction: its).

    Several SELECTs must see one moment: PostgreSQL's default READ COMMITTED would let a
    ballot committed in between appear in one query and not another, so it reads in a
    REPEATABLE READ transaction. SQLite reads in a transaction that takes no writer's turn
    (``crowdvote.sqlite``): a million-member read would otherwise hold every write back,
    the lease's heartbeat included.
    """
    if connection.in_atomic_block:
        yield
        return
    reading = getattr(connection, "read_transaction", None)
    if reading is not None:
        with reading():
            yield
        return
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield


def _sql(template: str) -> str:
    """Return ``template`` with ``{Model}``, ``{Model__field}`` and ``{field}`` names quoted."""
    q = connection.ops.quote_name
    names: dict[str, str] = {}
    for model in (Membership, FollowingRow, Ballot, BallotStar):
        meta = model._meta
        names[model.__name__] = q(meta.db_table)
        for f in meta.concrete_fields:
            names[f"{model.__name__}__{f.name}"] = f"{q(meta.db_table)}.{q(f.column)}"
            names.setdefault(f.name, q(f.column))
    return template.format_map(names)


# No ORDER BY: the engine sorts by id itself, and sorting 200,000 rows here cost more.
_MEMBERS = """SELECT {Membership__id}, {Membership__role} FROM {Membership}
WHERE {Membership__community} = %s AND {Membership__is_approved} = %s"""
# Without the two joins to Membership (is_approved): 3x faster; _approved_only filters.
_FOLLOWINGS = """SELECT {Following__follower}, {Following__followee}, {Following__tags},
{Following__order} FROM {Following} WHERE {Following__community} = %s"""
_BALLOTS = """SELECT {Ballot__id}, {Ballot__membership}, {Ballot__tags} FROM {Ballot}
JOIN {Membership} AS m ON m.{id} = {Ballot__membership}
WHERE {Ballot__decision} = %s AND m.{is_approved} = %s"""
_STARS = """SELECT {BallotStar__ballot}, {BallotStar__choice}, {BallotStar__stars}
FROM {BallotStar} JOIN {Ballot} ON {Ballot__id} = {BallotStar__ballot}
JOIN {Membership} AS m ON m.{id} = {Ballot__membership}
WHERE {Ballot__decision} = %s AND m.{is_approved} = %s"""


FollowingTuple = tuple[int, int, str, int]


def _tag_columns(raws: Sequence[str | list[str]]) -> tuple[tuple[frozenset[str], ...], Any]:
    """Return the tag sets and each row's position among them, one set per distinct text."""
    try:
        position = {raw: i for i, raw in enumerate(dict.fromkeys(raws))}
    except TypeError:  # A backend that decodes JSON itself.
        return tag_codes(frozenset(raw) for raw in raws)
    sets = tuple(frozenset(json.loads(raw)) for raw in position)  # type: ignore[arg-type]
    return sets, np.fromiter(map(position.__getitem__, raws), np.int64, len(raws))


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[tuple[Any, ...]]:
    return list(zip(*rows, strict=True)) if rows else [()] * width


def _rows_of(keys: Sequence[int], row_of: dict[int, int], what: str) -> Any:
    """Return the row of each primary key; EngineInputError names one that has none."""
    try:
        return np.fromiter(map(row_of.__getitem__, keys), np.int64, len(keys))
    except KeyError as missing:
        raise EngineInputError(f"{what} {missing.args[0]} is not part of this decision") from None


def _approved_only(rows: list[FollowingTuple], member_row: dict[int, int]) -> list[FollowingTuple]:
    """Return the followings whose both ends are approved, as the ORM filter would."""
    ends = set(map(itemgetter(0), rows))
    ends.update(map(itemgetter(1), rows))
    outside = ends - member_row.keys()
    if not outside:
        return rows
    # Members not approved here, or (in inconsistent data) of another community.
    approved = Membership.objects.filter(pk__in=outside, is_approved=True).values_list("pk")
    dropped = outside - {pk for (pk,) in approved}
    return [row for row in rows if row[0] not in dropped and row[1] not in dropped]


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a calculation builds and drops its objects.

    A 100,000-member snapshot is a million objects; each allocation burst otherwise triggers
    collections that rescan them all (half the time of the read, a third of validation). Only
    a caller that found it enabled turns it back on, so nested or concurrent uses can end it
    early but never leave it off.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def snapshot_read(decision_id: int) -> Snapshot:
    """Return the decision as the engine sees it, from one consistent read.

    Rows are fetched with plain SQL: at 100,000 members the ORM's per-row work cost more than
    the queries. Rows become the engine's columns directly: no Python object per following
    or ballot.
    """
    with collector_paused():
        return _snapshot_read(decision_id)


def _snapshot_read(decision_id: int) -> Snapshot:
    with one_moment():
        decision = Decision.objects.select_related("community").get(pk=decision_id)
        community_id = decision.community_id
        choices = list(Choice.objects.filter(decision_id=decision_id).values_list("id", "title"))
        with connection.cursor() as cursor:
            cursor.execute(_sql(_MEMBERS), [community_id, True])
            member_rows = cursor.fetchall()
            cursor.execute(_sql(_FOLLOWINGS), [community_id])
            following_rows = cursor.fetchall()
            cursor.execute(_sql(_BALLOTS), [decision_id, True])
            ballot_rows = cursor.fetchall()
            cursor.execute(_sql(_STARS), [decision_id, True])
            star_rows = cursor.fetchall()
    choice_pks = [pk for pk, _ in choices]
    member_pks, member_roles = _columns(member_rows, 2)
    member_row = dict(zip(member_pks, range(len(member_pks)), strict=True))
    following_rows = _approved_only(following_rows, member_row)
    followers, followees, following_tags, orders = _columns(following_rows, 4)
    ballot_ids, voters, ballot_tags = _columns(ballot_rows, 3)
    stars = np.zeros((len(ballot_ids), len(choice_pks)), dtype=np.int64)
    if star_rows:
        star_ballots, star_choices, values = _columns(star_rows, 3)
        at_ballot = dict(zip(ballot_ids, range(len(ballot_ids)), strict=True))
        at_choice = dict(zip(choice_pks, range(len(choice_pks)), strict=True))
        stars[
            _rows_of(star_ballots, at_ballot, "ballot"), _rows_of(star_choices, at_choice, "choice")
        ] = values
    follow_sets, follow_codes = _tag_columns(following_tags)
    ballot_sets, ballot_codes = _tag_columns(ballot_tags)
    frozen = DecisionColumns(
        choices=tuple(map(str, choice_pks)),
        member_ids=tuple(map(str, member_pks)),
        is_voter=np.fromiter(
            map(ne, member_roles, repeat(Role.LOBBYIST.value)), np.bool_, len(member_roles)
        ),
        follow_src=_rows_of(followers, member_row, "follower"),
        follow_dst=_rows_of(followees, member_row, "followee"),
        follow_tag_sets=follow_sets,
        follow_tag_code=follow_codes,
        follow_order=np.fromiter(orders, np.int64, len(orders)),
        ballot_member=_rows_of(voters, member_row, "ballot member"),
        ballot_stars=stars,
        ballot_tag_sets=ballot_sets,
        ballot_tag_code=ballot_codes,
        tie_break_policy=TieBreakPolicy(decision.community.tie_break_policy),
    )
    return Snapshot(
        frozen=frozen,
        generation=decision.calc_requested_gen,
        status=DecisionStatus(decision.status),
        choice_titles={str(pk): title for pk, title in choices},
    )


@dataclass(frozen=True, slots=True)
class Packed:
    """A frozen decision ready to store: content hash, canonical JSON and arrays, compressed.

    ``columns`` holds the same input as ``canonical``, in a form read back in milliseconds.
    """

    content_hash: str
    canonical: bytes
    columns: bytes


def snapshot_pack(
    frozen: DecisionColumns | FrozenDecision, *, indexed: Indexed | None = None
) -> Packed:
    """Return the content hash, the zlib-compressed canonical JSON and arrays of ``frozen``.

    The canonical text is built once for both. ``indexed`` is ``index_decision(frozen)`` when
    the caller keeps it for ``resolve_ballots`` (validating 100,000 members takes 0.2 s). The
    hash is the engine's ``content_hash`` (a test keeps them equal).
    """
    text = decision_to_json(frozen, indexed=indexed).encode("ascii")
    columns = frozen if isinstance(frozen, DecisionColumns) else decision_columns(frozen)
    return Packed(
        hashlib.sha256(text).hexdigest(),
        zlib.compress(text, COMPRESSION_LEVEL),
        _columns_blob(columns),
    )


def snapshot_pack_text(columns: DecisionColumns, text: CanonicalText) -> Packed:
    """Return what :func:`snapshot_pack` does, from columns whose canonical text is known."""
    return Packed(
        text.digest, zlib.compress(bytes(text), COMPRESSION_LEVEL), _columns_blob(columns)
    )


def snapshot_unpack(
    canonical: bytes | memoryview, columns: bytes | memoryview = b""
) -> DecisionColumns:
    """Return the frozen decision stored by :func:`snapshot_pack`.

    From the arrays when given (milliseconds), else from the canonical JSON (a second at
    100,000 members).
    """
    if columns:
        return _columns_from_blob(bytes(columns))
    return columns_from_json(zlib.decompress(bytes(canonical)))


def snapshot_store(calculation: Calculation, packed: Packed) -> StoredSnapshot:
    """Store ``packed`` as the whole snapshot of ``calculation`` (saved already)."""
    return _stored(
        StoredSnapshot(calculation=calculation, canonical=packed.canonical, columns=packed.columns)
    )


def snapshot_store_changes(
    calculation: Calculation, previous: StoredSnapshot, changes: list[Change]
) -> StoredSnapshot:
    """Store the snapshot of ``calculation`` as ``changes`` to ``previous`` (in id order)."""
    return _stored(
        StoredSnapshot(
            calculation=calculation,
            previous=previous,
            delta=changes_pack(changes),
            depth=previous.depth + 1,
        )
    )


def _stored(snapshot: StoredSnapshot) -> StoredSnapshot:
    """Write ``snapshot``, replacing the one its calculation has, in one statement (the
    ORM's ``update_or_create`` took six, savepoints included, every calculation)."""
    fields = StoredSnapshot._meta.concrete_fields
    with connection.cursor() as cursor:
        cursor.execute(
            _stored_sql(),
            [
                field.get_db_prep_save(getattr(snapshot, field.attname), connection)
                for field in fields
            ],
        )
    snapshot._state.adding, snapshot._state.db = False, connection.alias
    return snapshot


@cache
def _stored_sql() -> str:
    quote = connection.ops.quote_name
    meta = StoredSnapshot._meta
    names = [quote(field.column) for field in meta.concrete_fields]
    key = quote(meta.pk.column)
    updated = ", ".join(f"{name} = excluded.{name}" for name in names if name != key)
    return (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(names)}) "
        f"VALUES ({', '.join(['%s'] * len(names))}) ON CONFLICT ({key}) DO UPDATE SET {updated}"
    )


def snapshot_rebuilt(stored: StoredSnapshot) -> DecisionColumns:
    """Return the input of ``stored``: whole, or its chain of changes replayed on its base."""
    deltas: list[bytes] = []
    while stored.previous_id is not None:
        deltas.append(bytes(stored.delta))
        stored = StoredSnapshot.objects.get(pk=stored.previous_id)
    columns = snapshot_unpack(stored.canonical, stored.columns)
    for blob in reversed(deltas):
        columns = changes_applied(columns, changes_unpack(blob))
    return columns


def snapshot_load(calculation_pk: int) -> DecisionColumns:
    """Return the stored snapshot of a calculation; ValueError if it has none yet."""
    stored = StoredSnapshot.objects.filter(calculation_id=calculation_pk).first()
    if stored is None:
        raise ValueError(f"calculation {calculation_pk} has no snapshot yet")
    return snapshot_rebuilt(stored)


def snapshots_load(calculation_pks: Iterable[int]) -> dict[int, DecisionColumns]:
    """Return the stored snapshots of several calculations (whole ones read in one query)."""
    stored = StoredSnapshot.objects.filter(calculation_id__in=list(calculation_pks))
    return {s.calculation_id: snapshot_rebuilt(s) for s in stored}


def snapshot_rebase(stored: StoredSnapshot) -> None:
    """Store ``stored`` whole, so the snapshots it was built on may go."""
    if stored.previous_id is None:
        return
    columns = snapshot_rebuilt(stored)
    packed = snapshot_pack(columns)
    stored.canonical, stored.columns = packed.canonical, packed.columns
    stored.previous, stored.delta, stored.depth = None, b"", 0
    stored.save(update_fields=["canonical", "columns", "previous", "delta", "depth"])


def snapshots_detach(calculation_pks: list[int]) -> int:
    """Store whole every snapshot built on those of ``calculation_pks`` but not among them.

    Called before those calculations are deleted, so no kept snapshot loses its base.
    """
    doomed = set(calculation_pks)
    dependent = StoredSnapshot.objects.filter(previous_id__in=doomed).exclude(pk__in=doomed)
    rebased = 0
    for stored in dependent:
        snapshot_rebase(stored)
        rebased += 1
    return rebased


# Arrays of the columns blob; ids and tag sets travel as JSON text beside them.
_ARRAYS = (
    "is_voter",
    "follow_src",
    "follow_dst",
    "follow_tag_code",
    "follow_order",
    "ballot_member",
    "ballot_stars",
    "ballot_tag_code",
)


def _columns_blob(columns: DecisionColumns) -> bytes:
    names = {
        "choices": list(columns.choices),
        "member_ids": list(columns.member_ids),
        "follow_tag_sets": [sorted(tags) for tags in columns.follow_tag_sets],
        "ballot_tag_sets": [sorted(tags) for tags in columns.ballot_tag_sets],
        "tie_break_policy": columns.tie_break_policy.value,
    }
    buffer = io.BytesIO()
    np.savez(
        buffer,
        names=np.frombuffer(json.dumps(names).encode(), dtype=np.uint8),
        **{name: _compact(getattr(columns, name)) for name in _ARRAYS},
    )
    return zlib.compress(buffer.getvalue(), COMPRESSION_LEVEL)


def _compact(array: Any) -> Any:
    """Return ``array`` in the narrowest integer type holding its values (less to compress)."""
    if array.dtype == np.bool_ or not array.size:
        return array
    low, high = int(array.min()), int(array.max())
    for kind in (np.int8, np.int16, np.int32):
        if np.iinfo(kind).min <= low and high <= np.iinfo(kind).max:
            return array.astype(kind)
    return array


def _columns_from_blob(blob: bytes) -> DecisionColumns:
    with np.load(io.BytesIO(zlib.decompress(blob)), allow_pickle=False) as arrays:
        names = json.loads(arrays["names"].tobytes())
        # Back to the engine's own types: narrow integers would overflow in its arithmetic.
        wide = {
            name: arrays[name] if arrays[name].dtype == np.bool_ else arrays[name].astype(np.int64)
            for name in _ARRAYS
        }
        return DecisionColumns(**names, **wide)
