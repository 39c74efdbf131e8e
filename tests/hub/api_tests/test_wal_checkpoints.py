"""The API's SQLite log is checkpointed by its own thread, not inside a commit, and still kept short."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from hub.api import heap
from hub.api.app import api_engine
from hub.api.wal_checkpoints import WalCheckpointer


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = api_engine(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (n INTEGER PRIMARY KEY, pad TEXT)")
    yield engine
    engine.dispose()


def write(engine: Engine, rows: range) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO t (n, pad) VALUES (?, ?)", [(n, "x" * 2000) for n in rows])


def log_pages(engine: Engine) -> tuple[int, int]:
    """(pages in the log, pages copied back), as a no-op PASSIVE checkpoint reports them."""
    with engine.connect() as conn:
        row = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
    return int(row[1]), int(row[2])


def test_the_api_engine_leaves_checkpoints_to_the_thread(engine: Engine) -> None:
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one() == 0
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
    # 3,000 pages committed: SQLite alone would have checkpointed in the commit past 1,000.
    write(engine, range(6000))
    pages = WalCheckpointer(engine, threading.Lock(), restart_pages=10**9).checkpoint()
    assert pages is not None
    busy, in_log, copied = pages
    assert busy == 0 and in_log > 1000 and copied == in_log


def test_a_long_log_is_restarted_under_the_writer_lock(engine: Engine) -> None:
    write(engine, range(500))
    lock = threading.Lock()
    taken: list[bool] = []

    class Spy:
        def __enter__(self) -> None:
            lock.acquire()
            taken.append(True)

        def __exit__(self, *exc: object) -> None:
            lock.release()

    checkpointer = WalCheckpointer(engine, Spy(), restart_pages=100)
    pages = checkpointer.checkpoint()
    assert pages is not None and pages[0] == 0 and pages[1] == pages[2] > 100  # all copied back, none busy
    assert taken == [True]
    write(engine, range(500, 501))
    assert log_pages(engine)[0] < 10  # the next write began the log again, from its start


def test_a_write_wakes_the_thread(engine: Engine, tmp_path: Path) -> None:
    database = tmp_path / "hub.sqlite"
    checkpointer = WalCheckpointer(engine, threading.Lock(), pause=0.0, restart_pages=10**9)
    write(engine, range(300))
    before = database.stat().st_size  # the rows are in the log only, not yet in the database file
    checkpointer.wrote()
    deadline = time.monotonic() + 30
    while database.stat().st_size < before + 300 * 2000 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert database.stat().st_size >= before + 300 * 2000


def test_settle_freezes_the_heap_built_so_far() -> None:
    kept = [object() for _ in range(10)]
    try:
        heap.settle()
        assert gc.get_freeze_count() >= len(kept)
    finally:
        gc.unfreeze()
