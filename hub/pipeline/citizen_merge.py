"""Publish citizens: merge a run's passing rows into the golden ``citizen`` table.

Runs inside the publish transaction (hub.pipeline.stages.publish), so the golden
records, the quarantine and the stream's cursor move together or not at all.

A first load on SQLite is written aside first (``load_aside``): one transaction adding
a million people holds every new page in SQLite's -wal file until it commits (5 GB at
1M residents), and every page read in that transaction searches that log, so the
publish grew 21x for 10x the people. Written in committed chunks into a table of its
own, the log stays at one chunk; the publish transaction then switches the table in
(drop the empty ``citizen``, rename), so no reader ever sees part of a load.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Date,
    DateTime,
    Engine,
    Integer,
    MetaData,
    RowMapping,
    Select,
    Table,
    Text,
    bindparam,
    case,
    cast,
    func,
    insert,
    literal,
    select,
    text,
    update,
)

from hub.pipeline.golden import FieldMerge, Provenance, merge_fields, record_conflicts
from hub.pipeline.stages import MergeCounts, prepared_by
from hub.store.bulk import execute_many
from hub.store.tables import RUN_ID, audit_finding, citizen, staging_citizen
from schemas.citizen import CONTENT_FIELDS

_CHUNK = 1000
_LOAD_CHUNK = 20_000  # people per committed chunk of a first load: the -wal file peaked at 86 MiB at 1M
_DATE_FIELDS = ("birth_date", "death_date")
_SORTED_FIELDS = sorted(CONTENT_FIELDS)


def load_aside(engine: Engine, run_id: str, now: datetime, system: str = "national_population") -> None:
    """SQLite, first load: write the run's people into a table of their own, one committed chunk at a time.

    Nothing reads that table; ``merge_citizens`` switches it in inside the publish transaction, or drops
    it if ``citizen`` gained rows meanwhile. A load that stops half-way is rebuilt by the next attempt.
    """
    if engine.dialect.name != "sqlite":
        return  # PostgreSQL checkpoints during a transaction: one big INSERT ... SELECT keeps its WAL bounded
    building, built = _aside_names(run_id)
    with engine.connect() as conn:
        # This run's from an earlier attempt, and any other run's: starting this run retired every other
        # unfinished run of the stream (runs.start_run), so none of them can switch its load in any more.
        leftovers = text("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'lgsp_load%_citizen_%'")
        _drop_tables(conn, *conn.execute(leftovers).scalars())
        if conn.execute(select(citizen.c.personal_id).limit(1)).first() is not None:
            conn.commit()
            return  # not a first load: the publish transaction merges as usual
        table = _citizen_like(building)
        table.create(conn)
        winner = _winners(conn, run_id)  # a TEMPORARY table: written outside the store's -wal file
        conn.commit()
        try:
            for fetched_at in _new_fetch_times(conn, winner):
                for low, high in _key_ranges(conn, winner, run_id, fetched_at):
                    people = _new_people(winner, run_id, now, system, fetched_at, sqlite=True)
                    people = people.where(staging_citizen.c.personal_id > low)
                    if high is not None:
                        people = people.where(staging_citizen.c.personal_id <= high)
                    conn.execute(insert(table).from_select(_COLUMNS, people))
                    conn.commit()  # SQLite checkpoints the -wal file at commit once it passes 1,000 pages
        finally:
            winner.drop(conn)
            conn.commit()
        conn.execute(text(f'ALTER TABLE "{building}" RENAME TO "{built}"'))  # complete: now it may be switched in
        conn.commit()


def _key_ranges(conn: Connection, winner: Table, run_id: str, fetched_at: Any) -> list[tuple[str, str | None]]:
    """The new people of one fetch time cut in ``_LOAD_CHUNK``-sized key ranges ``(after, up to)``, the last open."""
    staged = staging_citizen.c
    keys = (
        select(staged.personal_id)
        .join(winner, winner.c.row_id == staged.row_id)
        .where(winner.c.state == _NEW, winner.c.fetched_at == fetched_at, staged.run_id == run_id)
        .order_by(staged.run_id, staged.personal_id)
    )
    ranges: list[tuple[str, str | None]] = []
    low = ""
    while True:
        high = conn.execute(keys.where(staged.personal_id > low).offset(_LOAD_CHUNK - 1).limit(1)).scalar()
        ranges.append((low, high))
        if high is None:
            return ranges
        low = high


def _switch_in(conn: Connection, run_id: str) -> int | None:
    """Put the run's load written aside in place of the empty ``citizen``; how many people it held, or None.

    None when there is no complete load of this run, or ``citizen`` is no longer empty (the load is dropped:
    the caller merges the usual way).
    """
    if conn.dialect.name != "sqlite":
        return None
    building, built = _aside_names(run_id)
    present = set(
        conn.execute(
            text("SELECT name FROM sqlite_master WHERE type = 'table' AND name IN (:a, :b)"),
            {"a": building, "b": built},
        ).scalars()
    )
    if built not in present or conn.execute(select(citizen.c.personal_id).limit(1)).first() is not None:
        _drop_tables(conn, *present)
        return None
    if not conn.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
        # pysqlite opens the transaction at the first DML statement; DDL before any would commit at once.
        conn.execute(update(citizen).where(literal(False)).values(personal_id=citizen.c.personal_id))
    citizen.drop(conn)  # empty, and its indexes with it
    conn.execute(text(f'ALTER TABLE "{built}" RENAME TO "{citizen.name}"'))
    for index in citizen.indexes:
        index.create(conn)
    return int(conn.execute(select(func.count()).select_from(citizen)).scalar_one())


def _aside_names(run_id: str) -> tuple[str, str]:
    """The tables of one run's load: while it is written, and once complete."""
    digest = hashlib.sha256(run_id.encode()).hexdigest()[:16]
    return f"lgsp_loading_citizen_{digest}", f"lgsp_loaded_citizen_{digest}"


def _citizen_like(name: str) -> Table:
    """A table with ``citizen``'s columns and key, without its indexes (their names are ``citizen``'s)."""
    return Table(name, MetaData(), *(column._copy() for column in citizen.columns))


def _drop_tables(conn: Connection, *names: str) -> None:
    for name in names:
        conn.execute(text(f'DROP TABLE IF EXISTS "{name}"'))


@prepared_by(load_aside)
def merge_citizens(conn: Connection, run_id: str, now: datetime, system: str = "national_population") -> MergeCounts:
    """Upsert the run's passing rows into ``citizen`` with per-field provenance.

    Per person the newest source version wins; older copies in the same run, copies
    identical to the golden record and copies older than it count as unchanged.

    Set-based: one statement picks each person's winner (and whether the hub knows
    the person, and by which content hash) into a scratch table, one INSERT ... SELECT
    adds the new people with their provenance built in SQL, and only winners whose
    content differs from a known golden record go through the field-by-field
    precedence merge in Python.
    """
    loaded = _switch_in(conn, run_id)
    if loaded is not None:
        return MergeCounts(published=loaded, unchanged=_passing(conn, run_id) - loaded)
    winner = _winners(conn, run_id)
    try:
        updated = _merge_known(conn, winner, run_id, now, system)
        inserted = _insert_new(conn, winner, run_id, now, system)
    finally:
        winner.drop(conn)
    return MergeCounts(published=inserted + updated, unchanged=_passing(conn, run_id) - inserted - updated)


def _passing(conn: Connection, run_id: str) -> int:
    failing = select(audit_finding.c.row_id).where(audit_finding.c.run_id == run_id)
    passing = select(func.count()).where(staging_citizen.c.run_id == run_id, staging_citizen.c.row_id.not_in(failing))
    return int(conn.execute(passing).scalar_one())


_NEW, _SAME, _DIFFERS = 0, 1, 2  # a winner's person: unknown, known with its content hash, known with another


def _winners(conn: Connection, run_id: str) -> Table:
    """A scratch table of the newest passing row per person, and how it compares to the golden record."""
    winner = Table(
        "lgsp_citizen_winner",
        MetaData(),
        Column("row_id", Integer, primary_key=True),
        Column("state", Integer, nullable=False),
        Column("fetched_at", DateTime, nullable=False),  # here once: staging keeps it after the long payload
        prefixes=["TEMPORARY"],
    )
    winner.create(conn)  # in the publish transaction: a rollback takes it away too
    staged = staging_citizen.c
    failing = select(audit_finding.c.row_id).where(audit_finding.c.run_id == run_id)
    ranked = (
        select(
            staged.row_id,
            staged.personal_id,
            staged.content_hash,
            staged.fetched_at,
            func.row_number()
            .over(
                partition_by=staged.personal_id,
                order_by=(staged.source_updated_at.desc().nulls_last(), staged.row_id.desc()),
            )
            .label("rank"),
        )
        .where(staged.run_id == run_id, staged.row_id.not_in(failing))
        .subquery()
    )
    state = case(
        (citizen.c.personal_id.is_(None), _NEW),
        (citizen.c.content_hash == ranked.c.content_hash, _SAME),
        else_=_DIFFERS,
    )
    conn.execute(
        insert(winner).from_select(
            ["row_id", "state", "fetched_at"],
            select(ranked.c.row_id, state, ranked.c.fetched_at)
            .select_from(ranked.outerjoin(citizen, citizen.c.personal_id == ranked.c.personal_id))
            .where(ranked.c.rank == 1),
        )
    )
    return winner


def _merge_known(conn: Connection, winner: Table, run_id: str, now: datetime, system: str) -> int:
    """Field-by-field precedence merge of the winners whose content differs from the golden record."""
    query = (
        select(staging_citizen)
        .join(winner, winner.c.row_id == staging_citizen.c.row_id)
        .where(winner.c.state == _DIFFERS)
        .order_by(staging_citizen.c.personal_id)
    )
    published = 0
    for winners in conn.execute(query, execution_options={"yield_per": _CHUNK}).mappings().partitions(_CHUNK):
        golden = _golden_rows(conn, [row["personal_id"] for row in winners])
        updates: list[dict[str, Any]] = []
        conflicts: list[dict[str, Any]] = []
        agreements: list[tuple[str, str]] = []
        for row in winners:
            current = golden[row["personal_id"]]
            staged_at = datetime.fromisoformat(row["source_updated_at"])
            if current["source_updated_at"] > staged_at:
                continue  # older than what the hub holds (a backfill): unchanged
            origin = Provenance(system, staged_at, _as_datetime(row["fetched_at"]), run_id)
            values, merge = _updated_golden(row, current, origin, now)
            updates.append(values)
            conflicts += merge.conflicts
            agreements += merge.agreements
        record_conflicts(conn, conflicts, agreements, now)
        execute_many(
            conn,
            update(citizen).where(citizen.c.personal_id == bindparam("key")),
            [{**values, "key": values.pop("personal_id")} for values in updates],
        )
        published += len(updates)
    return published


def _insert_new(conn: Connection, winner: Table, run_id: str, now: datetime, system: str) -> int:
    """INSERT ... SELECT the winners the hub does not know yet, provenance built in SQL; returns how many."""
    sqlite = conn.dialect.name == "sqlite"
    for fetched_at in _new_fetch_times(conn, winner):
        people = _new_people(winner, run_id, now, system, fetched_at, sqlite)
        conn.execute(insert(citizen).from_select(_COLUMNS, people))
    # Not the statements' rowcount: psycopg reports -1 for INSERT ... SELECT.
    return int(conn.execute(select(func.count()).where(winner.c.state == _NEW)).scalar_one())


def _new_fetch_times(conn: Connection, winner: Table) -> list[Any]:
    """One statement per fetch time (one per run, in practice): the stamp's constant parts are bound once."""
    return list(conn.execute(select(winner.c.fetched_at).where(winner.c.state == _NEW).distinct()).scalars())


_COLUMNS = ["personal_id", *CONTENT_FIELDS, "source_updated_at", "content_hash", "provenance"]
_COLUMNS += ["published_run_id", "published_at"]


def _new_people(winner: Table, run_id: str, now: datetime, system: str, fetched_at: Any, sqlite: bool) -> Select[Any]:
    """The golden rows (``_COLUMNS``) of the winners fetched at ``fetched_at`` the hub does not know yet."""
    staged = staging_citizen.c
    content: dict[str, ColumnElement[Any]] = {name: staged[name] for name in CONTENT_FIELDS}
    for name in ("father_id", "mother_id", "spouse_id", *_DATE_FIELDS):
        content[name] = func.nullif(staged[name], "")
    if not sqlite:  # SQLite keeps dates as the ISO text staging already holds
        for name in _DATE_FIELDS:
            content[name] = cast(content[name], Date)
    return (
        select(
            staged.personal_id,
            *content.values(),
            _golden_datetime(staged.source_updated_at, sqlite),
            staged.content_hash,
            _provenance(staged.source_updated_at, system, _as_datetime(fetched_at), run_id),
            literal(run_id, RUN_ID),
            literal(now, DateTime()),
        )
        .join(winner, winner.c.row_id == staged.row_id)
        .where(winner.c.state == _NEW, staged.run_id == run_id, winner.c.fetched_at == fetched_at)
        # In key order: the primary key's index grows at its end, pages filled, none split.
        .order_by(staged.run_id, staged.personal_id)
    )


def _golden_datetime(text: ColumnElement[Any], sqlite: bool) -> ColumnElement[Any]:
    """A staged ISO datetime (naive UTC, the mapper's normal form) as the golden DateTime column stores it."""
    if not sqlite:
        return cast(text, DateTime)
    # SQLAlchemy's SQLite DATETIME text: a space, and always six fraction digits.
    return func.replace(text, "T", " ") + case((func.length(text) == 19, ".000000"), else_="")


def _provenance(source_updated_at: ColumnElement[Any], system: str, fetched_at: datetime, run_id: str) -> Any:
    """The provenance document of a new person (every field this run's stamp), every field the same stamp."""
    stamp = Provenance(system, datetime(2000, 1, 1), fetched_at, run_id).as_json()
    stamp["source_updated_at"] = "\x00"  # the one per-row part, spliced in below
    head, tail = json.dumps(stamp, sort_keys=True, ensure_ascii=False).split("\\u0000")
    document: Any = literal("{", Text)
    for index, name in enumerate(_SORTED_FIELDS):
        separator = "" if index == 0 else ", "
        document = document + literal(f'{separator}"{name}": {head}', Text) + source_updated_at + literal(tail, Text)
    return document + literal("}", Text)


def _golden_rows(conn: Connection, personal_ids: Sequence[str]) -> dict[str, RowMapping]:
    rows = conn.execute(select(citizen).where(citizen.c.personal_id.in_(personal_ids))).mappings()
    return {row["personal_id"]: row for row in rows}


def _typed_content(row: RowMapping) -> dict[str, Any]:
    """The staged text of the content fields, as the golden table's types."""
    values: dict[str, Any] = {name: row[name] for name in CONTENT_FIELDS}
    for name in _DATE_FIELDS:
        values[name] = date.fromisoformat(values[name]) if values[name] else None
    for name in ("father_id", "mother_id", "spouse_id"):
        values[name] = values[name] or None
    return values


def _source_columns(row: RowMapping, origin: Provenance, now: datetime) -> dict[str, Any]:
    # citizen.source_updated_at and content_hash describe the population record last merged,
    # whatever other sources changed since: they decide "unchanged" on the next delivery.
    return {
        "source_updated_at": origin.source_updated_at,
        "content_hash": row["content_hash"],
        "published_run_id": origin.run_id,
        "published_at": now,
    }


def _updated_golden(
    row: RowMapping, current: RowMapping, origin: Provenance, now: datetime
) -> tuple[dict[str, Any], FieldMerge]:
    """A known person: fields change as schemas/precedence.yaml allows; disagreements become conflicts."""
    merge = merge_fields(current, _typed_content(row), origin, now)
    # Every content column, changed or not: executemany needs the same columns in every row.
    content = {name: merge.changes.get(name, current[name]) for name in CONTENT_FIELDS}
    values = {
        **content,
        "personal_id": row["personal_id"],
        "provenance": json.dumps(merge.provenance, sort_keys=True, ensure_ascii=False),
        **_source_columns(row, origin, now),
    }
    return values, merge


def _as_datetime(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
