"""Serving the API: in the foreground (``lgsp api serve``) or in a thread on a free port (tests, benchmarks).

A published demo secret must not face a network: ``refuse_demo_secrets`` stops a
non-loopback listener while any active client still accepts ``DEMO_CLIENT_SECRET``,
unless LGSP_DEMO=true.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from fastapi import FastAPI
from sqlalchemy import Engine, select

from hub.settings import Settings
from hub.sharing.client_secrets import DEMO_CLIENT_SECRET, check_secret
from hub.store.tables import api_client
from lgsp.errors import ConfigError
from lgsp.serving import ThreadedServer, serve_foreground


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
