"""The three operations of the contract, from a parsed request element to response bytes."""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from lxml import etree

from mocks.clock import MockClock, parse_datetime
from mocks.population import render
from mocks.population.dataset import PopulationDataset
from mocks.population.paging import PageTokens
from mocks.population.soap import SoapFault, invalid_request
from schemas.population import NAMESPACE

DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 100, 1000


@dataclass(frozen=True, slots=True)
class Service:
    """What the operations read: the data set, the clock, the page tokens."""

    dataset: PopulationDataset
    clock: MockClock
    tokens: PageTokens


def _text(request: etree._Element, name: str, required: bool = True) -> str | None:
    """The text of child ``name`` (in the contract namespace), or None if absent and optional."""
    child = request.find(f"{{{NAMESPACE}}}{name}")
    if child is None:
        if required:
            raise invalid_request(f"Thiếu phần tử bắt buộc {name}")
        return None
    return (child.text or "").strip()


def not_found() -> SoapFault:
    """A soap:Client.NotFound fault; it does not repeat the id asked for."""
    return SoapFault("soap:Client.NotFound", "Citizen not found", "NotFound", "Không tìm thấy công dân")


def get_citizen(service: Service, request: etree._Element) -> bytes:
    """GetCitizen: the visible version of one citizen, or a NotFound fault."""
    record = service.dataset.citizen(_text(request, "SoDinhDanh") or "", service.clock.now)
    if record is None:
        raise not_found()
    return render.get_citizen_response(record)


def verify_citizen(service: Service, request: etree._Element) -> bytes:
    """VerifyCitizen: does the id exist, and do name (case/space-insensitive) and birth date match."""
    personal_id = _text(request, "SoDinhDanh") or ""
    name = _text(request, "HoVaTen") or ""
    try:
        birth = date.fromisoformat((_text(request, "NgaySinh") or "")[:10])
    except ValueError as exc:
        raise invalid_request("NgaySinh không phải xs:date hợp lệ") from exc
    record = service.dataset.citizen(personal_id, service.clock.now)
    if record is None:
        return render.verify_citizen_response(False, False, False)
    return render.verify_citizen_response(
        True, _comparable(name) == _comparable(record.ho_va_ten), birth.isoformat() == record.ngay_sinh
    )


def _comparable(name: str) -> str:
    """A name folded for comparison: NFC, case-folded, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())


def list_changed_citizens(service: Service, request: etree._Element) -> bytes:
    """ListChangedCitizens: visible versions with NgayCapNhat > Since, in feed order, paged."""
    try:
        # Records carry whole seconds: "> 10.5" is the same as "> 10".
        since = math.floor(parse_datetime(_text(request, "Since") or ""))
    except ValueError as exc:
        raise invalid_request("Since không phải xs:dateTime hợp lệ") from exc
    size = _page_size(_text(request, "PageSize", required=False))
    token = _text(request, "PageToken", required=False)
    start = 0
    if token:
        try:
            start = service.tokens.resume_position(token, since)
        except ValueError as exc:
            raise invalid_request("PageToken không hợp lệ") from exc
    page = service.dataset.changed(since, service.clock.now, start, size)
    next_token = service.tokens.issue(since, page.last_position) if page.more else None
    return render.list_changed_response(page.records, next_token)


def _page_size(text: str | None) -> int:
    """PageSize, default 100, between 1 and 1000."""
    if text is None:
        return DEFAULT_PAGE_SIZE
    try:
        size = int(text)
    except ValueError as exc:
        raise invalid_request("PageSize phải là số nguyên") from exc
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise invalid_request(f"PageSize phải trong khoảng 1..{MAX_PAGE_SIZE}")
    return size


OPERATIONS: dict[str, Callable[[Service, etree._Element], bytes]] = {
    "GetCitizenRequest": get_citizen,
    "VerifyCitizenRequest": verify_citizen,
    "ListChangedCitizensRequest": list_changed_citizens,
}
