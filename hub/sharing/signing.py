"""How a push is signed (scheme ``v1``), so that an agency knows it came from the hub, unaltered and recent.

The hub POSTs each push to the agency's inbox URL as a JSON body with three headers:

    Idempotency-Key    the push's id: the same on every retry and replay of that push
    X-Lgsp-Timestamp   when this attempt was signed: whole seconds since the Unix epoch (UTC)
    X-Lgsp-Signature   v1=<64 lowercase hex digits>

The signature is HMAC-SHA256, under the secret the agency and the hub share, of the
UTF-8 bytes of ``f"{timestamp}.{idempotency_key}."`` followed by the request body
exactly as it arrived (bytes, before any JSON parsing or re-serialising). Binding the
key and the time to the body means a captured push cannot be re-sent under another
key or, after five minutes, at all.

An agency's receiver, in this order:

1. refuses with 401 when ``X-Lgsp-Timestamp``, ``X-Lgsp-Signature`` or ``Idempotency-Key``
   is missing;
2. refuses with 401 when the timestamp is not a whole number or lies more than 300 s
   from its own clock, either way (keep the server's clock on NTP);
3. computes the HMAC over timestamp, ".", key, "." and the raw body, and compares it
   with every ``v1=`` value of the signature header in constant time
   (``hmac.compare_digest``; never ``==``); refuses with 401 if none matches. The
   header may carry several comma-separated values (kept for secret rotation) and
   values of schemes it does not know, which it ignores;
4. only now parses the body, and treats the key as the push's identity: a key it has
   acknowledged before gets the same acknowledgement again (the hub retries after a
   timeout) and changes nothing; the same key with a different body gets 422.

It answers 200/202 with ``{"MaXacNhan": "<acknowledgement id>"}`` (1-128 of
``[A-Za-z0-9._:-]``). A 401 makes the hub stop pushing to that agency until an
operator fixes the secret; 409 and 422 dead-letter that one push; 429 and 5xx are
retried later. ``verify`` below is a reference implementation of steps 1-3.

The secret is the password of the Airflow connection ``agency_push_<code>``; both
sides keep it out of logs. ``demo-only-push-secret`` is the mocks' published default
and is refused for any host that is not loopback unless ``LGSP_DEMO=true``.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping

import httpx
from pydantic import SecretStr

from lgsp.errors import ConfigError

SCHEME = "v1"
TIMESTAMP_HEADER = "X-Lgsp-Timestamp"
SIGNATURE_HEADER = "X-Lgsp-Signature"
KEY_HEADER = "Idempotency-Key"
TOLERANCE_SECONDS = 300


def signature(secret: bytes, timestamp: int, idempotency_key: str, body: bytes) -> str:
    """The ``v1=<hex>`` value for one attempt of one push."""
    signed = f"{timestamp}.{idempotency_key}.".encode() + body
    return f"{SCHEME}={hmac.new(secret, signed, hashlib.sha256).hexdigest()}"


def verify(
    secret: bytes,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> bool:
    """Whether ``headers`` (case-insensitive names) carry a fresh, valid v1 signature of ``body``."""
    lowered = {name.lower(): value for name, value in headers.items()}
    stamp = lowered.get(TIMESTAMP_HEADER.lower(), "")
    key = lowered.get(KEY_HEADER.lower())
    given = lowered.get(SIGNATURE_HEADER.lower())
    if key is None or given is None or not stamp.isdigit() or len(stamp) > 12:
        return False
    if abs((time.time() if now is None else now) - int(stamp)) > tolerance:
        return False
    expected = signature(secret, int(stamp), key, body).encode()
    candidates = [part.strip().encode() for part in given.split(",")]
    # Every candidate is compared, so the time taken does not tell which one (or whether any) matched.
    return sum(hmac.compare_digest(expected, candidate) for candidate in candidates) > 0


class PushSigner:
    """Signs every attempt of a push as a RestClient ``Auth``: fresh timestamp, signature over the bytes sent."""

    def __init__(self, secret: SecretStr, clock: Callable[[], float] = time.time) -> None:
        """Sign with ``secret``; ``clock`` gives seconds since the epoch (tests move it).

        Raises:
            ConfigError: the secret is empty.
        """
        if not secret.get_secret_value():
            raise ConfigError(
                "the agency's push secret is empty; set it as the password of its agency_push_ connection"
            )
        self._secret = secret
        self._clock = clock

    def apply(self, request: httpx.Request) -> None:
        """Add the timestamp and signature headers (the request already carries its Idempotency-Key).

        Raises:
            ValueError: the request has no Idempotency-Key (every push must).
        """
        key = request.headers.get(KEY_HEADER)
        if key is None:
            raise ValueError("a push must carry an Idempotency-Key: the signature covers it")
        stamp = int(self._clock())
        # request.content is the body httpx will send, already encoded: the bytes the agency hashes.
        request.headers[TIMESTAMP_HEADER] = str(stamp)
        request.headers[SIGNATURE_HEADER] = signature(
            self._secret.get_secret_value().encode(), stamp, key, request.content
        )

    def on_unauthorized(self) -> bool:
        """A refused signature means a wrong secret (or clock): re-signing cannot help, the 401 stands."""
        return False
