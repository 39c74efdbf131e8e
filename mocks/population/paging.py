"""Opaque page tokens for ListChangedCitizens.

A token names the feed position of the last record served and the `Since` it was
issued for, signed so that a hand-made or altered token is refused rather than
silently resuming somewhere else. It carries no personal data. The key derives
from the data set's seed, so the same seed gives byte-identical responses.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


class PageTokens:
    """Issue and check page tokens for one data set."""

    def __init__(self, seed: int) -> None:
        """Derive the signing key from ``seed``."""
        self._key = hashlib.sha256(f"lgsp-mock-population-page-token:{seed}".encode()).digest()

    def _mac(self, payload: str) -> str:
        return hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()[:16]

    def issue(self, since: int, position: int) -> str:
        """A token resuming after feed ``position`` for the query ``since``."""
        payload = f"{since}:{position}"
        return base64.urlsafe_b64encode(f"{payload}:{self._mac(payload)}".encode()).decode().rstrip("=")

    def resume_position(self, token: str, since: int) -> int:
        """The feed position to resume from (the one after the last served).

        Raises:
            ValueError: the token is malformed, altered, or was issued for another `Since`.
        """
        try:
            padded = token.strip() + "=" * (-len(token.strip()) % 4)
            since_text, position_text, mac = base64.urlsafe_b64decode(padded).decode().split(":")
            token_since, position = int(since_text), int(position_text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError("malformed page token") from exc
        if not hmac.compare_digest(mac, self._mac(f"{since_text}:{position_text}")):
            raise ValueError("page token was not issued by this service")
        if token_since != since or position < 0:
            raise ValueError("page token belongs to another query")
        return position + 1
