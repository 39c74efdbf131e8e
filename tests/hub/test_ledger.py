"""The audit ledger: a hash chain that names the first entry changed, removed or reordered."""

from __future__ import annotations

import csv
import io
import json
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, func, select, update
from typer.testing import CliRunner

from hub import ledger
from hub.cli.app import app
from hub.store.engine import open_store
from hub.store.tables import audit_ledger, ledger_checkpoint, ledger_head

KEY = b"k" * 32
CITIZEN = "001199000042"
T0 = datetime(2026, 11, 1, 8, 0, 0, 123456)


def exchange(n: int, **overrides: object) -> ledger.Exchange:
    values: dict[str, object] = {
        "action": "api_read",
        "client": "bhxh-app",
        "outcome": "ok",
        "correlation_id": f"req-{n}",
        "agency_code": "BHXH",
        "purpose": "health_insurance",
        "dataset": "citizen",
        "fields": ["full_name", "birth_date"],
        "record_keys": [CITIZEN],
    }
    values.update(overrides)
    return ledger.Exchange(**values)  # type: ignore[arg-type]


def fill(engine: Engine, entries: int) -> None:
    for n in range(entries):
        ledger.record(engine, exchange(n), key=KEY, now=T0 + timedelta(minutes=n))


def test_an_untouched_chain_verifies_and_keeps_no_id_in_clear(store: Engine) -> None:
    fill(store, 6)
    result = ledger.verify(store)
    assert result.intact and result.entries == 6
    with store.connect() as conn:
        rows = conn.execute(select(audit_ledger).order_by(audit_ledger.c.seq)).mappings().all()
    assert [row["seq"] for row in rows] == [1, 2, 3, 4, 5, 6]
    assert rows[0]["prev_hash"] == ledger.GENESIS
    assert all(rows[i]["prev_hash"] == rows[i - 1]["entry_hash"] for i in range(1, 6))
    dumped = json.dumps([dict(row) for row in rows], default=str)
    assert CITIZEN not in dumped
    assert rows[0]["record_keys"] == ledger.hash_key(KEY, CITIZEN)  # an auditor with the key can look it up
    assert ledger.hash_key(b"x" * 32, CITIZEN) != rows[0]["record_keys"]  # keyed, not a bare hash


def test_a_changed_entry_is_named(store: Engine) -> None:
    fill(store, 5)
    with store.begin() as conn:
        conn.execute(update(audit_ledger).where(audit_ledger.c.seq == 3).values(outcome="denied"))
    result = ledger.verify(store)
    assert not result.intact and result.first_bad_seq == 3 and "changed" in result.reason


def test_a_rehashed_forgery_breaks_the_next_link(store: Engine) -> None:
    fill(store, 5)
    with store.begin() as conn:
        row = dict(conn.execute(select(audit_ledger).where(audit_ledger.c.seq == 2)).mappings().one())
        row["purpose"] = "something_else"
        forged = ledger.entry_hash(row)
        conn.execute(
            update(audit_ledger).where(audit_ledger.c.seq == 2).values(purpose="something_else", entry_hash=forged)
        )
    result = ledger.verify(store)
    assert result.first_bad_seq == 3 and "prev_hash" in result.reason


def test_a_removed_entry_is_named(store: Engine) -> None:
    fill(store, 5)
    with store.begin() as conn:
        conn.execute(delete(audit_ledger).where(audit_ledger.c.seq == 2))
    result = ledger.verify(store)
    assert result.first_bad_seq == 3 and "removed" in result.reason


def test_reordered_entries_are_named(store: Engine) -> None:
    fill(store, 5)
    with store.begin() as conn:  # swap the sequence numbers of entries 2 and 3
        conn.execute(update(audit_ledger).where(audit_ledger.c.seq == 2).values(seq=-2))
        conn.execute(update(audit_ledger).where(audit_ledger.c.seq == 3).values(seq=2))
        conn.execute(update(audit_ledger).where(audit_ledger.c.seq == -2).values(seq=3))
    result = ledger.verify(store)
    assert result.first_bad_seq == 2 and not result.intact


def test_entries_cut_from_the_end_are_caught_by_the_head(store: Engine) -> None:
    fill(store, 5)
    with store.begin() as conn:
        conn.execute(delete(audit_ledger).where(audit_ledger.c.seq >= 4))
    result = ledger.verify(store)
    assert result.first_bad_seq == 4 and "end" in result.reason


def test_bulk_exchanges_keep_a_digest_not_thousands_of_hashes(store: Engine) -> None:
    keys = [f"0011990{n:05d}" for n in range(500)]
    ledger.record(store, exchange(0, record_keys=keys), key=KEY, now=T0)
    with store.connect() as conn:
        row = conn.execute(select(audit_ledger)).mappings().one()
    assert row["record_count"] == 500 and row["record_keys"].startswith("digest:") and len(row["record_keys"]) < 80


def test_concurrent_appends_never_fork_the_chain(store: Engine) -> None:
    errors: list[BaseException] = []

    def writer(worker: int) -> None:
        try:
            for n in range(25):
                ledger.record(store, exchange(worker * 100 + n), key=KEY)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    result = ledger.verify(store)
    assert result.intact and result.entries == 100
    with store.connect() as conn:
        assert conn.execute(select(ledger_head.c.seq)).scalar_one() == 100


def test_an_exchange_rolled_back_leaves_no_entry(store: Engine) -> None:
    fill(store, 2)
    with pytest.raises(RuntimeError), store.begin() as conn:
        ledger.append(conn, exchange(9), key=KEY)
        raise RuntimeError("the exchange failed after the append")
    assert ledger.verify(store).entries == 2
    ledger.record(store, exchange(10), key=KEY)
    assert ledger.verify(store).intact


@pytest.fixture
def cli_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setenv("LGSP_HOME", str(tmp_path))
    monkeypatch.delenv("LGSP_DATABASE_URL", raising=False)
    engine = open_store(f"sqlite:///{(tmp_path / 'hub.sqlite').resolve()}")
    fill(engine, 4)
    return engine


def test_audit_verify_exits_zero_then_names_the_bad_entry(cli_home: Engine) -> None:
    intact = CliRunner().invoke(app, ["audit", "verify"])
    assert intact.exit_code == 0 and "intact: 4 entries" in intact.output
    with cli_home.begin() as conn:
        conn.execute(update(audit_ledger).where(audit_ledger.c.seq == 2).values(client="someone-else"))
    broken = CliRunner().invoke(app, ["audit", "verify"])
    assert broken.exit_code == 1 and "entry 2" in broken.output
    with cli_home.connect() as conn:  # the intact walk was noted (whole chain, up to entry 4), the broken one not
        noted = conn.execute(select(ledger_checkpoint.c.seq, ledger_checkpoint.c.whole_chain)).all()
    assert [tuple(row) for row in noted] == [(4, True)]


def test_audit_export_as_csv_and_json_since_a_time(cli_home: Engine) -> None:
    since = (T0 + timedelta(minutes=2)).isoformat(timespec="seconds")
    as_json = CliRunner().invoke(app, ["audit", "export", "--since", since, "--format", "json"])
    assert as_json.exit_code == 0, as_json.output
    entries = json.loads(as_json.stdout)
    assert [entry["seq"] for entry in entries] == [3, 4]
    assert all(ledger.entry_hash(entry) == entry["entry_hash"] for entry in entries)  # re-checkable offline
    as_csv = CliRunner().invoke(app, ["audit", "export", "--format", "csv"])
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert len(rows) == 4 and rows[0]["action"] == "api_read" and CITIZEN not in as_csv.stdout
    bad = CliRunner().invoke(app, ["audit", "export", "--format", "xml"])
    assert bad.exit_code == 2


def test_appends_during_a_walk_are_not_mistaken_for_removed_entries(store: Engine) -> None:
    # Traffic goes on while an auditor verifies: entries committed after the walk began lie beyond
    # the head it read, so they are checked next time, not reported as "removed from the end".
    fill(store, 3000)
    stop, errors = threading.Event(), []

    def traffic() -> None:
        n = 10_000
        while not stop.is_set():
            try:
                ledger.record(store, exchange(n), key=KEY)
            except Exception as exc:  # a writer's failure must fail the test, not vanish
                errors.append(exc)
                return
            n += 1

    writer = threading.Thread(target=traffic)
    writer.start()
    try:
        results = [ledger.verify(store) for _ in range(5)]
    finally:
        stop.set()
        writer.join()
    assert not errors
    assert all(result.intact for result in results), [result.reason for result in results]
    assert results[-1].entries > 3000  # the walks did see the traffic


# --- walking on from a checkpoint ---------------------------------------------------------------

NOW = T0 + timedelta(days=30)


def test_a_short_chain_is_walked_whole_every_time(store: Engine) -> None:
    fill(store, 10)
    assert ledger.verify_from_checkpoint(store, now=NOW).walked_from == 1
    with store.begin() as conn:  # the edit a walk from the checkpoint would not see
        conn.execute(update(audit_ledger).where(audit_ledger.c.seq == 3).values(outcome="denied"))
    again = ledger.verify_from_checkpoint(store, now=NOW + timedelta(hours=1))
    assert again.walked_from == 1 and again.first_bad_seq == 3


def _rewrite_from(engine: Engine, seq: int) -> None:
    """An insider's forgery done properly: change entry ``seq`` and re-hash it and every entry after it."""
    with engine.begin() as conn:
        rows = [
            dict(row)
            for row in conn.execute(
                select(audit_ledger).where(audit_ledger.c.seq >= seq).order_by(audit_ledger.c.seq)
            ).mappings()
        ]
        prev = rows[0]["prev_hash"]
        for row in rows:
            row["prev_hash"] = prev
            if row["seq"] == seq:
                row["outcome"] = "denied"
            row["entry_hash"] = prev = ledger.entry_hash(row)
            conn.execute(
                update(audit_ledger)
                .where(audit_ledger.c.seq == row["seq"])
                .values(outcome=row["outcome"], prev_hash=row["prev_hash"], entry_hash=row["entry_hash"])
            )
        conn.execute(update(ledger_head).values(entry_hash=prev))


def test_the_first_walk_covers_the_whole_chain_and_later_ones_only_what_is_new(store: Engine) -> None:
    fill(store, 20)
    first = ledger.verify_from_checkpoint(store, whole_chain_below=0, now=NOW)
    assert first.intact and first.entries == 20 and first.walked_from == 1 and first.whole_chain_at == NOW
    for n in range(20, 25):
        ledger.record(store, exchange(n), key=KEY, now=T0 + timedelta(minutes=n))
    later = ledger.verify_from_checkpoint(store, whole_chain_below=0, now=NOW + timedelta(hours=1))
    assert later.intact and later.entries == 25 and later.walked_from == 20 and later.whole_chain_at == NOW
    with store.connect() as conn:
        checkpoints = conn.execute(
            select(ledger_checkpoint.c.seq, ledger_checkpoint.c.whole_chain).order_by(ledger_checkpoint.c.checkpoint_id)
        ).all()
    assert [tuple(row) for row in checkpoints] == [(20, True), (25, False)]


def test_a_chain_rewritten_before_the_checkpoint_is_caught_at_its_entry(store: Engine) -> None:
    fill(store, 10)
    assert ledger.verify_from_checkpoint(store, whole_chain_below=0, now=NOW).intact
    _rewrite_from(store, 4)  # every link still holds: only the checkpoint remembers entry 10's hash
    assert ledger.verify(store).intact  # a walk from entry 1 alone cannot see a consistent rewrite
    result = ledger.verify_from_checkpoint(store, whole_chain_below=0, now=NOW + timedelta(hours=1))
    assert result.first_bad_seq == 10 and "rewritten" in result.reason


def test_an_old_entry_edited_without_rehashing_is_caught_by_the_next_whole_walk(store: Engine) -> None:
    fill(store, 10)
    assert ledger.verify_from_checkpoint(store, whole_chain_below=0, now=NOW).intact
    with store.begin() as conn:
        conn.execute(update(audit_ledger).where(audit_ledger.c.seq == 3).values(outcome="denied"))
    # The shortcut's blind spot, for a chain long enough to take it:
    assert ledger.verify_from_checkpoint(store, whole_chain_below=0, now=NOW + timedelta(days=1)).intact
    weekly = ledger.verify_from_checkpoint(store, whole_chain_below=0, now=NOW + ledger.WHOLE_CHAIN_EVERY)
    assert weekly.first_bad_seq == 3 and weekly.walked_from == 1 and "changed" in weekly.reason


def test_entries_cut_below_the_checkpoint_are_caught_and_a_broken_walk_records_nothing(store: Engine) -> None:
    fill(store, 10)
    assert ledger.verify_from_checkpoint(store, whole_chain_below=0, now=NOW).intact
    with store.begin() as conn:
        conn.execute(delete(audit_ledger).where(audit_ledger.c.seq >= 8))
        conn.execute(update(ledger_head).values(seq=7))
    result = ledger.verify_from_checkpoint(store, whole_chain_below=0, now=NOW + timedelta(hours=1))
    assert result.first_bad_seq == 10 and "gone" in result.reason
    with store.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ledger_checkpoint)).scalar() == 1
