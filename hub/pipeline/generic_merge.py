"""The default merge of a declared dataset: the newest passing version of each key, upserted with provenance.

Runs inside the publish transaction (hub.pipeline.stages.publish). The run's passing
rows (no audit finding, no contract error) stream out of staging ordered by key,
then version (the cursor field, else arrival), so one pass keeps one winner per key
and memory holds one chunk. Each chunk's golden rows are read with one query and
written with one executemany per kind: a new key is inserted, a changed one updated,
and a winner whose content hash the golden row already has (or older than it: a
backfill) is unchanged, as are the earlier copies of a key within the run. So
read = published + quarantined + unchanged.

Provenance is per field: a field the run set or changed gets the run's stamp
{system, stream, source_updated_at, fetched_at, run_id}; a field it left as it was
keeps the stamp of the run that set it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Connection, RowMapping, Table, bindparam, func, insert, select, update

from hub.pipeline.stages import MergeCounts
from hub.pipeline.winners import newest_per_key
from hub.store.declared import dataset_table, staging_table
from hub.store.tables import audit_finding
from hub.systems.loader import DeclaredStream
from lgsp.errors import StoreError

CHUNK = 1000


def _boolean(text: str) -> bool:
    if text not in ("true", "false"):
        raise ValueError("not a staged boolean")
    return text == "true"


# Staged text normal forms (written by the connector's mapper) -> the golden column's Python value.
_FROM_TEXT: dict[str, Callable[[str], Any]] = {
    "integer": int,
    "decimal": Decimal,
    "date": date.fromisoformat,
    "datetime": datetime.fromisoformat,
    "boolean": _boolean,
}


@dataclass(frozen=True)
class _Plan:
    """What the merge needs of one declared stream."""

    system: str
    stream: str
    key: str
    cursor: str | None
    types: dict[str, str]  # field -> declared type, in declaration order

    @classmethod
    def of(cls, declared: DeclaredStream) -> _Plan:
        spec = declared.stream
        types = {name: str(field.type) for name, field in spec.fields.items()}
        cursor = spec.cursor.field if spec.cursor is not None else None
        return cls(declared.system.system, declared.name, spec.key, cursor, types)

    def typed(self, row: RowMapping, dataset: str) -> dict[str, Any]:
        """The staged text of every field as the golden column's value.

        Raises:
            StoreError: a staged value is not in its type's normal form (the mapper let it through).
        """
        values: dict[str, Any] = {}
        for name, kind in self.types.items():
            text = row[name]
            convert = _FROM_TEXT.get(kind)
            if convert is None or text is None:
                values[name] = text
                continue
            try:
                values[name] = convert(text) if text != "" else None
            except (ValueError, InvalidOperation):
                # The value itself is not quoted: it may be personal data.
                raise StoreError(
                    f"publish of {dataset}: a passing row's {name} is not a staged {kind}; the connector's "
                    "mapper must reject such a record (contract_error). Nothing was committed; report this bug"
                ) from None
        return values

    def stamp(self, row: RowMapping, run_id: str) -> dict[str, str]:
        """Where this row's values came from, as each field's provenance records it."""
        fetched_at = row["fetched_at"]
        fetched = fetched_at.isoformat() if isinstance(fetched_at, datetime) else str(fetched_at)
        source_updated_at = (row[self.cursor] if self.cursor is not None else None) or fetched
        return {
            "system": self.system,
            "stream": self.stream,
            "source_updated_at": source_updated_at,
            "fetched_at": fetched,
            "run_id": run_id,
        }

    def older(self, values: dict[str, Any], held: RowMapping) -> bool:
        """The staged version is older than the golden one (a backfill re-read it): it must not win."""
        if self.cursor is None:
            return False
        staged, golden = values[self.cursor], held[self.cursor]
        return staged is not None and golden is not None and bool(staged < golden)


def merge_declared(conn: Connection, run_id: str, now: datetime, stream: DeclaredStream) -> MergeCounts:
    """Upsert the run's passing rows of ``stream`` into its dataset's golden table; returns the counts.

    Raises:
        StoreError: a passing row has no key or an unreadable staged value (a suite or mapper bug).
    """
    plan = _Plan.of(stream)
    staging, golden = staging_table(stream.stream), dataset_table(stream.stream)
    published = unchanged = 0
    for winners, superseded in _winners(conn, staging, run_id, plan):
        unchanged += superseded
        changed = _write(conn, golden, plan, winners, run_id, now)
        published += changed
        unchanged += len(winners) - changed
    return MergeCounts(published=published, unchanged=unchanged)


def _winners(conn: Connection, staging: Table, run_id: str, plan: _Plan) -> Iterator[tuple[list[RowMapping], int]]:
    """Chunks of (the newest passing row per key, how many older copies of those keys the run also held)."""
    failing = select(audit_finding.c.row_id).where(audit_finding.c.run_id == run_id)
    # NULL sorts first on SQLite and last on PostgreSQL: a missing version is the oldest on both.
    version = func.coalesce(staging.c[plan.cursor], "") if plan.cursor is not None else staging.c.row_id
    query = (
        select(staging.c.row_id, staging.c.fetched_at, staging.c.content_hash, *(staging.c[n] for n in plan.types))
        .where(staging.c.run_id == run_id, staging.c.contract_error.is_(None), staging.c.row_id.not_in(failing))
        .order_by(staging.c[plan.key], version, staging.c.row_id)
    )
    rows = conn.execute(query, execution_options={"yield_per": CHUNK}).mappings()
    return newest_per_key(_keyed(rows, plan.key, staging.name), plan.key)


def _keyed(rows: Iterable[RowMapping], key: str, staging: str) -> Iterator[RowMapping]:
    """``rows``, refusing one without its key: the suite's ``<key>.not_empty`` should have failed it."""
    for row in rows:
        if row[key] is None or row[key] == "":
            raise StoreError(
                f"publish of {staging}: a row without its key {key} passed the audit; the suite must "
                f"hold {key}.not_empty. Nothing was committed; report this bug"
            )
        yield row


def _write(
    conn: Connection, golden: Table, plan: _Plan, winners: Sequence[RowMapping], run_id: str, now: datetime
) -> int:
    """Insert the chunk's new keys, update its changed ones; returns how many were written."""
    typed = [plan.typed(row, golden.name) for row in winners]
    key = golden.c[plan.key]
    current = {
        held[plan.key]: held
        for held in conn.execute(select(golden).where(key.in_([values[plan.key] for values in typed]))).mappings()
    }
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for row, values in zip(winners, typed, strict=True):
        held = current.get(values[plan.key])
        if held is not None and (held["content_hash"] == row["content_hash"] or plan.older(values, held)):
            continue
        stamp = plan.stamp(row, run_id)
        written = {"content_hash": row["content_hash"], "published_run_id": run_id, "published_at": now}
        if held is None:
            # Every field has the same origin: encode the stamp once.
            stamp_json = json.dumps(stamp, sort_keys=True, ensure_ascii=False)
            provenance = "{" + ", ".join(f'"{name}": {stamp_json}' for name in sorted(plan.types)) + "}"
            inserts.append({**values, **written, "provenance": provenance})
        else:
            fields: dict[str, Any] = json.loads(held["provenance"])
            for name in plan.types:
                if name not in fields or held[name] != values[name]:
                    fields[name] = stamp
            content = {name: value for name, value in values.items() if name != plan.key}
            provenance = json.dumps(fields, sort_keys=True, ensure_ascii=False)
            updates.append({**content, **written, "provenance": provenance, "b_key": values[plan.key]})
    if inserts:
        conn.execute(insert(golden), inserts)
    if updates:
        conn.execute(update(golden).where(key == bindparam("b_key")), updates)
    return len(inserts) + len(updates)
