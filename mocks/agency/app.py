"""Agencies' push receivers as one ASGI app: each agency's inbox takes the hub's signed batches of pushes.

Routes, relative to where the caller mounts the app (``/agency/v1``); ``{code}`` is any
agency code (1-32 of capital letters, digits and hyphens); fault operation names in brackets:
    POST   /{code}/inbox              a signed batch {"items": [{"id", "payload"}]}   [receive.<code>]
    GET    /{code}/_received?offset=&limit=   the verified pushes held (mock only)
    GET    /{code}/_admin/stats                counters (mock only)
    PUT    /{code}/_admin/refusal {"status": 409|422, "ids": [...]?}   refuse those items (all without ids)
    DELETE /{code}/_admin/refusal              accept again (mock only)
    DELETE /_admin/state                       forget everything (mock only)

A batch is answered in this order: fault injection, body size (413), signature per
Standard Webhooks (401 missing, stale or invalid; ``mocks.agency.signature``), JSON (400)
and shape (422: an object whose ``items`` are 1-MAX_ITEMS objects with a distinct string
``id`` and a ``payload``). Then 200 with one result per item, in order:
``{"results": [{"id", "status", "ack"} | {"id", "status", "type"}]}``: the refusal an
operator set (its status), a payload that is not a push (422: an object with dataset,
key, fields), then the id: 202 new, 200 replay (the first ack), 422 the id was used for
another payload. Nothing is recorded before the signature is verified.
"""

from __future__ import annotations

import json
import re
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
MAX_ITEMS = 5000
_SIGNATURE_DETAILS = {
    "signature-missing": "webhook-id, webhook-timestamp and webhook-signature are required",
    "timestamp-stale": "webhook-timestamp is not within five minutes of the receiver's clock",
    "signature-invalid": "webhook-signature does not match the body under the agency's secret",
}


class _Endpoints:
    """The handlers, bound to the inboxes, the settings and the shared fault injector."""

    def __init__(self, inboxes: Inboxes, settings: MockSettings, faults: FaultInjector) -> None:
        self.inboxes, self.settings, self.faults = inboxes, settings, faults
        self.json_faults = JsonFaults(PROBLEM_TYPES)

    async def receive(self, request: Request) -> Response:
        """Take one batch: maybe a fault first, then the checks the module docstring lists."""
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
            items = await self._verified(request, code)
        except Problem as problem:
            self.inboxes.count(code, "rejected_401" if problem.status == 401 else "rejected_4xx")
            return problem.response(PROBLEM_TYPES)
        self.inboxes.count(code, "batches")
        return JSONResponse({"results": [self._result(code, item_id, payload) for item_id, payload in items]})

    async def _verified(self, request: Request, code: str) -> list[tuple[str, Any]]:
        body = await read_capped(request, self.settings.agency_max_batch_bytes)
        if body is None:
            raise Problem(413, "too-large", "Request body too large")
        secrets = self.settings.agency_push_secrets.get(code, self.settings.agency_push_secret)
        refused = refusal(secrets.get_secret_value(), request.headers, body)
        if refused is not None:
            raise Problem(401, refused, _SIGNATURE_DETAILS[refused])
        return _items(body)

    def _result(self, code: str, item_id: str, payload: Any) -> dict[str, Any]:
        """One item's answer: a refusal, an invalid push, or the inbox's acknowledgement."""
        status = self.inboxes.refusal(code, item_id)
        try:
            if status is not None:
                self.inboxes.count(code, "refused")
                raise Problem(status, "refused", "The agency refuses this push")
            ack_status, ack = self.inboxes.accept(code, item_id, _payload(payload))
        except Problem as problem:
            if problem.slug != "refused":
                self.inboxes.count(code, "rejected_4xx")
            return {"id": item_id, "status": problem.status, "type": PROBLEM_TYPES + problem.slug}
        return {"id": item_id, "status": ack_status, "ack": ack}

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
        """PUT: refuse pushes with ``{"status": 4xx}`` (only the items ``ids`` lists, if given); DELETE: accept."""
        code = _code(request)
        if request.method == "DELETE":
            self.inboxes.refuse(code, None)
            return JSONResponse({"refusal": None})
        try:
            asked = json.loads(await request.body())
            status, ids = asked.get("status"), asked.get("ids")
        except (ValueError, AttributeError):
            status, ids = None, None
        if status not in (409, 422):
            # The answers an item may carry: 401 and 429 are the whole request's (signature, rate).
            raise Problem(422, "invalid-body", "status must be 409 or 422")
        if ids is not None and not (isinstance(ids, list) and all(isinstance(item, str) for item in ids)):
            raise Problem(422, "invalid-body", "ids must be a list of item ids")
        self.inboxes.refuse(code, status, None if ids is None else frozenset(ids))
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


def _items(body: bytes) -> list[tuple[str, Any]]:
    """The batch's (id, payload) items, in order.

    Raises:
        Problem: 400 not JSON; 422 not a batch of 1-MAX_ITEMS items with distinct ids.
    """
    try:
        batch = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Problem(400, "malformed-json", "The body is not JSON") from exc
    items = batch.get("items") if isinstance(batch, dict) else None
    if (
        not isinstance(items, list)
        or not 1 <= len(items) <= MAX_ITEMS
        or not all(isinstance(item, dict) and isinstance(item.get("id"), str) and item["id"] for item in items)
        or len({item["id"] for item in items}) != len(items)
    ):
        raise Problem(
            422, "invalid-body", f"A batch is an object whose items (1-{MAX_ITEMS}) each have an id and a payload"
        )
    return [(item["id"], item.get("payload")) for item in items]


def _payload(payload: Any) -> dict[str, Any]:
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


def build_agency_app(settings: MockSettings, faults: FaultInjector) -> Starlette:
    """Every agency's receiver, empty; mount it at ``/agency/v1``. ``app.state.agencies`` is the `Inboxes`."""
    inboxes = Inboxes()
    endpoints = _Endpoints(inboxes, settings, faults)
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
