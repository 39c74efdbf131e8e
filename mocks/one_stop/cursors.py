"""Opaque, signed paging cursors for the REST mocks.

A cursor names where the last page ended (a sort key) and the query it belongs to
(``bound``, e.g. the ``updated_since`` asked for), signed so that an altered or
hand-made cursor is refused instead of silently resuming elsewhere. The key derives
from the seed and the listing's purpose: the same seed gives byte-identical pages.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Sequence

Position = list[int | str]


class Cursors:
    """Issue and open cursors for one listing."""

    def __init__(self, purpose: str, seed: int) -> None:
        """Derive the signing key from ``purpose`` and ``seed``."""
        self._key = hashlib.sha256(f"lgsp-mock-cursor:{purpose}:{seed}".encode()).digest()

    def _mac(self, payload: bytes) -> str:
        return hmac.new(self._key, payload, hashlib.sha256).hexdigest()[:16]

    def issue(self, bound: str, position: Sequence[int | str]) -> str:
        """A cursor resuming after ``position`` for the query ``bound``."""
        payload = json.dumps([bound, *position], ensure_ascii=False, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(payload).decode().rstrip("=") + "." + self._mac(payload)

    def open(self, cursor: str, bound: str) -> Position:
        """The position a cursor resumes after.

        Raises:
            ValueError: malformed, altered, or issued for another query.
        """
        encoded, _, mac = cursor.strip().partition(".")
        try:
            payload = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except ValueError as exc:
            raise ValueError("malformed cursor") from exc
        if not hmac.compare_digest(mac, self._mac(payload)):
            raise ValueError("cursor was not issued by this service")
        decoded = json.loads(payload)
        if not isinstance(decoded, list) or not decoded or decoded[0] != bound:
            raise ValueError("cursor belongs to another query")
        return [part for part in decoded[1:] if isinstance(part, int | str)]
