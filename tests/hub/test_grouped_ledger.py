"""The API's grouped ledger writer: many requests' entries in one commit, the chain unbroken, failures not served."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import pytest
from sqlalchemy import Connection, Engine, func, select

from hub import ledger
from hub.api.grouped_ledger import GroupedLedger
from hub.store.engine import open_store
from hub.store.tables import audit_ledger
from lgsp.errors import StoreError

KEY = b"k" * 32
T0 = datetime(2026, 11, 1, 8, 0, 0, 123456)


def exchange(n: int) -> ledger.Exchange:
    return ledger.Exchange(
        action="api_read",
        client="bhxh-app",
        outcome="ok",
        correlation_id=f"req-{n}",
        agency_code="BHXH",
        dataset="citizen",
        record_keys=(f"0011990{n:05d}",),
    )


def correlation_ids(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(audit_ledger.c.correlation_id).order_by(audit_ledger.c.seq)).scalars())


class CountingBegin:
    """``engine.begin`` that counts transactions; the first waits for ``release`` (so others queue meanwhile)."""

    def __init__(self, engine: Engine, *, hold_first: bool = False) -> None:
        self.engine, self.transactions = engine, 0
        self.release = threading.Event()
        if not hold_first:
            self.release.set()

    @contextmanager
    def __call__(self) -> Iterator[Connection]:
        self.transactions += 1
        if self.transactions == 1:
            assert self.release.wait(timeout=30)
        with self.engine.begin() as conn:
            yield conn


def record_in_threads(writer: GroupedLedger, numbers: range) -> dict[int, int]:
    """Each number recorded from a thread of its own; returns number -> sequence number."""
    seqs: dict[int, int] = {}
    errors: list[BaseException] = []

    def one(n: int) -> None:
        try:
            seqs[n] = writer.record(exchange(n), T0)
        except BaseException as exc:  # the test reports it below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(n,)) for n in numbers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    return seqs


def test_entries_that_wait_during_a_commit_go_in_one_transaction_and_the_chain_holds(store: Engine) -> None:
    begin = CountingBegin(store, hold_first=True)
    writer = GroupedLedger(begin, KEY)
    first = threading.Thread(target=writer.record, args=(exchange(0), T0))
    first.start()
    while begin.transactions == 0:  # the writer holds entry 0's transaction open ...
        time.sleep(0.001)
    rest = threading.Thread(target=record_in_threads, args=(writer, range(1, 40)))
    rest.start()
    while len(writer._waiting) < 39:  # ... while 39 more requests hand theirs in
        time.sleep(0.001)
    begin.release.set()
    first.join(timeout=30)
    rest.join(timeout=60)
    writer.close()
    assert begin.transactions == 2  # entry 0 alone, then the 39 that waited, together
    verification = ledger.verify(store)
    assert verification.intact and verification.entries == 40
    assert sorted(correlation_ids(store)) == sorted(f"req-{n}" for n in range(40))


def test_concurrent_writers_and_plain_appends_keep_one_chain(store: Engine) -> None:
    """Two writers (two API processes' worth, each with its own pool) and a pipeline's own appends, at once."""
    other = open_store(store.url.render_as_string(hide_password=False))
    writers = [GroupedLedger(CountingBegin(engine), KEY) for engine in (store, other)]
    stop = threading.Event()

    def pipeline() -> None:
        n = 1000
        while not stop.is_set():
            ledger.record(store, exchange(n), key=KEY, now=T0)
            n += 1

    appender = threading.Thread(target=pipeline)
    appender.start()
    try:
        done = [
            threading.Thread(target=record_in_threads, args=(writer, range(start, start + 60)))
            for writer, start in zip(writers, (0, 100), strict=True)
        ]
        for thread in done:
            thread.start()
        for thread in done:
            thread.join(timeout=120)
    finally:
        stop.set()
        appender.join(timeout=30)
        for writer in writers:
            writer.close()
        other.dispose()
    verification = ledger.verify(store)
    assert verification.intact
    ids = correlation_ids(store)
    assert len(ids) == verification.entries
    assert {f"req-{n}" for n in (*range(60), *range(100, 160))} <= set(ids)


def test_a_failed_commit_fails_every_request_of_the_group_and_records_nothing(store: Engine) -> None:
    @contextmanager
    def failing_begin() -> Iterator[Connection]:
        with store.begin() as conn:
            yield conn
            raise RuntimeError("the commit fails")  # after the group's statements: all are rolled back

    writer = GroupedLedger(failing_begin, KEY)
    with pytest.raises(StoreError, match="audit ledger"):
        writer.record(exchange(1), T0)
    writer.close()
    with store.connect() as conn:
        assert conn.execute(select(func.count()).select_from(audit_ledger)).scalar() == 0
    healthy = GroupedLedger(CountingBegin(store), KEY)  # the chain goes on from where it was
    assert healthy.record(exchange(2), T0) == 1
    healthy.close()
    assert ledger.verify(store).intact


def test_a_closed_writer_refuses_rather_than_dropping_an_entry(store: Engine) -> None:
    writer = GroupedLedger(CountingBegin(store), KEY)
    writer.record(exchange(1), T0)
    writer.close()
    with pytest.raises(StoreError, match="closed"):
        writer.record(exchange(2), T0)
    assert correlation_ids(store) == ["req-1"]
