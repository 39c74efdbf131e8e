"""What the agencies' receivers hold: the verified pushes per agency, their keys, refusals and counters.

Keys are per agency: the same key and the same payload again get the first
MaXacNhan (200); the same key with another payload, 422. An operator (a test) can make
an agency refuse every push, or the pushes of the ids it names, with one status, until told to stop.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mocks.one_stop.rest import Problem

STATS = ("batches", "accepted", "replays", "rejected_401", "rejected_4xx", "refused")


@dataclass(frozen=True, slots=True)
class Received:
    """One push an agency accepted, as it arrived."""

    idempotency_key: str
    ma_xac_nhan: str
    payload: dict[str, Any]
    received_at: str  # wall-clock UTC, ISO 8601

    def as_json(self) -> dict[str, Any]:
        """The listing's shape."""
        return {
            "idempotency_key": self.idempotency_key,
            "MaXacNhan": self.ma_xac_nhan,
            "payload": self.payload,
            "received_at": self.received_at,
        }


class Inboxes:
    """Every agency's inbox, safe across threads; gone when the mock stops."""

    def __init__(self) -> None:
        """Start empty."""
        self._received: dict[str, list[Received]] = {}
        self._keys: dict[tuple[str, str], tuple[str, str]] = {}  # (agency, key) -> (payload print, MaXacNhan)
        self._refusals: dict[str, tuple[int, frozenset[str] | None]] = {}  # agency -> (status, ids; None: all)
        self._counts: Counter[tuple[str, str]] = Counter()
        self._issued: Counter[str] = Counter()  # never reset, so a MaXacNhan is never reused
        self._lock = threading.Lock()

    def accept(self, agency: str, key: str, payload: dict[str, Any]) -> tuple[int, str]:
        """Take a verified push: (202 new or 200 replay, MaXacNhan).

        Raises:
            Problem: 422 the key was used for another payload.
        """
        printed = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        with self._lock:
            prior = self._keys.get((agency, key))
            if prior is not None:
                if prior[0] != printed:
                    raise Problem(422, "idempotency-key-reused", "Idempotency-Key already used for another push")
                self._counts[(agency, "replays")] += 1
                return 200, prior[1]
            self._issued[agency] += 1
            ack = f"{agency}.{self._issued[agency]:08d}"
            self._keys[(agency, key)] = (printed, ack)
            stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
            self._received.setdefault(agency, []).append(Received(key, ack, payload, stamp))
            self._counts[(agency, "accepted")] += 1
            return 202, ack

    def refusal(self, agency: str, key: str) -> int | None:
        """The status the agency answers the push ``key`` with, if told to refuse it."""
        with self._lock:
            status, keys = self._refusals.get(agency, (None, None))
        return status if keys is None or key in keys else None

    def refuse(self, agency: str, status: int | None, keys: frozenset[str] | None = None) -> None:
        """Answer the pushes ``keys`` (None: every push) with ``status`` from now on (status None: accept again)."""
        with self._lock:
            if status is None:
                self._refusals.pop(agency, None)
            else:
                self._refusals[agency] = (status, keys)

    def count(self, agency: str, kind: str) -> None:
        """Count a batch, or a request or push answered with an error (401, another 4xx, a refusal)."""
        with self._lock:
            self._counts[(agency, kind)] += 1

    def page(self, agency: str, offset: int, limit: int) -> tuple[list[Received], int]:
        """Up to ``limit`` pushes from position ``offset``, in arrival order, and how many are held."""
        with self._lock:
            held = self._received.get(agency, [])
            return held[offset : offset + limit], len(held)

    def stats(self, agency: str) -> dict[str, int]:
        """The agency's counters and how many pushes it holds."""
        with self._lock:
            return {kind: self._counts[(agency, kind)] for kind in STATS} | {
                "held": len(self._received.get(agency, []))
            }

    def clear(self) -> None:
        """Forget every push, key, refusal and counter (acknowledgement numbers go on)."""
        with self._lock:
            self._received.clear()
            self._keys.clear()
            self._refusals.clear()
            self._counts.clear()
