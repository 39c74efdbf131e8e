"""Credentials as pluggable pieces of a ``RestClient``: a static API key, or OAuth2 client credentials.

An ``Auth`` puts its header on each outgoing request (``apply``) and, when the API
answers 401, may refresh and ask for one more try (``on_unauthorized``). A 401 is
taken as proof of bad credentials only when the token refused was fresh and still
valid: a token that expires during a sync, or even while a slow request is in
flight, is refreshed, not fatal.
Secrets are ``pydantic.SecretStr``; neither they nor a token ever reach a log line
or an exception message.

Token endpoint failures follow the same tree as any call:

    invalid_client (401, or 400 with that error)   -> FatalSourceError "check the client id/secret"
    another 400 error (invalid_scope, ...)          -> FatalSourceError naming the OAuth error code
    5xx, 429, timeouts, resets, cut JSON            -> TransientSourceError (the API call is retried)
"""

from __future__ import annotations

import base64
import logging
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, Self
from urllib.parse import quote, urlsplit

import httpx
from pydantic import SecretStr

from connectors.rest import RestClient, RestResponse
from lgsp.errors import ConfigError, FatalSourceError

log = logging.getLogger(__name__)

_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")  # an RFC 9110 token
_OAUTH_ERROR = re.compile(r"[a-z_]{1,40}")  # the registered error codes; anything else is not quoted
_TOKEN_CHARS = re.compile(r"[\x21-\x7e]+")  # visible ASCII: safe in a header
_TOKEN_BODY_BYTES = 64 * 1024
_OPERATION = "fetch token"


class Auth(Protocol):
    """How a RestClient authenticates: set the credentials, and refresh once after a 401."""

    def apply(self, request: httpx.Request) -> None:
        """Add the credentials to ``request``."""
        ...

    def on_unauthorized(self) -> bool:
        """The API answered 401: refresh if that can help; True means "I refreshed, try once more".

        False means refreshing cannot help (a static key; fresh credentials refused), so the 401 is final.
        """
        ...


class ApiKeyAuth:
    """A static API key in one header; a 401 is final, there is nothing to refresh."""

    def __init__(self, header: str, key: SecretStr) -> None:
        """Send ``key`` in the header ``header`` (e.g. ``X-API-Key``).

        Raises:
            ConfigError: the header name is not a valid HTTP token, or the key is empty.
        """
        if not _HEADER_NAME.fullmatch(header):
            raise ConfigError(f"API key header name {header!r} is not a valid HTTP header name")
        if not key.get_secret_value():
            raise ConfigError(f"the API key for header {header} is empty; set it in the connection's password")
        self.header = header
        self._key = key

    def apply(self, request: httpx.Request) -> None:
        """Set the key header."""
        request.headers[self.header] = self._key.get_secret_value()

    def on_unauthorized(self) -> bool:
        """A static key cannot be refreshed: the 401 stands."""
        return False


@dataclass(frozen=True, slots=True)
class _Token:
    value: SecretStr
    expires_at: float | None  # on ``clock``; None: until the API refuses it
    generation: int


class OAuth2ClientCredentials:
    """OAuth2 client-credentials grant: a bearer token, cached until ``expires_in - leeway``."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: SecretStr,
        *,
        scope: str | None = None,
        timeout: float,
        leeway_seconds: float = 10,
        system: str = "oauth2 token endpoint",
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Fetch tokens from ``token_url``, sending the client id and secret by HTTP Basic.

        Raises:
            ConfigError: the token URL is not http(s), or the client id or secret is empty.
        """
        parts = urlsplit(token_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"{system}: token_url must be an http(s) URL with a host")
        if not client_id or not client_secret.get_secret_value():
            raise ConfigError(f"{system}: the client id and the client secret must both be set")
        # One attempt here: a transient failure surfaces inside the API call, whose retries cover both.
        self._client = RestClient(
            system,
            f"{parts.scheme}://{parts.netloc}",
            auth=None,
            timeout=timeout,
            max_attempts=1,
            transport=transport,
            max_body_bytes=_TOKEN_BODY_BYTES,
        )
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._basic = _basic_credentials(client_id, client_secret)
        self._form = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
        self._leeway = max(0.0, leeway_seconds)
        self._clock = clock
        self._lock = threading.Lock()  # one fetch at a time; the other threads wait and reuse its token
        self._token: _Token | None = None
        self._generation = 0  # counts fetches; never reset, so a stale token is always told apart
        # Per thread: the generation last sent (to spot a stale 401), whether it was sent right after
        # a refresh (a fresh token refused is a real refusal), and the refresh awaiting its resend.
        self._applied = threading.local()

    @property
    def system(self) -> str:
        """The name the token endpoint goes by in errors and logs."""
        return self._client.system

    def apply(self, request: httpx.Request) -> None:
        """Set ``Authorization: Bearer``, fetching a token first if there is none or it is about to expire.

        Raises:
            TransientSourceError: the token endpoint is down, slow or overloaded.
            FatalSourceError: the token endpoint refused the client or answered nonsense.
        """
        with self._lock:
            token = self._token
            if token is None or self._expired(token):
                token = self._fetch_locked()
        applied = self._applied
        applied.generation = token.generation
        applied.after_refresh = token.generation == getattr(applied, "refreshed", None)
        applied.refreshed = None
        request.headers["Authorization"] = f"Bearer {token.value.get_secret_value()}"

    def on_unauthorized(self) -> bool:
        """The API refused our token: fetch a new one, unless the refused one was fresh and still valid.

        Raises:
            TransientSourceError: the token endpoint is down, slow or overloaded.
            FatalSourceError: the token endpoint refused the client or answered nonsense.
        """
        applied = self._applied
        with self._lock:
            current = self._token
            sent = getattr(applied, "generation", None)
            if current is not None and current.generation != sent:
                return True  # another thread already replaced the token this thread sent
            if current is not None and getattr(applied, "after_refresh", False) and not self._expired(current):
                return False  # a token fetched for this very call, still valid, refused: not an expiry
            self._token = None
            applied.refreshed = self._fetch_locked().generation
        log.info("%s: the API refused the bearer token; fetched a new one", self.system)
        return True

    def close(self) -> None:
        """Close the token endpoint's connection pool."""
        self._client.close()

    def __enter__(self) -> Self:
        """Use as a context manager; closes on exit."""
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the token endpoint's connection pool."""
        self.close()

    def _expired(self, token: _Token) -> bool:
        return token.expires_at is not None and self._clock() >= token.expires_at

    def _fetch_locked(self) -> _Token:
        started = self._clock()  # the lifetime runs from when the server issued it, not from when we read it
        response = self._client.post_form(
            self._path,
            self._form,
            operation=_OPERATION,
            headers={"Authorization": f"Basic {self._basic.get_secret_value()}"},
            expected=frozenset({400, 401}),
        )
        if response.status in (400, 401):
            raise _refusal(response, self.system)
        value, lifetime = _read_token(response.json, self.system)
        self._generation += 1
        # A leeway longer than the token's life would mean a fetch per request: keep at least half of it.
        expires_at = None if lifetime is None else started + lifetime - min(self._leeway, lifetime / 2)
        self._token = _Token(value, expires_at, self._generation)
        return self._token


def _basic_credentials(client_id: str, client_secret: SecretStr) -> SecretStr:
    """``base64(id:secret)`` with both form-urlencoded first, as RFC 6749 §2.3.1 requires."""
    pair = f"{quote(client_id, safe='')}:{quote(client_secret.get_secret_value(), safe='')}"
    return SecretStr(base64.b64encode(pair.encode()).decode("ascii"))


def _refusal(response: RestResponse, system: str) -> FatalSourceError:
    body = response.json if isinstance(response.json, dict) else {}
    error = body.get("error")
    code = error if isinstance(error, str) and _OAUTH_ERROR.fullmatch(error) else None
    where = f"{system} {_OPERATION}: HTTP {response.status}"
    if response.status == 401 or code == "invalid_client":
        message = f"{where} invalid_client: the token endpoint refused the client; check the client id/secret"
    else:
        message = (
            f"{where} {code or 'bad request'}: the token endpoint refused the grant; "
            "check the scope and that the client may use client_credentials"
        )
    return FatalSourceError(f"{message} (request {response.request_id})", system=system, operation=_OPERATION)


def _read_token(body: Any, system: str) -> tuple[SecretStr, float | None]:
    """The access token and its lifetime in seconds (None when the server does not say)."""

    def fatal(problem: str) -> FatalSourceError:
        return FatalSourceError(f"{system} {_OPERATION}: {problem}", system=system, operation=_OPERATION)

    if not isinstance(body, dict):
        raise fatal("the token response is not a JSON object; check the token URL")
    token, kind = body.get("access_token"), body.get("token_type")
    if not isinstance(token, str) or not _TOKEN_CHARS.fullmatch(token):
        raise fatal("the token response has no usable access_token; check the token URL")
    if not isinstance(kind, str) or kind.lower() != "bearer":
        raise fatal("the token endpoint issued a token that is not a bearer token; only bearer is supported")
    return SecretStr(token), _lifetime(body.get("expires_in"), fatal)


def _lifetime(value: Any, fatal: Callable[[str], FatalSourceError]) -> float | None:
    if value is None:
        return None  # RFC 6749 makes it optional: keep the token until the API refuses it
    if isinstance(value, str) and value.isdigit():  # some servers send it as a string
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise fatal("the token response's expires_in is not a positive number of seconds")
    return float(value)
