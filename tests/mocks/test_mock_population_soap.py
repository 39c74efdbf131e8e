"""The population mock over real HTTP: contract, operations, paging, clock, security."""

from __future__ import annotations

import base64
import hashlib
import os
import time
from typing import Any

import httpx
import pytest
import zeep
from lxml import etree
from mock_soap_helpers import (
    NS,
    PASSWORD,
    USERNAME,
    WSSE,
    call,
    envelope,
    fault,
    get_citizen,
    key,
    list_changed,
    page_through,
    payload,
    verify_citizen,
)
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from mocks.clock import DAY, EPOCH
from mocks.population.dataset import PopulationDataset
from mocks.population.record import format_timestamp
from mocks.server import MockServer
from mocks.settings import MockSettings


def clean_id(population: PopulationDataset) -> str:
    return next(v.so_dinh_danh for v in population.versions if v.so_dinh_danh not in population.defects)


# --- contract ---------------------------------------------------------------------


def test_wsdl_points_at_the_address_it_was_fetched_from(client: httpx.Client, server: MockServer) -> None:
    response = client.get("/population?wsdl")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/xml")
    assert f'location="{server.base_url}/population"' in response.text
    assert 'schemaLocation="?xsd=population.xsd"' in response.text
    xsd = client.get("/population?xsd=population.xsd")
    assert xsd.status_code == 200 and b'targetNamespace="urn:lgsp:mock:population:1"' in xsd.content


class SameOriginTransport(Transport):
    """Loads WSDL imports from the WSDL's own origin only: SSRF-safe without forbid_external."""

    def __init__(self, origin: str, **options: Any) -> None:
        super().__init__(**options)
        self.origin = origin

    def load(self, url: str) -> bytes:
        if not url.startswith(self.origin + "/"):
            raise zeep.exceptions.ExternalReferenceForbidden(url)
        return bytes(super().load(url))


def zeep_client(server: MockServer, digest: bool = False) -> zeep.Client:
    # forbid_external would refuse the contract's own XSD import (see the test below).
    settings = zeep.Settings(forbid_dtd=True, forbid_entities=True, forbid_external=False)
    return zeep.Client(
        f"{server.base_url}/population?wsdl",
        wsse=UsernameToken(USERNAME, PASSWORD, use_digest=digest),
        transport=SameOriginTransport(server.base_url, operation_timeout=10, timeout=10),
        settings=settings,
    )


def test_plain_zeep_loads_the_wsdl(server: MockServer) -> None:
    client = zeep.Client(f"{server.base_url}/population?wsdl", wsse=UsernameToken(USERNAME, PASSWORD))
    assert client.service.ListChangedCitizens(Since="2000-01-01T00:00:00Z", PageSize=1).NextPageToken


def test_forbid_external_refuses_the_contracts_xsd_import(server: MockServer) -> None:
    """Known contract/client mismatch: the WSDL imports its XSD over HTTP (?xsd=population.xsd),
    a transitive load that zeep's forbid_external=True refuses. Clients need a same-origin
    transport (as above) or a contract with the schema inlined."""
    settings = zeep.Settings(forbid_dtd=True, forbid_entities=True, forbid_external=True)
    with pytest.raises(zeep.exceptions.ExternalReferenceForbidden):
        zeep.Client(f"{server.base_url}/population?wsdl", settings=settings)


@pytest.mark.parametrize("digest", [False, True], ids=["PasswordText", "PasswordDigest"])
def test_zeep_loads_the_wsdl_and_calls_every_operation(
    server: MockServer, population: PopulationDataset, digest: bool
) -> None:
    service = zeep_client(server, digest).service
    record = population.citizen(clean_id(population), EPOCH)
    assert record is not None
    citizen = service.GetCitizen(SoDinhDanh=record.so_dinh_danh)
    assert citizen.HoVaTen == record.ho_va_ten and citizen.NoiThuongTru.MaXa == record.ma_xa
    verdict = service.VerifyCitizen(
        SoDinhDanh=record.so_dinh_danh, HoVaTen=f"  {record.ho_va_ten.upper()} ", NgaySinh=record.ngay_sinh
    )
    assert (verdict.TonTai, verdict.KhopHoTen, verdict.KhopNgaySinh) == (True, True, True)
    page = service.ListChangedCitizens(Since="2000-01-01T00:00:00Z", PageSize=5)
    assert len(page.CongDan) == 5 and page.NextPageToken
    following = service.ListChangedCitizens(Since="2000-01-01T00:00:00Z", PageSize=5, PageToken=page.NextPageToken)
    first_ten = [v.so_dinh_danh for v in population.visible(EPOCH)][:10]
    assert [c.SoDinhDanh for c in page.CongDan + following.CongDan] == first_ten


def test_zeep_sees_faults_with_their_code(server: MockServer) -> None:
    with pytest.raises(zeep.exceptions.Fault) as caught:
        zeep_client(server).service.GetCitizen(SoDinhDanh="001099000000")
    assert caught.value.code == "soap:Client.NotFound"


# --- operations -------------------------------------------------------------------


def test_get_citizen_returns_the_record(client: httpx.Client, population: PopulationDataset) -> None:
    record = population.citizen(clean_id(population), EPOCH)
    assert record is not None
    response = call(client, get_citizen(record.so_dinh_danh))
    assert response.status_code == 200
    element = payload(response).find(f"{NS}CongDan")
    assert element is not None
    assert element.findtext(f"{NS}HoVaTen") == record.ho_va_ten
    assert element.findtext(f"{NS}NgayCapNhat") == format_timestamp(record.ngay_cap_nhat)


def test_unknown_citizen_is_a_not_found_fault_without_the_id(client: httpx.Client) -> None:
    response = call(client, get_citizen("001099123456"))
    assert fault(response) == ("soap:Client.NotFound", "NotFound")
    assert b"001099123456" not in response.content


def test_verify_citizen_compares_name_and_birth_date(client: httpx.Client, population: PopulationDataset) -> None:
    record = population.citizen(clean_id(population), EPOCH)
    assert record is not None

    def verdict(name: str, birth: str, personal_id: str = record.so_dinh_danh) -> list[str | None]:
        element = payload(call(client, verify_citizen(personal_id, name, birth)))
        return [element.findtext(f"{NS}{tag}") for tag in ("TonTai", "KhopHoTen", "KhopNgaySinh")]

    spaced = "  " + "   ".join(record.ho_va_ten.lower().split()) + " "
    assert verdict(spaced, record.ngay_sinh) == ["true", "true", "true"]
    assert verdict("Nguyễn Văn Khác", "1900-01-01") == ["true", "false", "false"]
    assert verdict(record.ho_va_ten, record.ngay_sinh, "001099123456") == ["false", "false", "false"]
    assert fault(call(client, verify_citizen(record.so_dinh_danh, "x", "not-a-date")))[1] == "InvalidRequest"


# --- paging -----------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 7, 1000])
def test_paging_returns_every_visible_record_once_in_order(
    client: httpx.Client, population: PopulationDataset, size: int
) -> None:
    records = page_through(client, size)
    keys = [key(r) for r in records]
    expected = [(format_timestamp(v.ngay_cap_nhat), v.so_dinh_danh) for v in population.visible(EPOCH)]
    assert keys == expected and keys == sorted(keys)
    duplicated = [k for k, kind in population.defects.items() if kind == "duplicate_conflict"]
    ids = [k[1] for k in keys]
    assert all(ids.count(d) == 2 for d in duplicated)
    assert len(set(ids)) == population.citizens


def test_since_is_strict_and_filters(client: httpx.Client, population: PopulationDataset) -> None:
    visible = list(population.visible(EPOCH))
    pivot = visible[len(visible) // 2].ngay_cap_nhat
    since = format_timestamp(pivot)
    records = page_through(client, 100, since=since)
    assert records and all(key(r)[0] > since for r in records)
    assert len(records) == sum(v.ngay_cap_nhat > pivot for v in visible)
    offset = since.replace("Z", "+07:00")  # the same instant seven hours earlier, in another zone
    assert len(page_through(client, 100, since=offset)) > len(records)


def test_bad_page_requests_are_invalid(client: httpx.Client) -> None:
    first = payload(call(client, list_changed(size=2)))
    token = first.findtext(f"{NS}NextPageToken")
    assert token
    for body in (
        list_changed(size=1001),
        list_changed(size=0),
        list_changed(token="bm90LWEtdG9rZW4"),
        list_changed(token=token[:-2] + ("AA" if not token.endswith("AA") else "BB"), size=2),
        list_changed(since="2001-01-01T00:00:00Z", token=token, size=2),  # a token of another query
        list_changed(since="yesterday"),
    ):
        assert fault(call(client, body)) == ("soap:Client.InvalidRequest", "InvalidRequest")


def test_default_page_size_is_100(client: httpx.Client) -> None:
    assert len(payload(call(client, list_changed())).findall(f"{NS}CongDan")) == 100


# --- clock ------------------------------------------------------------------------


def test_advancing_the_clock_reveals_the_change_feed(client: httpx.Client, population: PopulationDataset) -> None:
    assert client.get("/population/_admin/clock").json() == {"now": "2026-01-01T00:00:00Z"}
    assert page_through(client, 1000, since="2026-01-01T00:00:00Z") == []
    moved = client.post("/population/_admin/clock", json={"advance_days": 3})
    assert moved.json() == {"now": "2026-01-04T00:00:00Z"}
    changed = page_through(client, 50, since="2026-01-01T00:00:00Z")
    expected = [v for v in population.visible(EPOCH + 3 * DAY) if v.ngay_cap_nhat > EPOCH]
    assert [key(r)[1] for r in changed] == [v.so_dinh_danh for v in expected] and expected
    latest = expected[-1]
    element = payload(call(client, get_citizen(latest.so_dinh_danh))).find(f"{NS}CongDan")
    assert element is not None and element.findtext(f"{NS}NgayCapNhat") == format_timestamp(latest.ngay_cap_nhat)
    # A full read at the later clock holds each citizen once, in its newest version.
    everyone = page_through(client, 1000)
    assert len(everyone) == population.citizens + sum(k == "duplicate_conflict" for k in population.defects.values())
    client.post("/population/_admin/clock", json={"to": "2026-01-01T00:00:00Z"})
    assert page_through(client, 1000, since="2026-01-01T00:00:00Z") == []


def test_clock_refuses_nonsense(client: httpx.Client) -> None:
    assert client.post("/population/_admin/clock", json={}).status_code == 422
    assert client.post("/population/_admin/clock", json={"to": "soon"}).status_code == 422


# --- security -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "auth",
    [{"username": None}, {"password": "wrong"}, {"username": "someone-else"}, {"password": ""}],
    ids=["no-header", "wrong-password", "wrong-user", "empty-password"],
)
def test_authentication_failures_fault_and_leak_nothing(
    client: httpx.Client, population: PopulationDataset, auth: dict[str, str | None]
) -> None:
    personal_id = clean_id(population)
    for body in (get_citizen(personal_id), list_changed(), verify_citizen(personal_id, "x", "2000-01-01")):
        response = call(client, body, **auth)
        assert fault(response) == ("soap:Client.Authentication", "Authentication")
        assert b"CongDan" not in response.content and personal_id.encode() not in response.content


XXE = b'<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>' + envelope(
    get_citizen("&xxe;")
)
LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        f'<!ENTITY lol{n} "{("&lol" + (str(n - 1) if n > 1 else "") + ";") * 10}">'.encode() for n in range(1, 10)
    )
    + b"]>"
    + envelope(get_citizen("&lol9;"))
)


@pytest.mark.parametrize("attack", [XXE, LAUGHS], ids=["xxe", "billion-laughs"])
def test_requests_with_a_dtd_are_refused(client: httpx.Client, attack: bytes) -> None:
    started = time.perf_counter()
    response = client.post("/population", content=attack, headers={"Content-Type": "text/xml"})
    assert fault(response) == ("soap:Client.InvalidRequest", "InvalidRequest")
    assert b"root:" not in response.content and b"lollol" not in response.content
    assert len(response.content) < 2000 and time.perf_counter() - started < 2


def test_a_dtd_hidden_in_utf16_is_refused_too(client: httpx.Client) -> None:
    attack = XXE.replace(b'<?xml version="1.0"?>', b'<?xml version="1.0" encoding="UTF-16"?>')
    response = client.post("/population", content=attack.decode().encode("utf-16"))
    assert fault(response)[1] == "InvalidRequest"
    assert b"root:" not in response.content


def test_oversized_and_malformed_requests(client: httpx.Client) -> None:
    big = envelope(get_citizen("1" * 20)).replace(b"<soap:Body>", b"<soap:Body><!--" + b"x" * 1_100_000 + b"-->")
    assert client.post("/population", content=big).status_code == 413
    for junk in (b"not xml", b"<a><b></a>", b"<Envelope/>", envelope("")):
        assert fault(client.post("/population", content=junk))[1] == "InvalidRequest"
    assert fault(call(client, "<p:DropTables/>"))[1] == "InvalidRequest"


# --- determinism across servers -----------------------------------------------------


def test_same_seed_serves_byte_identical_pages() -> None:
    settings = MockSettings(citizens=300, seed=5, feed_days=2)
    bodies = []
    for _ in range(2):
        with MockServer(settings) as server, httpx.Client(base_url=server.base_url) as http:
            first = call(http, list_changed(size=50))
            token = payload(first).findtext(f"{NS}NextPageToken")
            bodies.append(first.content + call(http, list_changed(size=50, token=token)).content)
    assert bodies[0] == bodies[1]
    assert etree.fromstring(bodies[0][: bodies[0].index(b"</soap:Envelope>") + 16]) is not None


# --- WS-Security: digest, nonce, timestamp -------------------------------------------

WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
PROFILE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"


def xs_datetime(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def digest_envelope(
    body: str,
    *,
    password: str = PASSWORD,
    nonce: bytes | None = None,
    created: float | None = None,
    stamp: tuple[float, float] | None = None,
) -> bytes:
    """A request with a PasswordDigest token (fresh unless told) and, if given, a wsu:Timestamp (Created, Expires)."""
    nonce = nonce if nonce is not None else os.urandom(16)
    created_text = xs_datetime(created if created is not None else time.time())
    digest = base64.b64encode(hashlib.sha1(nonce + created_text.encode() + password.encode()).digest()).decode()
    timestamp = ""
    if stamp is not None:
        timestamp = (
            f"<wsu:Timestamp><wsu:Created>{xs_datetime(stamp[0])}</wsu:Created>"
            f"<wsu:Expires>{xs_datetime(stamp[1])}</wsu:Expires></wsu:Timestamp>"
        )
    header = (
        f'<soap:Header><wsse:Security xmlns:wsse="{WSSE}" xmlns:wsu="{WSU}">{timestamp}<wsse:UsernameToken>'
        f'<wsse:Username>{USERNAME}</wsse:Username><wsse:Password Type="{PROFILE}#PasswordDigest">{digest}'
        f"</wsse:Password><wsse:Nonce>{base64.b64encode(nonce).decode()}</wsse:Nonce>"
        f"<wsu:Created>{created_text}</wsu:Created></wsse:UsernameToken></wsse:Security></soap:Header>"
    )
    return envelope(body, username=None).replace(b"<soap:Body>", header.encode() + b"<soap:Body>", 1)


def post(client: httpx.Client, request: bytes) -> httpx.Response:
    return client.post("/population", content=request, headers={"Content-Type": "text/xml"})


def refused(response: httpx.Response) -> bool:
    return fault(response) == ("soap:Client.Authentication", "Authentication")


def test_a_replayed_digest_is_refused(client: httpx.Client, population: PopulationDataset) -> None:
    request = digest_envelope(get_citizen(clean_id(population)))
    assert post(client, request).status_code == 200
    replayed = post(client, request)  # the same nonce, still within the freshness window
    assert refused(replayed) and b"CongDan" not in replayed.content
    assert post(client, digest_envelope(get_citizen(clean_id(population)))).status_code == 200  # a new nonce


def test_a_stale_or_expired_timestamp_is_refused(client: httpx.Client, population: PopulationDataset) -> None:
    body, now = get_citizen(clean_id(population)), time.time()
    assert refused(post(client, digest_envelope(body, stamp=(now - 3600, now - 3300))))  # stale
    assert refused(post(client, digest_envelope(body, stamp=(now - 200, now - 120))))  # expired two minutes ago
    assert refused(post(client, digest_envelope(body, stamp=(now + 3600, now + 3900))))  # from the future
    assert refused(post(client, digest_envelope(body, created=now - 3600, stamp=(now, now + 300))))  # stale Created
    assert post(client, digest_envelope(body, stamp=(now, now + 300))).status_code == 200


def test_a_peer_configured_for_the_digest_refuses_text_and_wants_a_timestamp(
    population: PopulationDataset, mock_settings: MockSettings
) -> None:
    strict = mock_settings.model_copy(update={"population_wsse": "digest"})
    body, now = get_citizen(clean_id(population)), time.time()
    with MockServer(strict, population=population) as running, httpx.Client(base_url=running.base_url) as http:
        assert refused(call(http, body))  # PasswordText, the right password
        assert refused(post(http, digest_envelope(body)))  # a right digest, but no Timestamp
        assert refused(post(http, digest_envelope(body, password="wrong", stamp=(now, now + 300))))  # wrong digest
        assert post(http, digest_envelope(body, stamp=(now, now + 300))).status_code == 200
