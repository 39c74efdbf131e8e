"""Bookkeeping of sync runs and stream cursors: what ran, what it counted, where to resume."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table, delete, insert, select, update

from hub.store.tables import audit_finding, sync_run, sync_state
from lgsp.errors import StoreError

# A run's status is the last stage it completed (its ``error`` says why the next one failed);
# "superseded" marks a run that a newer one replaced before it published.
STARTED, EXTRACTED, AUDITED, PUBLISHED, SUPERSEDED = "started", "extracted", "audited", "published", "superseded"
# Before any register began: civil-status events of people born in the 1920s were recorded then.
BEGINNING_OF_TIME = "1800-01-01T00:00:00"


@dataclass(frozen=True)
class RunSummary:
    """What one run did; read = published + quarantined + unchanged once it has published."""

    run_id: str
    stream: str
    status: str
    read: int = 0
    published: int = 0
    quarantined: int = 0
    unchanged: int = 0
    pages: int = 0
    rules_failed: dict[str, int] = field(default_factory=dict)
    cursor_from: str | None = None
    cursor_to: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The figures a person or a script reads (``lgsp run --json``)."""
        return {
            "read": self.read,
            "published": self.published,
            "quarantined": self.quarantined,
            "unchanged": self.unchanged,
            "rules_failed": dict(self.rules_failed),
        }


def utcnow() -> datetime:
    """Naive UTC now: the store keeps naive UTC everywhere."""
    return datetime.now(UTC).replace(tzinfo=None)


def load_run(conn: Connection, run_id: str) -> RunSummary | None:
    """The run's row as a summary, or None if it never started."""
    row = conn.execute(select(sync_run).where(sync_run.c.run_id == run_id)).mappings().first()
    if row is None:
        return None
    seconds = {
        stage: float(row[f"{stage}_seconds"])
        for stage in ("extract", "audit", "publish")
        if row[f"{stage}_seconds"] is not None
    }
    return RunSummary(
        run_id=row["run_id"],
        stream=row["stream"],
        status=row["status"],
        read=row["read"],
        published=row["published"],
        quarantined=row["quarantined"],
        unchanged=row["unchanged"],
        pages=row["pages"],
        rules_failed=json.loads(row["rules_failed"] or "{}"),
        cursor_from=row["cursor_from"],
        cursor_to=row["cursor_to"],
        seconds=seconds,
    )


def require_run(conn: Connection, run_id: str, *allowed: str) -> RunSummary:
    """The run, which must be in one of the ``allowed`` states.

    Raises:
        StoreError: the run is unknown or in another state; the message says what to run.
    """
    run = load_run(conn, run_id)
    if run is None:
        raise StoreError(f"run {run_id} has not been extracted; run its extract step first")
    if run.status not in allowed:
        raise StoreError(
            f"run {run_id} is '{run.status}', expected {' or '.join(allowed)}; "
            "run the stages in order: extract, audit, publish"
        )
    return run


def start_run(conn: Connection, run_id: str, stream: str, staging: Table) -> str:
    """(Re)start a run: clear what an earlier attempt staged, retire older unfinished runs.

    Returns the cursor the run reads from.
    """
    conn.execute(delete(staging).where(staging.c.run_id == run_id))
    conn.execute(delete(audit_finding).where(audit_finding.c.run_id == run_id))
    _retire_unfinished(conn, stream, run_id, staging)
    cursor = read_cursor(conn, stream)
    values = {
        "stream": stream,
        "status": STARTED,
        "started_at": utcnow(),
        "finished_at": None,
        "cursor_from": cursor,
        "cursor_to": None,
        "pages": 0,
        "read": 0,
        "published": 0,
        "quarantined": 0,
        "unchanged": 0,
        "rules_failed": None,
        "error": None,
        "extract_seconds": None,
        "audit_seconds": None,
        "publish_seconds": None,
    }
    updated = conn.execute(update(sync_run).where(sync_run.c.run_id == run_id).values(**values))
    if updated.rowcount == 0:
        conn.execute(insert(sync_run).values(run_id=run_id, **values))
    return cursor


def _retire_unfinished(conn: Connection, stream: str, keep: str, staging: Table) -> None:
    # A newer run re-reads from the same cursor, so an older run's staging is dead weight.
    stale = select(sync_run.c.run_id).where(
        sync_run.c.stream == stream,
        sync_run.c.run_id != keep,
        sync_run.c.status.in_((STARTED, EXTRACTED, AUDITED)),
    )
    stale_ids = list(conn.execute(stale).scalars())
    if not stale_ids:
        return
    conn.execute(delete(staging).where(staging.c.run_id.in_(stale_ids)))
    conn.execute(delete(audit_finding).where(audit_finding.c.run_id.in_(stale_ids)))
    conn.execute(
        update(sync_run).where(sync_run.c.run_id.in_(stale_ids)).values(status=SUPERSEDED, finished_at=utcnow())
    )


def read_cursor(conn: Connection, stream: str) -> str:
    """Where the stream resumes: the newest source update time it has published."""
    cursor = conn.execute(select(sync_state.c.cursor).where(sync_state.c.stream == stream)).scalar()
    return cursor or BEGINNING_OF_TIME


def advance_cursor(conn: Connection, stream: str, run_id: str, candidate: str | None) -> str:
    """Move the stream's cursor forward to ``candidate`` (never backwards); returns the cursor."""
    current = read_cursor(conn, stream)
    if candidate is None or candidate <= current:
        return current
    values = {"cursor": candidate, "run_id": run_id, "updated_at": utcnow()}
    updated = conn.execute(update(sync_state).where(sync_state.c.stream == stream).values(**values))
    if updated.rowcount == 0:
        conn.execute(insert(sync_state).values(stream=stream, **values))
    return candidate


def mark(conn: Connection, run_id: str, **values: Any) -> None:
    """Update the run's row."""
    if "rules_failed" in values and isinstance(values["rules_failed"], dict):
        values["rules_failed"] = json.dumps(values["rules_failed"], sort_keys=True)
    conn.execute(update(sync_run).where(sync_run.c.run_id == run_id).values(**values))


def mark_failed(conn: Connection, run_id: str, error: str) -> None:
    """Record why the next stage failed; the status keeps the last stage that completed."""
    conn.execute(
        update(sync_run).where(sync_run.c.run_id == run_id, sync_run.c.status != PUBLISHED).values(error=error[:2000])
    )
