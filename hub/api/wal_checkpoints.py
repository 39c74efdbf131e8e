"""SQLite's write-ahead log copied back into the database by a thread of its own, not inside a request's commit.

By default SQLite checkpoints in whichever commit takes the log past 1,000 pages: that
commit copies the pages and syncs the database file (20-130 ms measured under load), and
the whole group of requests waiting on it in ``hub.api.grouped_ledger`` waits with it, so
about one commit in 500 set the API's p99. The API's connections turn that off
(``wal_autocheckpoint=0``, ``take_over``) and this thread runs a PASSIVE checkpoint a
moment after writes: it neither waits for nor blocks readers and writers (SQLite's WAL
design), and runs outside the GIL.

The log is reused from its start only when a write begins with every page copied back
and no reader on an older snapshot, which writes landing during a background checkpoint
make rare (the log reached ~16,000 pages in 30 s of load). So once it holds
``RESTART_PAGES``, the checkpoint is a RESTART taken under the process's writer lock: the
few pages written since the last pass are copied and the readers of the log waited for
(milliseconds: reads are single lookups), with the API's writes queued on that lock
meanwhile rather than in SQLite's busy handler. Other processes on the file (a sync's
publish) keep checkpointing as usual.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Engine, event

log = logging.getLogger(__name__)
PAUSE = 0.25  # seconds after a write before the checkpoint: writes meanwhile are copied in the same one
# Under the store's journal_size_limit (64 MiB, what the log file is cut back to): 48 MiB in the 8 KiB
# pages hub.store.engine makes stores with (a store made before them, in 4 KiB pages: 24 MiB).
RESTART_PAGES = 6_000
RESTART_WAIT_MS = 200  # a RESTART that finds readers for longer gives up; the next pass tries again


def take_over(engine: Engine) -> None:
    """New connections of ``engine`` (an SQLite store) leave checkpoints to a ``WalCheckpointer``."""
    event.listen(engine, "connect", _no_auto_checkpoint)


def _no_auto_checkpoint(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.close()


class WalCheckpointer:
    """Checkpoints ``engine``'s log in a daemon thread, ``PAUSE`` after the first write it is told of."""

    def __init__(
        self,
        engine: Engine,
        writer_lock: AbstractContextManager[Any],
        *,
        pause: float = PAUSE,
        restart_pages: int = RESTART_PAGES,
    ) -> None:
        """``engine``: an SQLite store in WAL mode; ``writer_lock``: what this process's writers hold."""
        self._engine, self._writer_lock, self._pause, self._restart_pages = engine, writer_lock, pause, restart_pages
        self._written = threading.Event()
        self._start = threading.Lock()
        self._thread: threading.Thread | None = None

    def wrote(self) -> None:
        """Note a commit; the thread starts on first use, in the process that uses it (forked workers too)."""
        self._written.set()
        if self._thread is None or not self._thread.is_alive():
            with self._start:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._run, name="lgsp-wal-checkpoint", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        while True:
            self._written.wait()
            self._written.clear()  # writes from here on get the next checkpoint
            time.sleep(self._pause)
            self.checkpoint()

    def checkpoint(self) -> tuple[int, int, int] | None:
        """A PASSIVE checkpoint, then a RESTART if the log is long: (busy, pages in the log, pages copied)
        as the last one said, or None when it failed."""
        try:
            result = self._checkpoint("PASSIVE")
            if result[1] >= self._restart_pages:
                with self._writer_lock:
                    result = self._checkpoint("RESTART")
        except Exception as exc:  # noqa: BLE001 - the next write tries again; the log waits meanwhile
            log.warning("could not checkpoint the store's write-ahead log: %s", type(exc).__name__)
            return None
        return result

    def _checkpoint(self, mode: str) -> tuple[int, int, int]:
        with self._engine.connect() as conn:
            if mode == "PASSIVE":
                row = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
            else:  # it waits for readers, and only briefly: not for the connection's own busy timeout
                kept = conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one()
                conn.exec_driver_sql(f"PRAGMA busy_timeout={RESTART_WAIT_MS}")
                try:
                    row = conn.exec_driver_sql(f"PRAGMA wal_checkpoint({mode})").one()
                finally:
                    conn.exec_driver_sql(f"PRAGMA busy_timeout={int(kept)}")
        return int(row[0]), int(row[1]), int(row[2])
