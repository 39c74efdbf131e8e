"""What every sync benchmark shares: one child process per size, fresh stores, peak RSS, a table.

A benchmark script defines ``measure(count, seed, database_url) -> dict`` (run in a
child process so that "peak RSS" is that run's alone) and calls ``main(...)``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

Measure = Callable[[int, int, str | None], dict[str, Any]]
T = TypeVar("T")


def peak_rss_mib() -> int:
    """This process's peak resident set size so far."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def in_own_process(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``function(*args, **kwargs)`` run in a fresh child process (spawned, not forked), its result returned.

    For a reference measured beside lgsp: its own peak, and the memory its run leaves
    resident, must not count in the peak RSS reported as lgsp's.
    """
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(function, *args, **kwargs).result()


class WalPeak:
    """A thread polling a SQLite store's -wal file: its peak size, in MiB, while the block runs.

    ``with WalPeak(path) as wal: ...`` then ``wal.peak_mib`` (0 for a store that is not a SQLite file).
    """

    def __init__(self, database: str | None, interval: float = 0.05) -> None:
        self._wal = Path(f"{database}-wal") if database else None
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._peak = 0

    def __enter__(self) -> WalPeak:
        if self._wal is not None:
            self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._wal is not None:
            self._thread.join()

    def _poll(self) -> None:
        assert self._wal is not None
        while not self._stop.wait(self._interval):
            with contextlib.suppress(FileNotFoundError):
                self._peak = max(self._peak, self._wal.stat().st_size)

    @property
    def peak_mib(self) -> int:
        """The largest size seen."""
        return round(self._peak / 2**20)


def main(script: str, measure: Measure, *, default_counts: str, header: tuple[str, ...], doc: str | None) -> None:
    """Parse arguments; run each count in its own child process; print a table and the JSON."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", default=default_counts, help="comma-separated sizes")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file per count")
    parser.add_argument("--postgres", action="store_true", help="run against a throwaway PostgreSQL (initdb/pg_ctl)")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    if args.one:
        print("RESULT " + json.dumps(measure(args.one, args.seed, args.database_url)), flush=True)
        return
    if args.postgres:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from pg import find_postgres_bindir, throwaway_postgres

        bindir = find_postgres_bindir()
        if bindir is None:
            raise SystemExit("no PostgreSQL server binaries found (initdb, pg_ctl)")
        with throwaway_postgres(bindir) as url:
            _run_all(script, args.counts, args.seed, url, header, fresh_database=True)
        return
    _run_all(script, args.counts, args.seed, args.database_url, header)


def _run_all(
    script: str, counts: str, seed: int, database_url: str | None, header: tuple[str, ...], fresh_database: bool = False
) -> None:
    results = []
    for count in (int(c) for c in counts.split(",")):
        command = [sys.executable, script, "--one", str(count), "--seed", str(seed)]
        if database_url:
            url = _fresh_database(database_url, f"bench_{count}") if fresh_database else database_url
            command += ["--database-url", url]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
        results.append(json.loads(line[len("RESULT ") :]))
    print(" | ".join(header))
    for result in results:  # a result may carry several rows (one per stream): "rows"
        for row in result.get("rows", [result]):
            print(" | ".join(f"{row[key]:,}" if isinstance(row[key], int) else str(row[key]) for key in header))
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


def sync_citizens(run_id: str, settings: Any, engine: Any, mocks_url: str) -> Any:
    """Sync the golden citizens from the population mock at ``mocks_url``: the declared stream feeding them.

    The stream is found by its dataset (``citizen``), its connection pointed at the mocks as ``lgsp run`` does.
    """
    from hub.local.demo_connections import declared_connections
    from hub.pipeline import declared
    from hub.systems.loader import load_systems, streams

    systems = load_systems()
    os.environ.update(declared_connections(mocks_url, systems))
    stream = next(item for item in streams(systems) if item.stream.dataset == "citizen" and item.stream.key)
    return declared.sync(run_id, settings, engine, stream=stream.qualified)
