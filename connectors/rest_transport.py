"""httpx's transport with its sockets under ``connectors.policy``'s watchdog.

httpx's timeouts bound each socket read, so a peer dripping its status line, headers
or body a byte at a time holds a call for ever. ``policy.Watchdog`` ends such a call
by shutting its socket down at the deadline; this transport is how the watchdog
learns the socket: httpcore's network streams are wrapped so that each read and
write hands the stream's socket to ``policy.watch`` (a pooled connection is reused
without connecting again, so connecting alone would not tell).
"""

from __future__ import annotations

import ssl
import typing
from typing import Any

import httpcore
import httpx

from connectors.policy import watch


class WatchedTransport(httpx.HTTPTransport):
    """``httpx.HTTPTransport`` whose connections report their sockets to the current exchange's watchdog."""

    def __init__(self, **options: Any) -> None:
        """Take httpx.HTTPTransport's options; wrap the network backend its connection pool connects with."""
        super().__init__(**options)
        pool = self._pool  # httpcore's pool (its proxy pools are subclasses), which httpx builds for us
        if isinstance(pool, httpcore.ConnectionPool):
            pool._network_backend = _WatchedBackend(pool._network_backend)


class _WatchedBackend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        return _WatchedStream(self._inner.connect_tcp(host, port, timeout, local_address, socket_options))

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        return _WatchedStream(self._inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _WatchedStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner
        self._socket = inner.get_extra_info("socket")

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        watch(self._socket)
        return self._inner.read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        watch(self._socket)
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        watch(self._socket)  # the handshake is part of the exchange too
        return _WatchedStream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)
