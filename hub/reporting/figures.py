"""The figures a province reports on its public services, computed from the store.

As in provincial digital-transformation plans: the share of dossiers submitted
online, the share processed on time, the share synced to the national portal, and
how long a status change takes to be acknowledged by the portal.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, case, func, select

from hub.store.tables import dossier, dossier_status, outbox

PORTAL_TOPIC = "portal.dossier_status"
DECIDED = ("CoKetQua", "DaTraKetQua", "TuChoi")  # a result is ready, or the dossier was refused


def dossier_figures(engine: Engine) -> dict[str, Any]:
    """Shares as fractions (0..1, None when there is nothing to divide) and delays in seconds."""
    with engine.connect() as conn:
        total, online = conn.execute(
            select(func.count(), func.sum(case((dossier.c.channel == "online", 1), else_=0))).select_from(dossier)
        ).one()
        # Processed on time: the result (or the refusal) was ready by the due date; handing
        # it to the applicant later is another step.
        decided = (
            select(dossier_status.c.dossier_id, func.min(dossier_status.c.at).label("decided_at"))
            .where(dossier_status.c.status.in_(DECIDED))
            .group_by(dossier_status.c.dossier_id)
            .subquery()
        )
        completed, on_time = conn.execute(
            select(func.count(), func.sum(case((decided.c.decided_at <= dossier.c.due_at, 1), else_=0))).select_from(
                decided.join(dossier, dossier.c.dossier_id == decided.c.dossier_id)
            )
        ).one()
        unsynced = select(outbox.c.aggregate_id).where(outbox.c.topic == PORTAL_TOPIC, outbox.c.state != "acknowledged")
        with_messages = select(outbox.c.aggregate_id).where(outbox.c.topic == PORTAL_TOPIC).distinct().subquery()
        reported = conn.execute(select(func.count()).select_from(with_messages)).scalar_one()
        synced = conn.execute(
            select(func.count()).select_from(with_messages).where(with_messages.c.aggregate_id.not_in(unsynced))
        ).scalar_one()
        delays = sorted(
            (acked - created).total_seconds()
            for created, acked in conn.execute(
                select(outbox.c.created_at, outbox.c.acknowledged_at).where(
                    outbox.c.topic == PORTAL_TOPIC, outbox.c.acknowledged_at.is_not(None)
                )
            )
        )
    return {
        "dossiers": int(total or 0),
        "online_share": _share(online, total),
        "on_time_share": _share(on_time, completed),
        "portal_synced_share": _share(synced, reported),
        "portal_ack_delay_seconds": {"median": _quantile(delays, 0.5), "p95": _quantile(delays, 0.95)},
    }


def _share(part: Any, whole: Any) -> float | None:
    return round(int(part or 0) / int(whole), 4) if whole else None


def _quantile(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)
