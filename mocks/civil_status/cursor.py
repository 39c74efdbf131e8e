"""Opaque cursors for ``GET /events``.

A cursor names the position of the last event served and the `since` it was issued
for, signed so that a hand-made or altered cursor is refused rather than silently
resuming elsewhere. It carries no personal data. The key derives from the seed, so
the same seed gives byte-identical pages.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


class Cursors:
    """Issue and check cursors for one data set."""

    def __init__(self, seed: int) -> None:
        """Derive the signing key from ``seed``."""
        self._key = hashlib.sha256(f"lgsp-mock-civil-status-cursor:{seed}".encode()).digest()

    def _mac(self, payload: str) -> str:
        return hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()[:16]

    def issue(self, since: int, position: int) -> str:
        """A cursor resuming after position ``position`` for the query ``since``."""
        payload = f"{since}.{position}"
        return base64.urlsafe_b64encode(f"{payload}.{self._mac(payload)}".encode()).decode().rstrip("=")

    def resume_position(self, cursor: str, since: int) -> int:
        """The position to resume from (the one after the last served).

        Raises:
            ValueError: the cursor is malformed, altered, or was issued for another `since`.
        """
        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            since_text, position_text, mac = base64.urlsafe_b64decode(padded).decode().split(".")
            cursor_since, position = int(since_text), int(position_text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError("malformed cursor") from exc
        if not hmac.compare_digest(mac, self._mac(f"{since_text}.{position_text}")):
            raise ValueError("cursor was not issued by this service")
        if cursor_since != since or position < 0:
            raise ValueError("cursor belongs to another query")
        return position + 1
