"""Quarantine: failing rows leave staging with the rules they broke and their raw payload."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, bindparam, insert, null, select, update

from hub.store.tables import audit_finding, quarantine

_CHUNK = 1000


def quarantine_failing(
    conn: Connection, staging: Table, run_id: str, stream: str, now: datetime, person: str | None = "personal_id"
) -> int:
    """Copy every row of the run that broke a rule into quarantine; returns how many.

    ``person`` is the staging column naming whose record it is (None: the dataset names nobody).

    A payload already quarantined (an earlier run read the same record) is not
    copied twice: its row notes the newest run that saw it.
    """
    rules_by_row: dict[int, list[str]] = {}
    for row_id, rule in conn.execute(
        select(audit_finding.c.row_id, audit_finding.c.rule).where(audit_finding.c.run_id == run_id)
    ):
        rules_by_row.setdefault(row_id, []).append(rule)
    count = 0
    row_ids = sorted(rules_by_row)
    for start in range(0, len(row_ids), _CHUNK):
        chunk = row_ids[start : start + _CHUNK]
        staged = conn.execute(
            select(
                staging.c.row_id,
                (staging.c[person] if person is not None else null()).label("personal_id"),
                staging.c.payload,
            ).where(staging.c.row_id.in_(chunk))
        ).all()
        _upsert(conn, stream, run_id, staged, rules_by_row, now)
        count += len(staged)
    return count


def _upsert(
    conn: Connection, stream: str, run_id: str, staged: Sequence[Any], rules_by_row: dict[int, list[str]], now: datetime
) -> None:
    """One chunk, set-wise: one lookup, then one executemany each for payloads seen before and new ones."""
    hashes = {row.row_id: hashlib.sha256(row.payload.encode()).hexdigest() for row in staged}
    seen = set(
        conn.execute(
            select(quarantine.c.payload_hash).where(
                quarantine.c.stream == stream, quarantine.c.payload_hash.in_(set(hashes.values()))
            )
        ).scalars()
    )
    updates: dict[str, dict[str, Any]] = {}
    inserts: dict[str, dict[str, Any]] = {}
    for row in staged:
        payload_hash, rules = hashes[row.row_id], ",".join(sorted(rules_by_row[row.row_id]))
        if payload_hash in seen:
            updates[payload_hash] = {"b_hash": payload_hash, "b_run": run_id, "b_rules": rules}
        else:  # the same payload twice in one run is one quarantine row, as before
            inserts.setdefault(
                payload_hash,
                {
                    "stream": stream,
                    "run_id": run_id,
                    "personal_id": row.personal_id,
                    "rules": rules,
                    "payload": row.payload,
                    "payload_hash": payload_hash,
                    "quarantined_at": now,
                    "last_seen_run_id": run_id,
                    "status": "open",
                },
            )
    if updates:
        conn.execute(
            update(quarantine)
            .where(quarantine.c.stream == stream, quarantine.c.payload_hash == bindparam("b_hash"))
            .values(last_seen_run_id=bindparam("b_run"), rules=bindparam("b_rules")),
            list(updates.values()),
        )
    if inserts:
        conn.execute(insert(quarantine), list(inserts.values()))
