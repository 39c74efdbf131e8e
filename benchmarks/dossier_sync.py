"""Sync N one-stop dossiers (REST -> staging -> GX audit -> publish + outbox), route, deliver; print the figures.

    .venv/bin/python benchmarks/dossier_sync.py                    # 20,000 dossiers
    .venv/bin/python benchmarks/dossier_sync.py --counts 20000,100000

The residents the applicants are drawn from are loaded first (not timed). The mock
runs in its own process; each count in a fresh child process and store.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import main, peak_rss_mib, sync_citizens

HEADER = (
    "dossiers",
    "read",
    "seconds",
    "records_per_second",
    "publish_s",
    "messages",
    "deliver_s",
    "messages_per_second",
    "peak_rss_mib",
)


def measure(count: int, seed: int, database_url: str | None) -> dict[str, Any]:
    """Sync, route and deliver ``count`` dossiers in this process and return the figures."""
    from sqlalchemy import func, select

    from hub.local.mock_process import mocks_running
    from hub.pipeline import declared
    from hub.settings import load_settings
    from hub.store.engine import open_store
    from hub.store.tables import outbox
    from hub.systems.loader import load_systems, streams

    os.environ["LGSP_MOCK_ONE_STOP_DOSSIERS"] = str(count)  # the mock child reads its LGSP_MOCK_* settings
    os.environ["LGSP_MOCK_PORTAL_RATE_PER_SECOND"] = "100000"  # measure us, not the portal's throttle
    with tempfile.TemporaryDirectory() as home, mocks_running(citizens=20_000, seed=seed, defect_rate=0.02) as mocks:
        url = database_url or f"sqlite:///{home}/hub.sqlite"
        settings = load_settings(
            home=Path(home),
            database_url=url,
            portal_url=f"{mocks.base_url}/portal/v1",
            portal_api_key="demo-only-key",
        )
        engine = open_store(url)
        # The declared stream that feeds the hub's dossiers, and its followups (route, deliver) by name.
        stream = next(item for item in streams(load_systems()) if item.stream.dataset == "dossier").qualified
        sync_citizens("bench-population", settings, engine, mocks.base_url)  # routing needs the applicants
        started = time.perf_counter()
        summary = declared.sync(f"bench-{count}", settings, engine, stream=stream)
        declared.followup(f"bench-{count}", settings, engine, stream=stream, task="route")
        synced = time.perf_counter() - started
        with engine.connect() as conn:
            messages = int(conn.execute(select(func.count()).select_from(outbox)).scalar_one())
        started = time.perf_counter()
        declared.followup(f"bench-{count}", settings, engine, stream=stream, task="deliver")
        delivered = time.perf_counter() - started
        engine.dispose()
    return {
        "dossiers": count,
        "read": summary.read,
        "seconds": round(synced, 1),
        "records_per_second": round(summary.read / synced),
        "publish_s": summary.seconds.get("publish"),
        "messages": messages,
        "deliver_s": round(delivered, 1),
        "messages_per_second": round(messages / delivered) if delivered else None,
        "peak_rss_mib": peak_rss_mib(),
    }


if __name__ == "__main__":
    main(__file__, measure, default_counts="20000", header=HEADER, doc=__doc__)
