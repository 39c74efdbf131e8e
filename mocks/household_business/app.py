"""The household business registry as an ASGI app: WSDL/XSD over GET, SOAP 1.1 over POST.

Routes, relative to where the caller mounts the app (``/household-business``); contract
in ``schemas/household_business/``:
    GET  ?wsdl                          the contract WSDL, soap:address rewritten to this URL
    GET  ?xsd=household_business.xsd    the contract XSD (the WSDL imports it from there)
    POST /                              SOAP 1.1 (Content-Type text/xml; SOAPAction optional)

One operation, ``DanhSachHoKinhDoanh(CapNhatTu, SoTrang?, KichThuocTrang?)``: businesses
changed strictly after CapNhatTu, by page number, with the total page count (unlike the
population feed's NextPageToken). A request is answered in this order: size cap, safe
parse, fault injection (operation ``DanhSachHoKinhDoanh``), WS-Security, the operation.
Faults are HTTP 500 soap:Fault with tns:LoiChiTiet; none repeats request data. What a
client sees is what the mock clock (the population mock's) has reached.
"""

from __future__ import annotations

import logging
import math
import re

from lxml import etree
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from mocks.clock import MockClock, parse_datetime
from mocks.contracts import SCHEMAS_DIR
from mocks.faults import FaultInjector, inflict
from mocks.household_business import render
from mocks.household_business.dataset import HouseholdBusinessDataset
from mocks.household_business.render import NAMESPACE
from mocks.population.dataset import PopulationDataset
from mocks.population.render import SOAP_ENV, envelope, escape
from mocks.population.soap import SoapFault, SoapRequest, WsseCheck, invalid_request, parse_request
from mocks.request_body import read_capped
from mocks.settings import MockSettings

WSDL_PATH = SCHEMAS_DIR / "household_business" / "household_business.wsdl"
XSD_PATH = SCHEMAS_DIR / "household_business" / "household_business.xsd"

SYSTEM = "household_business"
OPERATION = "DanhSachHoKinhDoanh"
XSD_NAME = "household_business.xsd"
XML = "text/xml; charset=utf-8"
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 100, 1000
MAX_PAGE = 2_147_483_647  # xs:int
_ADDRESS = re.compile(r'(<soap:address\s+location=")[^"]*(")')
logger = logging.getLogger(__name__)


class _SoapFaults:
    """Body-level faults spelled in SOAP, for `mocks.faults`."""

    media_type = XML

    def malformed(self) -> bytes:
        """Mismatched end tags: no XML parser accepts this."""
        return envelope(
            f'<DanhSachHoKinhDoanhResponse xmlns="{NAMESPACE}"><TongSoTrang>1</TongSoTrang><SoTrang>1</SoTrang>'
            "<HoKinhDoanh><SoDangKy></TenHoKinhDoanh></HoKinhDoanh>"
        )

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
            b'<soap:Envelope xmlns:soap="' + SOAP_ENV.encode() + b'"><soap:Body>'
            b'<DanhSachHoKinhDoanhResponse xmlns="' + NAMESPACE.encode() + b'"><TongSoTrang>1</TongSoTrang>'
            b"<SoTrang>1</SoTrang><HoKinhDoanh><SoDangKy>&leak;&b;</SoDangKy></HoKinhDoanh>"
            b"</DanhSachHoKinhDoanhResponse></soap:Body></soap:Envelope>"
        )


def _fault_response(fault: SoapFault, status: int = 500) -> Response:
    return Response(render.fault(fault.code, fault.message, fault.error, fault.description), status, media_type=XML)


def _text(request: etree._Element, name: str) -> str | None:
    """The text of child ``name`` (in the contract namespace), stripped, or None if absent."""
    child = request.find(f"{{{NAMESPACE}}}{name}")
    return None if child is None else (child.text or "").strip()


def _whole(request: etree._Element, name: str, default: int, high: int) -> int:
    """Child ``name``: a whole number 1..``high``, ``default`` when absent.

    Raises:
        SoapFault: soap:Client.InvalidRequest, not a whole number in range.
    """
    text = _text(request, name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError as exc:
        raise invalid_request(f"{name} phải là số nguyên") from exc
    if not 1 <= value <= high:
        raise invalid_request(f"{name} phải trong khoảng 1..{high}")
    return value


class _Endpoints:
    """The handlers, bound to one data set, clock, settings and fault injector."""

    def __init__(
        self, dataset: HouseholdBusinessDataset, settings: MockSettings, faults: FaultInjector, clock: MockClock
    ) -> None:
        self.dataset, self.settings, self.faults, self.clock = dataset, settings, faults, clock
        self.authenticate = WsseCheck(
            settings.household_business_username,
            settings.household_business_password.get_secret_value(),
            accept_text=settings.household_business_wsse == "any",
        )
        self.wsdl = WSDL_PATH.read_text(encoding="utf-8")
        self.xsd = XSD_PATH.read_bytes()

    async def root(self, request: Request) -> Response:
        """GET: the contract (?wsdl, ?xsd=household_business.xsd); POST: a SOAP call."""
        if request.method == "POST":
            return await self.soap(request)
        if "wsdl" in request.query_params:
            location = f"{request.url.scheme}://{request.url.netloc}{request.scope.get('root_path', '')}"
            served = _ADDRESS.sub(lambda m: f"{m.group(1)}{escape(location)}{m.group(2)}", self.wsdl, count=1)
            return Response(served.encode(), media_type=XML)
        if request.query_params.get("xsd") == XSD_NAME:
            return Response(self.xsd, media_type=XML)
        return PlainTextResponse("Household business SOAP service: GET ?wsdl for the contract, POST SOAP 1.1.\n")

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

        injected = self.faults.draw(SYSTEM, parsed.name)
        if injected is None:
            return await handle()
        logger.info("injecting fault %s into %s %s", injected.kind, SYSTEM, parsed.name)
        return await inflict(injected, request, handle, _SoapFaults())

    def answer(self, parsed: SoapRequest) -> Response:
        """The operation's response, or a fault (authentication first, so nothing leaks unauthenticated)."""
        try:
            self.authenticate(parsed.security)
            if parsed.namespace != NAMESPACE or parsed.name != OPERATION:
                raise invalid_request("Thao tác không được hỗ trợ")
            return Response(self.list_businesses(parsed.operation), media_type=XML)
        except SoapFault as fault:
            return _fault_response(fault)

    def list_businesses(self, request: etree._Element) -> bytes:
        """DanhSachHoKinhDoanh: page SoTrang of the businesses changed strictly after CapNhatTu.

        Raises:
            SoapFault: soap:Client.InvalidRequest, a missing or invalid CapNhatTu, SoTrang or KichThuocTrang.
        """
        since_text = _text(request, "CapNhatTu")
        if since_text is None:
            raise invalid_request("Thiếu phần tử bắt buộc CapNhatTu")
        try:
            since = math.floor(parse_datetime(since_text))  # records carry whole seconds
        except ValueError as exc:
            raise invalid_request("CapNhatTu không phải xs:dateTime hợp lệ") from exc
        page = _whole(request, "SoTrang", 1, MAX_PAGE)
        size = _whole(request, "KichThuocTrang", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        return render.list_response(self.dataset.page(since, self.clock.now, page, size))


def build_household_business_app(
    population: PopulationDataset, settings: MockSettings, faults: FaultInjector, clock: MockClock
) -> Starlette:
    """The household business SOAP service over ``population``'s adults; mount it at ``/household-business``.

    ``app.state.dataset`` is the `HouseholdBusinessDataset` (records and ground truth).

    Raises:
        ValueError: the settings ask for more businesses than ``population`` has adults.
    """
    dataset = HouseholdBusinessDataset.generate(
        population,
        settings.seed,
        settings.household_business_records,
        settings.household_business_defect_rate,
        settings.feed_days,
    )
    endpoints = _Endpoints(dataset, settings, faults, clock)
    app = Starlette(routes=[Route("/", endpoints.root, methods=["GET", "POST"])])
    app.state.dataset = dataset
    return app
