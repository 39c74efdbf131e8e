"""Declared streams against the population stream, same run, same store: records per second.

    .venv/bin/python benchmarks/declared_stream.py                  # 20,000 records per stream
    .venv/bin/python benchmarks/declared_stream.py --counts 20000,50000 [--postgres]

For a count N the mock holds 2N residents (so that N of them can be insured and own a
business). The population stream syncs those 2N residents (declared too since the flow
moved onto config/systems/national_population.yaml, with its domain merge: the
precedence between sources, provenance and conflicts); then every other declared stream
in config/systems syncs its N records (the generic connector, the compiled suite, the
generic merge or its own) into the same store. Each rate is records read per second of
the whole sync (extract, audit, publish), Great Expectations imported beforehand (a
worker pays that once, not per run); the ratio is stream / population. The population
record is wider (17 fields, 22 rules, the precedence merge) than the others (7 fields,
7-17 rules): the ratio says what one stream costs against the other, not that one
record equals another. Before the move (hand-written population flow) the same
benchmark read 1.01-1.08x at 20,000 and 1.56-1.87x at 100,000. The mock runs in its
own process; each count in a fresh child process and store.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import main, peak_rss_mib, sync_citizens

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
    from hub.pipeline import declared
    from hub.settings import load_settings
    from hub.store.engine import open_store
    from hub.systems.loader import load_systems, streams

    systems = load_systems()
    for variable in (f"LGSP_MOCK_{each.decl.system.upper()}_RECORDS" for each in systems):
        os.environ[variable] = str(count)  # the mock child reads its LGSP_MOCK_<SYSTEM>_RECORDS setting
    with tempfile.TemporaryDirectory() as home, mocks_running(citizens=2 * count, seed=seed, defect_rate=0.02) as mocks:
        os.environ.update(declared_connections(mocks.base_url, systems))
        url = database_url or f"sqlite:///{home}/hub.sqlite"
        settings = load_settings(
            home=Path(home),
            database_url=url,
        )
        engine = open_store(url)
        import great_expectations  # noqa: F401 - its import (~6 s) is paid once per process, by neither side

        started = time.perf_counter()
        population = sync_citizens("bench-population", settings, engine, mocks.base_url)
        population_rps = population.read / (time.perf_counter() - started)
        rows = []
        for item in streams(systems):
            if item.stream.dataset == "citizen":
                continue  # the reference, synced above
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
