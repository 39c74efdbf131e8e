"""Sync N residents end to end (mock -> staging -> GX audit -> publish) against the raw bound, same run.

    .venv/bin/python benchmarks/population_sync.py                 # 200,000 residents
    .venv/bin/python benchmarks/population_sync.py --counts 20000,50000,200000
    .venv/bin/python benchmarks/population_sync.py --postgres      # a throwaway PostgreSQL cluster

Each count runs in a fresh child process against a fresh store, with the mock in
its own process, so "peak RSS" is the platform's own process alone. First the raw
bound (benchmarks/raw_population.py: httpx + lxml + one executemany transaction into
one table of the same store, from the same mock), in a process of its own: run in
lgsp's, the RSS it left behind (~190 MiB at 1M residents on PostgreSQL) was counted as
lgsp's peak. Then lgsp's own sync of the population stream (the declared connector,
staging, the GX audit, the precedence merge with provenance, the ledger); ``ratio``
is lgsp's records per second over the raw bound's. Airflow is left out: it adds a fixed ~10 s per DAG run and no
per-record cost. Great Expectations is imported and warmed before the clock starts, as
every Airflow worker does once before it forks its tasks (``quality.gx.preload``); its
cost is printed apart (``gx_preload_s``), paid once per worker, not per run.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from harness import WalPeak, in_own_process, main, peak_rss_mib, sync_citizens
from raw_population import raw_sync

HEADER = (
    "residents",
    "read",
    "seconds",
    "records_per_second",
    "raw_records_per_second",
    "ratio",
    "gx_preload_s",
    "extract_s",
    "audit_s",
    "publish_s",
    "peak_rss_mib",
    "peak_wal_mib",
)


def measure(count: int, seed: int, database_url: str | None) -> dict[str, Any]:
    """Run one sync of ``count`` residents in this process and return its figures."""
    from hub.local.mock_process import mocks_running
    from hub.settings import load_settings
    from hub.store.engine import open_store
    from mocks.settings import DEMO_PASSWORD, DEMO_USERNAME
    from quality.gx import preload

    with tempfile.TemporaryDirectory() as home, mocks_running(citizens=count, seed=seed, defect_rate=0.02) as mocks:
        url = database_url or f"sqlite:///{home}/hub.sqlite"
        settings = load_settings(
            home=Path(home),
            database_url=url,
        )
        # The store made as lgsp makes one (on SQLite: its log mode, its page size) before either writes to it.
        engine = open_store(url)
        raw_read, raw_seconds = in_own_process(
            raw_sync,
            mocks.population_url,
            url,
            username=DEMO_USERNAME,
            password=DEMO_PASSWORD,
            page_size=settings.page_size,
        )
        # As an Airflow worker does before it forks its tasks (hub.local.airflow.preload): GX imported and warm.
        started = time.perf_counter()
        preload()
        gx_preload = time.perf_counter() - started
        started = time.perf_counter()
        with WalPeak(engine.url.database if engine.url.get_backend_name() == "sqlite" else None) as wal:
            summary = sync_citizens(f"bench-{count}", settings, engine, mocks.base_url)
        elapsed = time.perf_counter() - started
        engine.dispose()
    rate, raw_rate = summary.read / elapsed, raw_read / raw_seconds
    return {
        "residents": count,
        "read": summary.read,
        "published": summary.published,
        "quarantined": summary.quarantined,
        "seconds": round(elapsed, 1),
        "records_per_second": round(rate),
        "raw_records_per_second": round(raw_rate),
        "ratio": round(rate / raw_rate, 2),
        "gx_preload_s": round(gx_preload, 2),
        "extract_s": summary.seconds.get("extract"),
        "audit_s": summary.seconds.get("audit"),
        "publish_s": summary.seconds.get("publish"),
        "peak_rss_mib": peak_rss_mib(),
        "peak_wal_mib": wal.peak_mib,  # SQLite's write-ahead log at its largest during lgsp's sync
    }


if __name__ == "__main__":
    main(__file__, measure, default_counts="200000", header=HEADER, doc=__doc__)
