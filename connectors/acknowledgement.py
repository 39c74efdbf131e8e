"""What a peer that takes deliveries answers (the portal, an agency's receiver), read the same way for both.

A delivery is acknowledged (2xx, with an acknowledgement id we can store) or refused
about that one message (409, 422, with an RFC 9457 problem type). Only the type is
kept: a problem's ``detail`` or ``title`` may quote the record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # an Idempotency-Key: visible ASCII, as a header value must be
_ACK = re.compile(r"[A-Za-z0-9._:-]{1,128}")  # fits outbox.ack_id; anything else is not an id we store
_PROBLEM_TYPE = re.compile(r"[A-Za-z0-9:._/+-]{1,200}")  # a URI reference; anything else is not quoted


@dataclass(frozen=True, slots=True)
class Answer:
    """How the peer answered one delivery: the status, its acknowledgement id (2xx) or problem type (409/422)."""

    status: int
    ack_id: str | None
    problem_type: str | None

    @property
    def acknowledged(self) -> bool:
        """Whether the peer holds the delivery (new, or a replay of one it holds)."""
        return 200 <= self.status < 300


def valid_idempotency_key(key: str) -> bool:
    """Whether ``key`` may travel as an Idempotency-Key (1-255 visible ASCII characters)."""
    return bool(_KEY.fullmatch(key))


def valid_ack_id(ack: Any) -> bool:
    """Whether ``ack`` is an acknowledgement id we store (1-128 of ``[A-Za-z0-9._:-]``)."""
    return isinstance(ack, str) and bool(_ACK.fullmatch(ack))


def problem_type(body: Any) -> str | None:
    """The RFC 9457 ``type`` of a refusal; never ``detail`` or ``title``, which may quote the record."""
    kind = body.get("type") if isinstance(body, dict) else None
    return kind if isinstance(kind, str) and _PROBLEM_TYPE.fullmatch(kind) else None
