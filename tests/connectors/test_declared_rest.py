"""The declared connector over REST: every paging style and auth kind, against a real loopback API.

The API below serves one small listing of records in each paging style, checks the
credentials the test asks for, and remembers what it was sent; the declarations are
built in the tests, as a province would write them.
"""

from __future__ import annotations

import base64
import logging
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors.declared import DeclaredPage, DeclaredSource
from connectors.digest import content_hash_of
from lgsp.declaration import SystemDecl
from lgsp.errors import ConfigError, FatalSourceError
from lgsp.serving import ThreadedServer

LOGIN, PASSWORD = "lgsp-client", "s3cret-Pass-Value-42"
API_KEY = "key-Zq81-very-secret"
PERSONAL_ID = "001085000123"
SINCE = datetime(2025, 8, 1, 10, 30)


def record(n: int) -> dict[str, Any]:
    """One wire record, in the Vietnamese the peer speaks."""
    return {
        "MaSo": f"R{n:04d}",
        "SoDinhDanh": PERSONAL_ID,
        "SoTien": "1250.50",
        "NgayBatDau": "2024-01-15",
        "NgayCapNhat": "2025-08-01T17:00:00+07:00",
        "TrangThai": "DangHoatDong",
        "DiaChi": {"MaXa": "00070"},
    }


@dataclass
class Api:
    """The knobs a test turns, and what the API saw."""

    rows: int = 7
    auth: str = "none"  # none | header | query | basic | bearer
    total: Any = "count"  # "count": the truth; None: leave it out; anything else: sent as is
    loop: bool = False  # page/offset: ignore the paging parameter
    repeat_cursor: bool = False
    link_to: str | None = None  # link style: where page 2's link points (None: a relative link of our own)
    records_key: str = "data"
    odd_record: Any = None  # replaces the second record
    calls: list[tuple[str, dict[str, str], Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)

    def page(self, start: int, size: int) -> list[Any]:
        chunk: list[Any] = [record(n) for n in range(start, min(start + size, self.rows))]
        if self.odd_record is not None and start <= 1 < start + size and len(chunk) > 1:
            chunk[1 - start] = self.odd_record
        return chunk


def build(api: Api) -> Starlette:
    def refused(request: Request) -> Response | None:
        headers = request.headers
        ok = {
            "none": True,
            "header": headers.get("x-api-key") == API_KEY,
            "query": request.query_params.get("key") == API_KEY,
            "basic": headers.get("authorization")
            == "Basic " + base64.b64encode(f"{LOGIN}:{PASSWORD}".encode()).decode(),
            "bearer": headers.get("authorization", "").removeprefix("Bearer ") in api.tokens,
        }[api.auth]
        return None if ok else JSONResponse({"title": "Unauthorized"}, status_code=401)

    async def seen(request: Request) -> Response | None:
        body = await request.json() if request.method == "POST" else None
        api.calls.append((request.url.path, dict(request.query_params), body))
        api.headers.append(dict(request.headers))
        return refused(request)

    def size_of(request: Request, body: Any = None) -> int:
        return int((body or {}).get("size") or request.query_params.get("page_size", "3"))

    async def by_page(request: Request) -> Response:
        if (denied := await seen(request)) is not None:
            return denied
        size = size_of(request)
        first = int(request.query_params.get("first", "1"))  # the number of the first page
        page = first if api.loop else int(request.query_params.get("page", str(first)))
        total = -(-api.rows // size) if api.total == "count" else api.total
        body: dict[str, Any] = {api.records_key: api.page((page - first) * size, size), "page": page}
        if total is not None:
            body["total_pages"] = total
        return JSONResponse(body)

    async def by_offset(request: Request) -> Response:
        if (denied := await seen(request)) is not None:
            return denied
        size = size_of(request)
        offset = 0 if api.loop else int(request.query_params.get("offset", "0"))
        body: dict[str, Any] = {"rows": api.page(offset, size)}
        if api.total is not None:
            body["count"] = api.rows if api.total == "count" else api.total
        return JSONResponse(body)

    async def by_cursor(request: Request) -> Response:
        if (denied := await seen(request)) is not None:
            return denied
        at = int(base64.b64decode(request.query_params.get("after", "MA==")).decode())
        following = at + 3 if at + 3 < api.rows else None
        if api.repeat_cursor and at == 3:
            following = 3
        cursor = None if following is None else base64.b64encode(str(following).encode()).decode()
        return JSONResponse({"result": {"items": api.page(at, 3)}, "next_cursor": cursor})

    async def by_link(request: Request) -> Response:
        if (denied := await seen(request)) is not None:
            return denied
        at = int(request.query_params.get("at", "0"))
        following = f"link?at={at + 3}" if at + 3 < api.rows else None
        if api.link_to is not None and at == 3:
            following = api.link_to
        return JSONResponse({"items": api.page(at, 3), "links": {"next": following}})

    async def search(request: Request) -> Response:
        if (denied := await seen(request)) is not None:
            return denied
        body = await request.json()
        size = size_of(request, body)
        return JSONResponse(api.page((int(body["page"]) - 1) * size, size))

    async def token(request: Request) -> Response:
        expected = "Basic " + base64.b64encode(f"{LOGIN}:{PASSWORD}".encode()).decode()
        api.calls.append((request.url.path, {}, None))
        if request.headers.get("authorization") != expected:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        issued = secrets.token_hex(8)
        api.tokens.add(issued)
        return JSONResponse({"access_token": issued, "token_type": "Bearer", "expires_in": 3600})

    return Starlette(
        routes=[
            Route("/api/page", by_page),
            Route("/api/offset", by_offset),
            Route("/api/cursor", by_cursor),
            Route("/api/link", by_link),
            Route("/api/search", search, methods=["POST"]),
            Route("/api/oauth/token", token, methods=["POST"]),
        ]
    )


@dataclass
class Served:
    api: Api
    base_url: str  # the API's base URL: {server}/api


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[ThreadedServer, list[Api]]]:
    holder = [Api()]

    async def app(scope: Any, receive: Any, send: Any) -> None:  # the current test's API
        await build(holder[0])(scope, receive, send)

    with ThreadedServer(app, name="declared-rest") as running:
        yield running, holder


@pytest.fixture
def peer(server: tuple[ThreadedServer, list[Api]]) -> Served:
    running, holder = server
    holder[0] = Api()
    return Served(holder[0], f"{running.base_url}/api")


FIELDS: dict[str, Any] = {
    "number": "MaSo",
    "personal_id": {"from": "SoDinhDanh", "type": "personal_id"},
    "amount": {"from": "SoTien", "type": "decimal"},
    "started_on": {"from": "NgayBatDau", "type": "date"},
    "updated_at": {"from": "NgayCapNhat", "type": "datetime"},
    "status": {"from": "TrangThai", "map": {"DangHoatDong": "active"}},
    "commune": {"from": "DiaChi.MaXa", "type": "commune"},
}


def declare(stream: dict[str, Any], auth: dict[str, Any] | None = None) -> SystemDecl:
    base = {
        "records": "data",
        "cursor": {"field": "updated_at"},
        "dataset": "registry_entry",
        "key": "number",
        "fields": FIELDS,
    }
    return SystemDecl.model_validate(
        {
            "system": "test_registry",
            "title": {"vi": "Sổ thử", "en": "Test registry"},
            "owner": "Tests",
            "connection": "test_registry",
            "rest": {"auth": auth or {}},
            "streams": {"entries": {**base, **stream}},
        }
    )


PAGED = {
    "get": "/page",
    "params": {"since": "{cursor}", "page_size": "{page_size}"},
    "next": {"page": "page", "total": "total_pages"},
}


def source(peer: Served, decl: SystemDecl, **options: Any) -> DeclaredSource:
    settings: dict[str, Any] = {
        "url": peer.base_url,
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


def read(peer: Served, decl: SystemDecl, **options: Any) -> list[DeclaredPage]:
    with source(peer, decl, **options) as src:
        return list(src.changed_since(SINCE))


def numbers(pages: list[DeclaredPage]) -> list[str | None]:
    return [r.fields["number"] for page in pages for r in page.records]


EVERY_ROW = [f"R{n:04d}" for n in range(7)]


def test_page_numbers_until_total_maps_every_field(peer: Served) -> None:
    pages = read(peer, declare(PAGED))
    assert [p.number for p in pages] == [1, 2, 3] and numbers(pages) == EVERY_ROW
    assert [(call[1]["page"], call[1]["page_size"]) for call in peer.api.calls] == [("1", "3"), ("2", "3"), ("3", "3")]
    assert peer.api.calls[0][1]["since"] == "2025-08-01T10:30:00Z"  # RFC 3339, naive UTC given
    first = pages[0].records[0]
    assert first.rejection is None
    assert first.fields == {
        "number": "R0000",
        "personal_id": PERSONAL_ID,
        "amount": "1250.5",
        "started_on": "2024-01-15",
        "updated_at": "2025-08-01T10:00:00",
        "status": "active",
        "commune": "00070",
    }
    # The content: every field but the key and the cursor (a re-delivery at a newer time is unchanged).
    content = tuple(name for name in FIELDS if name not in ("number", "updated_at"))
    assert first.content_hash == content_hash_of(first.fields, content)
    assert first.payload.startswith('{"DiaChi": {"MaXa": "00070"}, "MaSo": "R0000"')
    assert pages[0].stats.status == 200 and pages[0].stats.seconds > 0 and pages[0].stats.total == 3


def test_a_declared_page_size_wins_and_paging_can_start_at_zero(peer: Served) -> None:
    params = {"since": "{cursor}", "page_size": "{page_size}", "first": 0}
    decl = declare({**PAGED, "params": params, "page_size": 5, "next": {"page": "page", "start": 0}})
    pages = read(peer, decl)
    assert numbers(pages) == EVERY_ROW and [len(p.records) for p in pages] == [5, 2]
    assert [(call[1]["page"], call[1]["page_size"], call[1]["first"]) for call in peer.api.calls] == [
        ("0", "5", "0"),
        ("1", "5", "0"),
    ]


def test_without_total_a_short_page_ends_the_listing(peer: Served) -> None:
    peer.api.total = None
    pages = read(peer, declare({**PAGED, "next": {"page": "page"}}))
    assert numbers(pages) == EVERY_ROW and len(peer.api.calls) == 3  # 3 + 3 + 1: the short page is the last


def test_without_total_or_page_size_an_empty_page_ends_it(peer: Served) -> None:
    peer.api.total = None
    decl = declare({**PAGED, "params": {"since": "{cursor}"}, "next": {"page": "page"}})
    pages = read(peer, decl)
    assert numbers(pages) == EVERY_ROW and len(pages) == 4 and pages[-1].records == []


def test_a_page_beyond_the_declared_total_is_never_asked_for(peer: Served) -> None:
    peer.api.rows, peer.api.total = 30, 2  # the server has more, but says there are two pages
    pages = read(peer, declare(PAGED))
    assert len(pages) == 2 and len(peer.api.calls) == 2


def test_the_empty_listing_is_one_empty_page(peer: Served) -> None:
    peer.api.rows = 0
    pages = read(peer, declare(PAGED))
    assert len(pages) == 1 and pages[0].records == [] and pages[0].stats.total == 0


@pytest.mark.parametrize("total", ["many", -1, 2.5, True])
def test_a_total_that_is_not_a_count_is_a_contract_error(peer: Served, total: Any) -> None:
    peer.api.total = total
    with pytest.raises(FatalSourceError, match=r"total \(pages\) at 'total_pages' is not a non-negative integer"):
        read(peer, declare(PAGED))


def test_a_declared_total_the_server_leaves_out_is_a_contract_error(peer: Served) -> None:
    peer.api.total = None
    with pytest.raises(FatalSourceError, match="'total_pages' is missing"):
        read(peer, declare(PAGED))


def test_a_server_that_ignores_the_page_number_is_refused(peer: Served) -> None:
    peer.api.loop = True
    delivered: list[DeclaredPage] = []
    with (
        pytest.raises(FatalSourceError, match="page 2 is the same as page 1") as caught,
        source(peer, declare(PAGED)) as s,
    ):
        delivered.extend(s.changed_since(SINCE))
    assert len(delivered) == 1 and "test_registry entries" in str(caught.value)


def test_max_pages_bounds_the_listing(peer: Served) -> None:
    peer.api.rows = 30
    delivered: list[DeclaredPage] = []
    with pytest.raises(FatalSourceError, match="max_pages=2"), source(peer, declare(PAGED), max_pages=2) as src:
        delivered.extend(src.changed_since(SINCE))
    assert len(delivered) == 2 and len(peer.api.calls) == 2


def test_offset_paging_advances_by_the_rows_received(peer: Served) -> None:
    decl = declare(
        {
            "get": "/offset",
            "params": {"since": "{cursor}", "page_size": "{page_size}"},
            "records": "rows",
            "next": {"offset": "offset", "total": "count"},
        }
    )
    pages = read(peer, decl)
    assert numbers(pages) == EVERY_ROW
    assert [call[1]["offset"] for call in peer.api.calls] == ["0", "3", "6"]


def test_offset_paging_without_total_ends_at_a_short_page_and_refuses_a_loop(peer: Served) -> None:
    decl = declare(
        {
            "get": "/offset",
            "params": {"since": "{cursor}", "page_size": "{page_size}"},
            "records": "rows",
            "next": {"offset": "offset"},
        }
    )
    peer.api.total = None
    assert numbers(read(peer, decl)) == EVERY_ROW and len(peer.api.calls) == 3
    peer.api.loop = True
    with pytest.raises(FatalSourceError, match="page 2 is the same as page 1"):
        read(peer, decl)


CURSORED = {
    "get": "/cursor",
    "params": {"since": "{cursor}"},
    "records": "result.items",
    "next": {"cursor": "next_cursor", "param": "after"},
}


def test_cursor_paging_follows_the_cursor_and_refuses_a_repeat(peer: Served) -> None:
    assert numbers(read(peer, declare(CURSORED))) == EVERY_ROW
    assert "after" not in peer.api.calls[0][1] and len(peer.api.calls) == 3
    peer.api.repeat_cursor = True
    peer.api.rows = 30
    with pytest.raises(FatalSourceError, match="repeated cursor"):
        read(peer, declare(CURSORED))


LINKED = {"get": "/link", "params": {"since": "{cursor}"}, "records": "items", "next": {"link": "links.next"}}


def test_link_paging_follows_same_origin_links(peer: Served) -> None:
    assert numbers(read(peer, declare(LINKED))) == EVERY_ROW
    assert [call[1].get("at") for call in peer.api.calls] == [None, "3", "6"]
    assert peer.api.calls[1][1] == {"at": "3"}  # a link carries its own query: the params are not added again


def test_an_absolute_link_to_our_own_origin_is_followed(peer: Served) -> None:
    peer.api.link_to = peer.base_url + "/link?at=6"
    assert numbers(read(peer, declare(LINKED))) == EVERY_ROW


def test_a_link_to_another_origin_is_refused_before_anything_is_sent_there(peer: Served) -> None:
    elsewhere: list[dict[str, str]] = []

    async def collect(request: Request) -> Response:
        elsewhere.append(dict(request.headers))
        return JSONResponse({"items": [], "links": {"next": None}})

    with ThreadedServer(Starlette(routes=[Route("/{path:path}", collect)]), name="elsewhere") as other:
        peer.api.link_to = f"{other.base_url}/steal?at=6"
        peer.api.auth = "header"
        delivered: list[DeclaredPage] = []
        keyed = source(peer, declare(LINKED, {"api_key": {"header": "X-Api-Key"}}), password=SecretStr(API_KEY))
        with pytest.raises(FatalSourceError, match=r"next link points to http://127\.0\.0\.1:") as caught, keyed:
            delivered.extend(keyed.changed_since(SINCE))
    assert elsewhere == [] and len(delivered) == 1  # the page carrying the link is refused with it
    assert "steal" not in str(caught.value) and "outside http://127.0.0.1:" in str(caught.value)


@pytest.mark.parametrize("link", ["https://{host}/api/link?at=6", "http://attacker@{host}/api/link?at=6"])
def test_a_link_that_changes_scheme_or_carries_userinfo_is_refused(peer: Served, link: str) -> None:
    peer.api.link_to = link.format(host=peer.base_url.removeprefix("http://").removesuffix("/api"))
    with pytest.raises(FatalSourceError, match="refusing to follow it"):
        read(peer, declare(LINKED))


def test_a_repeated_link_is_refused(peer: Served) -> None:
    peer.api.link_to = "link?at=3"  # page 2 links to itself
    peer.api.rows = 30
    with pytest.raises(FatalSourceError, match="repeated cursor"):
        read(peer, declare(LINKED))


def test_post_with_a_json_body_and_a_top_level_list(peer: Served) -> None:
    decl = declare(
        {
            "post": "/search",
            "body": {"filter": {"changed_after": "{cursor}"}, "size": "{page_size}"},
            "records": ".",
            "next": {"page": "page"},
        }
    )
    pages = read(peer, decl)
    assert numbers(pages) == EVERY_ROW
    assert peer.api.calls[0][2] == {"filter": {"changed_after": "2025-08-01T10:30:00Z"}, "size": 3, "page": 1}


def test_records_that_are_not_a_list_are_a_contract_error(peer: Served) -> None:
    peer.api.records_key = "items"
    with pytest.raises(FatalSourceError, match="no list at records: 'data'; check the declared records path"):
        read(peer, declare(PAGED))


def test_type_errors_reject_the_record_and_never_quote_the_value(peer: Served) -> None:
    odd = {**record(1), "NgayBatDau": "15/01/2024", "SoDinhDanh": "001085999999"}
    peer.api.odd_record = odd
    pages = read(peer, declare(PAGED))
    rejected = pages[0].records[1]
    assert rejected.rejection is not None and str(rejected.rejection) == "contract.valid: NgayBatDau is not a date"
    assert rejected.fields["started_on"] is None and rejected.fields["number"] == "R0001"
    assert rejected.content_hash == content_hash_of({"payload": rejected.payload}, ("payload",))
    assert "15/01/2024" in rejected.payload and "15/01/2024" not in str(rejected.rejection)
    assert all(r.rejection is None for r in pages[0].records if r is not rejected)


def test_a_record_that_is_not_an_object_is_rejected(peer: Served) -> None:
    peer.api.odd_record = ["R0001"]
    rejected = read(peer, declare(PAGED))[0].records[1]
    assert rejected.rejection is not None and str(rejected.rejection) == "contract.valid: a record is not an object"
    assert rejected.payload == '["R0001"]' and set(rejected.fields.values()) == {None}


def test_the_probe_samples_pages_with_their_status_and_time(peer: Served) -> None:
    peer.api.rows = 30
    with source(peer, declare(PAGED)) as src:
        sample = list(src.pages(SINCE, max_pages=2))
    assert [p.number for p in sample] == [1, 2] and len(peer.api.calls) == 2
    assert all(p.stats.status == 200 and 0 < p.stats.seconds < 5 for p in sample)


def test_the_next_page_is_read_while_this_one_is_used_and_no_further(peer: Served) -> None:
    peer.api.rows = 30
    with source(peer, declare(PAGED)) as src:
        for page in src.changed_since(SINCE):
            assert len(peer.api.calls) <= page.number + 1  # one page ahead at most: memory stays two pages
    assert len(peer.api.calls) == 10


def test_closing_the_source_stops_its_reader(peer: Served) -> None:
    peer.api.rows = 30
    src = source(peer, declare(PAGED))
    pages = src.changed_since(SINCE)
    assert next(pages).number == 1
    src.close()
    for thread in threading.enumerate():
        if thread.name.startswith("lgsp-read-test_registry"):
            thread.join()  # it ends by itself once told to stop
    assert len(peer.api.calls) <= 2  # nothing asked for after page 2, which was in flight at most
    pages.close()


# --- auth -----------------------------------------------------------------------------------


def test_api_key_in_a_header(peer: Served) -> None:
    peer.api.auth = "header"
    decl = declare(PAGED, {"api_key": {"header": "X-Api-Key"}})
    assert numbers(read(peer, decl, password=SecretStr(API_KEY))) == EVERY_ROW
    with pytest.raises(FatalSourceError, match="HTTP 401"):
        read(peer, decl, password=SecretStr("wrong"))


def test_api_key_in_the_query_never_reaches_a_message_or_a_log(peer: Served, caplog: pytest.LogCaptureFixture) -> None:
    peer.api.auth = "query"
    decl = declare(LINKED, {"api_key": {"query": "key"}})
    caplog.set_level(logging.DEBUG)
    assert numbers(read(peer, decl, password=SecretStr(API_KEY))) == EVERY_ROW
    assert all(call[1]["key"] == API_KEY for call in peer.api.calls)  # links followed keep the key
    with pytest.raises(FatalSourceError, match="HTTP 401") as caught:
        read(peer, decl, password=SecretStr(API_KEY + "-revoked"))
    peer.api.link_to = "https://elsewhere.invalid/x?key=" + API_KEY
    with pytest.raises(FatalSourceError) as cross:
        read(peer, decl, password=SecretStr(API_KEY))
    for text in (str(caught.value), str(cross.value), caplog.text):
        assert API_KEY not in text and "key=" not in text


def test_basic_auth(peer: Served) -> None:
    peer.api.auth = "basic"
    decl = declare(PAGED, {"basic": {}})
    assert numbers(read(peer, decl)) == EVERY_ROW
    with pytest.raises(FatalSourceError, match="HTTP 401"):
        read(peer, decl, password=SecretStr("wrong"))
    with pytest.raises(ConfigError, match="login and password"):
        source(peer, decl, login="")


def test_oauth2_client_credentials_at_the_base_url(peer: Served) -> None:
    peer.api.auth = "bearer"
    decl = declare(PAGED, {"oauth2_client_credentials": {"token_path": "/oauth/token"}})
    assert numbers(read(peer, decl)) == EVERY_ROW
    assert [call[0] for call in peer.api.calls].count("/api/oauth/token") == 1  # one token for the listing
    with pytest.raises(FatalSourceError, match="invalid_client"):
        read(peer, decl, password=SecretStr("wrong"))


def test_no_auth_sends_no_credentials(peer: Served) -> None:
    assert numbers(read(peer, declare(PAGED))) == EVERY_ROW
    assert not any({"authorization", "x-api-key"} & set(headers) for headers in peer.api.headers)
    assert not any("key" in call[1] for call in peer.api.calls)


def test_an_undeclared_stream_is_a_config_error(peer: Served) -> None:
    with pytest.raises(ConfigError, match="declares no stream 'other'; declared: entries"):
        DeclaredSource(
            declare(PAGED),
            "other",
            url=peer.base_url,
            login="",
            password=SecretStr(""),
            timeout=1,
            max_attempts=1,
            backoff=0,
            max_body_bytes=1000,
            page_size=3,
        )


def test_ws_security_on_a_rest_system_is_a_config_error(peer: Served) -> None:
    with pytest.raises(ConfigError, match="wsse_username_token is SOAP auth"):
        source(peer, declare(PAGED, {"wsse_username_token": {}}))


def test_a_sample_is_at_least_one_page(peer: Served) -> None:
    with source(peer, declare(PAGED)) as src, pytest.raises(ValueError, match="at least one page"):
        list(src.pages(SINCE, max_pages=0))
    assert peer.api.calls == []
