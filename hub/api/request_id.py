"""The correlation id of every request, a cap on request bodies, and the last-resort error.

``X-Request-Id``: the caller's value is kept only if it is 1-64 characters of
``[A-Za-z0-9._:-]`` (it goes into the ledger and into logs: anything else could forge
log lines or carry personal data), otherwise a random one is made. Either way it is
echoed on the response and stored in ``request.state.request_id``.

The outermost layer also catches what nothing else did, so even a bug answers with a
problem document and the request id, and the log names only the exception's type.
"""

from __future__ import annotations

import logging
import re
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.api.problems import problem_response

HEADER = "X-Request-Id"
MAX_BODY_BYTES = 64 * 1024  # the largest body any operation needs is a few hundred bytes
_ACCEPTED = re.compile(r"[A-Za-z0-9._:-]{1,64}")
log = logging.getLogger(__name__)


def accepted_request_id(given: str | None) -> str:
    """The caller's id if it is safe to keep, else a new random one."""
    if given is not None and _ACCEPTED.fullmatch(given):
        return given
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Assign, expose and echo the request id; cap the body; answer a problem for anything unhandled."""

    def __init__(self, app: ASGIApp, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        """Wrap ``app``; bodies over ``max_body_bytes`` get a 413."""
        self.app, self.max_body_bytes = app, max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request (other scope types pass through)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        request_id = accepted_request_id(headers.get(HEADER))
        scope.setdefault("state", {})["request_id"] = request_id
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await problem_response(request_id, 413, "the request body is too large")(scope, receive, send_with_id)
            return
        try:
            await self.app(scope, self._capped(receive), send_with_id)
        except Exception as exc:  # noqa: BLE001 - the last resort: answer, log the type only, never the values
            log.error("unhandled %s serving request %s", type(exc).__name__, request_id)
            if not started:
                await problem_response(
                    request_id,
                    500,
                    f"the hub could not serve this request; quote request id {request_id} to the operators",
                )(scope, receive, send_with_id)

    def _capped(self, receive: Receive) -> Receive:
        """``receive`` that stops a streamed body (no Content-Length) at the cap."""
        seen = 0

        async def capped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body_bytes:
                    # FastAPI re-raises an HTTPException met while reading the body: it becomes a 413 problem.
                    raise HTTPException(413)
            return message

        return capped
