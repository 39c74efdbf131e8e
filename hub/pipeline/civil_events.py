"""Publish civil-status events: record each one and apply it to the golden citizens.

A death sets the date of death (and widows a married spouse), a marriage marries
both spouses, a birth links to the child's record. An event whose subject the
population data does not know yet is held as ``pending`` and applied by a later
run once the person arrives. Every field change goes through the precedence rules
(hub.pipeline.golden), so a disagreement becomes a ``field_conflict`` row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, bindparam, select, update

from hub.pipeline.golden import Provenance, SplitProvenance, merge_fields, record_conflicts
from hub.pipeline.stages import MergeCounts
from hub.pipeline.winners import passing_winners
from hub.store.bulk import bulk_insert, execute_many
from hub.store.tables import citizen, civil_event, staging_civil_event

SYSTEM = "civil_status"
APPLIED, NO_CHANGE, CONFLICT, PENDING, LINKED = "applied", "no_change", "conflict", "pending", "linked"


@dataclass
class _Batch:
    """Golden rows touched by a chunk of events, written back once at the end of the chunk."""

    golden: dict[str, dict[str, Any]]
    born: set[str] = field(default_factory=set)  # subjects of births (linked only): known present, not read
    # Each touched person's provenance, decoded at its first merge and encoded once at write-back.
    provenance: dict[str, SplitProvenance] = field(default_factory=dict)
    changed: set[str] = field(default_factory=set)  # rows whose values, provenance or conflicts moved
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    agreements: list[tuple[str, str]] = field(default_factory=list)


def merge_events(conn: Connection, run_id: str, now: datetime) -> MergeCounts:
    """Accept the run's passing events; re-try events held as pending. Returns this run's counts."""
    resolve_pending(conn, run_id, now)
    published = unchanged = 0
    for winners, superseded in passing_winners(conn, staging_civil_event, run_id, "event_id", "recorded_at"):
        unchanged += superseded
        known = _known_events(conn, [row["event_id"] for row in winners])
        fresh = [row for row in winners if known.get(row["event_id"]) != row["content_hash"]]
        unchanged += len(winners) - len(fresh)
        batch = _batch(conn, fresh)
        inserts: list[dict[str, Any]] = []
        for row in fresh:
            event = _event_values(row, run_id, now)
            event["outcome"] = _apply(batch, event, _origin(row, run_id))
            if row["event_id"] in known:  # corrected at the source: the new version replaces the old
                conn.execute(update(civil_event).where(civil_event.c.event_id == event["event_id"]).values(**event))
            else:
                inserts.append(event)
        bulk_insert(conn, civil_event, inserts)
        _write_back(conn, batch, run_id, now)
        published += len(fresh)
    return MergeCounts(published=published, unchanged=unchanged)


def resolve_pending(conn: Connection, run_id: str, now: datetime) -> int:
    """Apply held events whose subject (and spouse) have since reached the golden table."""
    pending = conn.execute(select(civil_event).where(civil_event.c.outcome == PENDING)).mappings().all()
    if not pending:
        return 0
    batch = _batch(conn, pending)
    resolved = 0
    for row in pending:
        event = dict(row)
        origin = Provenance(SYSTEM, row["recorded_at"], now, run_id)
        outcome = _apply(batch, event, origin)
        if outcome != PENDING:
            conn.execute(
                update(civil_event)
                .where(civil_event.c.event_id == row["event_id"])
                .values(outcome=outcome, resolved_at=now)
            )
            resolved += 1
    _write_back(conn, batch, run_id, now)
    return resolved


def _apply(batch: _Batch, event: Mapping[str, Any], origin: Provenance) -> str:
    """Change the golden records as the event says; returns the event's outcome."""
    if event["event_type"] == "birth":
        return LINKED if event["personal_id"] in batch.born or event["personal_id"] in batch.golden else PENDING
    subject = batch.golden.get(event["personal_id"])
    if subject is None:
        return PENDING
    if event["event_type"] == "death":
        outcomes = [_merge(batch, subject, {"death_date": event["event_date"]}, origin)]
        spouse = batch.golden.get(subject["spouse_id"] or "")
        if spouse is not None and spouse["marital_status"] == "married" and spouse["death_date"] is None:
            outcomes.append(_merge(batch, spouse, {"marital_status": "widowed"}, origin))
        return _combined(outcomes)
    spouse = batch.golden.get(event["spouse_id"] or "")
    if spouse is None:
        return PENDING
    return _combined(
        [
            _merge(batch, subject, {"marital_status": "married", "spouse_id": spouse["personal_id"]}, origin),
            _merge(batch, spouse, {"marital_status": "married", "spouse_id": subject["personal_id"]}, origin),
        ]
    )


def _merge(batch: _Batch, person: dict[str, Any], values: dict[str, Any], origin: Provenance) -> str:
    pid = person["personal_id"]
    split = batch.provenance.get(pid)
    if split is None:
        split = batch.provenance[pid] = SplitProvenance(person["provenance"])
    provenance = split.reading(values)
    stamps_before = [provenance.get(name) for name in values]  # only these fields' stamps can move
    merge = merge_fields(person, values, origin, origin.fetched_at, provenance)
    person.update(merge.changes)
    if merge.changes or merge.conflicts or stamps_before != [provenance.get(name) for name in values]:
        batch.changed.add(pid)
    batch.conflicts += merge.conflicts
    batch.agreements += merge.agreements
    if merge.conflicts:
        return CONFLICT
    return APPLIED if merge.changes else NO_CHANGE


def _combined(outcomes: list[str]) -> str:
    for outcome in (CONFLICT, APPLIED):
        if outcome in outcomes:
            return outcome
    return NO_CHANGE


def _write_back(conn: Connection, batch: _Batch, run_id: str, now: datetime) -> None:
    record_conflicts(conn, batch.conflicts, batch.agreements, now)
    # Only changed citizens are written: a merged one that did not change holds what was read.
    # A changed citizen is marked published by this run, as the population merge does: the change
    # feed and the pushes to subscribers (hub.sharing.push) find what a run changed that way.
    for pid in batch.changed:
        batch.golden[pid].update(provenance=batch.provenance[pid].encode(), published_run_id=run_id, published_at=now)
    fields = ("death_date", "marital_status", "spouse_id", "provenance", "published_run_id", "published_at")
    rows = [{"key": pid, **{name: batch.golden[pid][name] for name in fields}} for pid in sorted(batch.changed)]
    execute_many(conn, update(citizen).where(citizen.c.personal_id == bindparam("key")), rows)


def _event_values(row: RowMapping, run_id: str, now: datetime) -> dict[str, Any]:
    return {
        "event_id": row["event_id"],
        "event_type": row["event_type"],
        "personal_id": row["personal_id"],
        "spouse_id": row["spouse_id"] or None,
        "event_date": date.fromisoformat(row["event_date"]),
        "commune": row["commune"],
        "recorded_at": datetime.fromisoformat(row["recorded_at"]),
        "content_hash": row["content_hash"],
        "run_id": run_id,
        "published_at": now,
        "resolved_at": None,
    }


def _origin(row: RowMapping, run_id: str) -> Provenance:
    fetched = row["fetched_at"]
    fetched_at = fetched if isinstance(fetched, datetime) else datetime.fromisoformat(str(fetched))
    return Provenance(SYSTEM, datetime.fromisoformat(row["recorded_at"]), fetched_at, run_id)


def _batch(conn: Connection, events: Sequence[Mapping[Any, Any]]) -> _Batch:
    """What applying ``events`` reads: the golden rows of the people a death or marriage changes, and of a
    dying person's current spouse (a death widows the spouse); of a birth's subject only that it is there
    (most events are births: reading their ~2 KB rows was most of publish's reads).
    """
    changing = [row for row in events if row["event_type"] != "birth"]
    people = {row["personal_id"] for row in changing} | {row["spouse_id"] for row in changing if row["spouse_id"]}
    golden = _rows(conn, {pid for pid in people if pid})
    dying = {row["personal_id"] for row in changing if row["event_type"] == "death"}
    spouses = {golden[pid]["spouse_id"] for pid in dying if pid in golden and golden[pid]["spouse_id"]}
    golden.update(_rows(conn, spouses - set(golden)))
    births = {row["personal_id"] for row in events if row["event_type"] == "birth" and row["personal_id"]}
    return _Batch(golden=golden, born=_present(conn, births - set(golden)))


# What applying an event reads and writes of a golden citizen (not the whole row: most of publish's reads).
_APPLIED = (
    "personal_id",
    "death_date",
    "marital_status",
    "spouse_id",
    "provenance",
    "published_run_id",
    "published_at",
)


def _rows(conn: Connection, personal_ids: set[str]) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    ordered = sorted(personal_ids)
    columns = [citizen.c[name] for name in _APPLIED]
    for start in range(0, len(ordered), 1000):
        query = select(*columns).where(citizen.c.personal_id.in_(ordered[start : start + 1000]))
        for row in conn.execute(query):
            rows[row[0]] = dict(zip(_APPLIED, row, strict=True))
    return rows


def _present(conn: Connection, personal_ids: set[str]) -> set[str]:
    """Which of these people the golden table holds (its primary key alone: no row is read)."""
    present: set[str] = set()
    ordered = sorted(personal_ids)
    for start in range(0, len(ordered), 1000):
        query = select(citizen.c.personal_id).where(citizen.c.personal_id.in_(ordered[start : start + 1000]))
        present.update(conn.execute(query).scalars())
    return present


def _known_events(conn: Connection, event_ids: list[str]) -> dict[str, str]:
    query = select(civil_event.c.event_id, civil_event.c.content_hash).where(civil_event.c.event_id.in_(event_ids))
    return {event_id: digest for event_id, digest in conn.execute(query)}
