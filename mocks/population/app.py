"""The population mock as an ASGI app: WSDL/XSD over GET, SOAP 1.1 over POST, a clock for admins.

Routes, relative to where the caller mounts the app (``/population``):
    GET  ?wsdl                  the contract WSDL, soap:address rewritten to this URL
    GET  ?xsd=population.xsd    the contract XSD (the WSDL imports it from there)
    POST /                      SOAP 1.1 (Content-Type text/xml; SOAPAction optional)
    GET  /_admin/clock          {"now": "2026-01-01T00:00:00Z"}
    POST /_admin/clock          {"advance_days": N} or {"to": "<xs:dateTime>"}

A request is answered in this order: size cap, safe parse, fault injection,
authentication, operation. Faults are HTTP 500 soap:Fault with tns:LoiChiTiet.
"""

from __future__ import annotations

import logging
import math
import re

from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from mocks.clock import MockClock, parse_datetime
from mocks.faults import FaultInjector, inflict
from mocks.population import render
from mocks.population.dataset import PopulationDataset
from mocks.population.operations import OPERATIONS, Service
from mocks.population.paging import PageTokens
from mocks.population.soap import SoapFault, SoapRequest, WsseCheck, invalid_request, parse_request
from mocks.request_body import read_capped
from mocks.settings import MockSettings
from schemas.population import NAMESPACE, WSDL_PATH, XSD_PATH

SYSTEM = "population"
XML = "text/xml; charset=utf-8"
_ADDRESS = re.compile(r'(<soap:address\s+location=")[^"]*(")')
logger = logging.getLogger(__name__)


class _SoapFaults:
    """Body-level faults spelled in SOAP, for `mocks.faults`."""

    media_type = XML

    def malformed(self) -> bytes:
        """Mismatched end tags: no XML parser accepts this."""
        return render.envelope(f'<GetCitizenResponse xmlns="{NAMESPACE}"><CongDan><SoDinhDanh></HoVaTen></CongDan>')

    def unavailable(self) -> tuple[int, bytes]:
        """HTTP 500 with soap:Server.Unavailable."""
        return 500, render.fault(
            "soap:Server.Unavailable",
            "Service temporarily unavailable",
            "Unavailable",
            "Hệ thống tạm thời không phục vụ được, vui lòng thử lại sau",
        )

    def hostile(self) -> bytes:
        """An external entity (a local file) and nested entities, used in the body."""
        return (
            b'<?xml version="1.0" encoding="UTF-8"?>\n'
            b'<!DOCTYPE soap:Envelope [<!ENTITY leak SYSTEM "file:///etc/passwd">'
            b'<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>\n'
            b'<soap:Envelope xmlns:soap="' + render.SOAP_ENV.encode() + b'"><soap:Body>'
            b'<GetCitizenResponse xmlns="' + NAMESPACE.encode() + b'"><CongDan><SoDinhDanh>&leak;&b;'
            b"</SoDinhDanh></CongDan></GetCitizenResponse></soap:Body></soap:Envelope>"
        )


def _fault_response(fault: SoapFault, status: int = 500) -> Response:
    body = render.fault(fault.code, fault.message, fault.error, fault.description)
    return Response(body, status, media_type=XML)


class _ClockChange(BaseModel):
    advance_days: float | None = None
    to: str | None = None


class _Endpoints:
    """The handlers, bound to one data set, clock, settings and fault injector."""

    def __init__(self, dataset: PopulationDataset, settings: MockSettings, faults: FaultInjector) -> None:
        self.clock = MockClock()
        self.service = Service(dataset=dataset, clock=self.clock, tokens=PageTokens(dataset.seed))
        self.settings, self.faults = settings, faults
        self.authenticate = WsseCheck(
            settings.username, settings.password.get_secret_value(), accept_text=settings.population_wsse == "any"
        )
        self.wsdl = WSDL_PATH.read_text(encoding="utf-8")
        self.xsd = XSD_PATH.read_bytes()

    async def root(self, request: Request) -> Response:
        """GET: the contract (?wsdl, ?xsd=population.xsd); POST: a SOAP call."""
        if request.method == "POST":
            return await self.soap(request)
        if "wsdl" in request.query_params:
            location = f"{request.url.scheme}://{request.url.netloc}{request.scope.get('root_path', '')}"
            served = _ADDRESS.sub(lambda m: f"{m.group(1)}{render.escape(location)}{m.group(2)}", self.wsdl, count=1)
            return Response(served.encode(), media_type=XML)
        if request.query_params.get("xsd") == "population.xsd":
            return Response(self.xsd, media_type=XML)
        return PlainTextResponse("Population SOAP service: GET ?wsdl for the contract, POST SOAP 1.1.\n")

    async def soap(self, request: Request) -> Response:
        """Cap, parse, maybe inflict a fault, then authenticate and run the operation."""
        body = await read_capped(request, self.settings.max_request_bytes)
        if body is None:
            return _fault_response(invalid_request("Yêu cầu vượt quá kích thước cho phép"), 413)
        try:
            parsed = parse_request(body)
        except SoapFault as fault:
            return _fault_response(fault)

        async def handle() -> Response:
            return self.answer(parsed)

        injected = self.faults.draw(SYSTEM, parsed.name.removesuffix("Request"))
        if injected is None:
            return await handle()
        logger.info("injecting fault %s into %s", injected.kind, parsed.name)
        return await inflict(injected, request, handle, _SoapFaults())

    def answer(self, parsed: SoapRequest) -> Response:
        """The operation's response, or a fault (authentication first, so nothing leaks unauthenticated)."""
        try:
            self.authenticate(parsed.security)
            operation = OPERATIONS.get(parsed.name) if parsed.namespace == NAMESPACE else None
            if operation is None:
                raise invalid_request("Thao tác không được hỗ trợ")
            return Response(operation(self.service, parsed.operation), media_type=XML)
        except SoapFault as fault:
            return _fault_response(fault)

    async def clock_endpoint(self, request: Request) -> Response:
        """GET the simulated time; POST {"advance_days": N} or {"to": iso} to move it."""
        if request.method == "POST":
            try:
                change = _ClockChange.model_validate_json(await request.body())
                if change.to is not None:
                    self.clock.set(math.floor(parse_datetime(change.to)))
                elif change.advance_days is not None:
                    self.clock.advance(change.advance_days)
                else:
                    raise ValueError("nothing to change")
            except (ValidationError, ValueError):
                return JSONResponse({"error": 'expected {"advance_days": N} or {"to": "<xs:dateTime>"}'}, 422)
        return JSONResponse({"now": self.clock.isoformat()})


def build_population_app(
    dataset: PopulationDataset, settings: MockSettings, faults: FaultInjector | None = None
) -> Starlette:
    """The population SOAP service over ``dataset``; mount it at ``/population``."""
    injector = faults or FaultInjector(
        settings.fault_rates,
        settings.seed,
        settings.latency_seconds,
        settings.timeout_seconds,
        settings.retry_after_seconds,
    )
    endpoints = _Endpoints(dataset, settings, injector)
    app = Starlette(
        routes=[
            Route("/", endpoints.root, methods=["GET", "POST"]),
            Route("/_admin/clock", endpoints.clock_endpoint, methods=["GET", "POST"]),
        ]
    )
    app.state.clock = endpoints.clock
    app.state.dataset = dataset
    return app
