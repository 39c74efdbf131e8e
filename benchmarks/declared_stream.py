"""A declared stream against the hand-written population flow, same run, same store: records per second.

    .venv/bin/python benchmarks/declared_stream.py                  # 20,000 records per stream
    .venv/bin/python benchmarks/declared_stream.py --counts 20000,50000 [--postgres]

For a count N the mock holds 2N residents (so that N of them can be insured and own a
business). The population flow syncs those 2N residents (hand-written SOAP connector,
the citizen suite, the precedence merge); then every declared stream in
config/systems syncs its N records (the generic connector, the compiled suite, the
generic merge) into the same store. Each rate is records read per second of the
whole sync (extract, audit, publish), Great Expectations imported beforehand (a worker
pays that once, not per run); the ratio is declared / population. The population
record is wider (15 fields, 13 rules, the precedence merge) than the declared ones
(7 fields, 7-9 rules, the generic upsert): the ratio says what a declaration costs
against hand-written code, not that one record equals another. The mock
runs in its own process; each count in a fresh child process and store.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import main, peak_rss_mib

HEADER = (
    "records",
    "population_rps",
    "stream",
    "read",
    "stream_rps",
    "ratio",
    "extract_s",
    "audit_s",
    "publish_s",
    "peak_rss_mib",
)


def measure(count: int, seed: int, database_url: str | None) -> dict[str, Any]:
    """Sync 2N residents by hand-written flow, then N records of each declared stream; the rates and ratios."""
    from hub.local.demo_connections import declared_connections
    from hub.local.mock_process import mocks_running
    from hub.pipeline import declared, population_sync
    from hub.settings import load_settings
    from hub.store.engine import open_store
    from hub.systems.loader import load_systems, streams

    systems = load_systems()
    for variable in ("LGSP_MOCK_SOCIAL_INSURANCE_RECORDS", "LGSP_MOCK_HOUSEHOLD_BUSINESS_RECORDS"):
        os.environ[variable] = str(count)  # the mock child reads its LGSP_MOCK_* settings
    with tempfile.TemporaryDirectory() as home, mocks_running(citizens=2 * count, seed=seed, defect_rate=0.02) as mocks:
        os.environ.update(declared_connections(mocks.base_url, systems))
        url = database_url or f"sqlite:///{home}/hub.sqlite"
        settings = load_settings(
            home=Path(home),
            database_url=url,
            population_url=mocks.population_url,
            population_username="lgsp-demo",
            population_password="demo-only-password",
        )
        engine = open_store(url)
        import great_expectations  # noqa: F401 - its import (~6 s) is paid once per process, by neither side

        started = time.perf_counter()
        population = population_sync.sync("bench-population", settings, engine)
        population_rps = population.read / (time.perf_counter() - started)
        rows = []
        for item in streams(systems):
            started = time.perf_counter()
            summary = declared.sync(f"bench-{item.qualified}", settings, engine, stream=item.qualified)
            rps = summary.read / (time.perf_counter() - started)
            rows.append(
                {
                    "records": count,
                    "population_rps": round(population_rps),
                    "stream": item.qualified,
                    "read": summary.read,
                    "stream_rps": round(rps),
                    "ratio": round(rps / population_rps, 2),
                    "extract_s": summary.seconds.get("extract"),
                    "audit_s": summary.seconds.get("audit"),
                    "publish_s": summary.seconds.get("publish"),
                }
            )
        engine.dispose()
    peak = peak_rss_mib()
    for row in rows:
        row["peak_rss_mib"] = peak
    return {"rows": rows}


if __name__ == "__main__":
    main(__file__, measure, default_counts="20000", header=HEADER, doc=__doc__)
