"""A token bucket: ``rate`` requests a second on average, bursts of up to one second's worth."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """Admit a request if a token is left; tokens refill continuously at ``rate`` per second."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        """Start full: ``max(1, rate)`` tokens."""
        self._rate, self._capacity, self._clock = rate, max(1.0, rate), clock
        self._tokens, self._stamp = self._capacity, clock()
        self._lock = threading.Lock()

    def take(self) -> float:
        """0.0 if a token was taken, else the seconds until one will be there."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self._capacity, self._tokens + (now - self._stamp) * self._rate)
            self._stamp = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return 0.0
            return (1.0 - self._tokens) / self._rate
