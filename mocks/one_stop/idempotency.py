"""Idempotency keys: the same key and request again get the first answer; another request under it, 422.

Keys live per scope (an operation) in memory, for the life of the mock. Only successes
are remembered, so a request refused for the dossier's state can be retried under its
key once the state allows it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any


class IdempotencyConflict(Exception):
    """The key was already used for a different request."""


@dataclass(frozen=True, slots=True)
class Remembered:
    """The first answer given under a key."""

    fingerprint: str
    body: dict[str, Any]


class IdempotencyStore:
    """First answers by (scope, key), safe across threads."""

    def __init__(self) -> None:
        """Start empty."""
        self._answers: dict[tuple[str, str], Remembered] = {}
        self._lock = threading.Lock()

    def recall(self, scope: str, key: str, fingerprint: str) -> Remembered | None:
        """The answer first given under ``key``, or None if the key is new.

        Raises:
            IdempotencyConflict: the key was used for a request with another fingerprint.
        """
        with self._lock:
            remembered = self._answers.get((scope, key))
        if remembered is not None and remembered.fingerprint != fingerprint:
            raise IdempotencyConflict("Idempotency-Key already used for a different request")
        return remembered

    def remember(self, scope: str, key: str, fingerprint: str, body: dict[str, Any]) -> None:
        """Keep the first answer under ``key`` (a later one does not replace it)."""
        with self._lock:
            self._answers.setdefault((scope, key), Remembered(fingerprint, body))

    def clear(self) -> None:
        """Forget every key."""
        with self._lock:
            self._answers.clear()
