"""The API's ledger appends, grouped: one writer thread per process commits many requests' entries at once.

A read's entry is handed to ``GroupedLedger.record`` (an async route awaits ``recorded``),
which returns its sequence number once the writer has committed it, or raises ``StoreError`` when the commit
failed, so a read that is not on the ledger is never served. The writer takes whatever
is waiting, appends it with ``ledger.append_many`` in one transaction and commits: under
load the groups form by themselves (the entries that arrived during the last commit), and
an idle server commits a lone entry at once, adding no wait.

The chain stays safe with several writers (API worker processes, a sync's publish): each
group takes the head under its lock as ``ledger.append`` does. On SQLite the group also
holds the process's writer lock (``ApiContext.begin``), so it queues behind the API's other
writes in this process instead of sleeping in SQLite's busy handler.

The thread starts on first use, in the process that uses it (so a server that forks its
workers gives each its own), and ``close`` drains what is waiting.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import AbstractContextManager
from datetime import datetime

from sqlalchemy import Connection

from hub import ledger
from lgsp.errors import StoreError

log = logging.getLogger(__name__)
MAX_GROUP = 500  # entries per transaction: bounds the time the head's lock is held
COMMIT_TIMEOUT = 60.0  # seconds a request waits for its entry before it answers 503


class GroupedLedger:
    """Appends entries for many threads, a group per transaction; ``record`` waits for its entry's commit."""

    def __init__(
        self,
        begin: Callable[[], AbstractContextManager[Connection]],
        key: bytes,
        *,
        max_group: int = MAX_GROUP,
        timeout: float = COMMIT_TIMEOUT,
    ) -> None:
        """``begin()`` opens a write transaction (``ApiContext.begin``); ``key`` is the ledger key."""
        self._begin, self._key, self._max_group, self._timeout = begin, key, max_group, timeout
        self._waiting: list[tuple[ledger.Exchange, datetime, Future[int]]] = []
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._idle = False  # the writer waits on ``_wake`` (read and written under it)

    def record(self, exchange: ledger.Exchange, now: datetime) -> int:
        """Append ``exchange`` at ``now``; returns its sequence number once committed.

        Raises:
            StoreError: the group's transaction failed (nothing of it was committed), the writer
                is closed, or the commit did not come within the timeout.
        """
        try:
            return self.submit(exchange, now).result(timeout=self._timeout)
        except TimeoutError:
            raise StoreError("the ledger entry was not committed in time") from None

    async def recorded(self, exchange: ledger.Exchange, now: datetime) -> int:
        """``record`` for an async route: the event loop, not a thread, waits for the commit.

        Raises:
            StoreError: as ``record``.
        """
        try:
            return await asyncio.wait_for(asyncio.wrap_future(self.submit(exchange, now)), self._timeout)
        except TimeoutError:
            raise StoreError("the ledger entry was not committed in time") from None

    def submit(self, exchange: ledger.Exchange, now: datetime) -> Future[int]:
        """Hand ``exchange`` to the writer; the future holds its sequence number once committed, or the StoreError.

        Raises:
            StoreError: the writer is closed.
        """
        done: Future[int] = Future()
        with self._wake:
            if self._closed:
                raise StoreError("the API's ledger writer is closed")
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="lgsp-ledger-writer", daemon=True)
                self._thread.start()
            self._waiting.append((exchange, now, done))
            if self._idle:  # a busy writer takes what waits when its commit is done: no wake-up to pay for
                self._wake.notify()
        return done

    def close(self) -> None:
        """Commit what is waiting, then stop the writer."""
        with self._wake:
            self._closed = True
            self._wake.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=self._timeout)

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._waiting and not self._closed:
                    self._idle = True
                    self._wake.wait()
                    self._idle = False
                if not self._waiting:  # closed and drained
                    return
                group, self._waiting = self._waiting[: self._max_group], self._waiting[self._max_group :]
            self._commit(group)

    def _commit(self, group: list[tuple[ledger.Exchange, datetime, Future[int]]]) -> None:
        try:
            with self._begin() as conn:
                seqs = ledger.append_many(conn, [(exchange, at) for exchange, at, _ in group], key=self._key)
        except Exception as exc:  # noqa: BLE001 - whatever failed, no entry of the group is on record
            # Each request answers 503; the message names no value (the driver's text may carry some).
            log.error("could not commit %d ledger entries: %s", len(group), type(exc).__name__)
            failure = StoreError("the hub could not record the exchange in its audit ledger")
            for _, _, done in group:
                done.set_exception(failure)
            return
        for seq, (_, _, done) in zip(seqs, group, strict=True):
            done.set_result(seq)
