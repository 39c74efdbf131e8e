"""Time the pushes: queuing inside a population publish, then delivery to the mock agencies' receivers,
against a bare client posting the same batches to the same mock in the same run.

    .venv/bin/python benchmarks/agency_push.py                   # 20,000 residents, SQLite
    .venv/bin/python benchmarks/agency_push.py --postgres        # a throwaway PostgreSQL cluster
    .venv/bin/python benchmarks/agency_push.py --counts 20000,50000

With config/sharing in force, two agencies (BHXH, TU-PHAP) subscribe to citizen changes:
a first load queues one message per published citizen per agency in the publish
transaction (the default demo: 2 x 19,600). The figures: publish time with queuing,
queuing alone (re-run on an empty outbox), a re-queue that finds everything already
queued, then the first push: every message delivered by ``deliver_pushes`` (batches of
LGSP_PUSH_BATCH_SIZE, signed per Standard Webhooks, answered per item, each settled in
the outbox and the ledger), one lane, in messages per second; and the reference: one
bare httpx client posting the same batches (the same bodies, signed with the
``standardwebhooks`` package) to the same mock, its inboxes emptied first, reading the
answers and nothing else, once before lgsp's delivery and once after (the reference counts
both: load on a shared machine drifts). ``ratio`` is lgsp / bare. The mock runs in its own process.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import main, peak_rss_mib, sync_citizens

HEADER = (
    "residents",
    "messages",
    "batch",
    "publish_s",
    "queue_s",
    "requeue_noop_s",
    "deliver_s",
    "messages_per_s",
    "bare_messages_per_s",
    "ratio",
    "peak_rss_mib",
)
SECRET = "demo-only-push-secret"


def bare_client(base_url: str, batches: dict[str, list[list[tuple[str, Any]]]]) -> tuple[int, float]:
    """Post every batch signed, one client, as a receiver's simplest sender would: (acknowledged, seconds)."""
    import httpx
    from standardwebhooks.webhooks import Webhook

    hook, acknowledged = Webhook(SECRET.encode()), 0
    with httpx.Client(base_url=base_url, timeout=30) as client:
        client.delete("/agency/v1/_admin/state").raise_for_status()
        started = time.perf_counter()
        for code, chunks in batches.items():
            for n, items in enumerate(chunks):
                body = json.dumps({"items": [{"id": key, "payload": payload} for key, payload in items]}).encode()
                msg_id, at = f"bare-{code}-{n}", datetime.now(UTC)
                headers = {
                    "webhook-id": msg_id,
                    "webhook-timestamp": str(int(at.timestamp())),
                    "webhook-signature": hook.sign(msg_id, at, body),
                    "content-type": "application/json",
                }
                answer = client.post(f"/agency/v1/{code}/inbox", content=body, headers=headers)
                answer.raise_for_status()
                acknowledged += sum(item["status"] in (200, 202) for item in answer.json()["results"])
        return acknowledged, time.perf_counter() - started


def _empty_inboxes(base_url: str) -> None:
    import httpx

    httpx.delete(f"{base_url}/agency/v1/_admin/state", timeout=30).raise_for_status()


def measure(count: int, seed: int, database_url: str | None) -> dict[str, Any]:
    """One population sync with subscribers, then delivery of its pushes, then the bare client; figures."""
    from sqlalchemy import delete, func, select

    from hub.local.mock_process import mocks_running
    from hub.pipeline import runs
    from hub.settings import load_settings
    from hub.sharing.delivery import deliver_pushes
    from hub.sharing.push import queue_changes
    from hub.sharing.registry import load_configured
    from hub.store.engine import open_store
    from hub.store.tables import outbox

    with tempfile.TemporaryDirectory() as home, mocks_running(citizens=count, seed=seed, defect_rate=0.02) as mocks:
        url = database_url or f"sqlite:///{home}/hub.sqlite"
        settings = load_settings(home=Path(home), database_url=url)
        engine = open_store(url)
        load_configured(engine, settings)
        summary = sync_citizens(f"bench-{count}", settings, engine, mocks.base_url)
        with engine.connect() as conn:
            messages = conn.execute(select(func.count()).select_from(outbox)).scalar_one()
        with engine.begin() as conn:  # queuing alone, as the publish did it, into an empty outbox
            conn.execute(delete(outbox))
            started = time.perf_counter()
            queue_changes(conn, "citizen", f"bench-{count}", runs.utcnow())
            queue_seconds = time.perf_counter() - started
        with engine.begin() as conn:
            started = time.perf_counter()
            queue_changes(conn, "citizen", f"bench-{count}", runs.utcnow())
            noop_seconds = time.perf_counter() - started
        origin = mocks.base_url.split("//", 1)[1]
        for code in ("BHXH", "TU-PHAP"):
            name = "AIRFLOW_CONN_AGENCY_PUSH_" + code.replace("-", "_")
            os.environ[name] = f"http://:{SECRET}@{origin}/agency/v1/{code}/inbox"
        # The same batches lgsp will send, bodies as stored (payload per push), in message order.
        batches: dict[str, list[list[tuple[str, Any]]]] = {}
        with engine.connect() as conn:
            for code in ("BHXH", "TU-PHAP"):
                rows = conn.execute(
                    select(outbox.c.idempotency_key, outbox.c.payload)
                    .where(outbox.c.topic == f"push.{code}")
                    .order_by(outbox.c.message_id)
                ).all()
                items = [(key, json.loads(payload)) for key, payload in rows]
                size = settings.push_batch_size
                batches[code] = [items[i : i + size] for i in range(0, len(items), size)]
        # The reference runs before and after lgsp and counts both: a shared machine's load drifts
        # over a run, and a reference taken on one side only would ride that drift.
        before = bare_client(mocks.base_url, batches)
        _empty_inboxes(mocks.base_url)
        started = time.perf_counter()
        delivered = deliver_pushes(engine, settings)
        deliver_seconds = time.perf_counter() - started
        engine.dispose()
        after = bare_client(mocks.base_url, batches)
    acknowledged = sum(result.acknowledged for result in delivered.values())
    bare_acknowledged, bare_seconds = before[0] + after[0], before[1] + after[1]
    rate, bare_rate = acknowledged / deliver_seconds, bare_acknowledged / bare_seconds
    return {
        "residents": count,
        "published": summary.published,
        "messages": messages,
        "batch": settings.push_batch_size,
        "publish_s": summary.seconds.get("publish"),
        "queue_s": round(queue_seconds, 2),
        "requeue_noop_s": round(noop_seconds, 2),
        "deliver_s": round(deliver_seconds, 2),
        "acknowledged": acknowledged,
        "messages_per_s": round(rate),
        "bare_messages_per_s": round(bare_rate),
        "bare_before_after_per_s": [round(n / seconds) for n, seconds in (before, after)],
        "ratio": round(rate / bare_rate, 2),
        "peak_rss_mib": peak_rss_mib(),
    }


if __name__ == "__main__":
    main(__file__, measure, default_counts="20000", header=HEADER, doc=__doc__)
