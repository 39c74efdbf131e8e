"""One HTTP server for all mocked systems, on loopback.

    /population   the National Population Database (SOAP 1.1), see mocks.population.app
    /one-stop/v1  the provincial one-stop system (REST), see mocks.one_stop.app
    /portal/v1    the National Public Service Portal (REST), see mocks.portal.app
    /civil-status/v1  the civil-status register (REST, OAuth2), see mocks.civil_status.app
    /agency/v1    agencies' receivers of the hub's signed pushes (REST), see mocks.agency.app
    /_admin       GET/POST/DELETE /_admin/faults: fault rules shared by every system

`MockServer` runs it in a background thread on a free port for tests (as httpx's
own test suite does); `serve` runs it in the foreground for the CLI.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Self

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from mocks.agency.app import build_agency_app
from mocks.agency.inbox import Inboxes
from mocks.civil_status.app import build_civil_status_app
from mocks.civil_status.dataset import CivilStatusDataset
from mocks.clock import MockClock
from mocks.faults import FaultInjector, fault_admin_routes
from mocks.one_stop.app import build_one_stop_app
from mocks.one_stop.system import OneStopSystem
from mocks.population.app import build_population_app
from mocks.population.dataset import PopulationDataset
from mocks.portal.app import build_portal_app
from mocks.portal.ledger import Ledger
from mocks.settings import MockSettings

_START_TIMEOUT = 30.0
_SERVICES = ("/population", "/civil-status/v1")


def build_app(settings: MockSettings, population: PopulationDataset | None = None) -> Starlette:
    """The mock server app; ``population`` defaults to a data set generated from ``settings``."""
    dataset = population or PopulationDataset.generate(
        settings.citizens, settings.seed, settings.defect_rate, settings.feed_days
    )
    faults = FaultInjector(
        settings.fault_rates, settings.seed, settings.latency_seconds,
        settings.timeout_seconds, settings.retry_after_seconds,
    )
    population_app = build_population_app(dataset, settings, faults)
    clock: MockClock = population_app.state.clock  # one simulated time for every mock
    one_stop_app = build_one_stop_app(dataset, settings, faults, clock)
    portal_app = build_portal_app(settings, faults)
    civil_status_app = build_civil_status_app(dataset, settings, faults, clock)
    agency_app = build_agency_app(settings, faults)
    app = Starlette(
        routes=[
            Mount("/population", population_app),
            Mount("/one-stop/v1", one_stop_app),
            Mount("/portal/v1", portal_app),
            Mount("/civil-status/v1", civil_status_app),
            Mount("/agency/v1", agency_app),
            Mount("/_admin", routes=fault_admin_routes(faults)),
        ],
        middleware=[Middleware(_BarePrefixes, prefixes=_SERVICES)],
    )
    app.state.faults = faults
    app.state.population = dataset
    app.state.clock = clock
    app.state.one_stop = one_stop_app.state.one_stop
    app.state.portal = portal_app.state.portal
    app.state.civil_status = civil_status_app.state.dataset
    app.state.agencies = agency_app.state.agencies
    return app


class _BarePrefixes:
    """Serve ``/population`` as ``/population/``.

    Starlette's Mount matches only ``/population/...`` and answers the bare path with a
    307 redirect, which SOAP clients do not follow for a POST.
    """

    def __init__(self, app: ASGIApp, prefixes: Iterable[str]) -> None:
        self.app, self.prefixes = app, frozenset(prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in self.prefixes:
            scope = {**scope, "path": scope["path"] + "/", "raw_path": scope["path"].encode() + b"/"}
        await self.app(scope, receive, send)


def _listen(host: str, port: int) -> socket.socket:
    """A bound socket (port 0: a free one), so we know the port before uvicorn starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def _base_url(host: str, sock: socket.socket) -> str:
    port = sock.getsockname()[1]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _config(app: Starlette, log_level: str) -> uvicorn.Config:
    # Access logs off: request lines carry nothing useful for SOAP (one path), and
    # graceful shutdown is short so a pending "timeout" fault cannot hold a test up.
    return uvicorn.Config(app, log_level=log_level, lifespan="off", access_log=False, timeout_graceful_shutdown=1)


class MockServer:
    """The mock server in a background thread on a free loopback port; use as a context manager."""

    def __init__(
        self,
        settings: MockSettings | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        population: PopulationDataset | None = None,
    ) -> None:
        """Serve ``settings`` (default: `MockSettings()`), reusing ``population`` if given."""
        self.settings = settings or MockSettings()
        self.host, self.port = host, port
        self.app = build_app(self.settings, population)
        self.dataset: PopulationDataset = self.app.state.population
        self.faults: FaultInjector = self.app.state.faults
        self.one_stop: OneStopSystem = self.app.state.one_stop  # dossiers generated on first use
        self.portal: Ledger = self.app.state.portal
        self.civil_status: CivilStatusDataset = self.app.state.civil_status
        self.agencies: Inboxes = self.app.state.agencies
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
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="lgsp-mock", daemon=True)
        self._server, self._thread = server, thread
        thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                sock.close()
                raise RuntimeError("the mock server did not start; see the log above")
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


def serve(
    settings: MockSettings,
    host: str = "127.0.0.1",
    port: int = 8080,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve in the foreground until interrupted; ``on_ready(base_url)`` once listening."""
    app = build_app(settings)
    sock = _listen(host, port)
    base_url = _base_url(host, sock)
    server = _AnnouncingServer(_config(app, "info"), lambda: on_ready(base_url) if on_ready else None)
    server.run(sockets=[sock])
