"""Faults on demand, for every mocked system: what can go wrong between us and a peer.

Two triggers, rules first:
- rules posted to the admin endpoint: ``{"fault": "http_503", "count": 2,
  "operation": "ListChangedCitizens", "after": 3}`` makes the 4th and 5th matching
  calls fail that way (``system`` narrows a rule to one mocked system); rules that
  fall due on the same call queue up, one fault per call, in the order posted;
- random rates per fault kind from the settings, drawn from a seeded RNG so a chaos
  run with the same seed and the same calls fails the same way.

Kinds and what the client sees:
    latency            the normal response, ``seconds`` late
    timeout            nothing for ``seconds`` (longer than the client waits), then the response
    http_500/502/503/504  that status, a plain-text body
    http_429           429 with Retry-After: ``seconds``
    connection_reset   the TCP connection reset (RST) before any byte of a response
    malformed_body     200 with a body that is not well-formed
    truncated_body     200 with the real body cut inside an element
    unavailable_fault  the protocol's own "unavailable" error (SOAP: soap:Server.Unavailable)
    dtd_entity         200 with a body carrying a DTD and external entity (the client must refuse it)

Aliases accepted in rules: malformed_xml, truncated_xml, reset, soap_fault and
soap_server_fault (unavailable_fault), dtd_payload.

Body-level kinds are spelled by the protocol (`ProtocolFaults`), so REST mocks reuse
this module with JSON bodies.
"""

from __future__ import annotations

import asyncio
import math
import random
import socket
import struct
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, get_args

from pydantic import BaseModel, Field, ValidationError, field_validator
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

FaultKind = Literal[
    "latency",
    "timeout",
    "http_500",
    "http_502",
    "http_503",
    "http_504",
    "http_429",
    "connection_reset",
    "malformed_body",
    "truncated_body",
    "unavailable_fault",
    "dtd_entity",
]
FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)


# Other names clients use for the same kinds (the SOAP-flavoured ones came first).
FAULT_ALIASES: dict[str, FaultKind] = {
    "malformed_xml": "malformed_body",
    "truncated_xml": "truncated_body",
    "reset": "connection_reset",
    "soap_fault": "unavailable_fault",
    "soap_server_fault": "unavailable_fault",
    "dtd_payload": "dtd_entity",
}


class FaultRule(BaseModel):
    """An admin request: let ``after`` matching calls pass, then fail ``count`` of them the ``fault`` way."""

    fault: FaultKind
    count: int = Field(default=1, ge=1)
    operation: str | None = None
    system: str | None = None
    after: int = Field(default=0, ge=0)
    seconds: float | None = Field(default=None, ge=0)  # latency, timeout, or Retry-After

    @field_validator("fault", mode="before")
    @classmethod
    def _canonical(cls, value: object) -> object:
        return FAULT_ALIASES.get(value, value) if isinstance(value, str) else value


@dataclass(frozen=True, slots=True)
class Fault:
    """A fault to inflict on one call."""

    kind: FaultKind
    seconds: float


@dataclass(slots=True)
class _ActiveRule:
    rule: FaultRule
    passed: int = 0  # matching calls let through while waiting for ``after``
    fired: int = 0

    def matches(self, system: str, operation: str) -> bool:
        rule = self.rule
        return rule.operation in (None, operation) and rule.system in (None, system)


class FaultInjector:
    """Decides, call by call, whether and how to fail; shared by every mocked system of a server."""

    def __init__(
        self,
        rates: Mapping[FaultKind, float] | None = None,
        seed: int = 0,
        latency_seconds: float = 1.0,
        timeout_seconds: float = 30.0,
        retry_after_seconds: float = 1.0,
    ) -> None:
        """Random ``rates`` per kind (0..1) drawn from ``random.Random(seed)``; default durations."""
        self._rates = [(kind, rate) for kind, rate in (rates or {}).items() if rate > 0]
        self._rng = random.Random(seed)
        self._defaults = {"latency": latency_seconds, "timeout": timeout_seconds, "http_429": retry_after_seconds}
        self._rules: list[_ActiveRule] = []
        self._lock = threading.Lock()

    def add(self, rule: FaultRule) -> None:
        """Arm a rule; its call counter starts now."""
        with self._lock:
            self._rules.append(_ActiveRule(rule))

    def clear(self) -> None:
        """Disarm every rule (random rates stay)."""
        with self._lock:
            self._rules.clear()

    def describe(self) -> list[dict[str, Any]]:
        """The armed rules and how many matching calls each has seen."""
        with self._lock:
            return [
                {**active.rule.model_dump(), "passed": active.passed, "fired": active.fired} for active in self._rules
            ]

    def draw(self, system: str, operation: str) -> Fault | None:
        """The fault for this call of ``operation`` on ``system``, if any.

        Rules that are due fire in the order they were armed, one per call; a due
        rule that waits behind another keeps its count, so rules posted together
        queue up on consecutive calls.
        """
        with self._lock:
            fired: FaultRule | None = None
            for active in self._rules:
                if not active.matches(system, operation):
                    continue
                if active.passed < active.rule.after:
                    active.passed += 1
                elif fired is None and active.fired < active.rule.count:
                    active.fired += 1
                    fired = active.rule
            if fired is not None:
                return self._fault(fired.fault, fired.seconds)
            # Always draw for every rated kind, so one call consumes the same numbers whatever happens.
            hits = [kind for kind, rate in self._rates if self._rng.random() < rate]
            return self._fault(hits[0], None) if hits else None

    def _fault(self, kind: FaultKind, seconds: float | None) -> Fault:
        return Fault(kind, seconds if seconds is not None else self._defaults.get(kind, 0.0))


class ProtocolFaults(Protocol):
    """How one protocol spells the body-level faults."""

    media_type: str

    def malformed(self) -> bytes:
        """A body that is not well-formed."""
        ...

    def unavailable(self) -> tuple[int, bytes]:
        """Status and body of the protocol's own "service unavailable" error."""
        ...

    def hostile(self) -> bytes:
        """A body carrying a DTD with entities (external and expanding)."""
        ...


async def inflict(
    fault: Fault, request: Request, handle: Callable[[], Awaitable[Response]], protocol: ProtocolFaults
) -> Response:
    """Answer ``request`` as ``fault`` says; ``handle`` produces the normal response when needed."""
    kind = fault.kind
    if kind == "latency":
        await asyncio.sleep(fault.seconds)
        return await handle()
    if kind == "timeout":
        if await _client_left_within(request, fault.seconds):
            return Response(status_code=499)  # nobody is listening; never sent
        return await handle()
    if kind == "http_429":
        retry_after = str(max(0, math.ceil(fault.seconds)))
        return PlainTextResponse("Too many requests\n", status_code=429, headers={"Retry-After": retry_after})
    if kind.startswith("http_5"):
        return PlainTextResponse("Service temporarily unavailable\n", status_code=int(kind[5:]))
    if kind == "connection_reset":
        await reset_connection(request)
        return Response(status_code=500)  # never sent: the connection is gone
    if kind == "truncated_body":
        normal = await handle()
        return Response(truncate(bytes(normal.body)), status_code=normal.status_code, media_type=protocol.media_type)
    if kind == "unavailable_fault":
        status, body = protocol.unavailable()
        return Response(body, status_code=status, media_type=protocol.media_type)
    body = protocol.malformed() if kind == "malformed_body" else protocol.hostile()
    return Response(body, status_code=200, media_type=protocol.media_type)


async def _client_left_within(request: Request, seconds: float) -> bool:
    """Wait up to ``seconds``; True as soon as the client disconnects (so shutdown is not held up)."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        await asyncio.sleep(min(0.05, left))
        if await request.is_disconnected():
            return True
    return False


async def reset_connection(request: Request) -> None:
    """Reset the client's TCP connection (RST, no response) from inside an ASGI app under uvicorn.

    uvicorn does not hand the transport to the app, but its ``receive`` is a bound
    method of the request cycle, which holds it. An exception would not do: uvicorn
    answers it with a 500. SO_LINGER 0 turns the close into a reset.

    Raises:
        RuntimeError: not running under uvicorn (no transport to reach).
    """
    transport = getattr(getattr(request.receive, "__self__", None), "transport", None)
    if transport is None or not hasattr(transport, "abort"):
        raise RuntimeError("connection_reset needs uvicorn: the ASGI server's transport is not reachable")
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    await asyncio.sleep(0.01)  # let the server register the loss, so it sends nothing after us


def truncate(body: bytes) -> bytes:
    """Cut ``body`` inside an element name about 60% of the way through."""
    cut_before = max(1, len(body) * 6 // 10)
    opening = body.rfind(b"<", 0, cut_before)
    if opening < 0:
        return body[: len(body) // 2]
    return body[: min(opening + 3, len(body) - 1)]


def fault_admin_routes(injector: FaultInjector) -> list[Route]:
    """``GET/POST/DELETE /faults``: list, arm and clear fault rules (mount under /_admin)."""

    async def faults(request: Request) -> Response:
        if request.method == "DELETE":
            injector.clear()
            return JSONResponse({"rules": []})
        if request.method == "POST":
            try:
                injector.add(FaultRule.model_validate_json(await request.body()))
            except ValidationError as exc:
                return JSONResponse({"error": "invalid fault rule", "details": _reasons(exc)}, status_code=422)
            return JSONResponse({"rules": injector.describe()}, status_code=201)
        return JSONResponse({"rules": injector.describe(), "kinds": list(FAULT_KINDS)})

    return [Route("/faults", faults, methods=["GET", "POST", "DELETE"])]


def _reasons(exc: ValidationError) -> list[str]:
    """Validation errors as "field: message", without echoing the input."""
    return [f"{'.'.join(map(str, error['loc'])) or 'body'}: {error['msg']}" for error in exc.errors()]
