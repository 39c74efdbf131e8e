"""The transactional outbox: a message is written in the same transaction as the change it reports.

States: pending -> sent -> acknowledged, or dead (a permanent error, or too many
attempts); ``replay`` puts a dead message back to pending after a fix. Order is kept
per aggregate (e.g. per dossier) by ``sequence``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select

from hub.store.tables import outbox

PENDING, SENT, ACKNOWLEDGED, DEAD = "pending", "sent", "acknowledged", "dead"


def enqueue(
    conn: Connection, *, topic: str, aggregate_id: str, payload: dict[str, Any], idempotency_key: str, now: datetime
) -> bool:
    """Add a message after the aggregate's last one, unless its idempotency key is already queued.

    Returns whether a message was added. Call it inside the transaction that makes the change.
    """
    known = conn.execute(select(outbox.c.message_id).where(outbox.c.idempotency_key == idempotency_key)).first()
    if known is not None:
        return False
    last = conn.execute(
        select(func.max(outbox.c.sequence)).where(outbox.c.topic == topic, outbox.c.aggregate_id == aggregate_id)
    ).scalar()
    conn.execute(
        insert(outbox).values(
            topic=topic, aggregate_id=aggregate_id, sequence=(last or 0) + 1,
            payload=json.dumps(payload, ensure_ascii=False, sort_keys=True), idempotency_key=idempotency_key,
            state=PENDING, attempts=0, next_attempt_at=now, created_at=now,
        )
    )
    return True
