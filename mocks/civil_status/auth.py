"""OAuth 2.0 client credentials (RFC 6749 section 4.4) and bearer tokens (RFC 6750).

Tokens are random, short-lived in real (monotonic) time, not in the mock's simulated
time: the clock jumps days at a time, and a client's refresh-on-expiry must be
testable in seconds. Revoking invalidates every token issued so far, so a test can
force the 401 a client must recover from.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import math
import secrets
import threading
import time
from collections.abc import Callable, Mapping


class OAuthError(Exception):
    """An error of the token endpoint: HTTP status and the RFC 6749 ``error`` code; fixed texts only."""

    def __init__(self, status: int, error: str, description: str) -> None:
        """``error`` e.g. "invalid_client"; ``description`` goes to ``error_description``."""
        super().__init__(description)
        self.status, self.error, self.description = status, error, description


def client_credentials(authorization: str | None, form: Mapping[str, str]) -> tuple[str, str]:
    """The client id and secret, from HTTP Basic or the form (not both).

    Raises:
        OAuthError: not a client-credentials grant, or the credentials are missing or sent twice.
    """
    grant = form.get("grant_type")
    if grant is None:
        raise OAuthError(400, "invalid_request", "grant_type is required")
    if grant != "client_credentials":
        raise OAuthError(400, "unsupported_grant_type", "only client_credentials is supported")
    in_form = "client_id" in form or "client_secret" in form
    if authorization is not None and authorization[:6].lower() == "basic ":
        if in_form:
            raise OAuthError(400, "invalid_request", "send client credentials one way only")
        return _basic(authorization[6:])
    if not in_form:
        raise OAuthError(401, "invalid_client", "client authentication is required")
    return form.get("client_id", ""), form.get("client_secret", "")


def _basic(encoded: str) -> tuple[str, str]:
    """Decode HTTP Basic credentials (RFC 6749 section 2.3.1 form-encodes them first; ours are plain).

    Raises:
        OAuthError: invalid_client, the header does not decode.
    """
    try:
        user, separator, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise OAuthError(401, "invalid_client", "malformed Basic credentials") from exc
    if not separator:
        raise OAuthError(401, "invalid_client", "malformed Basic credentials")
    return user, password


class TokenIssuer:
    """Checks client credentials, issues bearer tokens, and says whether a token is still good."""

    def __init__(
        self, client_id: str, client_secret: str, ttl_seconds: float, now: Callable[[], float] = time.monotonic
    ) -> None:
        """Accept only ``client_id``/``client_secret``; tokens live ``ttl_seconds``."""
        self._client_id, self._secret = client_id.encode(), client_secret.encode()
        self.ttl_seconds = ttl_seconds
        self._now = now
        self._expiry: dict[str, float] = {}
        self._lock = threading.Lock()

    def issue(self, client_id: str, client_secret: str) -> tuple[str, int]:
        """A new token and its lifetime in whole seconds.

        Raises:
            OAuthError: invalid_client, wrong id or secret (which one is not said).
        """
        # Both comparisons always run, so timing does not tell a wrong id from a wrong secret.
        id_ok = hmac.compare_digest(client_id.encode(), self._client_id)
        secret_ok = hmac.compare_digest(client_secret.encode(), self._secret)
        if not (id_ok and secret_ok):
            raise OAuthError(401, "invalid_client", "client authentication failed")
        token = secrets.token_urlsafe(32)
        now = self._now()
        with self._lock:
            self._expiry = {key: expiry for key, expiry in self._expiry.items() if expiry > now}
            self._expiry[token] = now + self.ttl_seconds
        return token, max(1, math.floor(self.ttl_seconds))

    def valid(self, authorization: str | None) -> bool:
        """Whether an ``Authorization`` header carries a bearer token we issued that has not expired."""
        if authorization is None or authorization[:7].lower() != "bearer ":
            return False
        with self._lock:
            expiry = self._expiry.get(authorization[7:].strip())
        return expiry is not None and expiry > self._now()

    def revoke_all(self) -> int:
        """Invalidate every token issued so far; return how many were still live."""
        now = self._now()
        with self._lock:
            live = sum(1 for expiry in self._expiry.values() if expiry > now)
            self._expiry.clear()
        return live
