"""The declared population stream (national_population.yaml) against the real population mock: paging, failures.

GetCitizen and VerifyCitizen are no longer called by the hub: only ListChangedCitizens is
declared, so their tests went with connectors/population.py.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from population_source import DECL, DECLARATION, SYSTEM, mock_source, population_source, with_wsse_password
from pydantic import ValidationError
from soap_test_server import WSSE, WSU, page, security_header, soap_peer

from connectors.declared import DeclaredRecord
from connectors.soap import SoapClient
from hub.systems.loader import DeclarationError, load_file
from lgsp.errors import FatalSourceError, TransientSourceError


def source_for(server: Any, **options: Any) -> Any:
    """The declared stream on the mock: demo credentials, page size 50, 3 attempts (``options`` override)."""
    return mock_source(server, **options)


def updated(record: DeclaredRecord) -> datetime:
    """The record's source_updated_at (staged as naive UTC text)."""
    return datetime.fromisoformat(record.fields["source_updated_at"] or "")


def arm(server: Any, fault: str, *, count: int = 1, after: int = 0, operation: str = "ListChangedCitizens") -> None:
    httpx.post(
        f"{server.base_url}/_admin/faults",
        json={"fault": fault, "count": count, "after": after, "operation": operation},
    ).raise_for_status()


def test_paging_returns_every_record_once_in_order(mock_server: Callable[..., Any]) -> None:
    server = mock_server()
    pages = list(source_for(server, page_size=37).changed_since(datetime(1970, 1, 1)))
    records = [r for page in pages for r in page.records]
    assert [p.number for p in pages] == list(range(1, len(pages) + 1))
    # Full pages until the last (the listing ends where the peer stops handing out a NextPageToken).
    assert len(pages) > 1 and all(len(p.records) == 37 for p in pages[:-1]) and 0 < len(pages[-1].records) <= 37
    keys = [(updated(r), r.fields["personal_id"]) for r in records if r.rejection is None]
    assert keys == sorted(keys)
    duplicates = sum(1 for kind in server.dataset.defects.values() if kind == "duplicate_conflict")
    assert len({r.payload for r in records}) == len(records)  # nothing repeated
    assert len(records) == 600 + duplicates  # each conflicting duplicate is delivered twice


def test_since_filters_strictly_after(mock_server: Callable[..., Any]) -> None:
    server = mock_server()
    source = source_for(server, page_size=1000)
    everything = [r for p in source.changed_since(datetime(1970, 1, 1)) for r in p.records if r.rejection is None]
    middle = sorted(updated(r) for r in everything)[len(everything) // 2]
    later = [r for p in source.changed_since(middle) for r in p.records if r.rejection is None]
    assert later and all(updated(r) > middle for r in later)
    assert len(later) < len(everything)


def test_wrong_password_is_fatal(mock_server: Callable[..., Any]) -> None:
    with pytest.raises(FatalSourceError, match="Authentication") as caught:
        list(source_for(mock_server(), password="nope").changed_since(datetime(1970, 1, 1)))
    assert caught.value.fault_code == "Client.Authentication"


def test_timeout_is_transient_and_retried(mock_server: Callable[..., Any]) -> None:
    server = mock_server(timeout_seconds=3.0)
    arm(server, "timeout", count=1)
    pages = list(source_for(server, timeout=0.5, page_size=1000).changed_since(datetime(1970, 1, 1)))
    assert sum(len(p.records) for p in pages) >= 600


def test_timeouts_that_persist_fail_with_a_clear_message(mock_server: Callable[..., Any]) -> None:
    server = mock_server(timeout_seconds=2.0)
    arm(server, "timeout", count=5)
    with pytest.raises(TransientSourceError, match="timed out"):
        list(source_for(server, timeout=0.3, attempts=2).changed_since(datetime(1970, 1, 1)))


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("http_503", "HTTP 503"),
        ("http_429", "HTTP 429"),
        ("truncated_body", "not well-formed"),
        ("connection_reset", "reset"),
        ("unavailable_fault", "Server.Unavailable"),
    ],
)
def test_each_transient_fault_is_classified(mock_server: Callable[..., Any], fault: str, message: str) -> None:
    server = mock_server()
    arm(server, fault, count=3)
    with pytest.raises(TransientSourceError, match=message):
        list(source_for(server, attempts=1).changed_since(datetime(1970, 1, 1)))


def test_429_retry_after_is_honoured(mock_server: Callable[..., Any]) -> None:
    server = mock_server(retry_after_seconds=7)
    arm(server, "http_429", count=1)
    with pytest.raises(TransientSourceError) as caught:
        list(source_for(server, attempts=1).changed_since(datetime(1970, 1, 1)))
    assert caught.value.retry_after == 7


def test_response_with_dtd_is_refused_and_nothing_expanded(mock_server: Callable[..., Any]) -> None:
    server = mock_server()
    arm(server, "dtd_entity", count=1)
    with pytest.raises(FatalSourceError, match="DTD") as caught:
        list(source_for(server).changed_since(datetime(1970, 1, 1)))
    assert "root:" not in str(caught.value)


@pytest.fixture
def hostile_wsdl_server() -> Iterator[str]:
    """A server whose WSDL imports a schema from another origin (and one from file://)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = (
                b'<?xml version="1.0"?><wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"'
                b' xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:x"><wsdl:types><xs:schema>'
                b'<xs:import namespace="urn:y" schemaLocation="http://127.0.0.2:9/evil.xsd"/>'
                b"</xs:schema></wsdl:types></wsdl:definitions>"
            )
            self.send_response(200)
            self.send_header("Content-Type", "text/xml")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/population"
    httpd.shutdown()


def test_wsdl_pointing_outside_its_origin_is_refused(hostile_wsdl_server: str) -> None:
    source = population_source(hostile_wsdl_server, login="u", password="p", timeout=2)
    with pytest.raises(FatalSourceError, match="outside"):
        list(source.changed_since(datetime(1970, 1, 1)))  # the contract is loaded on the first listing
    with pytest.raises(FatalSourceError, match="outside"):
        SoapClient(system=SYSTEM, url=hostile_wsdl_server, username="u", password="p", timeout=2)


def test_unreachable_endpoint_is_transient() -> None:
    from hub.local.mock_process import free_port

    source = population_source(f"http://127.0.0.1:{free_port()}/population", login="u", password="p", timeout=2)
    with pytest.raises(TransientSourceError, match="connection"):
        list(source.changed_since(datetime(1970, 1, 1)))


def test_a_fault_text_echoing_personal_data_stays_out_of_the_error() -> None:
    import requests

    from connectors.soap import parse_response

    response = requests.Response()
    response.status_code = 500
    response._content = (  # a peer whose faultstring echoes the request
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault>'
        b"<faultcode>soap:Client.NotFound</faultcode>"
        b"<faultstring>no citizen 001085000123 named Nguyen Van An</faultstring>"
        b"</soap:Fault></soap:Body></soap:Envelope>"
    )
    with pytest.raises(FatalSourceError) as caught:
        parse_response(response, SYSTEM, "ListChangedCitizens")
    assert caught.value.fault_code == "Client.NotFound"
    assert "001085000123" not in str(caught.value) and "Nguyen" not in str(caught.value)


# --- WS-Security as the peers expect it ---------------------------------------------------

WSSE_PASSWORD = "s3cret-Pass-Word"


def two_pages(body: bytes, n: int) -> tuple[int, bytes]:
    """A two-page listing (empty pages): a token on the first, none on the second."""
    return 200, page("dG9rZW4tMg" if n % 2 else None)


def test_the_client_sends_a_digest_with_nonce_created_and_a_timestamp_never_the_password() -> None:
    with soap_peer(two_pages) as peer:
        source = population_source(peer.url, login="lgsp", password=WSSE_PASSWORD, attempts=1)
        assert [p.number for p in source.changed_since(datetime(2000, 1, 1))] == [1, 2]
    assert len(peer.posts) == 2
    nonces = []
    for body in peer.posts:
        assert WSSE_PASSWORD.encode() not in body
        security = security_header(body)
        token = security.find(f"{{{WSSE}}}UsernameToken")
        assert token is not None and token.findtext(f"{{{WSSE}}}Username") == "lgsp"
        password = token.find(f"{{{WSSE}}}Password")
        assert password is not None and (password.get("Type") or "").endswith("#PasswordDigest")
        nonce = base64.b64decode(token.findtext(f"{{{WSSE}}}Nonce") or "", validate=True)
        created = token.findtext(f"{{{WSU}}}Created") or ""
        expected = base64.b64encode(hashlib.sha1(nonce + created.encode() + WSSE_PASSWORD.encode()).digest())
        assert (password.text or "").encode() == expected and len(nonce) == 16
        stamp_created = security.findtext(f"{{{WSU}}}Timestamp/{{{WSU}}}Created") or ""
        stamp_expires = security.findtext(f"{{{WSU}}}Timestamp/{{{WSU}}}Expires") or ""
        born, ends = (datetime.fromisoformat(t.replace("Z", "+00:00")) for t in (stamp_created, stamp_expires))
        now = datetime.now(UTC)
        assert abs((born - now).total_seconds()) < 60 and 0 < (ends - born).total_seconds() <= 300
        assert stamp_created == created
        nonces.append(nonce)
    assert len(set(nonces)) == 2  # a fresh nonce per request


def test_the_declaration_decides_digest_or_text(tmp_path: Path) -> None:
    """The digest unless the declaration says ``password: text``; anything else is refused when it is loaded."""

    def sent(decl: Any) -> str:
        """The Password Type the peer got, after checking the password travels only as text."""
        with soap_peer(two_pages) as peer:
            source = population_source(peer.url, login="lgsp", password=WSSE_PASSWORD, attempts=1, decl=decl)
            list(source.changed_since(datetime(2000, 1, 1)))
        password = security_header(peer.posts[0]).find(f"{{{WSSE}}}UsernameToken/{{{WSSE}}}Password")
        assert password is not None
        kind = (password.get("Type") or "").rsplit("#", 1)[-1]
        assert (password.text == WSSE_PASSWORD) == (kind == "PasswordText")
        assert (WSSE_PASSWORD.encode() in peer.posts[0]) == (kind == "PasswordText")
        return kind

    assert DECL.auth.wsse_username_token is not None and DECL.auth.wsse_username_token.password == "digest"
    assert sent(DECL) == "PasswordDigest"
    assert sent(with_wsse_password("digest")) == "PasswordDigest"
    assert sent(with_wsse_password("text")) == "PasswordText"

    # The same, from a declaration file: the YAML key is soap.auth.wsse_username_token.password.
    line = "auth: {wsse_username_token: {}}"
    original = DECLARATION.read_text(encoding="utf-8")
    assert line in original

    def declared(password: str) -> Path:
        folder = tmp_path / password
        folder.mkdir()
        path = folder / DECLARATION.name
        path.write_text(original.replace(line, f"auth: {{wsse_username_token: {{password: {password}}}}}"), "utf-8")
        return path

    assert sent(load_file(declared("text")).decl) == "PasswordText"
    with pytest.raises(DeclarationError, match="password") as caught:
        load_file(declared("md5"))
    assert "'digest' or 'text'" in str(caught.value)
    with pytest.raises(ValidationError, match="'digest' or 'text'"):
        with_wsse_password("md5")


def test_a_peer_that_refuses_text_takes_the_digest(mock_server: Callable[..., Any]) -> None:
    """Against the real mock configured as real peers are: the declared digest gets through, text does not."""
    server = mock_server(population_wsse="digest")
    first = next(iter(source_for(server).changed_since(datetime(1970, 1, 1))))
    assert first.records  # authenticated
    with pytest.raises(FatalSourceError, match="Authentication") as caught:
        next(iter(source_for(server, attempts=1, decl=with_wsse_password("text")).changed_since(datetime(1970, 1, 1))))
    assert caught.value.fault_code == "Client.Authentication"
