"""The hub's API for agencies: ``build_app(settings)`` assembles it.

    POST   /v1/token                          OAuth 2.0 client credentials
    GET    /v1/catalogue                      systems, datasets, fields, freshness, your grants
    GET    /v1/citizens/{personal_id}         one citizen, the granted fields
    GET    /v1/datasets/{dataset}/records/{key}  one record of a declared dataset, the granted fields
    GET    /v1/changes                        the change feed, keyset-paged
    POST   /v1/prefill                        a form filled under the citizen's consent
    POST   /v1/consents                       the citizens' channel records a consent
    DELETE /v1/consents/{consent_id}          ... and revokes it
    GET    /v1/consents/{consent_id}/preview  what a consent would share, without values
    POST   /v1/subscriptions, GET, DELETE /{id}  an agency's push subscriptions
    GET    /reports/                          the auditors' data-quality site (``lgsp report``)

The OpenAPI document is at ``/openapi.json``, Swagger UI at ``/docs`` (served from the hub
itself, ``hub.api.docs``: it works without internet). Errors are problem details
(``hub.api.problems``); every response carries ``X-Request-Id`` (``hub.api.request_id``),
which every ledger entry the request appends carries as its correlation id.

The datasets (``dataset`` parameters, token scopes) are the catalogue's when the app is
built (``hub.systems.catalogue``): the hub's own and every declared one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine

from hub.api import (
    catalogue,
    changes,
    citizens,
    consents,
    heap,
    oauth,
    prefill,
    records,
    subscriptions,
    wal_checkpoints,
)
from hub.api.calls import scopes_for
from hub.api.context import ApiContext, dummy_secret_hash, utc_now
from hub.api.docs import install_docs
from hub.api.examples import add_examples
from hub.api.problems import add_problem_schemas, document_method_not_allowed, install_problem_handlers
from hub.api.request_id import RequestIdMiddleware
from hub.api.threads import HandlerThreads
from hub.keys import API_SIGNING_KEY, LEDGER_KEY, hub_key
from hub.settings import Settings, load_settings
from hub.sharing.registry import DEFAULT_CONFIG, load_registry
from hub.store.engine import make_engine, open_store
from hub.systems.catalogue import Catalogue
from hub.systems.catalogue import catalogue as load_catalogue

TITLE = "lgsp hub API"
POOL_SIZE = 20  # connections kept per process: more than the requests a worker serves at once at 16 connections
VERSION = "1.0.0"


def build_app(
    settings: Settings,
    engine: Engine | None = None,
    *,
    clock: Callable[[], datetime] = utc_now,
    load_declared: bool = True,
) -> FastAPI:
    """The API over ``engine`` (default: the store ``settings`` names, migrated).

    ``load_declared``: put config/sharing (or ``settings.sharing_config``) in force first, as
    ``lgsp agencies load`` does, so a fresh LGSP_HOME serves at once. ``clock`` returns aware
    UTC; tests and benchmarks move it.

    Raises:
        ConfigError: the sharing files or the system declarations are malformed, or a key in the
            environment is too short.
        StoreError: the store cannot be reached or migrated.
    """
    known = load_catalogue()
    store = engine if engine is not None else open_store(settings.resolved_database_url())
    context = ApiContext(
        settings=settings,
        engine=store,
        signing_key=hub_key(settings, API_SIGNING_KEY),
        ledger_key=hub_key(settings, LEDGER_KEY),
        clock=clock,
        catalogue=known,
    )
    if load_declared:
        load_registry(
            store,
            settings.sharing_config or DEFAULT_CONFIG,
            ledger_key=context.ledger_key,
            now=context.now().replace(tzinfo=None),
            known=known,
        )
    dummy_secret_hash()  # made now, so the first unknown client id is not the one slow request
    app = FastAPI(
        title=TITLE, version=VERSION, openapi_url="/openapi.json", docs_url=None, redoc_url=None, description=__doc__
    )
    app.state.context = context
    for router in (
        oauth.router,
        catalogue.router,
        citizens.router,
        records.router_for(known),
        changes.router_for(known),
        prefill.router,
        consents.router,
        subscriptions.router_for(known),
    ):
        app.include_router(router)
    install_docs(app)  # instead of FastAPI's /docs, whose Swagger UI comes from a CDN
    install_problem_handlers(app)
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(HandlerThreads)  # outermost: set before any handler runs
    app.openapi = lambda: _openapi(app, known)  # type: ignore[method-assign]
    # The report holds aggregates and masked keys only (quality.report), so it needs no token; it is
    # read from disk per request, so a rebuild (which swaps the folder) shows at once.
    reports = settings.home / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    app.mount("/reports", StaticFiles(directory=reports, html=True), name="reports")
    return app


def worker_app() -> FastAPI:
    """One API worker process's app (``lgsp api serve --workers N``), from the environment ``lgsp api serve``
    was started in: the store already migrated and config/sharing already in force, by the parent."""
    settings = load_settings()
    app = build_app(settings, api_engine(settings.resolved_database_url()), load_declared=False)
    heap.settle()  # the app's objects out of the full collections' walk: their stalls were the p99
    return app


def api_engine(database_url: str) -> Engine:
    """The store as the API reads it: a pooled connection for each request that may be reading at once.

    Not pinged at each checkout (a round trip, two per read): after a database restart a request on a dead
    connection answers 503, and SQLAlchemy then replaces the pool's connections. On SQLite its commits leave
    checkpoints to the context's own thread (``hub.api.wal_checkpoints``).
    """
    engine = make_engine(database_url, pool_size=POOL_SIZE, pre_ping=False)
    if engine.dialect.name == "sqlite":
        wal_checkpoints.take_over(engine)
    return engine


def _openapi(app: FastAPI, known: Catalogue) -> dict[str, Any]:
    """FastAPI's document, plus the problem-details schema every error response refers to, the 405s, examples,
    and the catalogue's datasets as token scopes."""
    if app.openapi_schema is None:
        document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        flows = document["components"]["securitySchemes"]["clientCredentials"]["flows"]
        flows["clientCredentials"]["scopes"] = scopes_for(known.datasets)
        app.openapi_schema = add_examples(document_method_not_allowed(add_problem_schemas(document)))
    return app.openapi_schema
