"""Deliver the outbox to the National Public Service Portal: every dossier's statuses, in order, applied once.

The payload of a ``portal.dossier_status`` message is the portal's body
(``TrangThai, ThoiDiem, MaThuTuc, MaDonViXuLy, KenhNop``), optionally with ``MaHoSo``,
which travels in the path instead and must then equal the aggregate (the dossier
code); the message's idempotency key travels as ``Idempotency-Key``.

Rules:
- Order per dossier: only the dossier's lowest-sequence message that is not yet
  acknowledged or dead (its *head*) may be sent. A head waiting for its retry time
  holds the later ones back (counted as ``blocked``).
- Due only: a run sends what was due (``next_attempt_at``) when it started, so a
  message put back for a retry waits for a later run.
- Claim, then call: the message is marked ``sent`` (attempts + 1) in its own commit
  before the call, then ``acknowledged`` with the portal's ``MaXacNhan``.
- A crash between the call and the acknowledgement leaves the message ``sent``; the
  next run sends it again under the same key and the portal answers with its first
  acknowledgement (HTTP 200), so nothing is applied twice.
- 409 (the status would go backwards) and 422 (invalid payload, reused key) are
  answers about this message only: it goes ``dead`` with the status and problem type.
- A dead message does NOT block the dossier's later messages: the portal must end
  with the dossier's latest status, and one refused update says nothing about the
  next (after a 409 the portal already holds something newer). The operator
  replays the dead one after a fix (``lgsp outbox replay``).
- Transient failures (still failing after the RestClient's own retries): back to
  ``pending`` after ``backoff(attempts)``, or ``dead`` once ``max_attempts`` are spent.
- Fatal failures (bad key, another 4xx, a broken contract) would fail every later
  message the same way: the run stops and raises, and the message goes back to
  ``pending`` with the error and without the attempt counted (the fault is ours).
- Two runs at once never claim the same version of a message (the claim is
  conditional); at worst one re-sends a message the other has in flight, which the
  key makes harmless. Schedule one run at a time all the same.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Row, exists, func, select, update
from sqlalchemy.sql.elements import ColumnElement

from connectors.auth import ApiKeyAuth
from connectors.errors import FatalSourceError, TransientSourceError
from connectors.portal import API_KEY_HEADER, SYSTEM, PortalAnswer, PortalClient, valid_idempotency_key
from connectors.rest import RestClient
from hub.settings import Settings, portal_endpoint
from hub.sharing.outbox import ACKNOWLEDGED, DEAD, PENDING, SENT
from hub.store.tables import outbox

log = logging.getLogger(__name__)

TOPIC = "portal.dossier_status"
BATCH_SIZE = 500  # heads read per query: memory stays flat however long the outbox is
_OPEN = (PENDING, SENT)
_FIRST_RETRY = timedelta(minutes=1)
_LAST_RETRY = timedelta(hours=1)
_EARLIER = outbox.alias("earlier")
# The message has an earlier one of its dossier still open (pending or sent). Built once: it is in every query.
_HELD_BACK = exists().where(
    _EARLIER.c.topic == outbox.c.topic, _EARLIER.c.aggregate_id == outbox.c.aggregate_id,
    _EARLIER.c.state.in_(_OPEN), _EARLIER.c.sequence < outbox.c.sequence,
)
_UNSENDABLE = (
    "unsendable: the payload is not a JSON object or names another dossier (MaHoSo), or the idempotency key "
    "is not 1-255 visible ASCII characters; fix the producer, then enqueue the update again"
)
_REFUSALS = {
    409: "the status would go backwards from the one the portal holds",
    422: "the portal calls the payload invalid, or the key was used for another update",
}


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
        SYSTEM, endpoint.url, auth=ApiKeyAuth(API_KEY_HEADER, endpoint.password),
        timeout=settings.operation_timeout, max_attempts=settings.max_attempts, backoff=settings.backoff_seconds,
    )
    return PortalClient(client)


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
    if limit is not None and limit < 0:
        raise ValueError("limit must be zero or more (None: no limit)")
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    if now is not None and now.tzinfo is not None:
        now = now.astimezone(UTC).replace(tzinfo=None)  # the store keeps naive UTC
    frozen = now
    clock: Callable[[], datetime] = (lambda: frozen) if frozen is not None else _utcnow
    with connect_portal(settings) as portal:
        summary = _Run(engine, portal, topic, max_attempts, clock).deliver(limit)
    log.info("outbox %s: %s", topic, summary.as_dict())
    return summary


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)  # the store keeps naive UTC


class _Run:
    """One delivery run: a fixed cut-off for what is due, and the tallies."""

    def __init__(
        self, engine: Engine, portal: PortalClient, topic: str, max_attempts: int, clock: Callable[[], datetime]
    ) -> None:
        self.engine, self.portal, self.topic, self.max_attempts, self.clock = engine, portal, topic, max_attempts, clock
        self.cutoff = clock()
        self.tally = {"sent": 0, "acknowledged": 0, "retried": 0, "dead": 0}

    def deliver(self, limit: int | None) -> DeliverySummary:
        """Pass over the heads in message order until a pass sends nothing (or the limit is reached)."""
        progressed = True
        while progressed and self.tally["sent"] != limit:
            progressed, after = False, 0
            while self.tally["sent"] != limit and (batch := self._heads(after)):
                for row in batch:
                    if self.tally["sent"] == limit:
                        break
                    progressed = self._one(row) or progressed
                after = batch[-1].message_id
        return DeliverySummary(**self.tally, blocked=self._blocked())

    def _heads(self, after: int) -> list[Row[Any]]:
        query = (
            select(outbox.c.message_id, outbox.c.aggregate_id, outbox.c.payload, outbox.c.idempotency_key,
                   outbox.c.state, outbox.c.attempts)
            .where(self._due(), outbox.c.message_id > after, ~_HELD_BACK)
            .order_by(outbox.c.message_id).limit(BATCH_SIZE)
        )
        with self.engine.connect() as conn:
            return list(conn.execute(query))

    def _due(self) -> ColumnElement[bool]:
        return (outbox.c.topic == self.topic) & outbox.c.state.in_(_OPEN) & (outbox.c.next_attempt_at <= self.cutoff)

    def _blocked(self) -> int:
        query = select(func.count()).select_from(outbox).where(self._due(), _HELD_BACK)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def _one(self, row: Row[Any]) -> bool:
        """Deliver one head; False if another run claimed it first."""
        body = _body(row.payload, row.aggregate_id)
        if body is None or not valid_idempotency_key(row.idempotency_key):
            return self._settle(row, DEAD, last_error=_UNSENDABLE)
        if not self._claim(row):
            return False
        self.tally["sent"] += 1
        try:
            answer = self.portal.put_status(row.aggregate_id, body, row.idempotency_key)
        except TransientSourceError as exc:
            return self._retry_later(row, exc)
        except FatalSourceError as exc:
            self._settle(row, PENDING, attempts=row.attempts, last_error=str(exc))
            raise FatalSourceError(
                f"portal delivery stopped at outbox message {row.message_id} (left pending, as are the rest): "
                f"{exc}", system=exc.system, operation=exc.operation,
            ) from exc
        if answer.acknowledged:
            return self._settle(row, ACKNOWLEDGED, ack_id=answer.ack_id, acknowledged_at=self.clock())
        return self._settle(row, DEAD, last_error=_refusal(answer))

    def _claim(self, row: Row[Any]) -> bool:
        """Mark the message sent in its own commit, if it is still what we read and still its dossier's head."""
        claim = (
            update(outbox)
            .where(outbox.c.message_id == row.message_id, outbox.c.state == row.state,
                   outbox.c.attempts == row.attempts, ~_HELD_BACK)
            .values(state=SENT, attempts=row.attempts + 1, sent_at=self.clock())
        )
        with self.engine.begin() as conn:
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
        with self.engine.begin() as conn:
            conn.execute(settle.values(state=state, **values))
        return True


def _body(payload: str, dossier_id: str) -> dict[str, Any] | None:
    """The portal's body, or None if the payload cannot be one (not an object, another dossier's code)."""
    try:
        body = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(body, dict) or body.pop("MaHoSo", dossier_id) != dossier_id:
        return None
    return body


def _refusal(answer: PortalAnswer) -> str:
    """Why the portal refused: the status and problem type, never the payload."""
    reason = _REFUSALS.get(answer.status, "refused")
    return f"HTTP {answer.status} {answer.problem_type or '(no problem type)'}: {reason}; nothing was stored there"
