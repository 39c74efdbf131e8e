"""The receiver's side of the push signature, written from the scheme as agencies read it.

Deliberately not shared with the hub's signer (``hub.sharing.signing``): an agency
implements the documented scheme on its own, and so does this mock, so a test that
passes here shows the documentation and the signer agree.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

TOLERANCE_SECONDS = 300  # five minutes either way


def refusal(secret: bytes, headers: Mapping[str, str], body: bytes, now: float) -> str | None:
    """None if the push is signed with ``secret``, recently; else the problem slug of the 401 to answer."""
    stamp = headers.get("x-lgsp-timestamp")
    given = headers.get("x-lgsp-signature")
    key = headers.get("idempotency-key")
    if stamp is None or given is None or key is None:
        return "signature-missing"
    if not stamp.isdigit() or len(stamp) > 12 or abs(now - int(stamp)) > TOLERANCE_SECONDS:
        return "timestamp-stale"
    signed = stamp.encode() + b"." + key.encode("latin-1") + b"." + body
    expected = hmac.new(secret, signed, hashlib.sha256).hexdigest().encode()
    matched = False
    for part in given.split(","):
        scheme, _, value = part.strip().partition("=")
        # Every v1 value is compared in full, whatever came before: the timing says nothing.
        matched = (scheme == "v1" and hmac.compare_digest(expected, value.encode("latin-1"))) or matched
    return None if matched else "signature-invalid"
