"""Publish citizens: merge a run's passing rows into the golden ``citizen`` table.

Runs inside the publish transaction (hub.pipeline.stages.publish), so the golden
records, the quarantine and the stream's cursor move together or not at all.
"""

from __future__ import annotations

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
    Integer,
    MetaData,
    RowMapping,
    Table,
    Text,
    bindparam,
    case,
    cast,
    func,
    insert,
    literal,
    select,
    update,
)

from hub.pipeline.golden import FieldMerge, Provenance, merge_fields, record_conflicts
from hub.pipeline.stages import MergeCounts
from hub.store.bulk import execute_many
from hub.store.tables import RUN_ID, audit_finding, citizen, staging_citizen
from schemas.citizen import CONTENT_FIELDS

_CHUNK = 1000
_DATE_FIELDS = ("birth_date", "death_date")
_SORTED_FIELDS = sorted(CONTENT_FIELDS)


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
    winner = _winners(conn, run_id)
    try:
        updated = _merge_known(conn, winner, run_id, now, system)
        inserted = _insert_new(conn, winner, run_id, now, system)
        failing = select(audit_finding.c.row_id).where(audit_finding.c.run_id == run_id)
        passing = conn.execute(
            select(func.count()).where(staging_citizen.c.run_id == run_id, staging_citizen.c.row_id.not_in(failing))
        ).scalar_one()
    finally:
        winner.drop(conn)
    return MergeCounts(published=inserted + updated, unchanged=passing - inserted - updated)


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
    staged = staging_citizen.c
    sqlite = conn.dialect.name == "sqlite"
    content: dict[str, ColumnElement[Any]] = {name: staged[name] for name in CONTENT_FIELDS}
    for name in ("father_id", "mother_id", "spouse_id", *_DATE_FIELDS):
        content[name] = func.nullif(staged[name], "")
    if not sqlite:  # SQLite keeps dates as the ISO text staging already holds
        for name in _DATE_FIELDS:
            content[name] = cast(content[name], Date)
    columns = ["personal_id", *CONTENT_FIELDS, "source_updated_at", "content_hash", "provenance"]
    columns += ["published_run_id", "published_at"]
    # One statement per fetch time (one per run, in practice): the stamp's constant parts are bound once.
    for fetched_at in conn.execute(select(winner.c.fetched_at).where(winner.c.state == _NEW).distinct()).scalars():
        query = (
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
        conn.execute(insert(citizen).from_select(columns, query))
    # Not the statements' rowcount: psycopg reports -1 for INSERT ... SELECT.
    return conn.execute(select(func.count()).where(winner.c.state == _NEW)).scalar_one()


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
