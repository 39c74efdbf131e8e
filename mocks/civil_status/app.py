"""The civil-status mock as an ASGI app: OAuth2 client credentials, an event feed, one event by id.

Routes, relative to where the caller mounts the app (``/civil-status/v1``):
    POST /oauth/token               client credentials (HTTP Basic or form) -> bearer token
    GET  /events?since=&cursor=&limit=   events recorded after ``since``, paged
    GET  /events/{MaSuKien}         one event
    GET  /openapi.yaml              the contract, ``servers`` rewritten to this URL
    POST /_admin/revoke-tokens      invalidate every token issued so far (mock only)

A request is answered in this order: fault injection, authentication, parameters,
the answer. Errors are RFC 9457 problem details in ``urn:lgsp:mock:civil-status``;
none repeats request data. The clock is the population mock's: what a client sees
is what was recorded by the simulated now.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mocks.civil_status import params, render
from mocks.civil_status.auth import OAuthError, TokenIssuer, client_credentials
from mocks.civil_status.cursor import Cursors
from mocks.civil_status.dataset import CivilStatusDataset
from mocks.clock import MockClock
from mocks.faults import FaultInjector
from mocks.population.dataset import PopulationDataset
from mocks.request_body import read_capped
from mocks.rest_faults import JSON, JsonFaults, inflict_json, problem_response
from mocks.settings import MockSettings
from schemas.civil_status import OPENAPI_PATH, PROBLEM_TYPE_BASE

SYSTEM = "civil_status"
BEARER_CHALLENGE = 'Bearer realm="civil-status", error="invalid_token"'
_SERVERS = re.compile(r"(?m)^(servers:\n  - url: ).*$")
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
logger = logging.getLogger(__name__)


def _problem(slug: str, status: int, title: str, detail: str, headers: dict[str, str] | None = None) -> Response:
    return problem_response(PROBLEM_TYPE_BASE, slug, status, title, detail, headers)


def _unauthorized() -> Response:
    return _problem(
        "unauthorized",
        401,
        "Unauthorized",
        "A valid bearer token is required; get one from POST /oauth/token.",
        {"WWW-Authenticate": BEARER_CHALLENGE},
    )


class _Endpoints:
    """The handlers, bound to one data set, clock, settings and fault injector."""

    def __init__(
        self, dataset: CivilStatusDataset, settings: MockSettings, faults: FaultInjector, clock: MockClock
    ) -> None:
        self.dataset, self.settings, self.faults, self.clock = dataset, settings, faults, clock
        self.tokens = TokenIssuer(
            settings.civil_status_client_id,
            settings.civil_status_client_secret.get_secret_value(),
            settings.token_ttl_seconds,
        )
        self.cursors = Cursors(dataset.seed)
        self.json_faults = JsonFaults(PROBLEM_TYPE_BASE)
        self.contract = OPENAPI_PATH.read_text(encoding="utf-8")

    async def _faulty(self, request: Request, operation: str, handle: Callable[[], Awaitable[Response]]) -> Response:
        """Maybe inflict a fault on this call of ``operation``, else answer normally."""
        injected = self.faults.draw(SYSTEM, operation)
        if injected is None:
            return await handle()
        logger.info("injecting fault %s into %s %s", injected.kind, SYSTEM, operation)
        return await inflict_json(injected, request, handle, self.json_faults)

    async def token(self, request: Request) -> Response:
        """POST /oauth/token: client credentials in, bearer token out."""
        body = await read_capped(request, self.settings.max_request_bytes)
        if body is None:
            return _problem("too-large", 413, "Request too large", "The request body exceeds the size limit.")

        async def handle() -> Response:
            try:
                client_id, secret = client_credentials(request.headers.get("authorization"), _form(request, body))
                token, lifetime = self.tokens.issue(client_id, secret)
            except OAuthError as error:
                headers = {"WWW-Authenticate": 'Basic realm="civil-status"'} if error.status == 401 else {}
                payload = {"error": error.error, "error_description": error.description}
                return JSONResponse(payload, error.status, headers={**_NO_STORE, **headers})
            granted = {"access_token": token, "token_type": "Bearer", "expires_in": lifetime}
            return JSONResponse(granted, headers=_NO_STORE)

        return await self._faulty(request, "token", handle)

    async def events(self, request: Request) -> Response:
        """GET /events: a page of events recorded after ``since``, by the clock."""

        async def handle() -> Response:
            if not self.tokens.valid(request.headers.get("authorization")):
                return _unauthorized()
            try:
                since, limit = params.since(request.query_params), params.limit(request.query_params)
                cursor = params.cursor(request.query_params)
                start = self.cursors.resume_position(cursor, since) if cursor is not None else 0
            except params.InvalidParameter as error:
                return _problem("invalid-parameter", 400, "Invalid parameter", str(error))
            except ValueError:
                return _problem(
                    "invalid-cursor",
                    400,
                    "Invalid cursor",
                    "cursor must be the next_cursor of the previous page, unchanged, with the same since.",
                )
            page = self.dataset.recorded(since, self.clock.now, start, limit)
            next_cursor = self.cursors.issue(since, page.last_position) if page.more else None
            return Response(render.page_body(page.events, next_cursor), media_type=JSON)

        return await self._faulty(request, "events", handle)

    async def event(self, request: Request) -> Response:
        """GET /events/{MaSuKien}: one event, if recorded by the clock."""

        async def handle() -> Response:
            if not self.tokens.valid(request.headers.get("authorization")):
                return _unauthorized()
            found = self.dataset.event(request.path_params["event_id"], self.clock.now)
            if found is None:
                return _problem("not-found", 404, "Not found", "No event with this MaSuKien has been recorded.")
            return Response(render.event_body(found), media_type=JSON)

        return await self._faulty(request, "event", handle)

    async def openapi(self, request: Request) -> Response:
        """GET /openapi.yaml: the contract, its server URL pointing here."""
        here = f"{request.url.scheme}://{request.url.netloc}{request.scope.get('root_path', '')}"
        served = _SERVERS.sub(lambda match: match.group(1) + here, self.contract, count=1)
        return Response(served.encode(), media_type="application/yaml")

    async def index(self, request: Request) -> Response:
        """GET /: where things are."""
        return JSONResponse(
            {
                "service": "lgsp mock civil-status register (not a government service)",
                "contract": "openapi.yaml",
                "token": "oauth/token",
                "events": "events",
            }
        )

    async def revoke(self, request: Request) -> Response:
        """POST /_admin/revoke-tokens: every token issued so far stops working."""
        return JSONResponse({"revoked": self.tokens.revoke_all()})


def _form(request: Request, body: bytes) -> dict[str, str]:
    """The form fields of a token request.

    Raises:
        OAuthError: invalid_request, not a form or a field given twice (RFC 6749 section 3.2).
    """
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/x-www-form-urlencoded":
        raise OAuthError(400, "invalid_request", "send an application/x-www-form-urlencoded body")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError as exc:
        raise OAuthError(400, "invalid_request", "the form is not UTF-8") from exc
    form = dict(pairs)
    if len(form) != len(pairs):
        raise OAuthError(400, "invalid_request", "a parameter is repeated")
    return form


def build_civil_status_app(
    population: PopulationDataset, settings: MockSettings, faults: FaultInjector, clock: MockClock
) -> Starlette:
    """The civil-status REST service over events built from ``population``; mount it at ``/civil-status/v1``.

    Raises:
        ValueError: the settings ask for more events or defects than ``population`` supports.
    """
    dataset = CivilStatusDataset.generate(
        population,
        settings.feed_days,
        settings.defect_rate,
        settings.civil_status_disagreement_rate,
        settings.civil_status_events,
    )
    endpoints = _Endpoints(dataset, settings, faults, clock)
    app = Starlette(
        routes=[
            Route("/", endpoints.index, methods=["GET"]),
            Route("/oauth/token", endpoints.token, methods=["POST"]),
            Route("/events", endpoints.events, methods=["GET"]),
            Route("/events/{event_id}", endpoints.event, methods=["GET"]),
            Route("/openapi.yaml", endpoints.openapi, methods=["GET"]),
            Route("/_admin/revoke-tokens", endpoints.revoke, methods=["POST"]),
        ]
    )
    app.state.dataset = dataset
    app.state.tokens = endpoints.tokens
    return app
