"""The audit ledger: every exchange, in or out, appended to a hash chain auditors can verify.

Each entry holds who (client, agency), what (action, dataset, fields, how many records
and their keys), why (purpose, legal basis), when, the correlation id, and the outcome.
It carries the SHA-256 of the previous entry's hash and of its own canonical form (the
entry's columns as sorted, compact JSON), so changing, removing or reordering any entry
breaks the chain at that entry: ``verify`` names it.

No personal value is kept in clear: a record key (a personal id, a dossier code) is
stored as an HMAC-SHA256 under the hub's ledger key (``hub.keys``). A plain hash would
not do: a 12-digit id has few enough values to hash them all. An auditor who holds the
key can still ask "was this citizen's record read?" by hashing the id the same way.
Bulk exchanges (a sync's pull, a change-feed page) store a digest of their keys and
the count, not thousands of hashes.

Appends are serialised by updating the one-row ``ledger_head`` first: the update takes
the write lock (SQLite) or the row lock (PostgreSQL) before the previous hash is read,
so two writers can never chain onto the same entry. Append inside the transaction that
does the exchange's own writes, as its last statement: both commit or neither does, and
the lock is held only to the commit. ``append_many`` chains several entries under one
advance of the head (the API's grouped writer, ``hub.api.grouped_ledger``).
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, func, insert, select, update

from hub.store.tables import audit_ledger, ledger_checkpoint, ledger_head

GENESIS = "0" * 64
_HEAD_ID = 1
KEYS_IN_CLEAR_LIMIT = 20  # more record keys than this and the entry keeps their digest instead
_VERIFY_CHUNK = 1000
# A walk from the checkpoint re-hashes only the new entries; a whole walk this often catches an old entry
# edited without re-hashing (a rewritten chain is caught at once, at the checkpoint's entry).
WHOLE_CHAIN_EVERY = timedelta(days=7)
WHOLE_CHAIN_BELOW = 500_000  # entries: a whole walk takes ~20 s at this length (42 µs per entry measured)
EXPORT_COLUMNS = tuple(column.name for column in audit_ledger.columns)
# Built once: an API read appends an entry, and building these per call cost a third of the append.
_ADVANCE_HEAD = (
    update(ledger_head)
    .where(ledger_head.c.head_id == _HEAD_ID)
    .values(seq=ledger_head.c.seq + bindparam("entries"))
    .returning(ledger_head.c.seq, ledger_head.c.entry_hash)
)
_INSERT_ENTRY = insert(audit_ledger)
_SET_HEAD_HASH = update(ledger_head).where(ledger_head.c.head_id == _HEAD_ID).values(entry_hash=bindparam("new_hash"))


@dataclass(frozen=True)
class Exchange:
    """One exchange to record. ``record_keys`` are in clear here; ``append`` hashes them."""

    action: str  # pull | push | api_read | change_feed | prefill | consent_grant | consent_revoke | ...
    client: str  # who: a client id, or a flow (its DAG id)
    outcome: str  # ok | denied | failed | acknowledged | dead | ...
    correlation_id: str
    agency_code: str | None = None
    purpose: str | None = None
    legal_basis: str | None = None
    dataset: str | None = None
    fields: Sequence[str] = ()
    record_keys: Sequence[str] = ()
    record_count: int | None = None  # default: len(record_keys); a pull may count without listing
    detail: str = ""  # what denied it, which run: never a personal value


@dataclass(frozen=True)
class Verification:
    """What a walk found: the entries up to the head it read, and the first bad one, if any."""

    entries: int
    first_bad_seq: int | None = None
    reason: str = ""
    walked_from: int = 1  # the first entry re-hashed by this walk; those before it, by the checkpoint's walks
    whole_chain_at: datetime | None = None  # when a walk from entry 1 last found the chain intact
    last_hash: str = ""  # the hash of entry ``entries`` as this walk verified it

    @property
    def intact(self) -> bool:
        """True when every entry chains onto the one before and matches its hash."""
        return self.first_bad_seq is None


def hash_key(key: bytes, record_key: str) -> str:
    """A record key as the ledger keeps it: HMAC-SHA256 under the ledger key, 32 hex characters."""
    return hmac.new(key, record_key.encode(), hashlib.sha256).hexdigest()[:32]


def append(conn: Connection, exchange: Exchange, *, key: bytes, now: datetime | None = None) -> int:
    """Append ``exchange`` to the chain inside ``conn``'s transaction; returns its sequence number."""
    return append_many(conn, [(exchange, now or datetime.now(UTC))], key=key)[0]


def append_many(conn: Connection, entries: Sequence[tuple[Exchange, datetime]], *, key: bytes) -> list[int]:
    """Append each (exchange, time) in order inside ``conn``'s transaction; returns their sequence numbers.

    The head is advanced by all of them in one statement first, which takes the lock and
    reads the previous hash, so the entries chain onto each other with no writer in between.
    """
    if not entries:
        return []
    head = conn.execute(_ADVANCE_HEAD, {"entries": len(entries)}).first()
    if head is None:  # a store made without the migration's seed row (tests' create_all)
        conn.execute(insert(ledger_head).values(head_id=_HEAD_ID, seq=len(entries), entry_hash=GENESIS))
        last_seq, prev_hash = len(entries), GENESIS
    else:
        last_seq, prev_hash = int(head.seq), str(head.entry_hash)
    rows = []
    for seq, (exchange, at) in enumerate(entries, start=last_seq - len(entries) + 1):
        row = _row(exchange, key, seq, _naive_utc(at), prev_hash)
        row["entry_hash"] = prev_hash = entry_hash(row)
        rows.append(row)
    conn.execute(_INSERT_ENTRY, rows)
    conn.execute(_SET_HEAD_HASH, {"new_hash": prev_hash})
    return [row["seq"] for row in rows]


def record(engine: Engine, exchange: Exchange, *, key: bytes, now: datetime | None = None) -> int:
    """Append ``exchange`` in a transaction of its own (for exchanges that write nothing else)."""
    with engine.begin() as conn:
        return append(conn, exchange, key=key, now=now)


def entry_hash(row: dict[str, Any]) -> str:
    """SHA-256 of an entry's canonical form: every column but its own hash, as sorted compact JSON."""
    canonical = {name: _canonical_value(row[name]) for name in EXPORT_COLUMNS if name != "entry_hash"}
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def verify(engine: Engine) -> Verification:
    """Walk the whole chain in order; the first entry that is missing, out of order or altered stops the walk.

    A removed entry shows as a gap in ``seq`` (or a broken link), a reordered one as a
    broken link, a changed one as a hash that no longer matches. The head row is read
    first and the walk ends at the entry it names, so losing the newest entries is caught
    and entries appended meanwhile are left for the next walk, not taken for damage.
    """
    with engine.connect() as conn:
        return _walk(conn, start_seq=1, prev=GENESIS)


def verify_from_checkpoint(
    engine: Engine,
    *,
    now: datetime | None = None,
    whole_chain_every: timedelta = WHOLE_CHAIN_EVERY,
    whole_chain_below: int = WHOLE_CHAIN_BELOW,
) -> Verification:
    """Verify on from the newest checkpoint; the whole chain if it is short or was last walked long ago.

    The whole chain is walked while it has fewer than ``whole_chain_below`` entries, when
    there is no checkpoint, or when its last whole walk is ``whole_chain_every`` old.
    Otherwise the checkpoint's own entry is re-hashed and must still carry the hash it had
    then, so a chain rewritten from any earlier entry onward is caught at once; an entry
    before the checkpoint edited without re-hashing is caught by the next whole walk. An
    intact walk records a new checkpoint at the entry it ended on.
    """
    at = _naive_utc(now or datetime.now(UTC))
    with engine.connect() as conn:
        length = conn.execute(select(ledger_head.c.seq).where(ledger_head.c.head_id == _HEAD_ID)).scalar() or 0
        whole_chain_at = conn.execute(
            select(func.max(ledger_checkpoint.c.verified_at)).where(ledger_checkpoint.c.whole_chain)
        ).scalar()
        newest = conn.execute(
            select(ledger_checkpoint).order_by(ledger_checkpoint.c.checkpoint_id.desc()).limit(1)
        ).first()
        if (
            length < whole_chain_below
            or whole_chain_at is None
            or newest is None
            or at - whole_chain_at >= whole_chain_every
        ):
            result = _walk(conn, start_seq=1, prev=GENESIS)
            if result.intact:
                whole_chain_at = at
        else:
            result = _from_checkpoint(conn, int(newest.seq), str(newest.entry_hash), newest.verified_at)
        result = replace(result, whole_chain_at=whole_chain_at)
    if result.intact and result.entries:
        record_checkpoint(engine, result, at=at)
    return result


def record_checkpoint(engine: Engine, result: Verification, *, at: datetime | None = None) -> None:
    """Note that the chain was intact up to ``result.entries`` (nothing is noted for a broken chain)."""
    if not result.intact or not result.entries or not result.last_hash:
        return
    with engine.begin() as conn:  # the hash as the walk verified it, not as the table has it now
        conn.execute(
            insert(ledger_checkpoint).values(
                seq=result.entries,
                entry_hash=result.last_hash,
                verified_at=_naive_utc(at or datetime.now(UTC)),
                whole_chain=result.walked_from == 1,
            )
        )


def _from_checkpoint(conn: Connection, seq: int, checked_hash: str, checked_at: datetime) -> Verification:
    row = conn.execute(select(audit_ledger).where(audit_ledger.c.seq == seq)).mappings().first()
    when = _naive_utc(checked_at).isoformat(timespec="seconds")
    if row is None:
        return Verification(
            entries=seq - 1,
            first_bad_seq=seq,
            walked_from=seq,
            reason=f"entry {seq}, found intact on {when} UTC, is gone: entries were removed",
        )
    if entry_hash(dict(row)) != row["entry_hash"] or row["entry_hash"] != checked_hash:
        return Verification(
            entries=seq - 1,
            first_bad_seq=seq,
            walked_from=seq,
            reason=f"it no longer has the hash it had when found intact on {when} UTC: "
            "the entry, or the chain up to it, was rewritten",
        )
    return replace(_walk(conn, start_seq=seq + 1, prev=checked_hash), walked_from=seq)


def _walk(conn: Connection, *, start_seq: int, prev: str) -> Verification:
    """Check entries ``start_seq`` .. the head's, each against ``prev``, the hash of the one before."""
    head = conn.execute(select(ledger_head).where(ledger_head.c.head_id == _HEAD_ID)).first()
    head_seq = int(head.seq) if head is not None else None
    query = select(audit_ledger).where(audit_ledger.c.seq >= start_seq).order_by(audit_ledger.c.seq)
    if head_seq is not None:
        query = query.where(audit_ledger.c.seq <= head_seq)
    expected_seq = start_seq
    for row in conn.execution_options(yield_per=_VERIFY_CHUNK).execute(query).mappings():
        problem = _problem(dict(row), expected_seq, prev)
        if problem:
            return Verification(
                entries=expected_seq - 1, first_bad_seq=int(row["seq"]), reason=problem, walked_from=start_seq
            )
        expected_seq, prev = expected_seq + 1, str(row["entry_hash"])
    last = expected_seq - 1
    if head is not None and (head_seq != last or head.entry_hash != prev):
        return Verification(
            entries=last,
            first_bad_seq=last + 1,
            walked_from=start_seq,
            reason=f"the head says entry {head.seq} is the newest, but the chain ends at {last}: "
            "entries were removed from the end",
        )
    return Verification(entries=last, walked_from=start_seq, last_hash=prev)


def _problem(row: dict[str, Any], expected_seq: int, prev: str) -> str:
    if row["seq"] != expected_seq:
        return f"expected entry {expected_seq} here, found {row['seq']}: entries were removed or renumbered"
    if row["prev_hash"] != prev:
        return "its prev_hash is not the hash of the entry before: entries were removed or reordered"
    if entry_hash(row) != row["entry_hash"]:
        return "its content no longer matches its hash: the entry was changed"
    return ""


def export_rows(engine: Engine, since: datetime | None = None) -> Iterator[dict[str, Any]]:
    """The entries from ``since`` on, oldest first, streamed (values as they are hashed: ISO times)."""
    query = select(audit_ledger).order_by(audit_ledger.c.seq)
    if since is not None:
        query = query.where(audit_ledger.c.at >= _naive_utc(since))
    with engine.connect() as conn:
        for row in conn.execution_options(yield_per=_VERIFY_CHUNK).execute(query).mappings():
            yield {name: _canonical_value(row[name]) for name in EXPORT_COLUMNS}


def write_export(rows: Iterable[dict[str, Any]], out: io.TextIOBase | Any, fmt: str) -> int:
    """Write rows as CSV (header first) or as a JSON array, one entry per line; returns how many.

    Raises:
        ValueError: ``fmt`` is neither csv nor json.
    """
    if fmt not in ("csv", "json"):
        raise ValueError("format must be csv or json")
    count = 0
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            count += 1
        return count
    out.write("[")
    for row in rows:
        out.write(("\n" if count == 0 else ",\n") + json.dumps(row, ensure_ascii=False, sort_keys=True))
        count += 1
    out.write("\n]\n")
    return count


def _row(exchange: Exchange, key: bytes, seq: int, at: datetime, prev_hash: str) -> dict[str, Any]:
    hashed = sorted(hash_key(key, record_key) for record_key in exchange.record_keys)
    if len(hashed) > KEYS_IN_CLEAR_LIMIT:
        keys = "digest:" + hashlib.sha256(",".join(hashed).encode()).hexdigest()
    else:
        keys = ",".join(hashed)
    count = exchange.record_count if exchange.record_count is not None else len(exchange.record_keys)
    return {
        "seq": seq,
        "at": at,
        "correlation_id": exchange.correlation_id[:64],
        "action": exchange.action,
        "client": exchange.client[:64],
        "agency_code": exchange.agency_code,
        "purpose": exchange.purpose,
        "legal_basis": exchange.legal_basis,
        "dataset": exchange.dataset,
        "fields": ",".join(sorted(set(exchange.fields))),
        "record_count": count,
        "record_keys": keys,
        "outcome": exchange.outcome,
        "detail": exchange.detail,
        "prev_hash": prev_hash,
    }


def _canonical_value(value: Any) -> Any:
    """One column as hashed: times as naive-UTC ISO to the microsecond, whatever the driver returns."""
    if isinstance(value, datetime):
        return _naive_utc(value).isoformat(timespec="microseconds")
    return value


def _naive_utc(value: datetime) -> datetime:
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value
