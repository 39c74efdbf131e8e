"""Errors as JSON problem details (RFC 9457), and nothing of the caller's input in them.

Every error the API sends is ``application/problem+json`` with ``type``, ``title``,
``status``, ``detail``, ``instance`` (the request, never its path: paths carry personal
ids) and ``request_id``; a 403 adds the ``rule`` that denied it, a 422 the parameters
that were wrong (by name, with a fixed reason, never their value).

Routes raise ``ApiProblem`` (or ``AccessDenied``, which becomes a 403); the handlers
installed by ``install_problem_handlers`` also turn FastAPI's validation errors,
Starlette's 404/405 and store failures into problems.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from lgsp.errors import AccessDenied, StoreError

PROBLEM_JSON = "application/problem+json"
_TYPE = "urn:lgsp:problem:"
_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Invalid request",
    500: "Internal error",
    503: "Service unavailable",
}
_SLUGS = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "too-large",
    415: "unsupported-media-type",
    422: "invalid-request",
    500: "internal-error",
    503: "unavailable",
}
log = logging.getLogger(__name__)


class InvalidParam(BaseModel):
    """One wrong parameter: where it was, its name, and why (never its value)."""

    name: str
    reason: str


class Problem(BaseModel):
    """The body of every error response (RFC 9457), for the OpenAPI document."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    request_id: str
    rule: str | None = None
    invalid_params: list[InvalidParam] | None = None


class ApiProblem(Exception):
    """An error response a route decides on; ``audit`` names the ledger outcome it is recorded with, if any."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        rule: str | None = None,
        audit: str | None = None,
        headers: Mapping[str, str] | None = None,
        invalid_params: Sequence[InvalidParam] | None = None,
    ) -> None:
        """``detail`` is read by people: say what is wrong and what to do, never with personal values."""
        super().__init__(detail)
        self.status, self.detail, self.rule, self.audit = status, detail, rule, audit
        self.headers = dict(headers or {})
        self.invalid_params = list(invalid_params) if invalid_params is not None else None


def problem_response(
    request_id: str,
    status: int,
    detail: str,
    *,
    rule: str | None = None,
    headers: Mapping[str, str] | None = None,
    invalid_params: Sequence[InvalidParam] | None = None,
) -> JSONResponse:
    """The problem-details response for ``status``."""
    body: dict[str, Any] = {
        "type": _TYPE + (rule.replace("_", "-") if rule else _SLUGS.get(status, "error")),
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": f"urn:lgsp:request:{request_id}",
        "request_id": request_id,
    }
    if rule is not None:
        body["rule"] = rule
    if invalid_params is not None:
        body["invalid_params"] = [param.model_dump() for param in invalid_params]
    return JSONResponse(body, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_JSON)


def request_id_of(request: Request) -> str:
    """The request's correlation id (set by ``hub.api.request_id``)."""
    return str(getattr(request.state, "request_id", "") or "-")


_PROBLEM_SCHEMA = {"$ref": "#/components/schemas/Problem"}
EXAMPLE_REQUEST_ID = "example-request-0001"  # plainly not a real one
# What each status typically says, for the document's examples: (example name, detail, rule, invalid params).
_EXAMPLES: dict[int, tuple[str, str, str | None, list[InvalidParam] | None]] = {
    400: ("bad_request", "the request cannot be served", None, None),
    401: ("no_token", "no valid access token; get one at /v1/token (client credentials)", None, None),
    403: ("no_agreement", "no data-sharing agreement grants this dataset for this purpose", "no_agreement", None),
    404: ("not_found", "the platform holds no record of the citizen", None, None),
    405: ("method_not_allowed", "this method is not allowed here; the Allow header lists those that are", None, None),
    409: ("conflict", "the request conflicts with what is on record", None, None),
    422: (
        "invalid_parameter",
        "the request has invalid parameters; see invalid_params",
        None,
        [InvalidParam(name="query.purpose", reason="String should match pattern '^[a-z_]{1,60}$'")],
    ),
    503: ("store_unavailable", "the hub's store is unavailable; retry later", None, None),
}


def problem_example(
    status: int, detail: str, *, rule: str | None = None, invalid_params: Sequence[InvalidParam] | None = None
) -> dict[str, Any]:
    """The body ``problem_response`` would send, with a made-up request id: for the document's examples."""
    body = problem_response(EXAMPLE_REQUEST_ID, status, detail, rule=rule, invalid_params=invalid_params).body
    example: dict[str, Any] = json.loads(bytes(body))
    return example


def problem_content(status: int, **named: dict[str, Any]) -> dict[str, Any]:
    """The ``content`` of an error response: problem details, its typical example and the ``named`` ones."""
    name, detail, rule, params = _EXAMPLES.get(status, _EXAMPLES[400])
    typical = {
        "summary": _TITLES.get(status, "Error"),
        "value": problem_example(status, detail, rule=rule, invalid_params=params),
    }
    return {PROBLEM_JSON: {"schema": _PROBLEM_SCHEMA, "examples": {name: typical, **named}}}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` entry documenting these error statuses (and any other: 413, 503) as problem details."""
    documented: dict[int | str, dict[str, Any]] = {
        status: {"description": _TITLES.get(status, "Error"), "content": problem_content(status)} for status in statuses
    }
    documented["default"] = {"description": "Any other error (413, 500, 503)", "content": problem_content(503)}
    return documented


def document_method_not_allowed(document: dict[str, Any]) -> dict[str, Any]:
    """Add the 405 every operation's path answers to other methods, with the ``Allow`` header it carries."""
    for operations in document.get("paths", {}).values():
        allowed = ", ".join(sorted(method.upper() for method in operations))
        for operation in operations.values():
            operation.setdefault("responses", {})["405"] = {
                "description": f"Method not allowed: this path takes {allowed} only",
                "headers": {
                    "Allow": {
                        "description": "The methods this path takes",
                        "schema": {"type": "string"},
                        "example": allowed,
                    }
                },
                "content": problem_content(405),
            }
    return document


def add_problem_schemas(document: dict[str, Any]) -> dict[str, Any]:
    """Put ``Problem`` (and what it uses) in the document's components, where the responses point."""
    schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    nested = schema.pop("$defs", {})
    document.setdefault("components", {}).setdefault("schemas", {}).update({**nested, "Problem": schema})
    return document


def install_problem_handlers(app: FastAPI) -> None:
    """Route every error the app can raise to a problem-details response."""
    app.add_exception_handler(ApiProblem, _on_problem)
    app.add_exception_handler(AccessDenied, _on_denied)
    app.add_exception_handler(RequestValidationError, _on_invalid)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(StoreError, _on_store)


# The handlers are plain functions: Starlette runs them in a worker thread, where the
# ledger's denial entries (blocking database writes) belong.


def _on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiProblem)
    if exc.audit is not None:
        _record(request, exc.audit, exc.rule or exc.audit)
    return problem_response(
        request_id_of(request),
        exc.status,
        exc.detail,
        rule=exc.rule,
        headers=exc.headers,
        invalid_params=exc.invalid_params,
    )


def _on_denied(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AccessDenied)
    _record(request, "denied", exc.rule)
    return problem_response(request_id_of(request), 403, str(exc), rule=exc.rule)


def _record(request: Request, outcome: str, detail: str) -> None:
    """Append the refusal to the ledger, when the request got far enough to know who asked."""
    call = getattr(request.state, "call", None)
    if call is not None:
        call.record_refusal(outcome, detail)


def _on_invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    call = getattr(request.state, "call", None)
    if call is not None:  # a route that checks its client in its reads: a removed client's 401 comes first
        try:
            call.ensure_client()
        except ApiProblem as refused:
            return _on_problem(request, refused)
        except StoreError as failed:
            return _on_store(request, failed)
    params = [_invalid_param(error) for error in exc.errors()]
    return problem_response(
        request_id_of(request), 422, "the request has invalid parameters; see invalid_params", invalid_params=params
    )


def _invalid_param(error: Mapping[str, Any]) -> InvalidParam:
    """Name and reason of one validation error, with nothing of the input in either."""
    location = [str(part) for part in error.get("loc", ())]
    kind = str(error.get("type", "invalid"))
    if kind == "extra_forbidden":  # the member's name is the caller's text: do not repeat it
        location = [*location[:1], "(a member this operation does not take)"]
    elif kind == "json_invalid":
        location = location[:1]
    message = str(error.get("msg", kind))
    given = error.get("input")
    if isinstance(given, str) and given and given in message:
        message = kind
    return InvalidParam(name=".".join(location) or "request", reason=message)


def _on_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    # Starlette's own texts ("Not Found"); a route's own detail could quote the path, so use ours.
    detail = {
        404: "no such resource",
        405: "this method is not allowed here; the Allow header lists those that are",
        413: "the request body is too large",
    }.get(exc.status_code, "the request cannot be served")
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = allowed_methods(request)
    return problem_response(request_id_of(request), exc.status_code, detail, headers=headers)


def allowed_methods(request: Request) -> str:
    """Every method some route serves at the request's path (RFC 9110 §15.5.6).

    Starlette's 405 names the methods of the first route whose path matched only, so a
    path served by two routes (GET and POST /v1/subscriptions) would claim one method.
    """
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _child_scope = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return ", ".join(sorted(methods))


def _on_store(request: Request, exc: Exception) -> JSONResponse:
    log.error("store failure serving request %s: %s", request_id_of(request), exc)
    return problem_response(request_id_of(request), 503, "the hub's store is unavailable; retry later")
