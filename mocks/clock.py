"""The simulated time of a mocked system.

A mock's data changes on a timeline of its own: initial states are dated before
EPOCH and its change feed after it. The clock says how much of that timeline a
client can see; tests and demos move it forward through an admin endpoint instead
of waiting for real days to pass.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

EPOCH = 1_767_225_600  # 2026-01-01T00:00:00Z: where every mock clock starts
DAY = 86_400


class MockClock:
    """A settable, advanceable clock in whole epoch seconds (UTC), safe across threads."""

    def __init__(self, start: int = EPOCH) -> None:
        """Start the clock at ``start`` (epoch seconds)."""
        self._now = start
        self._lock = threading.Lock()

    @property
    def now(self) -> int:
        """The current simulated time, epoch seconds."""
        return self._now

    def advance(self, days: float) -> int:
        """Move forward by ``days`` (negative moves back); return the new time."""
        with self._lock:
            self._now += round(days * DAY)
            return self._now

    def set(self, seconds: int) -> int:
        """Jump to ``seconds``, forwards or backwards; return it."""
        with self._lock:
            self._now = seconds
            return self._now

    def isoformat(self) -> str:
        """The current time as an xs:dateTime, e.g. 2026-01-01T00:00:00Z."""
        return datetime.fromtimestamp(self._now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_datetime(text: str) -> float:
    """An xs:dateTime (offset or Z; none means UTC) as epoch seconds.

    Raises:
        ValueError: the text is not an ISO 8601 date-time.
    """
    parsed = datetime.fromisoformat(text.strip())
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()
