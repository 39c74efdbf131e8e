"""Serving the API: in the foreground (``lgsp api serve``), in worker processes (``--workers N``), or in a thread
on a free port (tests, benchmarks).

Several workers share one listening socket (uvicorn's supervisor, which restarts a worker
that dies); each builds its app with ``hub.api.app.worker_app`` and has its own grouped
ledger writer. They need PostgreSQL: an SQLite file has one writer, and workers in
separate processes would queue for it in SQLite's busy handler (sleeps of up to 100 ms)
rather than in one process's lock, so on SQLite one process serves (its threads share
the writer).

A published demo secret must not face a network: ``refuse_demo_secrets`` stops a
non-loopback listener while any active client still accepts ``DEMO_CLIENT_SECRET``,
unless LGSP_DEMO=true.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
import time
from collections.abc import Callable

import httpx
import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine, select
from uvicorn.supervisors import Multiprocess

from hub.settings import Settings
from hub.sharing.client_secrets import DEMO_CLIENT_SECRET, check_secret
from hub.store.tables import api_client
from lgsp.errors import ConfigError
from lgsp.serving import ThreadedServer, base_url_of, serve_foreground

WORKER_APP = "hub.api.app:worker_app"
START_TIMEOUT = 120.0  # seconds for a worker to build its app and answer


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
        rows = conn.execute(select(api_client.c.client_id, api_client.c.secret_hash).where(api_client.c.active)).all()
    demo = sorted(row.client_id for row in rows if check_secret(DEMO_CLIENT_SECRET, row.secret_hash))
    if demo:
        raise ConfigError(
            f"refusing to serve the API on {host}: client(s) {', '.join(demo)} accept the published demo secret. "
            "Give each a real secret (`lgsp agencies hash-secret`, paste the hash into config/sharing/agencies.yaml "
            "or LGSP_SHARING_CONFIG, then `lgsp agencies load`), serve on 127.0.0.1, or set LGSP_DEMO=true "
            "for a demonstration"
        )


class ApiServer(ThreadedServer):
    """The API in a background thread on a free loopback port; use as a context manager.

    with ApiServer(build_app(settings)) as server:
        httpx.get(f"{server.base_url}/openapi.json")
    """

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve ``app`` on ``host``:``port`` (0: any free port) once entered."""
        super().__init__(app, host, port, name="lgsp-api")


def serve(app: FastAPI, host: str, port: int, on_ready: Callable[[str], None] | None = None) -> None:
    """Serve ``app`` in the foreground until interrupted; ``on_ready(base_url)`` once listening."""
    serve_foreground(app, host, port, on_ready)


def workers_problem(workers: int, database_url: str) -> str | None:
    """What is wrong with ``--workers`` for this store, if anything."""
    if workers < 1:
        return f"--workers {workers}: give at least 1"
    if workers > 1 and database_url.startswith("sqlite"):
        return (
            "--workers above 1 needs PostgreSQL (LGSP_DATABASE_URL=postgresql+psycopg://...): an SQLite store has "
            "one writer, which one process's threads share; serve SQLite with --workers 1"
        )
    return None


def serve_workers(sock: socket.socket, host: str, workers: int, on_ready: Callable[[str], None]) -> None:
    """Serve ``workers`` processes on ``sock`` until interrupted; ``on_ready(base_url)`` once one answers."""
    config = uvicorn.Config(
        WORKER_APP,
        factory=True,
        workers=workers,
        log_level="info",
        lifespan="off",
        access_log=False,  # request lines carry paths, and the API's paths carry personal ids
        timeout_graceful_shutdown=1,
    )
    # The workers share one listening socket and each accepts every connection waiting when it wakes:
    # 16 connections opened at once all went to one worker (measured with ss), the other idle. libuv's
    # single-accept mode (uvloop's event loop) takes one per wake-up and yields, so they spread (10/6).
    os.environ.setdefault("UV_TCP_SINGLE_ACCEPT", "1")  # the workers are spawned: they inherit it
    base_url = base_url_of(host, sock)
    threading.Thread(target=_announce, args=(base_url, on_ready), name="lgsp-api-ready", daemon=True).start()
    Multiprocess(config, sockets=[sock]).run()


def _announce(base_url: str, on_ready: Callable[[str], None]) -> None:
    """Call ``on_ready`` once a worker answers (the parent does not serve, so it asks like a client)."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/openapi.json", timeout=5).status_code == 200:
                on_ready(base_url)
                return
        except httpx.HTTPError:
            pass  # not listening yet
        time.sleep(0.2)
