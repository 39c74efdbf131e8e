"""Deliver the outbox: dossier statuses to the National Public Service Portal, pushes to agencies.

One machinery (``_Run``) serves every peer; a ``Channel`` says what a message's body is,
how it is sent and what is recorded once it settles.

The payload of a ``portal.dossier_status`` message is the portal's body
(``TrangThai, ThoiDiem, MaThuTuc, MaDonViXuLy, KenhNop``), optionally with ``MaHoSo``,
which travels in the path instead and must then equal the aggregate (the dossier
code); the message's idempotency key travels as ``Idempotency-Key``. ``push.<AGENCY>``
messages (``hub.sharing.push``) are posted to the agency's inbox in batches (one request,
each push an item with its idempotency key as id, signed per Standard Webhooks:
``hub.sharing.signing``), and the agency answers per item.

Rules:
- Order per aggregate (a dossier, a citizen): only its lowest-sequence message that
  is not yet acknowledged or dead (its *head*) may be sent. A head waiting for its
  retry time holds the later ones back (counted as ``blocked``).
- Due only: a run sends what was due (``next_attempt_at``) when it started, so a
  message put back for a retry waits for a later run.
- Claim, then call: the message is marked ``sent`` (attempts + 1) in its own commit
  before the call, then ``acknowledged`` with the peer's ``MaXacNhan``.
- A crash between the call and the acknowledgement leaves the message ``sent``; the
  next run sends it again under the same key and the peer answers with its first
  acknowledgement (HTTP 200), so nothing is applied twice.
- 409 (the status would go backwards; the agency holds something conflicting) and 422
  (invalid payload, reused key) are answers about this message only: it goes ``dead``
  with the status and problem type.
- A dead message does NOT block the aggregate's later messages: the portal must end
  with the dossier's latest status, and one refused update says nothing about the
  next (after a 409 the portal already holds something newer). The operator
  replays the dead one after a fix (``lgsp outbox replay``).
- Transient failures (still failing after the RestClient's own retries): back to
  ``pending`` after ``backoff(attempts)``, or ``dead`` once ``max_attempts`` are spent.
- Fatal failures (bad key or signature, another 4xx, a broken contract) would fail
  every later message the same way: the run stops and raises, and the message goes
  back to ``pending`` with the error and without the attempt counted (the fault is ours).
- Two runs at once never claim the same version of a message (the claim is
  conditional); at worst one re-sends a message the other has in flight, which the
  key makes harmless. Schedule one run at a time all the same.

Pushes, in addition (``deliver_pushes``):
- Batches of up to ``LGSP_PUSH_BATCH_SIZE`` heads, so at most one change per citizen in a
  batch: a citizen's next change goes in a later batch, once this one is acknowledged or
  dead. The batch is claimed in one statement and settled in one transaction; each item
  settles on its own answer (a 409/422 item goes dead alone), one ledger entry per batch and
  outcome (and dataset, purpose, fields) lists the records it covers. A failure of the whole
  request (transient or fatal) is every item's, as it was one message's.
- A run keeps one batch in flight (posted by a sender thread) while it claims the next and
  settles the last; a citizen's next change stays held back while its head is in flight.
- Lanes: ``lanes`` deliverers may run at once (Airflow mapped tasks); lane ``i`` serves the
  citizens whose key hashes to ``i`` (``lane_of``), so a citizen is always served by one lane.
- One run per agency; a fatal failure (a 401: our secret is wrong) stops that agency
  only, and is raised once every other agency has had its turn.
- An agency with no push endpoint configured keeps its messages pending (one log
  line per delivery run), which is not an error for the others.
- The agreement is checked again when a push is sent: a push whose agreements have
  lapsed, or that carries a field they no longer grant, goes dead without a call.
- Every acknowledged or dead push appends an entry to the audit ledger (action
  ``push``) in the transaction that settles it; so does every status the portal
  acknowledged or refused (dataset ``dossier``).
"""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import msgspec
from sqlalchemy import Connection, Engine, Integer, Row, String, bindparam, exists, func, select, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import ColumnElement

from connectors import agency as agency_wire
from connectors.acknowledgement import Answer, valid_idempotency_key
from connectors.auth import ApiKeyAuth
from connectors.portal import API_KEY_HEADER, SYSTEM, PortalClient
from connectors.rest import RestClient
from hub import ledger
from hub.keys import LEDGER_KEY, hub_key
from hub.settings import Endpoint, Settings, agency_push_endpoint, portal_endpoint
from hub.sharing.outbox import ACKNOWLEDGED, DEAD, PENDING, SENT, one_of
from hub.sharing.policy import Grant, require_grant
from hub.sharing.push import TOPIC_PREFIX
from hub.sharing.signing import WebhookSigner, batch_id
from hub.store.tables import OUTBOX_OPEN, agency, outbox
from lgsp.errors import AccessDenied, ConfigError, FatalSourceError, LgspError, TransientSourceError

log = logging.getLogger(__name__)

TOPIC = "portal.dossier_status"
BATCH_SIZE = 500  # heads read per query: memory stays flat however long the outbox is
_OPEN = (PENDING, SENT)
_FIRST_RETRY = timedelta(minutes=1)
_LAST_RETRY = timedelta(hours=1)
_EARLIER = outbox.alias("earlier")
# The message has an earlier one of its aggregate still open (pending or sent). Built once: it is in every query.
_HELD_BACK = exists().where(
    _EARLIER.c.topic == outbox.c.topic,
    _EARLIER.c.aggregate_id == outbox.c.aggregate_id,
    _EARLIER.c.state.in_(_OPEN),
    _EARLIER.c.sequence < outbox.c.sequence,
)
_UNSENDABLE = (
    "unsendable: the payload is not a JSON object or names another dossier (MaHoSo), or the idempotency key "
    "is not 1-255 visible ASCII characters; fix the producer, then enqueue the update again"
)
_UNSENDABLE_PUSH = (
    "unsendable: the payload is not a push of this record (dataset, purpose, key, fields), or the idempotency "
    "key is not 1-255 visible ASCII characters; fix the producer, then queue the change again"
)
_PORTAL_REFUSALS = {
    409: "the status would go backwards from the one the portal holds",
    422: "the portal calls the payload invalid, or the key was used for another update",
}
_AGENCY_REFUSALS = {
    409: "the agency refuses the change as conflicting with what it holds",
    422: "the agency calls the payload invalid, or the key was used for another push",
}
# What a deliverer reads of a message it may send: the same for the portal and the agencies' lanes.
_SENT_COLUMNS = (
    outbox.c.message_id,
    outbox.c.aggregate_id,
    outbox.c.payload,
    outbox.c.idempotency_key,
    outbox.c.state,
    outbox.c.attempts,
)


@dataclass(frozen=True, slots=True)
class DeliverySummary:
    """What one run did: calls made, acknowledgements, retries scheduled, dead letters, messages held back."""

    sent: int = 0
    acknowledged: int = 0
    retried: int = 0
    dead: int = 0
    blocked: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counts by name (for logs and XCom)."""
        return asdict(self)


class Channel(Protocol):
    """One peer a run delivers to."""

    peer: str  # names the peer in errors and logs: "portal", "agency BHXH"

    def prepare(self, row: Row[Any]) -> dict[str, Any] | str:
        """The body to send, or why the message can never be sent (it goes dead without a call)."""
        ...

    def send(self, row: Row[Any], body: dict[str, Any]) -> Answer:
        """Send one message; refusals (409/422) come back as answers."""
        ...

    def refusal(self, answer: Answer) -> str:
        """Why the peer refused, for ``last_error``: status and problem type, never the payload."""
        ...

    def settled(self, conn: Connection, row: Row[Any], state: str, values: Mapping[str, Any]) -> None:
        """Record a message that reached ``acknowledged`` or ``dead``, inside the settling transaction."""
        ...


def backoff(attempts: int) -> timedelta:
    """How long a message waits after its ``attempts``-th failed delivery: 1 minute, doubling, at most 1 hour."""
    doublings = max(0, min(attempts - 1, 16))  # capped before the power: 2**attempts overflows timedelta
    return min(_FIRST_RETRY * (1 << doublings), _LAST_RETRY)


def connect_portal(settings: Settings) -> PortalClient:
    """A portal client from ``portal_endpoint(settings)``: API key, timeout and retries from the settings.

    Raises:
        ConfigError: the portal endpoint or key is not configured.
    """
    endpoint = portal_endpoint(settings)
    client = RestClient(
        SYSTEM,
        endpoint.url,
        auth=ApiKeyAuth(API_KEY_HEADER, endpoint.password),
        timeout=settings.operation_timeout,
        max_attempts=settings.max_attempts,
        backoff=settings.backoff_seconds,
        max_body_bytes=settings.max_response_bytes,
    )
    return PortalClient(client)


def connect_agency(settings: Settings, agency_code: str, endpoint: Endpoint) -> agency_wire.AgencyClient:
    """A client for one agency's inbox: every attempt signed with its secret(s); timeout and retries from settings.

    Raises:
        ConfigError: the inbox URL is not http(s), or the secret is empty or not usable.
    """
    origin, path = agency_wire.split_inbox_url(endpoint.url)
    client = RestClient(
        f"{agency_wire.SYSTEM} {agency_code}",
        origin,
        auth=WebhookSigner(endpoint.password),
        timeout=settings.operation_timeout,
        max_attempts=settings.max_attempts,
        backoff=settings.backoff_seconds,
        max_body_bytes=settings.max_response_bytes,
    )
    return agency_wire.AgencyClient(client, path)


def deliver(
    engine: Engine,
    settings: Settings,
    *,
    topic: str = TOPIC,
    limit: int | None = None,
    max_attempts: int = 8,
    now: datetime | None = None,
) -> DeliverySummary:
    """Send the due messages of ``topic`` to the portal, at most ``limit`` calls; ``now`` freezes the clock (tests).

    Raises:
        ConfigError: the portal is not configured.
        FatalSourceError: the portal refuses us (bad key, contract); the message stays pending.
        ValueError: ``limit`` is negative or ``max_attempts`` below 1.
    """
    clock = _clock(limit, max_attempts, now)
    with connect_portal(settings) as portal:
        channel = _PortalChannel(portal, hub_key(settings, LEDGER_KEY), clock)
        summary = _Run(engine, channel, topic, max_attempts, clock).deliver(limit)
    log.info("outbox %s: %s", topic, summary.as_dict())
    return summary


def deliver_pushes(
    engine: Engine,
    settings: Settings,
    *,
    now: datetime | None = None,
    limit: int | None = None,
    max_attempts: int = 8,
    lane: int = 0,
    lanes: int = 1,
) -> dict[str, DeliverySummary]:
    """Send every agency's due pushes (``push.*`` topics) of lane ``lane`` of ``lanes``, in batches; by agency code.

    ``limit`` caps the pushes sent per agency. Agencies without a configured endpoint are left
    out of the result (their pushes wait).

    Raises:
        ConfigError: an agency's endpoint is misconfigured (e.g. the demo secret off loopback); raised
            after the other agencies were served, its pushes stay pending.
        FatalSourceError: an agency refuses our signature (401) or answers another fatal error; raised
            after the other agencies were served, its pushes stay pending.
        ValueError: ``limit`` is negative, ``max_attempts`` below 1, or ``lane`` not in ``range(lanes)``.
    """
    clock = _clock(limit, max_attempts, now)
    if not 0 <= lane < lanes:
        raise ValueError(f"lane must be in 0..{lanes - 1} (lanes: {lanes})")
    key = hub_key(settings, LEDGER_KEY)
    summaries: dict[str, DeliverySummary] = {}
    failures: list[tuple[str, LgspError]] = []
    for code, declared_url, waiting in _agencies_with_pushes(engine):
        try:
            endpoint = agency_push_endpoint(settings, code, declared_url)
            if endpoint is None:
                log.warning(
                    "agency %s: %d push(es) wait: no push endpoint; set the Airflow connection "
                    "agency_push_%s (URL, the push secret as password)",
                    code,
                    waiting,
                    code.lower().replace("-", "_"),
                )
                continue
            with connect_agency(settings, code, endpoint) as client:
                channel = _AgencyChannel(engine, client, code, key, clock)
                run = _PushRun(engine, channel, TOPIC_PREFIX + code, max_attempts, clock)
                summaries[code] = run.in_lane(lane, lanes, settings.push_batch_size).deliver(limit)
        except (ConfigError, FatalSourceError) as exc:  # this agency's fault: the others still get theirs
            log.error("agency %s: pushes stopped: %s", code, exc)
            failures.append((code, exc))
            continue
        log.info("pushes to %s (lane %d of %d): %s", code, lane, lanes, summaries[code].as_dict())
    if failures:
        _raise_for(failures)
    return summaries


def lane_of(aggregate_id: str, lanes: int) -> int:
    """The lane that serves an aggregate (a citizen): a stable hash of its key (CRC-32, the same in every process)."""
    return zlib.crc32(aggregate_id.encode()) % lanes


def _clock(limit: int | None, max_attempts: int, now: datetime | None) -> Callable[[], datetime]:
    if limit is not None and limit < 0:
        raise ValueError("limit must be zero or more (None: no limit)")
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    if now is not None and now.tzinfo is not None:
        now = now.astimezone(UTC).replace(tzinfo=None)  # the store keeps naive UTC
    frozen = now
    return (lambda: frozen) if frozen is not None else _utcnow


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)  # the store keeps naive UTC


def _agencies_with_pushes(engine: Engine) -> list[tuple[str, str | None, int]]:
    """(agency code, declared push_url, open pushes) for every push topic with open messages."""
    query = (
        select(outbox.c.topic, func.count())
        .where(outbox.c.topic.startswith(TOPIC_PREFIX, autoescape=True), outbox.c.state.in_(_OPEN))
        .group_by(outbox.c.topic)
        .order_by(outbox.c.topic)
    )
    with engine.connect() as conn:
        topics = conn.execute(query).tuples().all()
        declared = dict(conn.execute(select(agency.c.agency_code, agency.c.push_url)).tuples().all())
    return [(topic[len(TOPIC_PREFIX) :], declared.get(topic[len(TOPIC_PREFIX) :]), int(n)) for topic, n in topics]


def _raise_for(failures: list[tuple[str, LgspError]]) -> None:
    text = "; ".join(f"agency {code}: {exc}" for code, exc in failures)
    if any(isinstance(exc, ConfigError) for _, exc in failures):
        raise ConfigError(f"pushes stopped for {len(failures)} agency(ies), the others were served: {text}")
    raise FatalSourceError(
        f"pushes stopped for {len(failures)} agency(ies), the others were served (their pushes stay pending): {text}",
        system=agency_wire.SYSTEM,
        operation="push",
    )


class _Run:
    """One delivery run over one topic: a fixed cut-off for what is due, and the tallies."""

    def __init__(
        self, engine: Engine, channel: Channel, topic: str, max_attempts: int, clock: Callable[[], datetime]
    ) -> None:
        self.engine, self.channel, self.topic, self.max_attempts, self.clock = (
            engine,
            channel,
            topic,
            max_attempts,
            clock,
        )
        self.cutoff = clock()
        self._conn: Connection | None = None  # held for a whole run by _PushRun
        self.tally = {"sent": 0, "acknowledged": 0, "retried": 0, "dead": 0}

    def deliver(self, limit: int | None) -> DeliverySummary:
        """Pass over the heads in message order until a pass sends nothing (or the limit is reached)."""
        progressed = True
        while progressed and self.tally["sent"] != limit:
            progressed, after = False, self._start()
            while self.tally["sent"] != limit and (batch := self._heads(after)):
                for row in batch:
                    if self.tally["sent"] == limit:
                        break
                    progressed = self._one(row) or progressed
                after = batch[-1].message_id
        return DeliverySummary(**self.tally, blocked=self._blocked())

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        """A transaction: on the run's own connection if it holds one, else on one from the pool."""
        if self._conn is None:
            with self.engine.begin() as conn:
                yield conn
        else:
            with self._conn.begin():
                yield self._conn

    def _start(self) -> int:
        """Where a pass starts: just before the topic's first open message (one lookup in ix_outbox_open).

        The acknowledged history before it is never walked; 0 when nothing is open.
        """
        first = select(func.min(outbox.c.message_id)).where(outbox.c.topic == self.topic, text(OUTBOX_OPEN))
        with self._tx() as conn:
            return max(0, (conn.execute(first).scalar() or 1) - 1)

    def _heads(self, after: int) -> list[Row[Any]]:
        query = (
            select(*_SENT_COLUMNS)
            .where(self._due(), outbox.c.message_id > after, ~_HELD_BACK)
            .order_by(outbox.c.message_id)
            .limit(BATCH_SIZE)
        )
        with self._tx() as conn:
            return list(conn.execute(query))

    def _due(self) -> ColumnElement[bool]:
        return (outbox.c.topic == self.topic) & outbox.c.state.in_(_OPEN) & (outbox.c.next_attempt_at <= self.cutoff)

    def _blocked(self) -> int:
        query = select(func.count()).select_from(outbox).where(self._due(), _HELD_BACK)
        with self._tx() as conn:
            return int(conn.execute(query).scalar_one())

    def _one(self, row: Row[Any]) -> bool:
        """Deliver one head; False if another run claimed it first."""
        body = self.channel.prepare(row)
        if isinstance(body, str):
            return self._settle(row, DEAD, last_error=body)
        if not self._claim(row):
            return False
        self.tally["sent"] += 1
        try:
            answer = self.channel.send(row, body)
        except TransientSourceError as exc:
            return self._retry_later(row, exc)
        except FatalSourceError as exc:
            self._settle(row, PENDING, attempts=row.attempts, last_error=str(exc))
            raise FatalSourceError(
                f"{self.channel.peer} delivery stopped at outbox message {row.message_id} (left pending, as are "
                f"the rest): {exc}",
                system=exc.system,
                operation=exc.operation,
            ) from exc
        if answer.acknowledged:
            return self._settle(row, ACKNOWLEDGED, ack_id=answer.ack_id, acknowledged_at=self.clock())
        return self._settle(row, DEAD, last_error=self.channel.refusal(answer))

    def _claim(self, row: Row[Any]) -> bool:
        """Mark the message sent in its own commit, if it is still what we read and still its aggregate's head."""
        claim = (
            update(outbox)
            .where(
                outbox.c.message_id == row.message_id,
                outbox.c.state == row.state,
                outbox.c.attempts == row.attempts,
                ~_HELD_BACK,
            )
            .values(state=SENT, attempts=row.attempts + 1, sent_at=self.clock())
        )
        with self._tx() as conn:
            return conn.execute(claim).rowcount == 1

    def _retry_later(self, row: Row[Any], exc: TransientSourceError) -> bool:
        attempts = row.attempts + 1
        if attempts >= self.max_attempts:
            return self._settle(row, DEAD, last_error=f"gave up after {attempts} attempts: {exc}")
        wait = max(backoff(attempts), timedelta(seconds=exc.retry_after or 0))
        self.tally["retried"] += 1
        return self._settle(row, PENDING, next_attempt_at=self.clock() + wait, last_error=str(exc))

    def _settle(self, row: Row[Any], state: str, **values: Any) -> bool:
        """Record the outcome; an unsendable message (never claimed) is settled from its open state."""
        if state == DEAD:
            self.tally["dead"] += 1
            log.warning("outbox message %d is dead: %s", row.message_id, values["last_error"])
        elif state == ACKNOWLEDGED:
            self.tally["acknowledged"] += 1
        settle = update(outbox).where(outbox.c.message_id == row.message_id, outbox.c.state.in_(_OPEN))
        with self._tx() as conn:
            moved = conn.execute(settle.values(state=state, **values)).rowcount == 1
            if moved and state in (ACKNOWLEDGED, DEAD):
                self.channel.settled(conn, row, state, values)
        return True


class _PushRun(_Run):
    """Pushes to one agency: heads of one lane, sent in batches, each item settled on its own answer."""

    channel: _AgencyChannel

    def in_lane(self, lane: int, lanes: int, batch_size: int) -> _PushRun:
        """Serve lane ``lane`` of ``lanes``, ``batch_size`` pushes per request."""
        self.lane, self.lanes, self.batch_size = lane, lanes, batch_size
        return self

    def deliver(self, limit: int | None) -> DeliverySummary:
        """Pass over the lane's heads in message order, a batch at a time, until a pass sends nothing.

        One batch is in flight while the next is read and claimed and the previous one settled: the
        store's work overlaps the agency's, as a bare client's requests follow each other back to back.
        Each pass ends with nothing in flight, so a later pass never reads a batch still on its way.
        """
        # One connection for the run: the pool pings PostgreSQL at every checkout, four per batch (measured).
        with self.engine.connect() as self._conn, ThreadPoolExecutor(1, thread_name_prefix="push-send") as sender:
            try:
                self._passes(sender, limit)
                return DeliverySummary(**self.tally, blocked=self._lane_blocked())
            finally:
                self._conn = None

    def _passes(self, sender: ThreadPoolExecutor, limit: int | None) -> None:
        progressed = True
        while progressed and self.tally["sent"] != limit:
            progressed, after = False, self._start()
            flight: _Flight | None = None
            try:
                while self.tally["sent"] != limit and (page := self._lane_heads(after)):
                    after, rows = page
                    for batch in self._batches(rows, limit):
                        claimed, bodies, moved = self._claim_batch(batch)
                        progressed = progressed or moved
                        if claimed:
                            landing, flight = flight, None  # landed once, even if landing raises
                            self._land(landing, claimed)
                            flight = _Flight(claimed, bodies, sender.submit(self._send, claimed))
            finally:
                self._land(flight, [])

    def _lane_heads(self, after: int) -> tuple[int, list[Row[Any]]] | None:
        """The next page of heads after ``after``: (the page's last id, this lane's heads with their payloads).

        Ids and keys first, payloads only for this lane's: a lane does not read the others' pushes.
        """
        page = self.batch_size * self.lanes
        query = (
            select(outbox.c.message_id, outbox.c.aggregate_id)
            .where(self._due(), outbox.c.message_id > after, ~_HELD_BACK)
            .order_by(outbox.c.message_id)
            .limit(page)
        )
        with self._tx() as conn:
            heads = conn.execute(query).all()
            if not heads:
                return None
            mine = [row.message_id for row in heads if lane_of(row.aggregate_id, self.lanes) == self.lane]
            rows: list[Row[Any]] = list(
                conn.execute(
                    select(*_SENT_COLUMNS).where(one_of(conn, outbox.c.message_id, mine)).order_by(outbox.c.message_id)
                )
            )
        return heads[-1].message_id, rows

    def _batches(self, rows: list[Row[Any]], limit: int | None) -> Iterator[list[Row[Any]]]:
        for start in range(0, len(rows), self.batch_size):
            room = self.batch_size if limit is None else min(self.batch_size, limit - self.tally["sent"])
            if room <= 0:
                return
            yield rows[start : start + room]
            if room < self.batch_size:
                return

    def _lane_blocked(self) -> int:
        query = select(outbox.c.aggregate_id).where(self._due(), _HELD_BACK)
        with self._tx() as conn:
            return sum(lane_of(key, self.lanes) == self.lane for key in conn.execute(query).scalars())

    def _claim_batch(self, rows: list[Row[Any]]) -> tuple[list[Row[Any]], dict[int, dict[str, Any]], bool]:
        """Prepare and claim a batch: (the heads claimed, their bodies, whether any message moved).

        Unsendable heads go dead here, without a call.
        """
        bodies: dict[int, dict[str, Any]] = {}
        for row in rows:
            body = self.channel.prepare(row)
            if isinstance(body, str):
                self._settle(row, DEAD, last_error=body)
            else:
                bodies[row.message_id] = body
        won = self._claim_all([row for row in rows if row.message_id in bodies])
        claimed = [row for row in rows if row.message_id in won]
        self.tally["sent"] += len(claimed)
        return claimed, bodies, bool(claimed) or len(bodies) < len(rows)

    def _send(self, claimed: list[Row[Any]]) -> tuple[str, Mapping[str, Answer]]:
        """Post a claimed batch (in the sender thread): its webhook-id and the answer per item."""
        # The stored JSON text goes out as it is: prepare parsed and checked it.
        items = [(row.idempotency_key, row.payload) for row in claimed]
        sent_as = batch_id([key for key, _ in items])
        return sent_as, self.channel.send_batch(items, sent_as)

    def _land(self, flight: _Flight | None, claimed: list[Row[Any]]) -> None:
        """Wait for the batch in flight and settle it; ``claimed`` (the next batch, not yet posted) goes back
        to pending if the batch in flight met a fatal failure."""
        if flight is None:
            return
        try:
            sent_as, answers = flight.answer.result()
        except TransientSourceError as exc:
            for row in flight.rows:
                self._retry_later(row, exc)
            return
        except FatalSourceError as exc:
            self._unclaim([*flight.rows, *claimed], str(exc))
            raise FatalSourceError(
                f"{self.channel.peer} delivery stopped at a batch of {len(flight.rows)} push(es) from outbox message "
                f"{flight.rows[0].message_id} (left pending, as are the rest): {exc}",
                system=exc.system,
                operation=exc.operation,
            ) from exc
        self._settle_batch(flight.rows, answers, sent_as, flight.bodies)

    def _unclaim(self, rows: list[Row[Any]], error: str) -> None:
        """Put claimed pushes back to pending, the attempt not counted: the fault is ours, not theirs."""
        with self._tx() as conn:
            for row in rows:
                conn.execute(
                    update(outbox)
                    .where(outbox.c.message_id == row.message_id, outbox.c.state == SENT)
                    .values(state=PENDING, attempts=row.attempts, last_error=error)
                )

    def _claim_all(self, rows: list[Row[Any]]) -> set[int]:
        """Mark the batch sent in one commit; the ids still as read (state, attempts) and still their citizen's head."""
        versions: dict[tuple[str, int], list[int]] = {}
        for row in rows:
            versions.setdefault((row.state, row.attempts), []).append(row.message_id)
        claimed: set[int] = set()
        with self._tx() as conn:
            for (state, attempts), ids in versions.items():
                claim = (
                    update(outbox)
                    .where(
                        one_of(conn, outbox.c.message_id, ids),
                        outbox.c.state == state,
                        outbox.c.attempts == attempts,
                        ~_HELD_BACK,
                    )
                    .values(state=SENT, attempts=attempts + 1, sent_at=self.clock())
                    .returning(outbox.c.message_id)
                )
                claimed.update(conn.execute(claim).scalars())
        return claimed

    @staticmethod
    def _acknowledge(conn: Connection, rows: list[Row[Any]], answers: Mapping[str, Answer], now: datetime) -> None:
        """Store each acknowledged push's ack, if it is still as our claim left it (sent, our attempt)."""
        found = [(row.message_id, row.attempts + 1, answers[row.idempotency_key].ack_id) for row in rows]
        if conn.dialect.name != "postgresql":  # SQLite takes an executemany at in-process speed
            conn.execute(_SETTLE_ACK, [{"m_id": i, "m_attempts": n, "m_ack": ack, "m_at": now} for i, n, ack in found])
            return
        # One UPDATE ... FROM unnest(three arrays): PostgreSQL's executemany is a round trip per row, and a
        # VALUES list of 1,500 placeholders cost more CPU to compile and parse than the rest of a run (measured).
        ids, attempts, acks = (list(column) for column in zip(*found, strict=True))
        conn.execute(_ACKNOWLEDGE_PG, {"m_ids": ids, "m_attempts": attempts, "m_acks": acks, "m_at": now})

    def _settle_batch(
        self, rows: list[Row[Any]], answers: Mapping[str, Answer], sent_as: str, bodies: Mapping[int, dict[str, Any]]
    ) -> None:
        """Each item on its own answer, in one transaction; one ledger entry per outcome (and grant) of the batch."""
        now = self.clock()
        acked = [row for row in rows if answers[row.idempotency_key].acknowledged]
        refused = [row for row in rows if not answers[row.idempotency_key].acknowledged]
        errors = {row.message_id: self.channel.refusal(answers[row.idempotency_key]) for row in refused}
        for row in refused:
            log.warning("outbox message %d is dead: %s", row.message_id, errors[row.message_id])
        self.tally["acknowledged"] += len(acked)
        self.tally["dead"] += len(refused)
        with self._tx() as conn:
            if acked:
                self._acknowledge(conn, acked, answers, now)
                self.channel.settled_many(conn, acked, ACKNOWLEDGED, sent_as, bodies)
            if refused:
                conn.execute(
                    _SETTLE_DEAD,
                    [
                        {"m_id": row.message_id, "m_attempts": row.attempts + 1, "m_error": errors[row.message_id]}
                        for row in refused
                    ],
                )
                self.channel.settled_many(conn, refused, DEAD, sent_as, bodies, errors)


@dataclass(frozen=True, slots=True)
class _Flight:
    """A claimed batch posted in the sender thread: its rows, their bodies as prepared, the answer to come."""

    rows: list[Row[Any]]
    bodies: dict[int, dict[str, Any]]
    answer: Future[tuple[str, Mapping[str, Answer]]]


# Settling a claimed batch: only a message still as our claim left it (sent, our attempt) moves.
_SETTLED_CLAIM = (
    outbox.c.message_id == bindparam("m_id"),
    outbox.c.state == SENT,
    outbox.c.attempts == bindparam("m_attempts"),
)
_SETTLE_ACK = (
    update(outbox)
    .where(*_SETTLED_CLAIM)
    .values(state=ACKNOWLEDGED, ack_id=bindparam("m_ack"), acknowledged_at=bindparam("m_at"))
)
_ACKS = (
    func.unnest(
        bindparam("m_ids", type_=postgresql.ARRAY(Integer)),
        bindparam("m_attempts", type_=postgresql.ARRAY(Integer)),
        bindparam("m_acks", type_=postgresql.ARRAY(String)),
    )
    .table_valued("m_id", "m_attempts", "m_ack")
    .render_derived(name="acks")
)
_ACKNOWLEDGE_PG = (
    update(outbox)
    .where(outbox.c.message_id == _ACKS.c.m_id, outbox.c.state == SENT, outbox.c.attempts == _ACKS.c.m_attempts)
    .values(state=ACKNOWLEDGED, ack_id=_ACKS.c.m_ack, acknowledged_at=bindparam("m_at"))
)
_SETTLE_DEAD = update(outbox).where(*_SETTLED_CLAIM).values(state=DEAD, last_error=bindparam("m_error"))


class _PortalChannel:
    """Dossier statuses to the portal: PUT per dossier, every settled update in the ledger."""

    peer = "portal"

    def __init__(self, portal: PortalClient, ledger_key: bytes, clock: Callable[[], datetime]) -> None:
        self.portal, self.ledger_key, self.clock = portal, ledger_key, clock

    def prepare(self, row: Row[Any]) -> dict[str, Any] | str:
        body = _portal_body(row.payload, row.aggregate_id)
        if body is None or not valid_idempotency_key(row.idempotency_key):
            return _UNSENDABLE
        return body

    def send(self, row: Row[Any], body: dict[str, Any]) -> Answer:
        return self.portal.put_status(row.aggregate_id, body, row.idempotency_key)

    def refusal(self, answer: Answer) -> str:
        return _refusal(answer, _PORTAL_REFUSALS)

    def settled(self, conn: Connection, row: Row[Any], state: str, values: Mapping[str, Any]) -> None:
        # A dossier's status is an exchange out like any other: the dossier code goes on record, hashed.
        body = _portal_body(row.payload, row.aggregate_id) or {}
        detail = (
            f"outbox message {row.message_id}; acknowledged as {values.get('ack_id')}"
            if state == ACKNOWLEDGED
            else f"outbox message {row.message_id}; {values.get('last_error')}"
        )
        ledger.append(
            conn,
            ledger.Exchange(
                # Not the idempotency key as correlation: the portal's embeds the dossier code.
                action="push",
                client="lgsp",
                outcome=state,
                correlation_id=f"outbox:{row.message_id}",
                dataset="dossier",
                purpose="public_service_reporting",
                fields=sorted(body),
                record_keys=[row.aggregate_id],
                detail=detail,
            ),
            key=self.ledger_key,
            now=self.clock(),
        )


class _AgencyChannel:
    """Pushes to one agency: the agreement checked again at send time, every settled push in the ledger."""

    def __init__(
        self,
        engine: Engine,
        client: agency_wire.AgencyClient,
        agency_code: str,
        ledger_key: bytes,
        clock: Callable[[], datetime],
    ) -> None:
        self.peer = f"{agency_wire.SYSTEM} {agency_code}"
        self.engine, self.client, self.agency_code, self.ledger_key, self.clock = (
            engine,
            client,
            agency_code,
            ledger_key,
            clock,
        )
        self._grants: dict[tuple[str, str], Grant | AccessDenied] = {}  # per run: agreements change rarely

    def prepare(self, row: Row[Any]) -> dict[str, Any] | str:
        payload = _push_payload(row.payload, row.aggregate_id)
        if payload is None or not valid_idempotency_key(row.idempotency_key):
            return _UNSENDABLE_PUSH
        grant = self._grant(payload["dataset"], payload["purpose"])
        if isinstance(grant, AccessDenied):
            return f"not sent: the agreement no longer allows it ({grant.rule}); replay once it is renewed"
        outside = sorted(set(payload["fields"]) - grant.fields)
        if outside:
            return (
                f"not sent: the agreements in force no longer grant {', '.join(outside)}; queue the change "
                "again under the current agreement"
            )
        return payload

    def send(self, row: Row[Any], body: dict[str, Any]) -> Answer:
        sent = json.dumps(body)
        return self.send_batch([(row.idempotency_key, sent)], batch_id([row.idempotency_key]))[row.idempotency_key]

    def send_batch(self, items: Sequence[tuple[str, str]], sent_as: str) -> Mapping[str, Answer]:
        """Send (idempotency key, the push as JSON text) items in one request; the answer per key."""
        return self.client.push_batch(items, sent_as)

    def refusal(self, answer: Answer) -> str:
        return _refusal(answer, _AGENCY_REFUSALS)

    def settled_many(
        self,
        conn: Connection,
        rows: Sequence[Row[Any]],
        state: str,
        sent_as: str,
        bodies: Mapping[int, dict[str, Any]],
        errors: Mapping[int, str] | None = None,
    ) -> None:
        """Record a batch's pushes (``bodies``: as prepared) that reached ``state``: one entry per grant and fields."""
        groups: dict[tuple[str, str, tuple[str, ...]], list[Row[Any]]] = {}
        for row in rows:
            payload = bodies[row.message_id]
            fields = tuple(sorted(payload.get("fields") or ()))
            groups.setdefault((payload.get("dataset", ""), payload.get("purpose", ""), fields), []).append(row)
        for (dataset, purpose, fields), members in groups.items():
            grant = self._grants.get((dataset, purpose))
            reasons = sorted({(errors or {}).get(row.message_id, "") for row in members} - {""})
            detail = f"batch {sent_as}: {len(members)} outbox message(s) {state}" + (
                f"; {'; '.join(reasons)}" if reasons else ""
            )
            # Last statements of the transaction: the ledger's lock is held only until the commit.
            ledger.append(
                conn,
                ledger.Exchange(
                    action="push",
                    client="lgsp",
                    outcome=state,
                    correlation_id=sent_as,
                    agency_code=self.agency_code,
                    purpose=purpose or None,
                    legal_basis=grant.legal_basis if isinstance(grant, Grant) else None,
                    dataset=dataset or None,
                    fields=list(fields),
                    record_keys=[row.aggregate_id for row in members],
                    detail=detail,
                ),
                key=self.ledger_key,
                now=self.clock(),
            )

    def settled(self, conn: Connection, row: Row[Any], state: str, values: Mapping[str, Any]) -> None:
        payload = _push_payload(row.payload, row.aggregate_id) or {}
        grant = self._grants.get((payload.get("dataset", ""), payload.get("purpose", "")))
        legal_basis = grant.legal_basis if isinstance(grant, Grant) else payload.get("legal_basis")
        detail = (
            f"outbox message {row.message_id}; acknowledged as {values.get('ack_id')}"
            if state == ACKNOWLEDGED
            else f"outbox message {row.message_id}; {values.get('last_error')}"
        )
        # Last statement of the transaction: the ledger's lock is held only until the commit.
        ledger.append(
            conn,
            ledger.Exchange(
                action="push",
                client="lgsp",
                outcome=state,
                correlation_id=row.idempotency_key,
                agency_code=self.agency_code,
                purpose=payload.get("purpose"),
                legal_basis=legal_basis,
                dataset=payload.get("dataset"),
                fields=sorted(payload.get("fields") or ()),
                record_keys=[row.aggregate_id],
                detail=detail,
            ),
            key=self.ledger_key,
            now=self.clock(),
        )

    def _grant(self, dataset: str, purpose: str) -> Grant | AccessDenied:
        if (dataset, purpose) not in self._grants:
            with self.engine.connect() as conn:
                try:
                    found: Grant | AccessDenied = require_grant(
                        conn, self.agency_code, dataset, purpose, self.clock().date()
                    )
                except AccessDenied as denied:
                    found = denied
            self._grants[(dataset, purpose)] = found
        return self._grants[(dataset, purpose)]


def _portal_body(payload: str, dossier_id: str) -> dict[str, Any] | None:
    """The portal's body, or None if the payload cannot be one (not an object, another dossier's code)."""
    try:
        body = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(body, dict) or body.pop("MaHoSo", dossier_id) != dossier_id:
        return None
    return body


def _push_payload(payload: str, record_key: str) -> dict[str, Any] | None:
    """The push as queued, or None if it is not one of this record (dataset, purpose, key, fields)."""
    try:
        # msgspec (Airflow brings it) decodes ~2x faster than json: this is the largest cost left per push.
        body = msgspec.json.decode(payload)
    except msgspec.DecodeError:
        return None
    if not isinstance(body, dict) or body.get("key") != record_key or not isinstance(body.get("fields"), dict):
        return None
    if not isinstance(body.get("dataset"), str) or not isinstance(body.get("purpose"), str):
        return None
    return body


def _refusal(answer: Answer, reasons: Mapping[int, str]) -> str:
    """Why the peer refused: the status and problem type, never the payload."""
    reason = reasons.get(answer.status, "refused")
    return f"HTTP {answer.status} {answer.problem_type or '(no problem type)'}: {reason}; nothing was stored there"
