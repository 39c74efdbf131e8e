"""Sync N residents end to end (mock -> staging -> GX audit -> publish) and print the figures.

    .venv/bin/python benchmarks/population_sync.py                 # 200,000 residents
    .venv/bin/python benchmarks/population_sync.py --counts 20000,50000,200000
    .venv/bin/python benchmarks/population_sync.py --postgres      # a throwaway PostgreSQL cluster

Each count runs in a fresh child process against a fresh SQLite store, with the
mock in its own process, so "peak RSS" is the platform's own process alone.
Airflow is left out: it adds a fixed ~10 s per DAG run and no per-record cost.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def measure_one(count: int, seed: int, database_url: str | None) -> dict[str, object]:
    """Run one sync of ``count`` residents in this process and return its figures."""
    from hub.mock_process import mocks_running
    from hub.pipeline import population_sync
    from hub.settings import load_settings
    from hub.store.engine import open_store

    with tempfile.TemporaryDirectory() as home, mocks_running(citizens=count, seed=seed, defect_rate=0.02) as mocks:
        url = database_url or f"sqlite:///{home}/hub.sqlite"
        settings = load_settings(
            home=Path(home), database_url=url, population_url=mocks.population_url,
            population_username=os.environ.get("LGSP_MOCK_USERNAME", "lgsp-demo"),
            population_password=os.environ.get("LGSP_MOCK_PASSWORD", "demo-only-password"),
        )
        engine = open_store(url)
        started = time.perf_counter()
        summary = population_sync.sync(f"bench-{count}", settings, engine)
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
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    """Parse arguments; run each count in its own child process; print a table and JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", default="200000", help="comma-separated resident counts")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file per count")
    parser.add_argument("--postgres", action="store_true", help="run against a throwaway PostgreSQL (initdb/pg_ctl)")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    if args.one:
        print("RESULT " + json.dumps(measure_one(args.one, args.seed, args.database_url)), flush=True)
        return
    if args.postgres:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from pg import find_postgres_bindir, throwaway_postgres

        bindir = find_postgres_bindir()
        if bindir is None:
            raise SystemExit("no PostgreSQL server binaries found (initdb, pg_ctl)")
        with throwaway_postgres(bindir) as url:
            run_all(args.counts, args.seed, url, fresh_database=True)
        return
    run_all(args.counts, args.seed, args.database_url)


def run_all(counts: str, seed: int, database_url: str | None, fresh_database: bool = False) -> None:
    """Each count in its own child process; print a table and the JSON."""
    results = []
    for count in (int(c) for c in counts.split(",")):
        command = [sys.executable, __file__, "--one", str(count), "--seed", str(seed)]
        if database_url:
            url = _fresh_database(database_url, f"bench_{count}") if fresh_database else database_url
            command += ["--database-url", url]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
        results.append(json.loads(line[len("RESULT "):]))
    header = ("residents", "read", "seconds", "records_per_second", "extract_s", "audit_s", "publish_s",
              "peak_rss_mib")
    print(" | ".join(header))
    for result in results:
        print(" | ".join(f"{result[key]:,}" if isinstance(result[key], int) else str(result[key]) for key in header))
    print(json.dumps(results))


def _fresh_database(server_url: str, name: str) -> str:
    """Create an empty database on the server and return its URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


if __name__ == "__main__":
    main()
