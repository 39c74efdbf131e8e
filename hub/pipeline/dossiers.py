"""Publish one-stop dossiers: the latest state per dossier, every status it went through, and the portal's copy.

Runs inside the publish transaction. For each passing dossier (newest version in the
run), a version older than the one held, or the same content again, counts as
unchanged. Otherwise the ``dossier`` row is written, each history entry the hub does
not hold yet becomes a ``dossier_status`` row, and each of those status changes is
queued for the National Public Service Portal in the outbox, in history order. The
status rows and the messages commit with the cursor or not at all, so a status is
never lost and never queued twice (the outbox's idempotency key holds the sequence).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, insert, select, update

from connectors.one_stop import History, parse_history
from hub.pipeline.stages import MergeCounts
from hub.pipeline.winners import passing_winners
from hub.sharing.outbox import NewMessage, enqueue_many
from hub.store.tables import dossier, dossier_status, staging_dossier
from schemas.one_stop import TERMINAL, WIRE_CHANNELS

TOPIC = "portal.dossier_status"
Held = dict[str, list[tuple[int, str, datetime]]]  # dossier id -> (seq, status, at) in seq order


def merge_dossiers(conn: Connection, run_id: str, now: datetime) -> MergeCounts:
    """Write the run's passing dossiers, their new statuses and the portal messages; returns the counts."""
    published = unchanged = 0
    for winners, superseded in passing_winners(conn, staging_dossier, run_id, "dossier_id", "source_updated_at"):
        unchanged += superseded
        known = _known(conn, [row["dossier_id"] for row in winners])
        fresh = [row for row in winners if _is_news(row, known.get(row["dossier_id"]))]
        unchanged += len(winners) - len(fresh)
        held = _held_statuses(conn, [row["dossier_id"] for row in fresh])
        new_dossiers: list[dict[str, Any]] = []
        new_statuses: list[dict[str, Any]] = []
        messages: list[NewMessage] = []
        for row in fresh:
            values = _dossier_values(row, run_id, now)
            if row["dossier_id"] in known:
                conn.execute(update(dossier).where(dossier.c.dossier_id == row["dossier_id"]).values(**values))
            else:
                new_dossiers.append(values)
            statuses = _new_statuses(row, held.get(row["dossier_id"], []))
            messages += [
                NewMessage(
                    row["dossier_id"], _message(row, status), f"{row['dossier_id']}:{status['seq']}:{status['status']}"
                )
                for status in statuses
            ]
            new_statuses += statuses
        enqueue_many(conn, topic=TOPIC, messages=messages, now=now)
        for table, rows in ((dossier, new_dossiers), (dossier_status, new_statuses)):
            if rows:
                conn.execute(insert(table), rows)
        published += len(fresh)
    return MergeCounts(published=published, unchanged=unchanged)


def _is_news(row: RowMapping, known: tuple[str, datetime] | None) -> bool:
    """Not the content already held, and not older than it (pages may bring an older version late)."""
    if known is None:
        return True
    digest, updated_at = known
    return row["content_hash"] != digest and datetime.fromisoformat(row["source_updated_at"]) >= updated_at


def _new_statuses(row: RowMapping, held: Sequence[tuple[int, str, datetime]]) -> list[dict[str, Any]]:
    """The history entries not held yet, in history order, numbered after the held ones."""
    seen = {(status, at) for _, status, at in held}
    seq = max((number for number, _, _ in held), default=0)
    fresh = [(status, at) for status, at in parse_history(row["history"]) if (status, at) not in seen]
    return [
        {"dossier_id": row["dossier_id"], "seq": seq + offset, "status": status, "at": at}
        for offset, (status, at) in enumerate(fresh, start=1)
    ]


def _message(row: RowMapping, status: dict[str, Any]) -> dict[str, str]:
    """The portal's status update, in the portal's vocabulary."""
    return {
        "MaHoSo": row["dossier_id"],
        "TrangThai": status["status"],
        "ThoiDiem": status["at"].isoformat() + "Z",  # the store's naive UTC, said so
        "MaThuTuc": row["procedure_code"],
        # The unit processing the dossier now: the feed does not say who held each earlier status.
        "MaDonViXuLy": row["processing_unit"],
        "KenhNop": WIRE_CHANNELS[row["channel"]],
    }


def _dossier_values(row: RowMapping, run_id: str, now: datetime) -> dict[str, Any]:
    history: History = parse_history(row["history"])
    status, status_at = history[-1]  # the suite checked it is (TrangThai, NgayCapNhat)
    return {
        "dossier_id": row["dossier_id"],
        "procedure_code": row["procedure_code"],
        "applicant_id": row["personal_id"],
        "channel": row["channel"],
        "received_at": datetime.fromisoformat(row["received_at"]),
        "due_at": datetime.fromisoformat(row["due_at"]),
        "status": status,
        "status_at": status_at,
        "completed_at": status_at if status in TERMINAL else None,
        "receiving_unit": row["receiving_unit"],
        "processing_unit": row["processing_unit"],
        "source_updated_at": datetime.fromisoformat(row["source_updated_at"]),
        "content_hash": row["content_hash"],
        "run_id": run_id,
        "published_at": now,
    }


def _known(conn: Connection, dossier_ids: list[str]) -> dict[str, tuple[str, datetime]]:
    """Dossier id -> (content hash, source update time) of the dossiers already held."""
    query = select(dossier.c.dossier_id, dossier.c.content_hash, dossier.c.source_updated_at).where(
        dossier.c.dossier_id.in_(dossier_ids)
    )
    return {dossier_id: (digest, updated_at) for dossier_id, digest, updated_at in conn.execute(query)}


def _held_statuses(conn: Connection, dossier_ids: list[str]) -> Held:
    held: Held = {}
    if not dossier_ids:
        return held
    query = (
        select(dossier_status.c.dossier_id, dossier_status.c.seq, dossier_status.c.status, dossier_status.c.at)
        .where(dossier_status.c.dossier_id.in_(dossier_ids))
        .order_by(dossier_status.c.dossier_id, dossier_status.c.seq)
    )
    for dossier_id, seq, status, at in conn.execute(query):
        held.setdefault(dossier_id, []).append((seq, status, at))
    return held
