"""Time the pushes: queuing inside a population publish, then delivery to the mock agencies' receivers.

    .venv/bin/python benchmarks/agency_push.py                   # 20,000 residents, SQLite
    .venv/bin/python benchmarks/agency_push.py --postgres        # a throwaway PostgreSQL cluster
    .venv/bin/python benchmarks/agency_push.py --counts 20000,50000

With config/sharing in force, two agencies (BHXH, TU-PHAP) subscribe to citizen changes:
a first load queues one message per published citizen per agency in the publish
transaction. The figures: publish time with queuing, queuing alone (re-run on an empty
outbox), a re-queue that finds everything already queued, then delivery of every push
(signed, one HTTP round trip and one ledger entry each) and the peak RSS.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import main, peak_rss_mib, sync_citizens

HEADER = (
    "residents",
    "messages",
    "publish_s",
    "queue_s",
    "requeue_noop_s",
    "deliver_s",
    "messages_per_s",
    "peak_rss_mib",
)


def measure(count: int, seed: int, database_url: str | None) -> dict[str, Any]:
    """One population sync with subscribers, then delivery of its pushes; figures of this process."""
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
        settings = load_settings(
            home=Path(home),
            database_url=url,
        )
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
            os.environ[name] = f"http://:demo-only-push-secret@{origin}/agency/v1/{code}/inbox"
        started = time.perf_counter()
        delivered = deliver_pushes(engine, settings)
        deliver_seconds = time.perf_counter() - started
        engine.dispose()
    acknowledged = sum(result.acknowledged for result in delivered.values())
    return {
        "residents": count,
        "published": summary.published,
        "messages": messages,
        "publish_s": summary.seconds.get("publish"),
        "queue_s": round(queue_seconds, 2),
        "requeue_noop_s": round(noop_seconds, 2),
        "deliver_s": round(deliver_seconds, 1),
        "acknowledged": acknowledged,
        "messages_per_s": round(acknowledged / deliver_seconds),
        "peak_rss_mib": peak_rss_mib(),
    }


if __name__ == "__main__":
    main(__file__, measure, default_counts="20000", header=HEADER, doc=__doc__)
