"""HTTP conventions the REST mocks share: problem+json errors, the API key, JSON bodies, query values.

Used by the one-stop system and the portal. Errors are RFC 9457 problem details
(``application/problem+json``, built by `mocks.rest_faults`) whose ``type`` is in the
system's own namespace (``urn:lgsp:mock:<system>:problem:<slug>``); their detail says
what is wrong and never repeats request data. A request is answered in this order:
fault injection, API key, then the handler (which may raise `Problem`).
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from http import HTTPStatus
from typing import Any, TypeVar

from pydantic import BaseModel, SecretStr, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from mocks.faults import FaultInjector
from mocks.request_body import read_capped
from mocks.rest_faults import JsonFaults, inflict_json, problem_response

DEFAULT_LIMIT, MAX_LIMIT = 100, 1000
MAX_KEY_LENGTH = 255
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
_KEY = re.compile(rf"[\x21-\x7e]{{1,{MAX_KEY_LENGTH}}}")  # visible ASCII, as header values should be
Handler = Callable[[Request], Awaitable[Response]]
Model = TypeVar("Model", bound=BaseModel)
logger = logging.getLogger(__name__)


class Problem(Exception):
    """An error answer: HTTP ``status``, a ``slug`` naming its type, a fixed ``detail`` (no request data)."""

    def __init__(self, status: int, slug: str, detail: str, headers: Mapping[str, str] | None = None) -> None:
        """A problem of type ``<the system's problem namespace><slug>``, titled by its HTTP status."""
        super().__init__(detail)
        self.status, self.slug, self.detail, self.headers = status, slug, detail, dict(headers or {})

    def response(self, type_base: str) -> Response:
        """The problem as an ``application/problem+json`` response, its type under ``type_base``."""
        title = HTTPStatus(self.status).phrase
        return problem_response(type_base, self.slug, self.status, title, self.detail, self.headers)


def endpoint(
    system: str, operation: str, faults: FaultInjector, protocol: JsonFaults, api_key: SecretStr, handler: Handler
) -> Handler:
    """Wrap ``handler``: maybe inflict a fault, then check X-API-Key, then turn a `Problem` into its response."""

    async def handle(request: Request) -> Response:
        try:
            require_api_key(request, api_key)
            return await handler(request)
        except Problem as problem:
            return problem.response(protocol.type_base)

    async def run(request: Request) -> Response:
        injected = faults.draw(system, operation)
        if injected is None:
            return await handle(request)
        logger.info("injecting fault %s into %s %s", injected.kind, system, operation)
        return await inflict_json(injected, request, lambda: handle(request), protocol)

    return run


def require_api_key(request: Request, expected: SecretStr) -> None:
    """Check the ``X-API-Key`` header in constant time.

    Raises:
        Problem: 401 when the key is missing or wrong.
    """
    given = request.headers.get("x-api-key", "").encode()
    if not hmac.compare_digest(given, expected.get_secret_value().encode()):
        raise Problem(401, "unauthorized", "Missing or invalid X-API-Key")


async def read_json(request: Request, limit: int) -> Any:
    """The request body parsed as JSON, read no further than ``limit`` bytes.

    Raises:
        Problem: 413 too large, 400 not JSON.
    """
    body = await read_capped(request, limit)
    if body is None:
        raise Problem(413, "too-large", "Request body too large")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Problem(400, "malformed-json", "The body is not JSON") from exc


def parse_rfc3339(text: str) -> datetime:
    """An RFC 3339 date-time (with Z or an offset) as an aware datetime.

    Raises:
        ValueError: not RFC 3339, or no offset.
    """
    if not _RFC3339.fullmatch(text):
        raise ValueError("not an RFC 3339 date-time with an offset")
    return datetime.fromisoformat(text.upper().replace("Z", "+00:00"))


def query_time(request: Request, name: str) -> int:
    """Required query parameter ``name`` (RFC 3339) as whole epoch seconds (records carry whole seconds).

    Raises:
        Problem: 422 missing or not RFC 3339.
    """
    try:
        return math.floor(parse_rfc3339(request.query_params.get(name, "")).timestamp())
    except ValueError as exc:
        raise Problem(422, "invalid-parameter", f"{name} must be an RFC 3339 date-time with an offset") from exc


def query_limit(request: Request) -> int:
    """Query parameter ``limit``: default 100, 1..1000.

    Raises:
        Problem: 422 not a whole number in range.
    """
    text = request.query_params.get("limit")
    if text is None:
        return DEFAULT_LIMIT
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise Problem(422, "invalid-parameter", f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(text)


def idempotency_key(request: Request) -> str:
    """The ``Idempotency-Key`` header.

    Raises:
        Problem: 400 missing or not 1-255 visible ASCII characters.
    """
    key = request.headers.get("idempotency-key")
    if key is None or not _KEY.fullmatch(key):
        raise Problem(400, "idempotency-key-required", "Idempotency-Key header required (1-255 visible ASCII)")
    return key


def parse_body(model: type[Model], payload: Any) -> Model:
    """``payload`` as ``model``.

    Raises:
        Problem: 422 naming the fields that are wrong (not their values).
    """
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        fields = sorted({".".join(map(str, error["loc"])) or "body" for error in exc.errors()})
        raise Problem(422, "invalid-body", f"Invalid or missing fields: {', '.join(fields)}") from exc


def fingerprint(*parts: Any) -> str:
    """A canonical text of a request's meaningful parts, to tell a replay from a different request."""
    return json.dumps(parts, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
