"""Sync N civil-status events over REST (OAuth2, cursor paging -> staging -> GX audit -> apply) against dlt, same run.

The stream is the declared one that feeds the ``civil_event`` dataset (config/systems/), run by
``hub.pipeline.declared`` with its connection pointed at the mock. The reference is dlt's
``rest_api`` source doing what the declaration says (OAuth2 client credentials, the cursor in the
body, the incremental ``since``, a merge on the event id) on the same endpoint, into the same
SQLite store (benchmarks/dlt_civil_events.py, run by the interpreter of a virtualenv of its own,
``.lgsp/bench/dlt-venv``, made on first use: dlt is a benchmark-only dependency).

    .venv/bin/python benchmarks/civil_event_sync.py                # 100,000 events
    .venv/bin/python benchmarks/civil_event_sync.py --counts 20000,100000

The golden citizens the events link to are loaded first (as many residents as events, not
timed; that also pays Great Expectations' import, as a worker pays it once); then the
civil-status sync is timed alone, then dlt's run (dlt imported beforehand). ``ratio`` is lgsp's
events per second over dlt's. Each count runs in a fresh child process, with the mock in its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import main, peak_rss_mib, sync_citizens

HEADER = (
    "events",
    "read",
    "seconds",
    "records_per_second",
    "dlt_records_per_second",
    "ratio",
    "extract_s",
    "audit_s",
    "publish_s",
    "peak_rss_mib",
)
DLT = "dlt[sqlalchemy]==1.31.0"
DLT_VENV = Path(__file__).resolve().parents[1] / ".lgsp" / "bench" / "dlt-venv"
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
        dlt_read, dlt_seconds = dlt_run(mocks.base_url, Path(home) / "dlt.sqlite", settings.page_size)
    rate, dlt_rate = summary.read / elapsed, dlt_read / dlt_seconds
    return {
        "events": count,
        "read": summary.read,
        "published": summary.published,
        "quarantined": summary.quarantined,
        "seconds": round(elapsed, 1),
        "records_per_second": round(rate),
        "dlt_records_per_second": round(dlt_rate),
        "ratio": round(rate / dlt_rate, 2),
        "extract_s": summary.seconds.get("extract"),
        "audit_s": summary.seconds.get("audit"),
        "publish_s": summary.seconds.get("publish"),
        "peak_rss_mib": peak_rss_mib(),
    }


def dlt_python() -> Path:
    """The interpreter of the benchmark's own dlt virtualenv, made (``pip install dlt``) when missing."""
    python = DLT_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(DLT_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", DLT], check=True)
    return python


def dlt_run(base_url: str, sqlite_path: Path, page_size: int) -> tuple[int, float]:
    """dlt's events read and seconds, on the mock at ``base_url`` (its civil-status API and demo OAuth2 client)."""
    from mocks.settings import load_settings as load_mock_settings

    client_id, secret = load_mock_settings().demo_credentials()["civil_status"]
    script = Path(__file__).with_name("dlt_civil_events.py")
    arguments = [f"{base_url}/civil-status/v1", client_id, secret.get_secret_value(), str(sqlite_path), str(page_size)]
    done = subprocess.run(
        [str(dlt_python()), str(script), *arguments], capture_output=True, text=True, check=True, timeout=3600
    )
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
    result = json.loads(line[len("RESULT ") :])
    return int(result["read"]), float(result["seconds"])


if __name__ == "__main__":
    main(__file__, measure, default_counts="100000", header=HEADER, doc=__doc__)
