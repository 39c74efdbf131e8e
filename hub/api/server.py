"""Serving the API: in the foreground (``lgsp api serve``) or in a thread on a free port (tests, benchmarks).

A published demo secret must not face a network: ``refuse_demo_secrets`` stops a
non-loopback listener while any active client still accepts ``DEMO_CLIENT_SECRET``,
unless LGSP_DEMO=true.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Self

import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine, select

from connectors.errors import ConfigError
from hub.settings import Settings
from hub.sharing.client_secrets import DEMO_CLIENT_SECRET, check_secret
from hub.store.tables import api_client

_START_TIMEOUT = 30.0


def is_loopback(host: str) -> bool:
    """Whether ``host`` names only this machine (``localhost``, 127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def refuse_demo_secrets(engine: Engine, host: str, settings: Settings) -> None:
    """Refuse to listen off loopback while a client accepts the published demo secret.

    Raises:
        ConfigError: names the clients and what to do.
    """
    if is_loopback(host) or settings.demo:
        return
    with engine.connect() as conn:
        rows = conn.execute(select(api_client.c.client_id, api_client.c.secret_hash)
                            .where(api_client.c.active)).all()
    demo = sorted(row.client_id for row in rows if check_secret(DEMO_CLIENT_SECRET, row.secret_hash))
    if demo:
        raise ConfigError(
            f"refusing to serve the API on {host}: client(s) {', '.join(demo)} accept the published demo secret. "
            "Give each a real secret (`lgsp agencies hash-secret`, paste the hash into config/sharing/agencies.yaml "
            "or LGSP_SHARING_CONFIG, then `lgsp agencies load`), serve on 127.0.0.1, or set LGSP_DEMO=true "
            "for a demonstration"
        )


def _listen(host: str, port: int) -> socket.socket:
    """A bound socket (port 0: a free one), so the port is known before uvicorn starts."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def _base_url(host: str, sock: socket.socket) -> str:
    port = sock.getsockname()[1]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _config(app: FastAPI, log_level: str) -> uvicorn.Config:
    # Access logs off: request lines carry paths, and paths carry personal ids.
    return uvicorn.Config(app, log_level=log_level, lifespan="off", access_log=False, timeout_graceful_shutdown=2)


class ApiServer:
    """The API in a background thread on a free loopback port; use as a context manager.

        with ApiServer(build_app(settings)) as server:
            httpx.get(f"{server.base_url}/openapi.json")
    """

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve ``app`` on ``host``:``port`` (0: any free port) once entered."""
        self.app, self.host, self.port = app, host, port
        self.base_url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Self:
        """Start serving; return once the server accepts connections.

        Raises:
            RuntimeError: the server did not start within 30 s.
        """
        sock = _listen(self.host, self.port)
        self.base_url = _base_url(self.host, sock)
        server = uvicorn.Server(_config(self.app, "warning"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="lgsp-api", daemon=True)
        self._server, self._thread = server, thread
        thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                sock.close()
                raise RuntimeError("the API server did not start; see the log above")
            time.sleep(0.005)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
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


def serve(app: FastAPI, host: str, port: int, on_ready: Callable[[str], None] | None = None) -> None:
    """Serve ``app`` in the foreground until interrupted; ``on_ready(base_url)`` once listening."""
    sock = _listen(host, port)
    base_url = _base_url(host, sock)
    server = _AnnouncingServer(_config(app, "info"), lambda: on_ready(base_url) if on_ready else None)
    server.run(sockets=[sock])
