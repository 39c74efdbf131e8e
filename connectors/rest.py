"""REST over httpx, made safe and honest about failure.

One ``RestClient`` per external system wraps one ``httpx.Client``: a timeout on
every call, no redirects followed, a body-size cap, a depth cap on JSON, an
``X-Request-ID`` on every request, and pluggable credentials (``connectors.auth``).
Every way a call can fail is turned into the project's error tree here, once
(``lgsp.errors``):

    timeouts (of a read, or of the whole exchange: connectors.policy),
    connection errors/resets, 408/429/500/502/503/504,
    a JSON body cut in transit                              -> TransientSourceError (retried here)
    3xx, other 4xx, 401/403 (after one credentials refresh),
    other 5xx, not JSON, larger than max_body_bytes,
    JSON nested deeper than MAX_JSON_DEPTH                   -> FatalSourceError
    a status the caller lists in ``expected``                -> returned as a RestResponse

Messages name the system, the operation, the HTTP status and the request id, and
never quote a response body, a URL path or query (they may carry personal data).
"""

from __future__ import annotations

import json as jsonlib
import logging
import math
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from importlib import metadata
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlsplit

import httpx

from connectors.policy import (
    Deadline,
    DeadlinePassed,
    read_capped,
    redirect_refused,
    too_large,
    took_too_long,
    within,
)
from connectors.rest_transport import WatchedTransport
from connectors.retry import with_retries
from lgsp.errors import ConfigError, FatalSourceError, SourceError, TransientSourceError

if TYPE_CHECKING:  # auth.py builds its token client from this module
    from connectors.auth import Auth

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
MAX_JSON_DEPTH = 64  # far beyond any contract we read; deeper is hostile or broken
_ERROR_BODY_BYTES = 64 * 1024  # enough for a problem+json; we never need more of an error page
_TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_NOTHING: frozenset[int] = frozenset()
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_RETRY_AFTER_SECONDS = re.compile(r"\d{1,9}(?:\.\d{1,6})?")

QueryParams = Mapping[str, str | int | float | bool | None]

_HINTS: dict[int, str] = {
    400: "the server calls the request malformed; check it against the contract",
    401: "check the credentials",
    403: "the credentials are refused for this operation; check the credentials and the client's grants",
    404: "check the base URL and the path (pass expected={404} if absence is an answer)",
    405: "the method is not allowed there; check the contract",
    409: "the request conflicts with the server's state; check the data (pass expected={409} to handle it)",
    410: "the resource is gone; check the contract version",
    413: "the request is too large; send less per call",
    415: "the server refuses our content type; check the contract",
    422: "the server rejected the payload; check it against the contract (pass expected={422} to handle it)",
}


def _user_agent() -> str:
    try:
        version = metadata.version("lgsp")
    except metadata.PackageNotFoundError:
        version = "dev"
    return f"lgsp/{version} (connectors.rest; httpx/{httpx.__version__})"


USER_AGENT = _user_agent()


@dataclass(frozen=True, slots=True)
class RestResponse:
    """What came back: status, decoded JSON (None when the body is empty), headers, request id."""

    status: int
    json: Any
    headers: httpx.Headers
    request_id: str


@dataclass(frozen=True, slots=True)
class _Call:
    """One logical call (all its attempts share the request id)."""

    system: str
    operation: str
    method: str
    path: str
    request_id: str
    params: QueryParams | None = None
    json: Any = None
    form: Mapping[str, str] | None = None
    content: bytes | None = None  # a body already encoded (its Content-Type in headers)
    headers: Mapping[str, str] | None = None
    expected: frozenset[int] = _NOTHING
    json_required: bool = False

    def fatal(self, text: str) -> FatalSourceError:
        """A FatalSourceError naming the system, operation and request id."""
        return FatalSourceError(
            f"{self.system} {self.operation}: {text} (request {self.request_id})",
            system=self.system,
            operation=self.operation,
        )

    def transient(self, text: str, retry_after: float | None = None) -> TransientSourceError:
        """A TransientSourceError naming the system, operation and request id."""
        return TransientSourceError(
            f"{self.system} {self.operation}: {text} (request {self.request_id})",
            system=self.system,
            operation=self.operation,
            retry_after=retry_after,
        )


@dataclass(frozen=True, slots=True)
class _Raw:
    status: int
    headers: httpx.Headers
    body: bytes | None  # None: larger than the limit, not read
    url: str  # what was asked for, to resolve a relative Location against; never quoted
    limit: int  # the body cap that applied


class RestClient:
    """One httpx client bound to one system's base URL, converting every failure into our errors."""

    def __init__(
        self,
        system: str,
        base_url: str,
        *,
        auth: Auth | None,
        timeout: float,
        max_attempts: int = 5,
        backoff: float = 1.0,
        transport: httpx.BaseTransport | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Bind to ``base_url``; ``timeout`` (seconds) bounds each exchange in total (connect, send, headers, body).

        Raises:
            ConfigError: a non-positive timeout, attempts or body limit, or a base URL that is not http(s).
        """
        _check_settings(system, base_url, timeout, max_attempts, max_body_bytes)
        self.system = system
        self._auth = auth
        self._attempts, self._backoff, self._sleep = max_attempts, backoff, sleep
        self._max_body = max_body_bytes
        self._timeout = timeout
        self._client = httpx.Client(
            base_url=base_url,
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,  # a redirect is a configuration problem, and would re-send credentials
            headers={"User-Agent": USER_AGENT, "Accept": "application/json, application/problem+json"},
            # Hands each connection's socket to the watchdog of the exchange it serves (see _send).
            transport=transport if transport is not None else WatchedTransport(),
        )
        _hide_httpx_request_targets()

    def get_json(
        self, path: str, params: QueryParams | None = None, *, operation: str, request_id: str | None = None
    ) -> Any:
        """GET ``path`` and return its JSON body (None for a 204).

        Raises:
            TransientSourceError: still failing after the retries.
            FatalSourceError: retrying will not help.
        """
        return self.request(
            "GET", path, operation=operation, params=params, request_id=request_id, json_required=True
        ).json

    def put_json(
        self,
        path: str,
        body: Any,
        *,
        operation: str,
        headers: Mapping[str, str] | None = None,
        expected: frozenset[int] = _NOTHING,
        request_id: str | None = None,
    ) -> RestResponse:
        """PUT ``body`` as JSON; statuses in ``expected`` come back as responses, not errors.

        Raises:
            TransientSourceError: still failing after the retries.
            FatalSourceError: retrying will not help.
        """
        return self.request(
            "PUT", path, operation=operation, json=body, headers=headers, expected=expected, request_id=request_id
        )

    def post_json(
        self,
        path: str,
        body: Any,
        *,
        operation: str,
        headers: Mapping[str, str] | None = None,
        expected: frozenset[int] = _NOTHING,
        request_id: str | None = None,
    ) -> RestResponse:
        """POST ``body`` as JSON (retried like any call: send an idempotency key if it matters).

        Raises:
            TransientSourceError: still failing after the retries.
            FatalSourceError: retrying will not help.
        """
        return self.request(
            "POST", path, operation=operation, json=body, headers=headers, expected=expected, request_id=request_id
        )

    def post_form(
        self,
        path: str,
        form: Mapping[str, str],
        *,
        operation: str,
        headers: Mapping[str, str] | None = None,
        expected: frozenset[int] = _NOTHING,
        request_id: str | None = None,
    ) -> RestResponse:
        """POST ``form`` as application/x-www-form-urlencoded.

        Raises:
            TransientSourceError: still failing after the retries.
            FatalSourceError: retrying will not help.
        """
        return self.request(
            "POST", path, operation=operation, form=form, headers=headers, expected=expected, request_id=request_id
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        params: QueryParams | None = None,
        json: Any = None,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        expected: frozenset[int] = _NOTHING,
        request_id: str | None = None,
        json_required: bool = False,
        content: bytes | None = None,
    ) -> RestResponse:
        """Send one call with retries; ``operation`` names it in errors and logs (never the path).

        Raises:
            TransientSourceError: still failing after the retries.
            FatalSourceError: retrying will not help.
            ValueError: ``request_id`` is not 1-128 characters of ``[A-Za-z0-9._:-]``.
        """
        call = _Call(
            system=self.system,
            operation=operation,
            method=method,
            path=path,
            request_id=_request_id(request_id),
            params=_present(params),
            json=json,
            form=form,
            content=content,
            headers=headers,
            expected=frozenset(expected),
            json_required=json_required,
        )
        return with_retries(
            lambda: self._attempt(call), attempts=self._attempts, backoff=self._backoff, sleep=self._sleep
        )

    def close(self) -> None:
        """Close the connection pool (the auth, which the caller owns, stays open)."""
        self._client.close()

    def __enter__(self) -> Self:
        """Use as a context manager; closes on exit."""
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the connection pool."""
        self.close()

    def _attempt(self, call: _Call) -> RestResponse:
        raw = self._send(call)
        if not self._refusal(raw, call) or self._auth is None or not self._auth.on_unauthorized():
            return _interpret(raw, call, refreshed=False)
        log.info(
            "%s %s: HTTP 401, credentials refreshed; trying once more (request %s)",
            call.system,
            call.operation,
            call.request_id,
        )
        raw = self._send(call)
        if self._refusal(raw, call) and self._auth.on_unauthorized():
            # The auth says new credentials can still help: the ones just fetched went stale on the way.
            raise call.transient(
                "HTTP 401 again: the refreshed credentials expired while the request was in flight "
                "(the server is slower than the token's lifetime); worth retrying"
            )
        return _interpret(raw, call, refreshed=True)

    def _refusal(self, raw: _Raw, call: _Call) -> bool:
        """A 401 the auth may answer (unless the caller takes 401 as an outcome)."""
        return raw.status == 401 and 401 not in call.expected

    def _send(self, call: _Call) -> _Raw:
        request = self._client.build_request(
            call.method,
            call.path,
            params=call.params,
            json=call.json,
            data=call.form,
            content=call.content,
            headers={**(call.headers or {}), "X-Request-ID": call.request_id},
        )
        if self._auth is not None:
            self._auth.apply(request)  # per attempt, so a refreshed credential is used

        def exchange() -> tuple[httpx.Response, bytes | None, int]:
            response = self._client.send(request, stream=True)
            try:
                wanted = response.is_success or response.status_code in call.expected
                limit = self._max_body if wanted else _ERROR_BODY_BYTES
                return (
                    response,
                    read_capped(response.iter_bytes(), limit, response.headers.get("Content-Length")),
                    limit,
                )
            finally:
                response.close()

        # httpx's timeout bounds each read; the watchdog bounds the exchange (a peer may drip).
        try:
            response, body, limit = within(Deadline(self._timeout), exchange)
        except DeadlinePassed:
            # Whatever httpx made of the shut-down socket, the cause is the deadline; the body may be cut.
            raise call.transient(took_too_long(self._timeout)) from None
        except httpx.HTTPError as exc:
            raise _transport_error(exc, call) from exc
        return _Raw(response.status_code, response.headers, body, str(request.url), limit)


def _check_settings(system: str, base_url: str, timeout: float, max_attempts: int, max_body_bytes: int) -> None:
    # Checked here because httpx takes None as "wait forever", which is how a sync hangs all night.
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not math.isfinite(timeout) or timeout <= 0:
        raise ConfigError(f"{system}: timeout must be a positive number of seconds; set the connection's timeout")
    if max_attempts < 1:
        raise ConfigError(f"{system}: max_attempts must be at least 1")
    if max_body_bytes < 1:
        raise ConfigError(f"{system}: max_body_bytes must be positive")
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        # The URL itself is not quoted: it may carry credentials (user:password@host).
        raise ConfigError(f"{system}: base_url must be an http(s) URL with a host; check the connection's host")


def _present(params: QueryParams | None) -> QueryParams | None:
    """Drop None values: httpx would send ``?cursor=`` (an empty value), which servers read as a value."""
    return None if params is None else {name: value for name, value in params.items() if value is not None}


def _request_id(given: str | None) -> str:
    if given is None:
        return str(uuid.uuid4())
    if not _REQUEST_ID.fullmatch(given):
        raise ValueError("request_id must be 1-128 characters of [A-Za-z0-9._:-]: it travels in a header and in logs")
    return given


def _transport_error(exc: httpx.HTTPError, call: _Call) -> SourceError:
    """Turn an httpx exception into the project's error tree."""
    if isinstance(exc, httpx.TimeoutException):
        return call.transient(f"timed out ({type(exc).__name__}); worth retrying later")
    if isinstance(exc, httpx.NetworkError | httpx.RemoteProtocolError | httpx.ProxyError | httpx.DecodingError):
        return call.transient(f"connection failed, was reset or cut ({type(exc).__name__}); worth retrying later")
    return call.fatal(f"the request could not be sent ({type(exc).__name__}); check the base URL and the call")


def _interpret(raw: _Raw, call: _Call, refreshed: bool) -> RestResponse:
    if raw.status in call.expected:
        return RestResponse(raw.status, _lenient_json(raw), raw.headers, call.request_id)
    if 200 <= raw.status < 300:
        return RestResponse(raw.status, _decode_json(raw, call), raw.headers, call.request_id)
    raise _status_error(raw, call, refreshed)


def _media_type(headers: httpx.Headers) -> str:
    return str(headers.get("Content-Type", "")).split(";", 1)[0].strip().lower()


def _is_json(media_type: str) -> bool:
    """application/json, or a JSON-based type such as application/problem+json."""
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


def _decode_json(raw: _Raw, call: _Call) -> Any:
    """The JSON of a successful response, refusing what is not, or not safely, JSON."""
    where = f"HTTP {raw.status}"
    if raw.body is None:
        raise call.fatal(f"{where}: {too_large(raw.limit, 'max_body_bytes')}")
    media = _media_type(raw.headers)
    if not raw.body:
        if _is_json(media):
            raise call.transient(f"{where}: an empty JSON body, likely cut in transit; worth retrying later")
        if call.json_required and raw.status != 204:
            raise call.fatal(f"{where}: an empty response where JSON was expected; check the path and the contract")
        return None
    if not _is_json(media):
        raise call.fatal(
            f"{where}: the response is {_clean(media, 60) or 'untyped'}, not JSON; "
            "check the base URL (is a login page or a proxy answering?)"
        )
    return _parse_json(raw.body, call, where)


def _parse_json(body: bytes, call: _Call, where: str) -> Any:
    try:
        value = jsonlib.loads(body)
    except RecursionError as exc:
        raise call.fatal(f"{where}: the JSON is nested too deep to parse; refusing a hostile or broken body") from exc
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError; their text never quotes the body
        raise call.transient(f"{where}: the JSON body is cut or malformed, likely in transit; worth retrying") from exc
    if _deeper_than(value, MAX_JSON_DEPTH):
        raise call.fatal(f"{where}: the JSON is nested deeper than {MAX_JSON_DEPTH} levels; refusing it")
    return value


def _lenient_json(raw: _Raw) -> Any:
    """The JSON of an expected (outcome) status, or None: the status is the answer, the body a bonus."""
    if not raw.body or not _is_json(_media_type(raw.headers)):
        return None
    try:
        value = jsonlib.loads(raw.body)
    except (ValueError, RecursionError):
        return None
    return None if _deeper_than(value, MAX_JSON_DEPTH) else value


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether containers nest beyond ``limit``; level by level, so a hostile body cannot exhaust the stack.

    About 15 ms per MB of typical records, under the cost of parsing them.
    """
    level: list[Any] = [value] if isinstance(value, dict | list) else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        below: list[Any] = []
        for node in level:
            below.extend(
                [
                    child
                    for child in (node.values() if isinstance(node, dict) else node)
                    if isinstance(child, dict | list)
                ]
            )
        level = below
    return False


def _status_error(raw: _Raw, call: _Call, refreshed: bool) -> SourceError:
    status = raw.status
    text = f"HTTP {status}{_problem(raw)}"
    if status in _TRANSIENT_STATUS:
        retry_after = parse_retry_after(raw.headers.get("Retry-After"))
        wait = f", asked to wait {retry_after:g} s" if retry_after is not None else ""
        return call.transient(f"{text}{wait}; the server is busy or down, worth retrying later", retry_after)
    if status == 401 and refreshed:
        return call.fatal(f"{text} even after refreshing the credentials: check the credentials")
    if 300 <= status < 400:
        return call.fatal(redirect_refused(status, raw.headers.get("Location"), raw.url))
    if status >= 500:
        return call.fatal(f"{text}: a server failure retrying is not expected to fix; contact the provider")
    return call.fatal(f"{text}: {_HINTS.get(status, 'the server refused the request; check it against the contract')}")


def _problem(raw: _Raw) -> str:
    """The problem+json ``title`` and ``type`` (RFC 9457), cleaned and cut; never ``detail``, which may name people."""
    value = _lenient_json(raw)
    if not isinstance(value, dict):
        return ""
    title, kind = value.get("title"), value.get("type")
    parts = []
    if isinstance(title, str) and title.strip():
        parts.append(repr(_clean(title, 80)))
    if isinstance(kind, str) and kind.strip() and kind != "about:blank":
        parts.append(f"type {_clean(kind, 120)}")
    return f" ({', '.join(parts)})" if parts else ""


def _clean(text: str, limit: int) -> str:
    """``text`` without control characters, cut to ``limit`` characters."""
    printable = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    return printable if len(printable) <= limit else printable[: limit - 1] + "…"


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or HTTP-date); None if absent or unreadable."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if _RETRY_AFTER_SECONDS.fullmatch(value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class _HideRequestTargets(logging.Filter):
    """Cut httpx's "HTTP Request: GET <url>" log lines to the origin: paths and queries may carry ids."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the URL argument in place; never drop the record."""
        args = record.args
        if isinstance(args, tuple) and len(args) > 1 and isinstance(args[1], httpx.URL):
            url = args[1]
            port = f":{url.port}" if url.port is not None else ""
            record.args = (args[0], f"{url.scheme}://{url.host}{port}/…", *args[2:])
        return True


def _hide_httpx_request_targets() -> None:
    """Install the filter on the "httpx" logger once (it logs every request at INFO, URL and query included)."""
    logger = logging.getLogger("httpx")
    if not any(isinstance(existing, _HideRequestTargets) for existing in logger.filters):
        logger.addFilter(_HideRequestTargets())
