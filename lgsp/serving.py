"""Run an ASGI app with uvicorn: in a background thread on a free port (tests, benchmarks) or in the foreground.

The hub API and the mocks both serve this way (hence here, and not in either). The socket is bound before uvicorn
starts, so the port (0: any free one) is known at once; access logs are off (request
lines carry paths, and the API's paths carry personal ids); graceful shutdown is short,
so a request held open (a mock's "timeout" fault) cannot hold a test up.
"""

from __future__ import annotations

import errno
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

import uvicorn

START_TIMEOUT = 30.0


class PortUnavailable(OSError):
    """We cannot listen on this host and port; the message says why, in a user's words."""


def port_problem(port: int) -> str | None:
    """What is wrong with a ``--port`` value, if anything (whether it is free, ``listen`` says)."""
    return None if 0 <= port <= 65535 else f"--port {port}: must be between 0 and 65535 (0: any free port)"


def listen(host: str, port: int) -> socket.socket:
    """A bound socket (port 0: a free one), so the port is known before uvicorn starts.

    Raises:
        PortUnavailable: the port is out of range or in use, needs privileges, or the host is not ours.
    """
    if not 0 <= port <= 65535:
        raise PortUnavailable(f"port {port} is out of range (0-65535; 0: any free port)")
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        # SO_REUSEADDR: a port left in TIME_WAIT by our last run is free again, one still listening is not.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise PortUnavailable(_why_not(host, port, exc)) from exc
    return sock


def check_port(host: str, port: int) -> None:
    """Fail now if ``host``:``port`` cannot be listened on, before a long start-up binds it for real.

    Raises:
        PortUnavailable: as ``listen``.
    """
    listen(host, port).close()


def _why_not(host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"port {port} on {host} is in use"
    if exc.errno == errno.EACCES:
        return f"port {port} on {host} needs privileges (ports below 1024)"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"{host} is not an address of this machine"
    if isinstance(exc, socket.gaierror):
        return f"{host} is not a host name or address this machine can resolve"
    return f"cannot listen on {host} port {port}: {exc.strerror or type(exc).__name__}"


def base_url_of(host: str, sock: socket.socket) -> str:
    """``http://host:port`` of a bound socket (IPv6 hosts in brackets)."""
    port = sock.getsockname()[1]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def uvicorn_config(app: Any, log_level: str, graceful_seconds: int = 1) -> uvicorn.Config:
    """The configuration both servers share: no lifespan, no access log, a short graceful shutdown."""
    return uvicorn.Config(
        app, log_level=log_level, lifespan="off", access_log=False, timeout_graceful_shutdown=graceful_seconds
    )


class ThreadedServer:
    """``app`` served in a daemon thread; use as a context manager, then read ``base_url``."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, *, name: str = "lgsp-http") -> None:
        """Serve ``app`` on ``host``:``port`` (0: any free port) once entered."""
        self.app, self.host, self.port, self.name = app, host, port, name
        self.base_url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Self:
        """Start serving; return once the server accepts connections.

        Raises:
            RuntimeError: the server did not start within 30 s.
        """
        sock = listen(self.host, self.port)
        self.base_url = base_url_of(self.host, sock)
        server = uvicorn.Server(uvicorn_config(self.app, "warning"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=self.name, daemon=True)
        self._server, self._thread = server, thread
        thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                sock.close()
                raise RuntimeError(f"the {self.name} server did not start; see the log above")
            time.sleep(0.005)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop serving and wait for the thread."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)


class _AnnouncingServer(uvicorn.Server):
    """A uvicorn server that calls back once it accepts connections."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start as uvicorn does, then announce."""
        await super().startup(sockets)
        if self.started:
            self._on_ready()


def serve_foreground(
    app: Any,
    host: str,
    port: int,
    on_ready: Callable[[str], None] | None = None,
    *,
    sock: socket.socket | None = None,
) -> None:
    """Serve ``app`` until interrupted; ``on_ready(base_url)`` once it accepts connections.

    ``sock``: a socket ``listen`` bound earlier, so a busy port is reported before a slow start-up.

    Raises:
        PortUnavailable: as ``listen``, when no ``sock`` is given.
    """
    sock = sock or listen(host, port)
    base_url = base_url_of(host, sock)
    server = _AnnouncingServer(uvicorn_config(app, "info"), lambda: on_ready(base_url) if on_ready else None)
    server.run(sockets=[sock])
