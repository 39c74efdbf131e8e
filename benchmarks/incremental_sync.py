"""An incremental population sync (0.1 % of residents changed) against the full sync before it, same run.

    .venv/bin/python benchmarks/incremental_sync.py                  # 100,000 residents
    .venv/bin/python benchmarks/incremental_sync.py --counts 20000,100000
    .venv/bin/python benchmarks/incremental_sync.py --postgres       # a throwaway PostgreSQL cluster

One warm process per count, as a preloaded Airflow worker is: Great Expectations is
imported and warmed first (``quality.gx.preload``, what a worker runs before it forks its
tasks), outside both timings. Then the full sync of N residents (extract, GX audit, publish), the mock's clock
moved on by a fifth of a day (its change feed touches ~0.5 % of residents a day, so
~0.1 % change), and the incremental sync. ``ratio`` is the incremental run's seconds over
the full sync's: a run's fixed costs are what keep it from shrinking with its changes.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from harness import main, peak_rss_mib, sync_citizens

HEADER = (
    "residents",
    "full_s",
    "changed_read",
    "incremental_s",
    "ratio",
    "full_audit_s",
    "incr_extract_s",
    "incr_audit_s",
    "incr_publish_s",
    "gx_preload_s",
    "peak_rss_mib",
)
ADVANCE_DAYS = 0.2  # x ~0.5 % a day = ~0.1 % of residents changed


def measure(count: int, seed: int, database_url: str | None) -> dict[str, Any]:
    """A full sync of ``count`` residents then an incremental one, in this (warm) process."""
    import httpx

    from hub.local.mock_process import mocks_running
    from hub.settings import load_settings
    from hub.store.engine import open_store
    from quality.gx import preload

    started = time.perf_counter()
    preload()
    gx_preload = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as home, mocks_running(citizens=count, seed=seed, defect_rate=0.02) as mocks:
        url = database_url or f"sqlite:///{home}/hub.sqlite"
        settings = load_settings(home=Path(home), database_url=url)
        engine = open_store(url)
        started = time.perf_counter()
        full = sync_citizens(f"full-{count}", settings, engine, mocks.base_url)
        full_seconds = time.perf_counter() - started
        httpx.post(f"{mocks.population_url}/_admin/clock", json={"advance_days": ADVANCE_DAYS}).raise_for_status()
        started = time.perf_counter()
        delta = sync_citizens(f"delta-{count}", settings, engine, mocks.base_url)
        delta_seconds = time.perf_counter() - started
        engine.dispose()
    return {
        "residents": count,
        "full_s": round(full_seconds, 2),
        "changed_read": delta.read,
        "incremental_s": round(delta_seconds, 2),
        "ratio": round(delta_seconds / full_seconds, 3),
        "full_audit_s": full.seconds.get("audit"),
        "incr_extract_s": delta.seconds.get("extract"),
        "incr_audit_s": delta.seconds.get("audit"),
        "incr_publish_s": delta.seconds.get("publish"),
        "gx_preload_s": round(gx_preload, 2),
        "peak_rss_mib": peak_rss_mib(),
    }


if __name__ == "__main__":
    main(__file__, measure, default_counts="100000", header=HEADER, doc=__doc__)
