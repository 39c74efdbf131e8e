"""How the REST mocks fail: RFC 9457 problem responses, and the body-level faults spelled in JSON.

`JsonFaults` is the JSON `mocks.faults.ProtocolFaults`; `inflict_json` is
`mocks.faults.inflict` with one correction: the "unavailable" fault is served as
``application/problem+json`` (``inflict`` gives every body fault the protocol's one
media type, ``application/json``). Problem ``type``s live in the caller's own
namespace (``urn:lgsp:mock:<system>:problem:``); titles and details are fixed texts
that never repeat request data.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import Response

from mocks.faults import Fault, inflict

JSON = "application/json"
PROBLEM_JSON = "application/problem+json"
GENERIC_PROBLEM_BASE = "urn:lgsp:mock:problem:"


def problem_body(type_base: str, slug: str, status: int, title: str, detail: str) -> bytes:
    """An RFC 9457 problem document, type ``<type_base><slug>``."""
    body = {"type": type_base + slug, "title": title, "status": status, "detail": detail}
    return json.dumps(body, ensure_ascii=False).encode()


def problem_response(
    type_base: str, slug: str, status: int, title: str, detail: str, headers: Mapping[str, str] | None = None
) -> Response:
    """An ``application/problem+json`` response."""
    body = problem_body(type_base, slug, status, title, detail)
    return Response(body, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_JSON)


class JsonFaults:
    """Body-level faults spelled in JSON, for `mocks.faults.inflict` (through `inflict_json`)."""

    media_type = JSON

    def __init__(self, type_base: str = GENERIC_PROBLEM_BASE) -> None:
        """Problems (the "unavailable" one) get types under ``type_base``."""
        self.type_base = type_base

    def malformed(self) -> bytes:
        """Stray commas and a missing value: no JSON parser accepts this."""
        return b'{"items": [{"id": "1",, "value": }], "next_cursor": null}'

    def unavailable(self) -> tuple[int, bytes]:
        """503 with a problem document."""
        return 503, problem_body(
            self.type_base,
            "unavailable",
            503,
            "Service temporarily unavailable",
            "The service is temporarily unavailable; retry later.",
        )

    def hostile(self) -> bytes:
        """Not JSON at all: XML with a DTD, an external entity and nested entities, as a broken gateway might send."""
        return (
            b'<?xml version="1.0" encoding="UTF-8"?>\n'
            b'<!DOCTYPE items [<!ENTITY leak SYSTEM "file:///etc/passwd">'
            b'<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>\n'
            b"<items><item>&leak;&b;</item></items>"
        )


async def inflict_json(
    fault: Fault, request: Request, handle: Callable[[], Awaitable[Response]], faults: JsonFaults
) -> Response:
    """Answer ``request`` as ``fault`` says, like `mocks.faults.inflict`, with problem+json for "unavailable"."""
    if fault.kind == "unavailable_fault":
        status, body = faults.unavailable()
        return Response(body, status_code=status, media_type=PROBLEM_JSON)
    return await inflict(fault, request, handle, faults)
