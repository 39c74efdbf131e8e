"""Sync N residents end to end (mock -> staging -> GX audit -> publish) and print the figures.

    .venv/bin/python benchmarks/population_sync.py                 # 200,000 residents
    .venv/bin/python benchmarks/population_sync.py --counts 20000,50000,200000
    .venv/bin/python benchmarks/population_sync.py --postgres      # a throwaway PostgreSQL cluster

Each count runs in a fresh child process against a fresh store, with the mock in
its own process, so "peak RSS" is the platform's own process alone. Airflow is
left out: it adds a fixed ~10 s per DAG run and no per-record cost.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from harness import main, peak_rss_mib, sync_citizens

HEADER = ("residents", "read", "seconds", "records_per_second", "extract_s", "audit_s", "publish_s", "peak_rss_mib")


def measure(count: int, seed: int, database_url: str | None) -> dict[str, Any]:
    """Run one sync of ``count`` residents in this process and return its figures."""
    from hub.local.mock_process import mocks_running
    from hub.settings import load_settings
    from hub.store.engine import open_store

    with tempfile.TemporaryDirectory() as home, mocks_running(citizens=count, seed=seed, defect_rate=0.02) as mocks:
        url = database_url or f"sqlite:///{home}/hub.sqlite"
        settings = load_settings(
            home=Path(home),
            database_url=url,
        )
        engine = open_store(url)
        started = time.perf_counter()
        summary = sync_citizens(f"bench-{count}", settings, engine, mocks.base_url)
        elapsed = time.perf_counter() - started
        engine.dispose()
    return {
        "residents": count,
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
    main(__file__, measure, default_counts="200000", header=HEADER, doc=__doc__)
