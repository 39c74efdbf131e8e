"""Sync N civil-status events over REST (OAuth2, cursor paging -> staging -> GX audit -> apply) and print the figures.

The stream is the declared one that feeds the ``civil_event`` dataset (config/systems/), run by
``hub.pipeline.declared`` with its connection pointed at the mock.

    .venv/bin/python benchmarks/civil_event_sync.py                # 100,000 events
    .venv/bin/python benchmarks/civil_event_sync.py --counts 20000,100000

The golden citizens the events link to are loaded first (as many residents as events, not
timed); then the civil-status sync is timed alone. Each count runs in a fresh
child process, with the mock in its own process.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import main, peak_rss_mib, sync_citizens

HEADER = ("events", "read", "seconds", "records_per_second", "extract_s", "audit_s", "publish_s", "peak_rss_mib")
MIN_RESIDENTS = 20_000  # the mock builds about 1.3 events per resident at most


def measure(count: int, seed: int, database_url: str | None) -> dict[str, Any]:
    """Run one civil-status sync of ``count`` events in this process and return its figures."""
    from hub.local.demo_connections import declared_connections
    from hub.local.mock_process import mocks_running
    from hub.pipeline import declared
    from hub.settings import load_settings
    from hub.store.engine import open_store
    from hub.systems.loader import load_systems, streams

    os.environ["LGSP_MOCK_CIVIL_STATUS_EVENTS"] = str(count)  # the mock child reads its LGSP_MOCK_* settings
    residents = max(MIN_RESIDENTS, count)
    with tempfile.TemporaryDirectory() as home, mocks_running(citizens=residents, seed=seed, defect_rate=0.02) as mocks:
        url = database_url or f"sqlite:///{home}/hub.sqlite"
        settings = load_settings(
            home=Path(home),
            database_url=url,
        )
        item = next(item for item in streams(load_systems()) if item.stream.dataset == "civil_event")
        os.environ.update(declared_connections(mocks.base_url))
        engine = open_store(url)
        sync_citizens("bench-population", settings, engine, mocks.base_url)
        started = time.perf_counter()
        summary = declared.sync(f"bench-{count}", settings, engine, stream=item.qualified)
        elapsed = time.perf_counter() - started
        engine.dispose()
    return {
        "events": count,
        "read": summary.read,
        "published": summary.published,
        "quarantined": summary.quarantined,
        "seconds": round(elapsed, 1),
        "records_per_second": round(summary.read / elapsed),
        "extract_s": summary.seconds.get("extract"),
        "audit_s": summary.seconds.get("audit"),
        "publish_s": summary.seconds.get("publish"),
        "peak_rss_mib": peak_rss_mib(),
    }


if __name__ == "__main__":
    main(__file__, measure, default_counts="100000", header=HEADER, doc=__doc__)
