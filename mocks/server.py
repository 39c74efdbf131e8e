"""One HTTP server for all mocked systems, on loopback.

    /population   the National Population Database (SOAP 1.1), see mocks.population.app
    /one-stop/v1  the provincial one-stop system (REST), see mocks.one_stop.app
    /portal/v1    the National Public Service Portal (REST), see mocks.portal.app
    /civil-status/v1  the civil-status register (REST, OAuth2), see mocks.civil_status.app
    /agency/v1    agencies' receivers of the hub's signed pushes (REST), see mocks.agency.app
    /social-insurance/v1  the social insurance register (REST, X-Api-Key), see mocks.social_insurance.app
    /household-business   the household business registry (SOAP 1.1), see mocks.household_business.app
    /_admin       GET/POST/DELETE /_admin/faults: fault rules shared by every system

`MockServer` runs it in a background thread on a free port for tests (as httpx's
own test suite does); `serve` runs it in the foreground for the CLI.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from lgsp.serving import ThreadedServer, serve_foreground
from mocks.agency.app import build_agency_app
from mocks.agency.inbox import Inboxes
from mocks.civil_status.app import build_civil_status_app
from mocks.civil_status.dataset import CivilStatusDataset
from mocks.clock import MockClock
from mocks.faults import FaultInjector, fault_admin_routes
from mocks.household_business.app import build_household_business_app
from mocks.household_business.dataset import HouseholdBusinessDataset
from mocks.one_stop.app import build_one_stop_app
from mocks.one_stop.system import OneStopSystem
from mocks.population.app import build_population_app
from mocks.population.dataset import PopulationDataset
from mocks.portal.app import build_portal_app
from mocks.portal.ledger import Ledger
from mocks.settings import MockSettings
from mocks.social_insurance.app import build_social_insurance_app
from mocks.social_insurance.dataset import SocialInsuranceDataset

_SERVICES = ("/population", "/civil-status/v1", "/social-insurance/v1", "/household-business")


def build_app(settings: MockSettings, population: PopulationDataset | None = None) -> Starlette:
    """The mock server app; ``population`` defaults to a data set generated from ``settings``."""
    dataset = population or PopulationDataset.generate(
        settings.citizens, settings.seed, settings.defect_rate, settings.feed_days
    )
    faults = FaultInjector(
        settings.fault_rates,
        settings.seed,
        settings.latency_seconds,
        settings.timeout_seconds,
        settings.retry_after_seconds,
    )
    population_app = build_population_app(dataset, settings, faults)
    clock: MockClock = population_app.state.clock  # one simulated time for every mock
    one_stop_app = build_one_stop_app(dataset, settings, faults, clock)
    portal_app = build_portal_app(settings, faults)
    civil_status_app = build_civil_status_app(dataset, settings, faults, clock)
    agency_app = build_agency_app(settings, faults)
    social_insurance_app = build_social_insurance_app(dataset, settings, faults, clock)
    household_business_app = build_household_business_app(dataset, settings, faults, clock)
    app = Starlette(
        routes=[
            Mount("/population", population_app),
            Mount("/one-stop/v1", one_stop_app),
            Mount("/portal/v1", portal_app),
            Mount("/civil-status/v1", civil_status_app),
            Mount("/agency/v1", agency_app),
            Mount("/social-insurance/v1", social_insurance_app),
            Mount("/household-business", household_business_app),
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
    app.state.social_insurance = social_insurance_app.state.dataset
    app.state.household_business = household_business_app.state.dataset
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


class MockServer(ThreadedServer):
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
        super().__init__(build_app(self.settings, population), host, port, name="lgsp-mock")
        self.dataset: PopulationDataset = self.app.state.population
        self.faults: FaultInjector = self.app.state.faults
        self.one_stop: OneStopSystem = self.app.state.one_stop  # dossiers generated on first use
        self.portal: Ledger = self.app.state.portal
        self.civil_status: CivilStatusDataset = self.app.state.civil_status
        self.agencies: Inboxes = self.app.state.agencies
        self.social_insurance: SocialInsuranceDataset = self.app.state.social_insurance
        self.household_business: HouseholdBusinessDataset = self.app.state.household_business


def serve(
    settings: MockSettings,
    host: str = "127.0.0.1",
    port: int = 8080,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve in the foreground until interrupted; ``on_ready(base_url)`` once listening."""
    serve_foreground(build_app(settings), host, port, on_ready)
