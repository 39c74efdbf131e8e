"""Push subscriptions: which of a run's changes go to which agency, queued in the outbox.

``queue_changes`` runs inside the publish transaction of a run that changes a shared
dataset (``StreamSpec.shares``: golden citizens, or a declared dataset whose stream
shares), so a change and the pushes that report it commit together or not at all. For
every active subscription of the dataset whose agreements are valid on the day of the
publish, every record the run published becomes one message on topic
``push.<AGENCY_CODE>``, aggregate = the record's key (order is kept per record), payload:

    {"dataset": "citizen", "key": <the record's key>, "purpose": ..., "agreement_ids": [...],
     "legal_basis": ..., "run_id": ..., "changed_at": <publish time, UTC, ISO 8601>,
     "fields": {<granted field>: {"value", "source", "last_updated", "verified"}, ...}}

Only the fields the agreements grant are read into the payload (deny by default); a
subscription whose agreements do not grant the dataset's key (``personal_id`` for
citizens, the declared key otherwise) is not pushed, as the agency could not tell whose
record changed, nor is one whose agreements ask for the citizen's consent to each read.
Declared datasets are found in the catalogue (``hub.systems.catalogue``); their values
carry the provenance the generic merge stamped. The idempotency key is a digest of the
agency, the dataset, the key and the fields as sent (values and provenance), not of the
run: a re-run queues nothing twice, and an agency gets a new push only when what it
would receive differs (a value, its source or date of update, the verified flag).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, cast

from sqlalchemy import Connection, RowMapping, select

from hub.sharing.datasets import golden_table
from hub.sharing.outbox import NewMessage, enqueue_many
from hub.sharing.policy import Grant, require_grant
from hub.sharing.provenance import SourcedValue, declared_fields, open_conflicts, sourced_fields
from hub.store.tables import subscription
from hub.systems.catalogue import Catalogue, DatasetEntry, catalogue
from lgsp.errors import AccessDenied
from schemas.datasets import CITIZEN

log = logging.getLogger(__name__)

TOPIC_PREFIX = "push."
CHUNK = 1000  # records per read: memory stays flat however many the run published


@dataclass(frozen=True)
class Subscriber:
    """One agency's subscription with the grant it pushes under today."""

    grant: Grant
    topic: str
    fields: tuple[str, ...]  # granted fields of the dataset, sorted


def topic_for(agency_code: str) -> str:
    """The outbox topic of an agency's pushes."""
    return TOPIC_PREFIX + agency_code


def queue_changes(
    conn: Connection,
    dataset: str,
    run_id: str,
    now: datetime,
    *,
    chunk: int = CHUNK,
    known: Catalogue | None = None,
) -> int:
    """Queue one push per subscriber for every record ``run_id`` published; returns how many were queued.

    Raises:
        ValueError: ``dataset`` is not one the hub pushes (citizens, and declared datasets whose stream
            shares), or ``chunk`` is below 1.
    """
    entry = _pushed(dataset, known or catalogue())
    if chunk < 1:
        raise ValueError("chunk must be at least 1")
    subscribers = subscribers_on(conn, dataset, now.date(), known=known)
    if not subscribers:
        return 0
    wanted = sorted({name for subscriber in subscribers for name in subscriber.fields})
    table, key = golden_table(entry), entry.key
    # Only what some subscriber may receive is read (deny by default), plus what provenance needs.
    columns = [table.c[name] for name in sorted({*wanted, key, "provenance", "published_at"})]
    # One ordered query, streamed in chunks (as publish walks staging). A keyset walk
    # (key > last ... LIMIT) re-sorted every run row per chunk on the one-column index
    # on published_run_id: quadratic, 0.9 s of ids alone at 20,000 citizens.
    query = select(*columns).where(table.c.published_run_id == run_id).order_by(table.c[key])
    queued = 0
    for rows in conn.execute(query, execution_options={"yield_per": chunk}).mappings().partitions(chunk):
        # Provenance is decoded, and each field shaped, once per record for every subscriber together.
        shared = [_Record.of(row, key, values) for row, values in _sourced(conn, entry, rows, wanted)]
        for subscriber in subscribers:
            messages = [record.message(subscriber, run_id) for record in shared]
            queued += enqueue_many(conn, topic=subscriber.topic, messages=messages, now=now)
    log.info(
        "run %s: %d push(es) of %s queued for %s",
        run_id,
        queued,
        dataset,
        ", ".join(subscriber.grant.agency_code for subscriber in subscribers),
    )
    return queued


def _pushed(dataset: str, known: Catalogue) -> DatasetEntry:
    entry = known.datasets.get(dataset)
    if entry is None or not entry.shares:
        pushed = ", ".join(name for name, item in known.datasets.items() if item.shares)
        raise ValueError(f"pushes of dataset {dataset!r} are not supported; pushed datasets: {pushed}")
    return entry


def _sourced(
    conn: Connection, entry: DatasetEntry, rows: Sequence[RowMapping], wanted: list[str]
) -> list[tuple[RowMapping, dict[str, SourcedValue]]]:
    """Each row with its wanted fields sourced: citizens by their precedence and conflicts, others by the stamp."""
    if entry.name == CITIZEN:
        conflicts = open_conflicts(conn, [row["personal_id"] for row in rows])
        return [(row, sourced_fields(cast(Mapping[str, Any], row), wanted, conflicts)) for row in rows]
    return [(row, declared_fields(row, wanted, entry.key, entry.source)) for row in rows]


def subscribers_on(conn: Connection, dataset: str, on: date, *, known: Catalogue | None = None) -> list[Subscriber]:
    """The active subscriptions of ``dataset`` whose agreements are valid on ``on``, grant the key, need no consent."""
    key = (known or catalogue()).dataset(dataset).key
    found: list[Subscriber] = []
    rows = conn.execute(
        select(subscription.c.agency_code, subscription.c.purpose)
        .where(subscription.c.dataset == dataset, subscription.c.active)
        .order_by(subscription.c.agency_code, subscription.c.purpose)
    ).all()
    for agency_code, purpose in rows:
        try:
            grant = require_grant(conn, agency_code, dataset, purpose, on)
        except AccessDenied as denied:
            log.warning(
                "agency %s's %s subscription (%s) is not pushed: %s", agency_code, dataset, purpose, denied.rule
            )
            continue
        if key not in grant.fields:
            log.warning(
                "agency %s's %s subscription (%s) is not pushed: its agreements do not grant the key %s",
                agency_code,
                dataset,
                purpose,
                key,
            )
            continue
        if grant.consent_required:
            # A push has no citizen standing behind it: consent is given read by read.
            log.warning(
                "agency %s's %s subscription (%s) is not pushed: its agreements ask for the citizen's consent "
                "to each read; read through the API with a consent instead",
                agency_code,
                dataset,
                purpose,
            )
            continue
        found.append(Subscriber(grant, topic_for(agency_code), tuple(sorted(grant.fields))))
    return found


def push_key(agency_code: str, dataset: str, record_key: str, fields: Mapping[str, Mapping[str, Any]]) -> str:
    """The idempotency key of a push: a digest of who receives what (no personal value in clear).

    ``fields`` are the shared fields as sent (``SourcedValue.as_json``); their order does not matter.
    """
    parts = (_part(name, sent) for name, sent in sorted(fields.items()))
    return _digest(agency_code, dataset, record_key, "".join(parts))


@dataclass(frozen=True, slots=True)
class _Record:
    """One published record shaped once for every subscriber: the fields as sent, their digest parts."""

    key: str
    changed_at: str
    sent: dict[str, dict[str, Any]]
    parts: dict[str, str]

    @classmethod
    def of(cls, row: RowMapping, key: str, values: Mapping[str, SourcedValue]) -> _Record:
        sent = {name: value.as_json() for name, value in values.items()}
        parts = {name: _part(name, shaped) for name, shaped in sent.items()}
        # The store's naive UTC with its offset, so an agency need not guess the zone.
        return cls(str(row[key]), row["published_at"].replace(tzinfo=UTC).isoformat(), sent, parts)

    def message(self, subscriber: Subscriber, run_id: str) -> NewMessage:
        grant, names = subscriber.grant, subscriber.fields  # sorted, as push_key orders them
        payload = {
            "dataset": grant.dataset,
            "key": self.key,
            "purpose": grant.purpose,
            "agreement_ids": list(grant.agreement_ids),
            "legal_basis": grant.legal_basis,
            "run_id": run_id,
            "changed_at": self.changed_at,
            "fields": {name: self.sent[name] for name in names},
        }
        content = "".join(self.parts[name] for name in names)
        return NewMessage(self.key, payload, _digest(grant.agency_code, grant.dataset, self.key, content))


def _part(name: str, sent: Mapping[str, Any]) -> str:
    # repr of str/bool/None tuples is stable, and far cheaper than canonical JSON per message (measured).
    return repr((name, sent["value"], sent["source"], sent["last_updated"], sent["verified"]))


def _digest(agency_code: str, dataset: str, record_key: str, content: str) -> str:
    text = repr((agency_code, dataset, record_key)) + content
    return "push-" + hashlib.sha256(text.encode()).hexdigest()[:48]
