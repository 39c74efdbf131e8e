"""What every request handler shares: the store, the keys, the clock, the settings and the catalogue."""

from __future__ import annotations

import asyncio
import base64
import contextvars
import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache, partial
from typing import Any, TypeVar

from fastapi import Request
from sqlalchemy import Connection, Engine

from hub.api.grouped_ledger import GroupedLedger
from hub.api.threads import HANDLER_THREADS
from hub.api.wal_checkpoints import WalCheckpointer
from hub.settings import Settings
from hub.sharing.client_secrets import hash_secret
from hub.systems.catalogue import Catalogue

T = TypeVar("T")


def utc_now() -> datetime:
    """The real clock, aware UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class ApiContext:
    """The app's shared state, built once by ``build_app``."""

    settings: Settings
    engine: Engine
    signing_key: bytes  # tokens (HS256)
    ledger_key: bytes  # the ledger's record-key pepper
    clock: Callable[[], datetime]  # aware UTC
    catalogue: Catalogue  # the datasets in force: the hub's own and the declared ones
    # SQLite has one writer: its busy handler sleeps up to 100 ms between tries, so threads of
    # one process that queue on a lock here instead cut the p99 latency from ~1 s to a few ms.
    _writer: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # PostgreSQL reads run here. A plain pool, not anyio's (run_in_threadpool): its hand-off, a
    # Condition-guarded queue plus anyio's backend and cancel-scope lookups, was ~6 % of a read's CPU.
    _readers: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(HANDLER_THREADS, thread_name_prefix="lgsp-api-read"), repr=False
    )
    ledger: GroupedLedger = field(init=False, repr=False)  # reads' entries, a group per commit
    wal: WalCheckpointer | None = field(init=False, repr=False)  # SQLite: checkpoints off the commit path

    def __post_init__(self) -> None:
        """The grouped writer, over this context's write transactions; on SQLite, the log's checkpointer."""
        object.__setattr__(self, "ledger", GroupedLedger(self.begin, self.ledger_key))
        sqlite = self.engine.dialect.name == "sqlite"
        object.__setattr__(self, "wal", WalCheckpointer(self.engine, self._writer) if sqlite else None)

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A write transaction; on SQLite, one at a time within this process."""
        if self.engine.dialect.name != "sqlite":
            with self.engine.begin() as conn:
                yield conn
            return
        with self._writer, self.engine.begin() as conn:
            yield conn
        if self.wal is not None:  # committed: the checkpointer copies it back soon, outside any commit
            self.wal.wrote()

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A connection for reads only. On PostgreSQL in autocommit: under READ COMMITTED each statement
        reads its own snapshot anyway, and a transaction's BEGIN and ROLLBACK cost a round trip each; on
        SQLite a read transaction, one snapshot for the whole block."""
        with self.engine.connect() as conn:
            if self.engine.dialect.name == "postgresql":
                conn.execution_options(isolation_level="AUTOCOMMIT")
            yield conn

    async def run_reads(self, reads: Callable[..., T], *args: Any) -> T:
        """``reads(*args)``, a route's blocking reads: on SQLite here in the event loop, on PostgreSQL in a
        worker thread. A SQLite read is a local, indexed lookup under WAL (readers take no lock a writer
        holds) that costs less than the hop to a thread and back (~15 % of a read's CPU); a PostgreSQL read
        waits on the network, which other requests must be able to use meanwhile."""
        if self.engine.dialect.name == "sqlite":
            return reads(*args)
        context = contextvars.copy_context()  # as run_in_threadpool would: the reads see the request's context
        return await asyncio.get_running_loop().run_in_executor(self._readers, partial(context.run, reads, *args))

    @property
    def cursor_key(self) -> bytes:
        """The change-feed cursors' Fernet key, derived from the signing key (one secret to rotate)."""
        digest = hmac.new(self.signing_key, b"lgsp change-feed cursor v1", hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest)

    def now(self) -> datetime:
        """The hub's time, aware UTC."""
        return self.clock().astimezone(UTC)


def context_of(request: Request) -> ApiContext:
    """The context ``build_app`` stored on the app."""
    context: ApiContext = request.app.state.context
    return context


@cache
def dummy_secret_hash() -> str:
    """A hash no secret matches, checked for unknown client ids so they cost what a known one costs."""
    return hash_secret(secrets.token_urlsafe(32))
