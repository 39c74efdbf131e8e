"""The declared connector over SOAP: paging styles, WS-Security and the mapping, against a real loopback peer.

The peer serves a small WSDL (``tests/data/declared_soap.wsdl``: one operation per
paging style) and answers envelopes it parses with lxml, checking the UsernameToken as
a real peer does; the declarations are built in the tests.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.declared import DeclaredPage, DeclaredSource
from connectors.digest import content_hash_of
from lgsp.declaration import Auth, SystemDecl
from lgsp.errors import ConfigError, FatalSourceError
from lgsp.serving import ThreadedServer

WSDL = Path(__file__).resolve().parents[1] / "data" / "declared_soap.wsdl"
NS = "urn:lgsp:test:registry:1"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
LOGIN, PASSWORD = "lgsp-demo", "demo-Only-Password-7"
PERSONAL_ID = "001085000123"
SINCE = datetime(2025, 8, 1, 10, 30)


def ban(n: int) -> str:
    """Record ``n`` as the peer writes it; prefixes vary (the mapper reads local names), record 3 has a nil date."""
    nil = f'<t:NgayDangKy xsi:nil="true" xmlns:xsi="{XSI}"/>'
    registered = nil if n == 3 else f"<NgayDangKy>2020-05-1{n % 10}</NgayDangKy>"
    return (
        f'<Ban xmlns="{NS}" xmlns:t="{NS}"><MaSo>R{n:04d}</MaSo><t:SoDinhDanh>{PERSONAL_ID}</t:SoDinhDanh>'
        f"<SoLan>007</SoLan>{registered}<!-- a peer's comment --><NgayCapNhat>2025-08-01T17:00:00+07:00</NgayCapNhat>"
        f"<ConHieuLuc>Co</ConHieuLuc><DiaChi><MaXa>00070</MaXa></DiaChi></Ban>"
    )


@dataclass
class Peer:
    """The knobs a test turns, and what the peer saw."""

    rows: int = 7
    total: Any = "count"  # "count": the truth; None: left out; anything else: written as is
    loop: bool = False
    repeat_cursor: bool = False
    odd_record: str | None = None  # replaces record 1's XML
    requests: list[dict[str, str]] = field(default_factory=list)  # operation + its parts, per call
    password_types: list[str] = field(default_factory=list)

    def records(self, start: int, size: int) -> str:
        chunk = [ban(n) for n in range(start, min(start + size, self.rows))]
        if self.odd_record is not None and start <= 1 < start + len(chunk):
            chunk[1 - start] = self.odd_record
        return "".join(chunk)

    def total_element(self, name: str, count: int) -> str:
        if self.total is None:
            return ""
        return f"<{name}>{count if self.total == 'count' else self.total}</{name}>"


def envelope(body: str) -> bytes:
    return f'<soap:Envelope xmlns:soap="{SOAP_ENV}"><soap:Body>{body}</soap:Body></soap:Envelope>'.encode()


def fault(code: str) -> Response:
    body = f"<soap:Fault><faultcode>soap:{code}</faultcode><faultstring>refused</faultstring></soap:Fault>"
    return Response(envelope(body), status_code=500, media_type="text/xml; charset=utf-8")


def authenticated(peer: Peer, header: etree._Element | None) -> bool:
    token = None if header is None else header.find(f"{{{WSSE}}}Security/{{{WSSE}}}UsernameToken")
    if token is None or token.findtext(f"{{{WSSE}}}Username") != LOGIN:
        return False
    password = token.find(f"{{{WSSE}}}Password")
    if password is None:
        return False
    kind = (password.get("Type") or "").rpartition("#")[2]
    peer.password_types.append(kind)
    if kind == "PasswordText":
        return password.text == PASSWORD
    nonce = base64.b64decode(token.findtext(f"{{{WSSE}}}Nonce") or "")
    created = token.findtext(f"{{{WSU}}}Created") or ""
    expected = base64.b64encode(hashlib.sha1(nonce + created.encode() + PASSWORD.encode()).digest()).decode()
    return password.text == expected


def answer(peer: Peer, operation: str, parts: dict[str, str]) -> str:
    size = int(parts.get("KichThuocTrang", "3"))
    if operation == "DanhSachTrang":
        page = 1 if peer.loop else int(parts["SoTrang"])
        count = -(-peer.rows // size)
        return (
            f'<DanhSachTrangResponse xmlns="{NS}">{peer.total_element("TongSoTrang", count)}<SoTrang>{page}</SoTrang>'
            f"{peer.records((page - 1) * size, size)}</DanhSachTrangResponse>"
        )
    if operation == "DanhSachViTri":
        offset = 0 if peer.loop else int(parts["ViTri"])
        return (
            f'<DanhSachViTriResponse xmlns="{NS}">{peer.total_element("TongSo", peer.rows)}'
            f"{peer.records(offset, size)}</DanhSachViTriResponse>"
        )
    at = int(parts.get("MaTiepTheo") or "0")
    following = at + 3 if at + 3 < peer.rows else None
    if peer.repeat_cursor and at == 3:
        following = 3
    token = "" if following is None else f"<MaTiepTheo>{following}</MaTiepTheo>"
    return (
        f'<r:DanhSachTheoMaResponse xmlns:r="{NS}"><r:KetQua>{peer.records(at, 3)}</r:KetQua>{token}'
        "</r:DanhSachTheoMaResponse>"
    )


def build(peer: Peer) -> Starlette:
    async def registry(request: Request) -> Response:
        if request.method == "GET":
            return Response(WSDL.read_bytes(), media_type="text/xml; charset=utf-8")
        root = etree.fromstring(await request.body(), parser=etree.XMLParser(resolve_entities=False, no_network=True))
        call = root.find(f"{{{SOAP_ENV}}}Body")[0]
        operation = etree.QName(call).localname
        parts = {etree.QName(child).localname: child.text or "" for child in call}
        peer.requests.append({"operation": operation, **parts})
        if not authenticated(peer, root.find(f"{{{SOAP_ENV}}}Header")):
            return fault("Client.Authentication")
        return Response(envelope(answer(peer, operation, parts)), media_type="text/xml; charset=utf-8")

    return Starlette(routes=[Route("/registry", registry, methods=["GET", "POST"])])


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, list[Peer]]]:
    holder = [Peer()]

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await build(holder[0])(scope, receive, send)

    with ThreadedServer(app, name="declared-soap") as running:
        yield f"{running.base_url}/registry", holder


@pytest.fixture
def peer(server: tuple[str, list[Peer]]) -> Peer:
    holder = server[1]
    holder[0] = Peer()
    return holder[0]


@pytest.fixture
def url(server: tuple[str, list[Peer]]) -> str:
    return server[0]


FIELDS: dict[str, Any] = {
    "number": "MaSo",
    "personal_id": {"from": "SoDinhDanh", "type": "personal_id"},
    "visits": {"from": "SoLan", "type": "integer"},
    "registered_on": {"from": "NgayDangKy", "type": "date"},
    "updated_at": {"from": "NgayCapNhat", "type": "datetime"},
    "active": {"from": "ConHieuLuc", "type": "boolean", "map": {"Co": "true", "Khong": "false"}},
    "commune": {"from": "DiaChi/MaXa", "type": "commune"},
}

PAGED = {
    "operation": "DanhSachTrang",
    "input": {"CapNhatTu": "{cursor}", "KichThuocTrang": "{page_size}"},
    "records": "Ban",
    "next": {"page": "SoTrang", "total": "TongSoTrang"},
}


def declare(stream: dict[str, Any], wsse: dict[str, Any] | None = None) -> SystemDecl:
    base = {"cursor": {"field": "updated_at"}, "dataset": "registry_entry", "key": "number", "fields": FIELDS}
    return SystemDecl.model_validate(
        {
            "system": "test_registry",
            "title": {"vi": "Sổ thử", "en": "Test registry"},
            "owner": "Tests",
            "connection": "test_registry",
            "soap": {"auth": {"wsse_username_token": wsse or {}}},
            "streams": {"entries": {**base, **stream}},
        }
    )


def source(url: str, decl: SystemDecl, **options: Any) -> DeclaredSource:
    settings: dict[str, Any] = {
        "url": url,
        "login": LOGIN,
        "password": SecretStr(PASSWORD),
        "timeout": 5.0,
        "max_attempts": 1,
        "backoff": 0.01,
        "max_body_bytes": 1_000_000,
        "page_size": 3,
        **options,
    }
    return DeclaredSource(decl, "entries", **settings)


def read(url: str, decl: SystemDecl, **options: Any) -> list[DeclaredPage]:
    with source(url, decl, **options) as src:
        return list(src.changed_since(SINCE))


def numbers(pages: list[DeclaredPage]) -> list[str | None]:
    return [r.fields["number"] for page in pages for r in page.records]


EVERY_ROW = [f"R{n:04d}" for n in range(7)]


def test_page_numbers_until_the_total_page_count(peer: Peer, url: str) -> None:
    pages = read(url, declare(PAGED))
    assert [p.number for p in pages] == [1, 2, 3] and numbers(pages) == EVERY_ROW
    assert [(r["SoTrang"], r["KichThuocTrang"], r["CapNhatTu"]) for r in peer.requests] == [
        (str(n), "3", "2025-08-01T10:30:00Z") for n in (1, 2, 3)
    ]
    assert peer.password_types == ["PasswordDigest"] * 3  # the declared default
    first = pages[0].records[0]
    assert first.rejection is None
    assert first.fields == {
        "number": "R0000",
        "personal_id": PERSONAL_ID,
        "visits": "7",
        "registered_on": "2020-05-10",
        "updated_at": "2025-08-01T10:00:00",
        "active": "true",
        "commune": "00070",
    }
    # The content: every field but the key and the cursor (a re-delivery at a newer time is unchanged).
    content = tuple(name for name in FIELDS if name not in ("number", "updated_at"))
    assert first.content_hash == content_hash_of(first.fields, content)
    assert etree.fromstring(first.payload.encode()).findtext(f"{{{NS}}}MaSo") == "R0000"
    nil = pages[1].records[0]
    assert nil.fields["number"] == "R0003" and nil.fields["registered_on"] is None and nil.rejection is None
    assert pages[0].stats.status == 200 and pages[0].stats.seconds > 0 and pages[0].stats.total == "3"


def test_the_text_password_travels_only_when_declared(peer: Peer, url: str) -> None:
    assert numbers(read(url, declare(PAGED, {"password": "text"}))) == EVERY_ROW
    assert set(peer.password_types) == {"PasswordText"}


def test_a_wrong_password_is_fatal(peer: Peer, url: str) -> None:
    with pytest.raises(FatalSourceError, match=r"SOAP Fault Client\.Authentication") as caught:
        read(url, declare(PAGED), password=SecretStr("wrong"))
    assert caught.value.fault_code == "Client.Authentication" and len(peer.requests) == 1


def test_a_page_beyond_the_total_is_never_asked_for(peer: Peer, url: str) -> None:
    peer.rows, peer.total = 30, 2
    assert len(read(url, declare(PAGED))) == 2 and len(peer.requests) == 2


def test_the_empty_listing(peer: Peer, url: str) -> None:
    peer.rows = 0
    pages = read(url, declare(PAGED))
    assert len(pages) == 1 and pages[0].records == []


@pytest.mark.parametrize("total", ["nhiều", "-1", None])
def test_a_total_that_is_not_a_count_is_a_contract_error(peer: Peer, url: str, total: Any) -> None:
    peer.total = total
    with pytest.raises(FatalSourceError, match=r"total \(pages\) at 'TongSoTrang' is (not a non-negative|missing)"):
        read(url, declare(PAGED))


def test_a_looping_peer_and_max_pages(peer: Peer, url: str) -> None:
    peer.loop = True
    with pytest.raises(FatalSourceError, match="page 2 is the same as page 1"):
        read(url, declare(PAGED))
    peer.loop, peer.rows = False, 30
    with pytest.raises(FatalSourceError, match="max_pages=3"):
        read(url, declare(PAGED), max_pages=3)


def test_cursor_paging_with_a_date_cursor_and_a_nested_records_path(peer: Peer, url: str) -> None:
    decl = declare(
        {
            "operation": "DanhSachTheoMa",
            "input": {"CapNhatTu": "{cursor}"},
            "records": "KetQua/Ban",
            "next": {"cursor": "MaTiepTheo", "param": "MaTiepTheo"},
            "cursor": {"field": "registered_on"},
        }
    )
    assert numbers(read(url, decl)) == EVERY_ROW
    assert [(r["CapNhatTu"], r.get("MaTiepTheo")) for r in peer.requests] == [
        ("2025-08-01", None),
        ("2025-08-01", "3"),
        ("2025-08-01", "6"),
    ]
    peer.rows, peer.repeat_cursor = 30, True
    with pytest.raises(FatalSourceError, match="repeated cursor"):
        read(url, decl)


OFFSETS = {
    "operation": "DanhSachViTri",
    "input": {"CapNhatTu": "{cursor}", "KichThuocTrang": "{page_size}"},
    "records": "Ban",
    "next": {"offset": "ViTri", "total": "TongSo"},
}


def test_offset_paging(peer: Peer, url: str) -> None:
    assert numbers(read(url, declare(OFFSETS))) == EVERY_ROW
    assert [r["ViTri"] for r in peer.requests] == ["0", "3", "6"]
    peer.total, peer.requests = None, []
    assert numbers(read(url, declare({**OFFSETS, "next": {"offset": "ViTri"}}))) == EVERY_ROW
    assert len(peer.requests) == 3  # the short third page ends it


def test_type_errors_reject_the_record_and_never_quote_the_value(peer: Peer, url: str) -> None:
    peer.odd_record = ban(1).replace("<SoLan>007</SoLan>", "<SoLan>bảy</SoLan>")
    rejected = read(url, declare(PAGED))[0].records[1]
    assert rejected.rejection is not None and str(rejected.rejection) == "contract.valid: SoLan is not an integer"
    assert rejected.fields["visits"] is None and rejected.fields["number"] == "R0001"
    assert rejected.content_hash == content_hash_of({"payload": rejected.payload}, ("payload",))
    assert "bảy" in rejected.payload and "bảy" not in str(rejected.rejection)
    peer.odd_record = ban(1).replace("+07:00", "")
    rejected = read(url, declare(PAGED))[0].records[1]
    assert str(rejected.rejection) == "contract.valid: NgayCapNhat is not a datetime"


def test_the_probe_samples_one_page(peer: Peer, url: str) -> None:
    peer.rows = 30
    with source(url, declare(PAGED)) as src:
        sample = list(src.pages(SINCE, max_pages=1))
    assert len(sample) == 1 and len(peer.requests) == 1 and sample[0].stats.status == 200


def test_rest_auth_on_a_soap_system_is_a_config_error(url: str) -> None:
    decl = declare(PAGED).model_copy(update={"soap": declare(PAGED).soap.model_copy(update={"auth": Auth(basic={})})})
    with pytest.raises(ConfigError, match="a SOAP system authenticates with wsse_username_token"):
        source(url, decl)


def test_closing_the_source_closes_the_soap_endpoints_connections(peer: Peer, url: str) -> None:
    src = source(url, declare(PAGED))
    assert len(list(src.changed_since(SINCE))) == 3
    session = src._soap_client()._client.transport.session
    pools = session.get_adapter(url).poolmanager.pools
    assert len(pools) == 1  # the keep-alive connection the listing used
    src.close()
    assert len(pools) == 0
