"""What the portal holds: each dossier's accepted status updates, the idempotency keys, and counters.

An update is accepted if its status may follow the one held (`schemas.one_stop.may_follow`)
and its ThoiDiem is not older; otherwise 409 and nothing is stored. Keys are global:
the same key and the same request again get the first MaXacNhan (200); the same key
with another request, 422. An update identical to the one held, under a new key, is
acknowledged with the held MaXacNhan (200, a duplicate) rather than stored twice.
"""

from __future__ import annotations

import threading
from bisect import bisect_right, insort
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mocks.one_stop.rest import Problem, fingerprint, parse_rfc3339
from mocks.portal.wire import StatusUpdate
from schemas.one_stop import may_follow

STATS = ("accepted", "duplicates", "rejected_400", "rejected_409", "rejected_422", "throttled_429")


@dataclass(frozen=True, slots=True)
class Accepted:
    """One accepted update and its acknowledgement."""

    update: StatusUpdate
    at: datetime  # ThoiDiem, parsed
    ma_xac_nhan: str


class Ledger:
    """The portal's memory, safe across threads; gone when the mock stops."""

    def __init__(self) -> None:
        """Start empty."""
        self._held: dict[str, list[Accepted]] = {}
        self._order: list[str] = []  # MaHoSo held, sorted: the listing order
        self._keys: dict[str, tuple[str, str]] = {}  # Idempotency-Key -> (request fingerprint, MaXacNhan)
        self._counts: Counter[str] = Counter()
        self._issued = 0  # acknowledgements given; never reset, so a MaXacNhan is never reused
        self._lock = threading.Lock()

    def put(self, ma_ho_so: str, key: str, update: StatusUpdate) -> tuple[int, str]:
        """Accept ``update`` for the dossier under ``key``: (202 new or 200 replay/duplicate, MaXacNhan).

        Raises:
            Problem: 422 the key was used for another request; 409 the status would go backwards.
        """
        request_print = fingerprint(ma_ho_so, update.model_dump())
        at = parse_rfc3339(update.ThoiDiem)
        with self._lock:
            if (prior := self._keys.get(key)) is not None:
                if prior[0] != request_print:
                    self._counts["rejected_422"] += 1
                    raise Problem(422, "idempotency-key-reused", "Idempotency-Key already used for a different request")
                self._counts["duplicates"] += 1
                return 200, prior[1]
            history = self._held.get(ma_ho_so)
            if history:
                held = history[-1]
                if not may_follow(held.update.TrangThai, update.TrangThai) or at < held.at:
                    self._counts["rejected_409"] += 1
                    raise Problem(409, "status-regression", "The status would go backwards from the one held")
                if held.update == update:
                    self._keys[key] = (request_print, held.ma_xac_nhan)
                    self._counts["duplicates"] += 1
                    return 200, held.ma_xac_nhan
            self._issued += 1
            accepted = Accepted(update, at, f"XN{self._issued:08d}")
            if history is None:
                history = self._held[ma_ho_so] = []
                insort(self._order, ma_ho_so)
            history.append(accepted)
            self._keys[key] = (request_print, accepted.ma_xac_nhan)
            self._counts["accepted"] += 1
            return 202, accepted.ma_xac_nhan

    def get(self, ma_ho_so: str) -> dict[str, Any] | None:
        """What the portal holds for the dossier, or None."""
        with self._lock:
            history = self._held.get(ma_ho_so)
            return _view(ma_ho_so, history) if history else None

    def page(self, after: str | None, limit: int) -> tuple[list[dict[str, Any]], bool]:
        """Up to ``limit`` held dossiers after MaHoSo ``after``, in MaHoSo order; whether more follow."""
        with self._lock:
            start = bisect_right(self._order, after) if after is not None else 0
            chosen = self._order[start : start + limit]
            return [_view(m, self._held[m]) for m in chosen], start + limit < len(self._order)

    def count(self, kind: str) -> None:
        """Count an answer given outside `put` (400, 422 on the body, 429)."""
        with self._lock:
            self._counts[kind] += 1

    def stats(self) -> dict[str, int]:
        """The counters, and how many dossiers and updates are held."""
        with self._lock:
            held = {"dossiers": len(self._held), "updates": sum(map(len, self._held.values()))}
            return {kind: self._counts[kind] for kind in STATS} | held

    def clear(self) -> None:
        """Forget everything: holdings, keys, counters."""
        with self._lock:
            self._held.clear()
            self._order.clear()
            self._keys.clear()
            self._counts.clear()


def _view(ma_ho_so: str, history: list[Accepted]) -> dict[str, Any]:
    """A held dossier as the wire carries it: the latest update, its ack, and every accepted update."""
    latest = history[-1]
    return {
        "MaHoSo": ma_ho_so,
        **latest.update.model_dump(),
        "MaXacNhan": latest.ma_xac_nhan,
        "LichSu": [
            {"TrangThai": a.update.TrangThai, "ThoiDiem": a.update.ThoiDiem, "MaXacNhan": a.ma_xac_nhan}
            for a in history
        ],
    }
