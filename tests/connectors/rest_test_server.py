"""A misbehaving REST API for the connector tests: real HTTP on loopback, faults on demand, calls counted.

``with flaky_api() as api:`` serves the app below from uvicorn in a background
thread on a free port; ``api.state`` holds the knobs and what the server saw
(``calls[route]``, the X-Request-IDs, the tokens it issued). Routes that fail
"N times then succeed" take ``?fails=N`` and count per route.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import json
import secrets
import socket
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from mocks.faults import reset_connection

PERSONAL_ID = "001234567890"  # looks like a personal id: must never reach a message or a log
PERSONAL_DETAIL = f"Hồ sơ của công dân {PERSONAL_ID} (Nguyễn Văn An) đã ở bước 5"
CLIENT_ID = "lgsp-client"
CLIENT_SECRET = "s3cret-Client-Value-42"
API_KEY = "key-Abc123-very-secret"
# Cursors that carry data, as real ones often do (base64 of a last-seen id).
CURSORS = [base64.urlsafe_b64encode(f'{{"after":"00123456789{n}"}}'.encode()).decode() for n in range(4)]


@dataclass
class ApiState:
    """The knobs a test turns, and what the server saw."""

    calls: Counter[str] = field(default_factory=Counter)
    request_ids: list[tuple[str, str]] = field(default_factory=list)
    user_agents: list[str] = field(default_factory=list)
    token_lifetime: float | None = 3600
    token_failures: list[int] = field(default_factory=list)  # statuses the token endpoint answers first
    token_delay: float = 0.0
    invalid_client_status: int = 401
    tokens: dict[str, float] = field(default_factory=dict)  # live token -> expiry (monotonic)
    issued: list[str] = field(default_factory=list)
    reject_all_tokens: bool = False
    protected_delays: list[float] = field(default_factory=list)  # seconds before checking the token, per call
    repeat_cursor: bool = False

    def reset(self) -> None:
        """Back to a well-behaved server."""
        vars(self).update(vars(ApiState()))  # in place: the running app holds this object

    def revoke_tokens(self) -> None:
        """Forget every issued token, as a server does when they expire on its clock."""
        self.tokens.clear()


def _count(request: Request, state: ApiState, route: str) -> int:
    state.calls[route] += 1
    state.request_ids.append((route, request.headers.get("x-request-id", "")))
    state.user_agents.append(request.headers.get("user-agent", ""))
    return state.calls[route]


def _fails(request: Request) -> int:
    return int(request.query_params.get("fails", "1000000"))


def _problem(status: int, title: str, kind: str) -> JSONResponse:
    body = {"type": kind, "title": title, "status": status, "detail": PERSONAL_DETAIL}
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


async def _wait_or_leave(request: Request, seconds: float) -> None:
    """Sleep, but stop as soon as the client has gone (so shutdown is not held up)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not await request.is_disconnected():
        await asyncio.sleep(0.02)


def build_app(state: ApiState) -> Starlette:
    """The misbehaving API."""

    async def json_ok(request: Request) -> Response:
        _count(request, state, "json")
        return JSONResponse({"ok": True, "query": dict(request.query_params)})

    async def echo(request: Request) -> Response:
        _count(request, state, "echo")
        body = (await request.body()).decode()
        return JSONResponse(
            {"method": request.method, "content_type": request.headers.get("content-type"), "body": body},
            status_code=201,
        )

    async def retry_after(request: Request) -> Response:
        if _count(request, state, "retry_after") <= _fails(request):
            value = request.query_params.get("value", "7")
            if request.query_params.get("date"):
                when = datetime.now(UTC) + timedelta(seconds=int(value))
                value = email.utils.format_datetime(when, usegmt=True)
            return PlainTextResponse("slow down\n", status_code=429, headers={"Retry-After": value})
        return JSONResponse({"ok": True})

    async def unavailable(request: Request) -> Response:
        if _count(request, state, "unavailable") <= _fails(request):
            status = int(request.query_params.get("status", "503"))
            return PlainTextResponse("Service temporarily unavailable\n", status_code=status)
        return JSONResponse({"ok": True})

    async def slow(request: Request) -> Response:
        _count(request, state, "slow")
        await _wait_or_leave(request, float(request.query_params.get("seconds", "5")))
        return JSONResponse({"ok": True})

    async def reset(request: Request) -> Response:
        if _count(request, state, "reset") <= _fails(request):
            await reset_connection(request)
            return Response(status_code=500)  # never sent: the connection is gone
        return JSONResponse({"ok": True})

    async def truncated(request: Request) -> Response:
        body = json.dumps({"items": [{"n": n, "name": "Nguyễn Văn An"} for n in range(20)]}).encode()
        if _count(request, state, "truncated") <= _fails(request):
            body = body[: len(body) * 6 // 10]  # Content-Length matches: the JSON itself is cut
        return Response(body, media_type="application/json")

    async def html(request: Request) -> Response:
        _count(request, state, "html")
        return Response(f"<html><body>Login {PERSONAL_ID}</body></html>", media_type="text/html")

    async def untyped_json(request: Request) -> Response:
        _count(request, state, "untyped")
        return Response(b'{"ok": true}', media_type="text/plain")

    async def empty(request: Request) -> Response:
        _count(request, state, "empty")
        return Response(status_code=int(request.query_params.get("status", "204")))

    async def status(request: Request) -> Response:
        code = int(request.path_params["code"])
        _count(request, state, f"status/{code}")
        return _problem(code, f"Failure {code}", f"urn:lgsp:test:problem:{code}")

    async def redirect(request: Request) -> Response:
        _count(request, state, "redirect")
        return RedirectResponse("/json", status_code=302)

    async def portal_status(request: Request) -> Response:
        _count(request, state, "portal_status")
        return _problem(409, "Status would go backwards", "urn:lgsp:mock:portal:status-backwards")

    async def portal_payload(request: Request) -> Response:
        _count(request, state, "portal_payload")
        return _problem(422, "Invalid payload", "urn:lgsp:mock:portal:invalid-payload")

    async def huge(request: Request) -> Response:
        _count(request, state, "huge")
        size = int(request.query_params.get("bytes", "1000"))
        body = b'{"pad": "' + b"x" * max(0, size - 11) + b'"}'
        if request.query_params.get("chunked"):

            async def chunks() -> AsyncIterator[bytes]:
                for start in range(0, len(body), 4096):
                    yield body[start : start + 4096]

            return StreamingResponse(chunks(), media_type="application/json")
        return Response(body, media_type="application/json")

    async def deep(request: Request) -> Response:
        _count(request, state, "deep")
        depth = int(request.query_params.get("depth", "100000"))
        return Response(b"[" * depth + b"]" * depth, media_type="application/json")

    async def token(request: Request) -> Response:
        _count(request, state, "token")
        form = await request.form()
        if state.token_delay:
            await _wait_or_leave(request, state.token_delay)
        if state.token_failures:
            return JSONResponse({"error": "temporarily_unavailable"}, status_code=state.token_failures.pop(0))
        if not _client_authenticated(request.headers.get("authorization", "")):
            return JSONResponse(
                {"error": "invalid_client"},
                status_code=state.invalid_client_status,
                headers={"WWW-Authenticate": 'Basic realm="token"'},
            )
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        if form.get("scope") == "forbidden":
            return JSONResponse({"error": "invalid_scope", "error_description": PERSONAL_DETAIL}, status_code=400)
        issued = f"tok-{len(state.issued) + 1}-{secrets.token_hex(8)}"
        state.issued.append(issued)
        lifetime = state.token_lifetime
        state.tokens[issued] = time.monotonic() + (lifetime if lifetime is not None else 1e9)
        body: dict[str, object] = {"access_token": issued, "token_type": "Bearer"}
        if lifetime is not None:
            body["expires_in"] = lifetime
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    async def protected(request: Request) -> Response:
        _count(request, state, "protected")
        if state.protected_delays:  # a slow server checks the token only after the wait
            await _wait_or_leave(request, state.protected_delays.pop(0))
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        alive = state.tokens.get(presented, 0.0) > time.monotonic()
        if scheme != "Bearer" or not alive or state.reject_all_tokens:
            state.calls["protected_401"] += 1
            return JSONResponse(
                {"error": "invalid_token"},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        return JSONResponse({"ok": True})

    async def keyed(request: Request) -> Response:
        _count(request, state, "keyed")
        if request.headers.get("x-api-key") != API_KEY:
            return _problem(401, "Unauthorized", "urn:lgsp:test:problem:key")
        return JSONResponse({"ok": True})

    async def pages(request: Request) -> Response:
        _count(request, state, "pages")
        cursor = request.query_params.get("cursor")
        index = 0 if cursor is None else CURSORS.index(cursor) + 1
        following: str | None = CURSORS[index] if index < 3 else None
        if state.repeat_cursor and index == 2:
            following = CURSORS[0]  # the bug: hands back a cursor it already gave
        items = [f"item-{index}-{n}" for n in range(3)]
        return JSONResponse({"items": items, "next": following})

    return Starlette(
        routes=[
            Route("/json", json_ok),
            Route("/echo", echo, methods=["POST", "PUT"]),
            Route("/retry-after", retry_after),
            Route("/unavailable", unavailable),
            Route("/slow", slow),
            Route("/reset", reset),
            Route("/truncated", truncated),
            Route("/html", html),
            Route("/untyped", untyped_json),
            Route("/empty", empty),
            Route("/status/{code:int}", status, methods=["GET", "PUT", "POST"]),
            Route("/redirect", redirect),
            Route("/portal/status", portal_status, methods=["PUT"]),
            Route("/portal/payload", portal_payload, methods=["POST"]),
            Route("/huge", huge),
            Route("/deep", deep),
            Route("/oauth/token", token, methods=["POST"]),
            Route("/protected", protected),
            Route("/keyed", keyed),
            Route("/pages", pages),
        ]
    )


def _client_authenticated(header: str) -> bool:
    scheme, _, encoded = header.partition(" ")
    if scheme != "Basic":
        return False
    client_id, _, secret = base64.b64decode(encoded).decode().partition(":")
    return (unquote(client_id), unquote(secret)) == (CLIENT_ID, CLIENT_SECRET)


@dataclass
class FlakyApi:
    """A running server: where it listens and its state."""

    base_url: str
    state: ApiState


@contextmanager
def flaky_api() -> Iterator[FlakyApi]:
    """Serve the misbehaving API on a free loopback port for the duration of the block."""
    state = ApiState()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        build_app(state), log_level="warning", lifespan="off", access_log=False, timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="rest-test-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("the test API did not start")
        time.sleep(0.005)
    try:
        yield FlakyApi(f"http://127.0.0.1:{sock.getsockname()[1]}", state)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
