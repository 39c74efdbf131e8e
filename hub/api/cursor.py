"""Change-feed cursors: a position in one agency's feed, opaque and tamper-proof.

A cursor holds the last row served (its publication time and key), and the feed it
belongs to (agency, dataset, purpose). It is encrypted and authenticated (Fernet:
AES-CBC + HMAC-SHA256) rather than only signed: the key is a personal id, which an
agency whose agreement does not grant ``personal_id`` must not read out of base64.
A cursor from another agency or feed, or one that was altered, is refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from cryptography.fernet import Fernet, InvalidToken


class BadCursor(ValueError):
    """The cursor was not issued by this hub for this feed."""


@dataclass(frozen=True)
class Position:
    """The last row a page served: ``(published_at, key)``; the next page starts after it."""

    published_at: datetime  # naive UTC
    key: str


def encode_cursor(secret: bytes, *, agency: str, dataset: str, purpose: str, position: Position) -> str:
    """The opaque cursor for ``position`` in this agency's feed."""
    document = {"a": agency, "d": dataset, "p": purpose, "t": position.published_at.isoformat(), "k": position.key}
    return Fernet(secret).encrypt(json.dumps(document, separators=(",", ":")).encode()).decode("ascii")


def decode_cursor(secret: bytes, cursor: str, *, agency: str, dataset: str, purpose: str) -> Position:
    """The position a cursor holds, if it belongs to this agency's feed of ``dataset`` for ``purpose``.

    Raises:
        BadCursor: altered, not ours, or for another agency, dataset or purpose.
    """
    try:
        document = json.loads(Fernet(secret).decrypt(cursor.encode("ascii")))
        feed = (document["a"], document["d"], document["p"])
        position = Position(datetime.fromisoformat(document["t"]), str(document["k"]))
    except (InvalidToken, ValueError, KeyError, TypeError):
        raise BadCursor("the cursor was not issued by this hub; start again from `since`") from None
    if feed != (agency, dataset, purpose):
        raise BadCursor("the cursor belongs to another feed (dataset or purpose); use it with the same ones")
    return position
