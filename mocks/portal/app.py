"""The National Public Service Portal mock as an ASGI app: provinces report dossier statuses to it.

Routes, relative to where the caller mounts the app (``/portal/v1``); contract in
``schemas/portal/openapi.yaml``; fault operation names in brackets:
    PUT    /dossiers/{MaHoSo}/status   Idempotency-Key   report a status      [put_status]
    GET    /dossiers/{MaHoSo}                            what is held          [get_status]
    GET    /dossiers?cursor=&limit=                      everything held       [list_dossiers]
    GET    /_admin/stats                                 counters (mock only, no key)
    DELETE /_admin/state                                 forget everything (mock only, no key)
    GET    /openapi.yaml                                 the contract (no key)

A request is answered in this order: fault injection, API key, rate limit (429 with
Retry-After from a token bucket), then the operation.
"""

from __future__ import annotations

import math
import re

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mocks.faults import FaultInjector
from mocks.one_stop.cursors import Cursors
from mocks.one_stop.rest import (
    Handler,
    Problem,
    endpoint,
    idempotency_key,
    parse_body,
    query_limit,
    read_json,
)
from mocks.portal.ledger import Ledger
from mocks.portal.ratelimit import TokenBucket
from mocks.portal.wire import MA_HO_SO_PATTERN, StatusUpdate
from mocks.rest_faults import JsonFaults
from mocks.settings import MockSettings
from schemas.portal import OPENAPI_PATH

PROBLEM_TYPES = "urn:lgsp:mock:portal:problem:"  # our own namespace, as every mock's
SYSTEM = "portal"
_MA_HO_SO = re.compile(MA_HO_SO_PATTERN)


class _Endpoints:
    """The handlers, bound to one ledger, rate limit and settings."""

    def __init__(self, ledger: Ledger, settings: MockSettings) -> None:
        self.ledger, self.settings = ledger, settings
        self.bucket = TokenBucket(settings.portal_rate_per_second)
        self.cursors = Cursors("portal-dossiers", settings.seed)

    def throttled(self, handler: Handler) -> Handler:
        """``handler`` behind the token bucket: 429 with Retry-After (whole seconds, at least 1) when empty."""

        async def run(request: Request) -> Response:
            wait = self.bucket.take()
            if wait > 0:
                self.ledger.count("throttled_429")
                retry_after = str(max(1, math.ceil(wait)))
                raise Problem(429, "rate-limited", "Too many requests", {"Retry-After": retry_after})
            return await handler(request)

        return run

    async def put_status(self, request: Request) -> Response:
        """Accept a status update: 202 new, 200 replay or duplicate, 409 backwards, 422 invalid, 400 no key."""
        try:
            key = idempotency_key(request)
            ma_ho_so = _dossier_code(request)
            update = parse_body(StatusUpdate, await read_json(request, self.settings.max_request_bytes))
        except Problem as problem:
            self.ledger.count(f"rejected_{problem.status}")
            raise
        status, ack = self.ledger.put(ma_ho_so, key, update)
        return JSONResponse({"MaXacNhan": ack}, status)

    async def get_status(self, request: Request) -> Response:
        """What the portal holds for one dossier, or 404."""
        held = self.ledger.get(request.path_params["MaHoSo"])
        if held is None:
            raise Problem(404, "not-found", "The portal holds no status for this dossier")
        return JSONResponse(held)

    async def list_dossiers(self, request: Request) -> Response:
        """Every held dossier, in MaHoSo order, paged."""
        limit, cursor = query_limit(request), request.query_params.get("cursor")
        after = self._position(cursor) if cursor else None
        items, more = self.ledger.page(after, limit)
        next_cursor = self.cursors.issue("all", [items[-1]["MaHoSo"]]) if more and items else None
        return JSONResponse({"items": items, "next_cursor": next_cursor})

    def _position(self, cursor: str) -> str:
        try:
            match self.cursors.open(cursor, "all"):
                case [str(ma_ho_so)]:
                    return ma_ho_so
        except ValueError:
            pass
        raise Problem(422, "invalid-cursor", "cursor is malformed or altered")

    async def stats(self, request: Request) -> Response:
        """Counters for tests: accepted, duplicates, rejected by status, throttled, held."""
        return JSONResponse(self.ledger.stats())

    async def reset(self, request: Request) -> Response:
        """Forget every held status, key and counter."""
        self.ledger.clear()
        return JSONResponse(self.ledger.stats())

    async def contract(self, request: Request) -> Response:
        """The OpenAPI contract this mock honours."""
        return Response(OPENAPI_PATH.read_bytes(), media_type="application/yaml")


def _dossier_code(request: Request) -> str:
    """The MaHoSo path parameter.

    Raises:
        Problem: 422 not 1-64 letters, digits, dots or hyphens.
    """
    value: str = request.path_params["MaHoSo"]
    if not _MA_HO_SO.fullmatch(value):
        raise Problem(422, "invalid-parameter", "MaHoSo must be 1-64 letters, digits, dots or hyphens")
    return value


def build_portal_app(settings: MockSettings, faults: FaultInjector) -> Starlette:
    """The portal, empty; mount it at ``/portal/v1``. ``app.state.portal`` is its `Ledger`."""
    ledger = Ledger()
    endpoints = _Endpoints(ledger, settings)
    key, json_faults = settings.portal_api_key, JsonFaults(PROBLEM_TYPES)

    def guarded(operation: str, handler: Handler) -> Handler:
        return endpoint(SYSTEM, operation, faults, json_faults, key, endpoints.throttled(handler))

    app = Starlette(
        routes=[
            Route("/dossiers/{MaHoSo}/status", guarded("put_status", endpoints.put_status), methods=["PUT"]),
            Route("/dossiers/{MaHoSo}", guarded("get_status", endpoints.get_status), methods=["GET"]),
            Route("/dossiers", guarded("list_dossiers", endpoints.list_dossiers), methods=["GET"]),
            Route("/_admin/stats", endpoints.stats, methods=["GET"]),
            Route("/_admin/state", endpoints.reset, methods=["DELETE"]),
            Route("/openapi.yaml", endpoints.contract, methods=["GET"]),
        ]
    )
    app.state.portal = ledger
    return app
