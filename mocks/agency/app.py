"""Agencies' push receivers as one ASGI app: each agency's inbox takes the hub's signed pushes.

Routes, relative to where the caller mounts the app (``/agency/v1``); ``{code}`` is any
agency code (1-32 of capital letters, digits and hyphens); fault operation names in brackets:
    POST   /{code}/inbox              signed push, Idempotency-Key     [receive.<code>]
    GET    /{code}/_received?offset=&limit=   the verified pushes held (mock only)
    GET    /{code}/_admin/stats                counters (mock only)
    PUT    /{code}/_admin/refusal {"status": 4xx}   answer every push with that status (mock only)
    DELETE /{code}/_admin/refusal              accept again (mock only)
    DELETE /_admin/state                       forget everything (mock only)

A push is answered in this order: fault injection, body size (413), signature
(401 missing, stale or invalid; scheme in ``hub.sharing.signing``), the refusal an
operator set, JSON (400) and shape (422: an object with dataset, key, fields), then
the key: 202 new, 200 replay, 422 the key was used for another payload. Nothing is
recorded before the signature is verified.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mocks.agency.inbox import Inboxes
from mocks.agency.signature import refusal
from mocks.faults import FaultInjector
from mocks.one_stop.rest import Problem
from mocks.request_body import read_capped
from mocks.rest_faults import JsonFaults, inflict_json
from mocks.settings import MockSettings

PROBLEM_TYPES = "urn:lgsp:mock:agency:problem:"  # our own namespace, as every mock's
SYSTEM = "agency"
MAX_LISTING = 10_000
_CODE = re.compile(r"[A-Z0-9][A-Z0-9-]{0,31}")
_SIGNATURE_DETAILS = {
    "signature-missing": "X-Lgsp-Timestamp, X-Lgsp-Signature and Idempotency-Key are required",
    "timestamp-stale": "X-Lgsp-Timestamp is not within five minutes of the receiver's clock",
    "signature-invalid": "X-Lgsp-Signature does not match the body under the agency's secret",
}


class _Endpoints:
    """The handlers, bound to the inboxes, the settings and the shared fault injector."""

    def __init__(
        self, inboxes: Inboxes, settings: MockSettings, faults: FaultInjector, clock: Callable[[], float]
    ) -> None:
        self.inboxes, self.settings, self.faults, self.clock = inboxes, settings, faults, clock
        self.json_faults = JsonFaults(PROBLEM_TYPES)

    async def receive(self, request: Request) -> Response:
        """Take one push: maybe a fault first, then the checks the module docstring lists."""
        try:
            code = _code(request)
        except Problem as problem:
            return problem.response(PROBLEM_TYPES)
        injected = self.faults.draw(SYSTEM, f"receive.{code}")
        if injected is None:
            return await self._answer(request, code)
        return await inflict_json(injected, request, lambda: self._answer(request, code), self.json_faults)

    async def _answer(self, request: Request, code: str) -> Response:
        try:
            status, ack = await self._accept(request, code)
        except Problem as problem:
            kind = {401: "rejected_401"}.get(problem.status, "refused" if problem.slug == "refused" else "rejected_4xx")
            self.inboxes.count(code, kind)
            return problem.response(PROBLEM_TYPES)
        return JSONResponse({"MaXacNhan": ack}, status)

    async def _accept(self, request: Request, code: str) -> tuple[int, str]:
        body = await read_capped(request, self.settings.max_request_bytes)
        if body is None:
            raise Problem(413, "too-large", "Request body too large")
        secret = self.settings.agency_push_secrets.get(code, self.settings.agency_push_secret)
        refused = refusal(secret.get_secret_value().encode(), request.headers, body, self.clock())
        if refused is not None:
            raise Problem(401, refused, _SIGNATURE_DETAILS[refused])
        status = self.inboxes.refusal(code)
        if status is not None:
            raise Problem(status, "refused", "The agency refuses pushes for now")
        return self.inboxes.accept(code, request.headers["idempotency-key"], _payload(body))

    async def received(self, request: Request) -> Response:
        """The verified pushes an agency holds, in arrival order, ``limit`` (1..10,000) from ``offset``."""
        code = _code(request)
        offset, limit = _whole(request, "offset", 0, 0), _whole(request, "limit", 1000, 1)
        if limit > MAX_LISTING:
            raise Problem(422, "invalid-parameter", f"limit must be at most {MAX_LISTING}")
        items, total = self.inboxes.page(code, offset, limit)
        next_offset = offset + len(items) if offset + len(items) < total else None
        return JSONResponse({"items": [item.as_json() for item in items], "total": total, "next_offset": next_offset})

    async def stats(self, request: Request) -> Response:
        """The agency's counters."""
        return JSONResponse(self.inboxes.stats(_code(request)))

    async def refusal(self, request: Request) -> Response:
        """PUT: refuse every push with ``{"status": 4xx}``; DELETE: accept again."""
        code = _code(request)
        if request.method == "DELETE":
            self.inboxes.refuse(code, None)
            return JSONResponse({"refusal": None})
        try:
            status = json.loads(await request.body()).get("status")
        except (ValueError, AttributeError):
            status = None
        if not isinstance(status, int) or not 400 <= status < 500 or status in (401, 429):
            # 401 and 429 have their own meaning (signature, rate): a refusal is any other 4xx.
            raise Problem(422, "invalid-body", "status must be a 4xx other than 401 and 429")
        self.inboxes.refuse(code, status)
        return JSONResponse({"refusal": status})

    async def reset(self, request: Request) -> Response:
        """Forget every agency's pushes, keys, refusals and counters."""
        self.inboxes.clear()
        return JSONResponse({"cleared": True})


def _code(request: Request) -> str:
    value: str = request.path_params["code"]
    if not _CODE.fullmatch(value):
        raise Problem(404, "unknown-agency", "An agency code is 1-32 capital letters, digits and hyphens")
    return value


def _whole(request: Request, name: str, default: int, minimum: int) -> int:
    text = request.query_params.get(name)
    if text is None:
        return default
    if not text.isdigit() or int(text) < minimum:
        raise Problem(422, "invalid-parameter", f"{name} must be a whole number of at least {minimum}")
    return int(text)


def _payload(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Problem(400, "malformed-json", "The body is not JSON") from exc
    if (
        not isinstance(payload, dict)
        or not isinstance(payload.get("fields"), dict)
        or not all(isinstance(payload.get(name), str) for name in ("dataset", "key"))
    ):
        raise Problem(422, "invalid-body", "A push is an object with dataset, key and fields")
    return payload


def _problems(handler: Callable[[Request], Any]) -> Callable[[Request], Any]:
    """Admin and listing handlers: a `Problem` becomes its response."""

    async def run(request: Request) -> Response:
        try:
            response: Response = await handler(request)
        except Problem as problem:
            return problem.response(PROBLEM_TYPES)
        return response

    run.__doc__ = handler.__doc__
    return run


def build_agency_app(
    settings: MockSettings, faults: FaultInjector, clock: Callable[[], float] = time.time
) -> Starlette:
    """Every agency's receiver, empty; mount it at ``/agency/v1``. ``app.state.agencies`` is the `Inboxes`."""
    inboxes = Inboxes()
    endpoints = _Endpoints(inboxes, settings, faults, clock)
    app = Starlette(
        routes=[
            Route("/{code}/inbox", endpoints.receive, methods=["POST"]),
            Route("/{code}/_received", _problems(endpoints.received), methods=["GET"]),
            Route("/{code}/_admin/stats", _problems(endpoints.stats), methods=["GET"]),
            Route("/{code}/_admin/refusal", _problems(endpoints.refusal), methods=["PUT", "DELETE"]),
            Route("/_admin/state", endpoints.reset, methods=["DELETE"]),
        ]
    )
    app.state.agencies = inboxes
    return app
