"""The household business mock over real HTTP: WSDL/XSD, zeep, WS-Security, numbered pages, defects, faults.

Its own module-scoped `server` (the conftest's 800 residents and 10 feed days, more
businesses and defects than the defaults so every type shows); the conftest's `client`
resets the clock and the fault rules after each test. The rules below are written from
the contract and the population data, not from the generator.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
import zeep
from lxml import etree
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from mocks.clock import DAY, EPOCH
from mocks.household_business import DEFECT_TYPES, STATUSES, HouseholdBusinessDataset
from mocks.household_business.app import XSD_PATH
from mocks.household_business.render import NAMESPACE, ho_kinh_doanh
from mocks.population.dataset import NEVER, PopulationDataset
from mocks.population.regions import regions
from mocks.server import MockServer
from mocks.settings import MockSettings
from schemas.personal_id import is_well_formed

PATH = "/household-business"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
PROFILE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
NS = f"{{{NAMESPACE}}}"
USERNAME, PASSWORD = "lgsp-demo", "demo-only-password"
EARLIEST = "1900-01-01T00:00:00Z"
RECORDS, DEFECT_RATE = 150, 0.1
LATE = EPOCH + 40 * DAY  # after the 10 feed days and the 20 days a closure after a death may take
COMMUNES = regions().commune_codes
Item = dict[str, str]


@pytest.fixture(scope="module")
def server(population: PopulationDataset, mock_settings: MockSettings) -> Iterator[MockServer]:
    """The mock server with 150 businesses, one in ten defective."""
    update = {"household_business_records": RECORDS, "household_business_defect_rate": DEFECT_RATE}
    with MockServer(mock_settings.model_copy(update=update), population=population) as running:
        yield running


def request(since: str = EARLIEST, page: int | str | None = None, size: int | str | None = None) -> str:
    parts = [f"<h:CapNhatTu>{since}</h:CapNhatTu>"]
    if page is not None:
        parts.append(f"<h:SoTrang>{page}</h:SoTrang>")
    if size is not None:
        parts.append(f"<h:KichThuocTrang>{size}</h:KichThuocTrang>")
    return f"<h:DanhSachHoKinhDoanh>{''.join(parts)}</h:DanhSachHoKinhDoanh>"


def text_token(username: str = USERNAME, password: str = PASSWORD) -> str:
    return (
        f'<wsse:Security xmlns:wsse="{WSSE}"><wsse:UsernameToken><wsse:Username>{username}</wsse:Username>'
        f"<wsse:Password>{password}</wsse:Password></wsse:UsernameToken></wsse:Security>"
    )


def digest_token(
    password: str = PASSWORD, nonce: bytes | None = None, username: str = USERNAME, stamp: bool = False
) -> str:
    """A PasswordDigest token, fresh, with a wsu:Timestamp if ``stamp``."""
    nonce = nonce if nonce is not None else os.urandom(16)
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    digest = base64.b64encode(hashlib.sha1(nonce + created.encode() + password.encode()).digest()).decode()
    timestamp = f"<wsu:Timestamp><wsu:Created>{created}</wsu:Created></wsu:Timestamp>" if stamp else ""
    return (
        f'<wsse:Security xmlns:wsse="{WSSE}" xmlns:wsu="{WSU}">{timestamp}<wsse:UsernameToken>'
        f'<wsse:Username>{username}</wsse:Username><wsse:Password Type="{PROFILE}#PasswordDigest">{digest}'
        f"</wsse:Password><wsse:Nonce>{base64.b64encode(nonce).decode()}</wsse:Nonce>"
        f"<wsu:Created>{created}</wsu:Created></wsse:UsernameToken></wsse:Security>"
    )


def envelope(body: str, security: str | None = None) -> bytes:
    """A request envelope; ``security`` defaults to a PasswordText token, "" leaves the header out."""
    security = text_token() if security is None else security
    header = f"<soap:Header>{security}</soap:Header>" if security else ""
    return (
        f'<soap:Envelope xmlns:soap="{SOAP}" xmlns:h="{NAMESPACE}">{header}<soap:Body>{body}</soap:Body>'
        "</soap:Envelope>"
    ).encode()


def call(client: httpx.Client, body: str, security: str | None = None) -> httpx.Response:
    """POST one request to /household-business (no SOAPAction: dispatch is on the body)."""
    return client.post(PATH, content=envelope(body, security), headers={"Content-Type": "text/xml"})


def payload(response: httpx.Response) -> etree._Element:
    """The Body's first child of a response."""
    body = etree.fromstring(response.content).find(f"{{{SOAP}}}Body")
    assert body is not None
    return body[0]


def fault(response: httpx.Response) -> tuple[str, str]:
    """(faultcode, MaLoi) of a fault response, after checking it is a proper SOAP fault."""
    assert response.status_code == 500 and response.headers["content-type"].startswith("text/xml")
    element = payload(response)
    assert element.tag == f"{{{SOAP}}}Fault" and element.findtext("faultstring")
    detail = element.find(f"detail/{NS}LoiChiTiet")
    assert detail is not None and detail.findtext(f"{NS}MoTa")
    return element.findtext("faultcode") or "", detail.findtext(f"{NS}MaLoi") or ""


def items(page: etree._Element) -> list[Item]:
    return [
        {child.tag.removeprefix(NS): child.text or "" for child in record}
        for record in page.iterfind(f"{NS}HoKinhDoanh")
    ]


def read_all(client: httpx.Client, since: str = EARLIEST, size: int = 1000) -> list[Item]:
    """Every business after ``since``: pages 1 to TongSoTrang, each valid against the contract's XSD."""
    found: list[Item] = []
    number, total = 1, 1
    while number <= total:
        response = call(client, request(since, number, size))
        assert response.status_code == 200, response.text
        page = payload(response)
        SCHEMA.assertValid(page)
        total = int(page.findtext(f"{NS}TongSoTrang") or "")
        assert int(page.findtext(f"{NS}SoTrang") or "") == number
        chunk = items(page)
        assert len(chunk) == size or number == total
        found += chunk
        number += 1
    return found


SCHEMA = etree.XMLSchema(etree.parse(str(XSD_PATH)))


def xs_utc(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def set_clock(client: httpx.Client, seconds: int) -> None:
    client.post("/population/_admin/clock", json={"to": xs_utc(seconds)}).raise_for_status()


def arm(client: httpx.Client, **rule: Any) -> None:
    client.post("/_admin/faults", json={"system": "household_business", **rule}).raise_for_status()


def rules_broken(item: Item, repeated: Counter[str]) -> set[str]:
    """The rules one delivered business breaks; ``repeated`` counts SoDangKy over the whole snapshot."""
    broken: set[str] = set()
    if not re.fullmatch(r"\d{2}A8\d{6}", item["SoDangKy"]):
        broken.add("registration_number_format")
    elif repeated[item["SoDangKy"]] > 1:
        broken.add("duplicate_conflict")
    if not item["TenHoKinhDoanh"].strip():
        broken.add("empty_name")
    if not is_well_formed(item["SoDinhDanhChuHo"]):
        broken.add("malformed_id")
    if item["MaXa"] not in COMMUNES:
        broken.add("unknown_commune")
    if item["NgayDangKy"] > item["ThoiDiemCapNhat"][:10]:  # the day in the registry's own time (+07:00)
        broken.add("future_registration_date")
    if item["TrangThai"] not in STATUSES:
        broken.add("unknown_status")
    return broken


# --- the contract ---------------------------------------------------------------------------


def test_wsdl_points_at_the_address_it_was_fetched_from(client: httpx.Client, server: MockServer) -> None:
    response = client.get(f"{PATH}?wsdl")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/xml")
    assert f'location="{server.base_url}{PATH}"' in response.text
    assert 'schemaLocation="?xsd=household_business.xsd"' in response.text
    xsd = client.get(f"{PATH}?xsd=household_business.xsd")
    assert xsd.status_code == 200 and xsd.content == XSD_PATH.read_bytes()
    assert b'targetNamespace="urn:lgsp:mock:household-business:v1"' in xsd.content
    assert client.get(f"{PATH}/").status_code == 200


class SameOriginTransport(Transport):
    """Loads WSDL imports from the WSDL's own origin only."""

    def __init__(self, origin: str, **options: Any) -> None:
        super().__init__(**options)
        self.origin = origin

    def load(self, url: str) -> bytes:
        if not url.startswith(self.origin + "/"):
            raise zeep.exceptions.ExternalReferenceForbidden(url)
        return bytes(super().load(url))


@pytest.mark.parametrize("digest", [False, True], ids=["PasswordText", "PasswordDigest"])
def test_zeep_loads_the_wsdl_and_calls_the_operation(server: MockServer, digest: bool) -> None:
    client = zeep.Client(
        f"{server.base_url}{PATH}?wsdl",
        wsse=UsernameToken(USERNAME, PASSWORD, use_digest=digest),
        transport=SameOriginTransport(server.base_url, operation_timeout=10, timeout=10),
        settings=zeep.Settings(forbid_dtd=True, forbid_entities=True),
    )
    first = client.service.DanhSachHoKinhDoanh(CapNhatTu=EARLIEST, SoTrang=1, KichThuocTrang=5)
    second = client.service.DanhSachHoKinhDoanh(CapNhatTu=EARLIEST, SoTrang=2, KichThuocTrang=5)
    expected = server.household_business.records()
    assert first.SoTrang == 1 and first.TongSoTrang == -(-len(expected) // 5)
    assert [b.SoDangKy for b in first.HoKinhDoanh + second.HoKinhDoanh] == [r.so_dang_ky for r in expected[:10]]
    business, record = first.HoKinhDoanh[0], expected[0]
    assert business.TenHoKinhDoanh == record.ten_ho_kinh_doanh and business.NgayDangKy == date.fromisoformat(
        record.ngay_dang_ky
    )
    assert business.ThoiDiemCapNhat.utcoffset().total_seconds() == 7 * 3600
    assert business.ThoiDiemCapNhat.timestamp() == record.thoi_diem_cap_nhat
    defaults = client.service.DanhSachHoKinhDoanh(CapNhatTu=EARLIEST)
    assert defaults.SoTrang == 1 and len(defaults.HoKinhDoanh) == 100


def test_zeep_sees_a_refusal_as_a_fault_with_its_code(server: MockServer) -> None:
    client = zeep.Client(f"{server.base_url}{PATH}?wsdl", wsse=UsernameToken(USERNAME, "wrong"))
    with pytest.raises(zeep.exceptions.Fault) as caught:
        client.service.DanhSachHoKinhDoanh(CapNhatTu=EARLIEST)
    assert caught.value.code == "soap:Client.Authentication"


# --- WS-Security ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "security",
    ["", text_token(password="wrong"), text_token(username="other"), digest_token(password="wrong")],
    ids=["none", "wrong-password", "wrong-user", "wrong-digest"],
)
def test_refused_credentials_are_an_authentication_fault(client: httpx.Client, security: str) -> None:
    response = call(client, request(), security)
    assert fault(response) == ("soap:Client.Authentication", "Authentication")
    assert b"HoKinhDoanh>" not in response.content and b"wrong" not in response.content


def test_a_digest_is_accepted_once_and_a_replay_refused(client: httpx.Client) -> None:
    token = digest_token(nonce=os.urandom(16))
    assert call(client, request(size=1), token).status_code == 200
    assert fault(call(client, request(size=1), token))[0] == "soap:Client.Authentication"


def test_credentials_come_from_the_settings(population: PopulationDataset, mock_settings: MockSettings) -> None:
    update = {"household_business_username": "hkd", "household_business_wsse": "digest"}
    server = MockServer(mock_settings.model_copy(update=update), population=population)
    with server as other, httpx.Client(base_url=other.base_url) as http:
        for refused in (text_token(), text_token(username="hkd"), digest_token(username="hkd")):  # no Timestamp
            assert fault(call(http, request(size=1), refused))[0] == "soap:Client.Authentication"
        assert call(http, request(size=1), digest_token(username="hkd", stamp=True)).status_code == 200


# --- paging and filtering -------------------------------------------------------------------


@pytest.mark.parametrize("size", [7, 1000])
def test_all_pages_together_are_every_business_once_in_order(
    client: httpx.Client, server: MockServer, size: int
) -> None:
    found = read_all(client, size=size)
    expected = server.household_business.records()
    assert found == items(etree.fromstring(f'<x xmlns="{NAMESPACE}">{"".join(map(ho_kinh_doanh, expected))}</x>'))
    duplicates = Counter(server.household_business.defects.values())["duplicate_conflict"]
    assert len(found) == RECORDS + duplicates
    keys = [(item["ThoiDiemCapNhat"], item["SoDangKy"]) for item in found]
    assert keys == sorted(keys)


def test_a_page_past_the_end_is_empty_and_echoes_its_number(client: httpx.Client) -> None:
    page = payload(call(client, request(page=99, size=100)))
    assert page.findtext(f"{NS}SoTrang") == "99" and page.findtext(f"{NS}TongSoTrang") == "2"
    assert items(page) == []
    nothing = payload(call(client, request(since="2030-01-01T00:00:00+07:00")))
    assert nothing.findtext(f"{NS}TongSoTrang") == "0" and items(nothing) == []


def test_cap_nhat_tu_is_strict_and_any_offset_works(client: httpx.Client) -> None:
    everything = read_all(client)
    middle = everything[len(everything) // 2]["ThoiDiemCapNhat"]
    later = read_all(client, since=middle)
    assert later == [item for item in everything if item["ThoiDiemCapNhat"] > middle]
    assert 0 < len(later) < len(everything)
    assert read_all(client, since=xs_utc(int(datetime.fromisoformat(middle).timestamp()))) == later


@pytest.mark.parametrize(
    "body",
    [
        "<h:DanhSachHoKinhDoanh><h:SoTrang>1</h:SoTrang></h:DanhSachHoKinhDoanh>",
        request(since="yesterday"),
        request(page=0),
        request(page="một"),
        request(size=0),
        request(size=1001),
        "<h:XoaHoKinhDoanh><h:SoDangKy>79A8000001</h:SoDangKy></h:XoaHoKinhDoanh>",
        f'<DanhSachHoKinhDoanh xmlns="urn:lgsp:mock:population:1"><CapNhatTu>{EARLIEST}</CapNhatTu>'
        "</DanhSachHoKinhDoanh>",
    ],
)
def test_bad_requests_are_invalid_request_faults(client: httpx.Client, body: str) -> None:
    response = call(client, body)
    assert fault(response) == ("soap:Client.InvalidRequest", "InvalidRequest")
    assert b"yesterday" not in response.content


def test_a_dtd_in_a_request_is_refused(client: httpx.Client) -> None:
    hostile = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>' + envelope(request())
    response = client.post(PATH, content=hostile, headers={"Content-Type": "text/xml"})
    assert fault(response)[0] == "soap:Client.InvalidRequest"


# --- the shared clock -----------------------------------------------------------------------


def test_the_population_clock_reveals_changes(client: httpx.Client, server: MockServer) -> None:
    before = read_all(client)
    last = before[-1]["ThoiDiemCapNhat"]
    set_clock(client, LATE)
    after = read_all(client)
    assert len(after) == len(before)  # every business once, its latest version
    changed = read_all(client, since=last)
    assert changed == [item for item in after if item["ThoiDiemCapNhat"] > last]
    assert {item["TrangThai"] for item in changed} >= {"TamNgung", "ChamDut"}


# --- data: rules and defects ----------------------------------------------------------------


@pytest.mark.parametrize("clock", [EPOCH, LATE])
def test_clean_businesses_keep_every_rule_and_each_defect_breaks_exactly_its_own(
    client: httpx.Client, server: MockServer, population: PopulationDataset, clock: int
) -> None:
    set_clock(client, clock)
    found = read_all(client)
    repeated = Counter(item["SoDangKy"] for item in found)
    truth = server.household_business.defects
    seen: Counter[str] = Counter()
    for item in found:
        kind = truth.get(item["SoDangKy"])
        assert rules_broken(item, repeated) == ({kind} if kind else set()), (item, kind)
        seen[kind or "clean"] += 1
        if kind is None:
            owner = population.citizen(item["SoDinhDanhChuHo"], NEVER)
            assert owner is not None and owner.ngay_sinh <= "2008-01-01"  # an adult resident of the population
            if owner.ngay_mat is not None and clock == LATE:
                assert item["TrangThai"] == "ChamDut"
    assert set(seen) == {*DEFECT_TYPES, "clean"}
    assert dict(seen) == {**server.household_business.defect_counts(clock), "clean": seen["clean"]}


def test_names_read_like_shop_signs(server: MockServer) -> None:
    names = [r.ten_ho_kinh_doanh for r in server.household_business.records() if r.ten_ho_kinh_doanh.strip()]
    trades = ("Tạp hóa", "Quán", "Tiệm", "Cửa hàng", "Cơ sở", "Nhà thuốc", "Đại lý")
    assert all(name.startswith(trades) and len(name.split()) >= 3 for name in names)
    assert len(set(names)) > len(names) * 0.8


def test_counts_follow_the_settings(population: PopulationDataset) -> None:
    default = HouseholdBusinessDataset.generate(population, 11, None, 0.0, 10)
    assert len(default.records()) == 800 // 10 and not default.defects
    with pytest.raises(ValueError, match="household_business_records=5000"):
        HouseholdBusinessDataset.generate(population, 11, 5000, 0.0, 10)


def test_same_settings_same_data_another_seed_other_data(population: PopulationDataset) -> None:
    def build(seed: int) -> HouseholdBusinessDataset:
        return HouseholdBusinessDataset.generate(population, seed, 100, 0.1, 10)

    first = build(11)
    assert list(first.versions) == list(build(11).versions) and dict(first.defects) == dict(build(11).defects)
    assert list(build(12).versions) != list(first.versions)


def test_same_seed_same_bytes(client: httpx.Client, population: PopulationDataset, server: MockServer) -> None:
    with MockServer(server.settings, population=population) as twin, httpx.Client(base_url=twin.base_url) as other:
        mine, theirs = call(client, request(page=2, size=50)), call(other, request(page=2, size=50))
        assert mine.status_code == 200 and mine.content == theirs.content


# --- faults ---------------------------------------------------------------------------------


def test_faults_come_before_authentication(client: httpx.Client) -> None:
    arm(client, fault="http_503", operation="DanhSachHoKinhDoanh")
    assert call(client, request(), "").status_code == 503
    arm(client, fault="soap_fault")
    assert fault(call(client, request())) == ("soap:Server.Unavailable", "Unavailable")
    arm(client, fault="http_429")
    limited = call(client, request())
    assert limited.status_code == 429 and limited.headers["retry-after"] == "7"
    assert call(client, request(size=1)).status_code == 200


def test_broken_bodies_do_not_parse(client: httpx.Client) -> None:
    for kind in ("malformed_xml", "truncated_xml"):
        arm(client, fault=kind)
        response = call(client, request(size=20))
        assert response.status_code == 200
        with pytest.raises(etree.XMLSyntaxError):
            etree.fromstring(response.content)
    arm(client, fault="dtd_entity")
    assert b"<!ENTITY" in call(client, request()).content


def test_rules_for_another_system_leave_this_one_alone(client: httpx.Client) -> None:
    client.post("/_admin/faults", json={"fault": "http_500", "system": "social_insurance"}).raise_for_status()
    assert call(client, request(size=1)).status_code == 200
