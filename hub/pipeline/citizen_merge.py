"""Publish citizens: merge a run's passing rows into the golden ``citizen`` table.

Runs inside the publish transaction (hub.pipeline.stages.publish), so the golden
records, the quarantine and the stream's cursor move together or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, bindparam, insert, select, update

from hub.pipeline.golden import FieldMerge, Provenance, merge_fields, record_conflicts
from hub.pipeline.stages import MergeCounts
from hub.pipeline.winners import passing_winners
from hub.store.tables import citizen, staging_citizen
from schemas.citizen import CONTENT_FIELDS

_CHUNK = 1000
_DATE_FIELDS = ("birth_date", "death_date")
_SORTED_FIELDS = sorted(CONTENT_FIELDS)


def merge_citizens(conn: Connection, run_id: str, now: datetime, system: str = "national_population") -> MergeCounts:
    """Upsert the run's passing rows into ``citizen`` with per-field provenance.

    Per person the newest source version wins; older copies in the same run, copies
    identical to the golden record and copies older than it count as unchanged.
    """
    published = unchanged = 0
    for chunk in passing_winners(conn, staging_citizen, run_id, "personal_id", "source_updated_at"):
        winners, superseded = chunk
        unchanged += superseded
        golden = _golden_rows(conn, [row["personal_id"] for row in winners])
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        conflicts: list[dict[str, Any]] = []
        agreements: list[tuple[str, str]] = []
        for row in winners:
            current = golden.get(row["personal_id"])
            staged_at = datetime.fromisoformat(row["source_updated_at"])
            if current is not None and (
                current["content_hash"] == row["content_hash"] or current["source_updated_at"] > staged_at
            ):
                unchanged += 1
                continue
            origin = Provenance(system, staged_at, _as_datetime(row["fetched_at"]), run_id)
            if current is None:
                inserts.append(_new_golden(row, origin, now))
            else:
                values, merge = _updated_golden(row, current, origin, now)
                updates.append(values)
                conflicts += merge.conflicts
                agreements += merge.agreements
        record_conflicts(conn, conflicts, agreements, now)
        if inserts:
            conn.execute(insert(citizen), inserts)
        if updates:
            conn.execute(
                update(citizen).where(citizen.c.personal_id == bindparam("key")),
                [{**values, "key": values.pop("personal_id")} for values in updates],
            )
        published += len(inserts) + len(updates)
    return MergeCounts(published=published, unchanged=unchanged)


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


def _new_golden(row: RowMapping, origin: Provenance, now: datetime) -> dict[str, Any]:
    """A new person: every field takes this source's value and stamp."""
    # Every field has the same origin, so encode the stamp once (a third of publish's time).
    stamp_json = json.dumps(origin.as_json(), sort_keys=True, ensure_ascii=False)
    provenance_json = "{" + ", ".join(f'"{name}": {stamp_json}' for name in _SORTED_FIELDS) + "}"
    return {
        **_typed_content(row),
        "personal_id": row["personal_id"],
        "provenance": provenance_json,
        **_source_columns(row, origin, now),
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
