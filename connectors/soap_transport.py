"""zeep's transport, held to ``connectors.policy``: no redirect, a deadline, a capped body, one origin.

zeep posts through ``requests``, which on its own follows redirects (re-sending a
307/308's body, WS-Security password included, to wherever the peer says), bounds
each socket read but not a call, and reads ``response.content`` whole. Here every
exchange (a call, or a WSDL/XSD fetch) is sent with ``allow_redirects=False`` and
``stream=True`` under a ``Watchdog``; the body is read through the cap; and:

    a 3xx                                  -> FatalSourceError naming the status and the origin
    past the deadline (call, or the WSDL
    with all its imports together)         -> TransientSourceError "took longer than N s in total"
    a body over max_response_bytes         -> FatalSourceError naming LGSP_MAX_RESPONSE_BYTES
    a document outside the endpoint's origin -> FatalSourceError

Other failures (resets, per-read timeouts, non-200 on a fetch) pass on as the
library's exceptions, which ``connectors.soap`` converts once.

The watchdog needs the socket of the connection in use, also while the status line
and headers are awaited: urllib3's connection classes are subclassed to hand their
socket to ``policy.watch`` when they connect and each time they send or await a
response (a pooled connection is reused without connecting again).
"""

from __future__ import annotations

import re
import socket
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.response import BaseHTTPResponse
from zeep.transports import Transport

from connectors.policy import (
    RESPONSE_BYTES_SETTING,
    Deadline,
    DeadlinePassed,
    origin_of,
    read_capped,
    redirect_refused,
    too_large,
    took_too_long,
    watch,
    within,
)
from lgsp.errors import ConfigError, FatalSourceError, TransientSourceError

_CHUNK = 64 * 1024
_MIN_RESPONSE_BYTES = 1024
_LOAD = "load WSDL"
_OPERATION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")


class SoapTransport(Transport):  # type: ignore[misc,unused-ignore]  # zeep is untyped
    """A zeep Transport for one endpoint that refuses redirects, bounds every exchange and caps every body."""

    def __init__(self, *, system: str, url: str, timeout: float, max_response_bytes: int) -> None:
        """Bind to ``url``'s origin; ``timeout`` bounds each call, and the WSDL load with its imports, in total.

        Raises:
            ConfigError: the URL is not an absolute http(s) URL, or the cap is under 1 KiB.
        """
        try:
            self._origin = origin_of(url)
        except ValueError:
            # The URL itself is not quoted: it may carry credentials (user:password@host).
            raise ConfigError(f"{system}: the URL must be an absolute http(s) URL; check the connection") from None
        if max_response_bytes < _MIN_RESPONSE_BYTES:
            raise ConfigError(f"{system}: max_response_bytes must be at least 1 KiB; check {RESPONSE_BYTES_SETTING}")
        super().__init__(  # type: ignore[no-untyped-call]
            session=_NoRedirectSession(), timeout=timeout, operation_timeout=timeout
        )
        self._close_session = True  # zeep closes only a session it made itself
        self._system = system
        self._cap = max_response_bytes
        self._load_deadline: Deadline | None = None
        # zeep mounts a file:// adapter; a peer's WSDL must never make us read local files.
        self.session.adapters.pop("file://", None)
        adapter = _WatchedAdapter()
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def load(self, location: str) -> bytes:
        """Load the WSDL or an XSD it imports: from the endpoint's own origin, nothing else.

        Raises:
            FatalSourceError: another origin (or a local path), a redirect, or a document over the cap.
            TransientSourceError: the WSDL and its imports took longer than the timeout in total.
        """
        try:
            same_origin = origin_of(location) == self._origin
        except ValueError:
            same_origin = False
        if not same_origin:
            raise FatalSourceError(
                f"{self._system}: the WSDL refers to a document outside {self._origin}, which we refuse to fetch; "
                "ask the provider for a self-contained contract",
                system=self._system,
                operation=_LOAD,
            )
        return bytes(super().load(location))  # type: ignore[no-untyped-call]

    def _load_remote_data(self, url: str) -> bytes:
        # One deadline for the WSDL and all its imports: zeep fetches them all while the client is built.
        if self._load_deadline is None:
            self._load_deadline = Deadline(self.load_timeout)
        response = self._exchange("GET", url, _LOAD, self._load_deadline)
        response.raise_for_status()  # as zeep does; connectors.soap converts the HTTPError
        return response.content

    def post(self, address: str, message: bytes, headers: dict[str, str]) -> requests.Response:
        """POST an envelope under the call's deadline; the response's body is already read (and capped).

        Raises:
            FatalSourceError: a redirect, or a body over the cap.
            TransientSourceError: the call took longer than the operation timeout in total.
        """
        return self._exchange(
            "POST", address, _operation(headers), self._call_deadline(), data=message, headers=headers
        )

    def get(self, address: str, params: dict[str, Any], headers: dict[str, str]) -> requests.Response:
        """GET (SOAP's HTTP binding), held to the same rules as ``post``.

        Raises:
            FatalSourceError: a redirect, or a body over the cap.
            TransientSourceError: the call took longer than the operation timeout in total.
        """
        return self._exchange(
            "GET", address, _operation(headers), self._call_deadline(), params=params, headers=headers
        )

    def _call_deadline(self) -> Deadline:
        return Deadline(self.operation_timeout or self.load_timeout)  # zeep's settings(timeout=None) means "ours"

    def _exchange(self, method: str, url: str, operation: str, deadline: Deadline, **send: Any) -> requests.Response:
        """One request and its whole body under ``deadline``; our errors for what ``policy`` forbids."""

        def exchange() -> tuple[requests.Response, bytes | None]:
            response = self.session.request(
                method, url, allow_redirects=False, stream=True, timeout=deadline.seconds, **send
            )
            try:
                if 300 <= response.status_code < 400:
                    return response, None
                declared = response.headers.get("Content-Length")
                return response, read_capped(response.iter_content(_CHUNK), self._cap, declared)
            finally:
                response.close()

        try:
            response, body = within(deadline, exchange)
        except DeadlinePassed:
            # Whatever the library made of the shut-down socket, the real cause is the deadline.
            raise self._transient(operation, took_too_long(deadline.seconds)) from None
        if 300 <= response.status_code < 400:
            raise self._fatal(operation, redirect_refused(response.status_code, response.headers.get("Location"), url))
        if body is None:
            raise self._fatal(operation, too_large(self._cap, RESPONSE_BYTES_SETTING))
        response._content = body  # what requests itself does once a streamed body is read
        return response

    def _fatal(self, operation: str, text: str) -> FatalSourceError:
        return FatalSourceError(f"{self._system} {operation}: {text}", system=self._system, operation=operation)

    def _transient(self, operation: str, text: str) -> TransientSourceError:
        return TransientSourceError(f"{self._system} {operation}: {text}", system=self._system, operation=operation)


def _operation(headers: dict[str, str]) -> str:
    """The operation's name from the SOAPAction zeep sends (``"urn:...#GetCitizen"``), for messages."""
    action = str(headers.get("SOAPAction", "")).strip().strip('"')
    name = re.split(r"[#/:]", action)[-1]
    return name if _OPERATION_NAME.fullmatch(name) else "call"


class _NoRedirectSession(requests.Session):
    """A session that sees no redirect anywhere.

    With ``allow_redirects=False`` requests still works out where a 3xx would lead
    (for ``Response.next``), and on the way reads the 3xx's whole body, uncapped and
    before we see the response; and with ``max_redirects = 0`` it raises
    TooManyRedirects instead. Saying there is no target skips all of that.
    """

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        """Never a target: the transport refuses the 3xx itself."""
        return None


class _WatchedHTTPConnection(HTTPConnection):
    """Hands its socket to the current exchange's watchdog whenever it serves one."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        watch(sock)  # covers connecting and the TLS handshake
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        watch(self.sock)  # a pooled connection, reused
        super().request(*args, **kwargs)

    def getresponse(self) -> BaseHTTPResponse:  # type: ignore[override]  # urllib3's own narrowing
        watch(self.sock)  # after TLS: the wrapped socket, which the raw one was detached into
        return super().getresponse()


class _WatchedHTTPSConnection(_WatchedHTTPConnection, HTTPSConnection):
    """The same for https."""


class _WatchedPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_POOLS: dict[str, type[HTTPConnectionPool]] = {"http": _WatchedPool, "https": _WatchedHTTPSPool}


class _WatchedAdapter(HTTPAdapter):
    """requests' adapter with urllib3 pools of watched connections (also behind an HTTP proxy)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        """Build the pool manager, then give it our pool classes."""
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        """The same for an HTTP proxy's manager; a SOCKS proxy keeps its own pools (per-read timeouts only)."""
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = _POOLS
        return manager
