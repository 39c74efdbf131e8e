"""The SOAP connector against the real population mock: operations, paging, failure modes."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from connectors.population import SYSTEM, PopulationSource
from soap_test_server import WSSE, WSU, security_header, soap_peer, verdict

from connectors.soap import SoapClient
from lgsp.errors import ConfigError, FatalSourceError, TransientSourceError


def source_for(
    server: Any, *, password: str = "demo-only-password", timeout: float = 5.0, page_size: int = 50, attempts: int = 3
) -> PopulationSource:
    client = SoapClient(
        system=SYSTEM, url=f"{server.base_url}/population", username="lgsp-demo", password=password, timeout=timeout
    )
    return PopulationSource(client, page_size=page_size, max_attempts=attempts, backoff=0.01)


def arm(server: Any, fault: str, *, count: int = 1, after: int = 0, operation: str = "ListChangedCitizens") -> None:
    httpx.post(
        f"{server.base_url}/_admin/faults",
        json={"fault": fault, "count": count, "after": after, "operation": operation},
    ).raise_for_status()


def test_get_and_verify_a_citizen(mock_server: Callable[..., Any]) -> None:
    server = mock_server()
    source = source_for(server)
    first = next(iter(source.changed_since(datetime(1970, 1, 1)))).records[0]
    assert first.citizen is not None
    found = source.get_citizen(first.citizen.personal_id)
    assert found is not None and found.citizen == first.citizen
    assert source.verify_citizen(
        first.citizen.personal_id, first.citizen.full_name.upper(), first.citizen.birth_date
    ) == (True, True, True)
    assert source.verify_citizen(first.citizen.personal_id, "Không Phải Tên", first.citizen.birth_date) == (
        True,
        False,
        True,
    )


def test_unknown_citizen_is_none_not_an_error(mock_server: Callable[..., Any]) -> None:
    assert source_for(mock_server()).get_citizen("001999999999") is None


def test_paging_returns_every_record_once_in_order(mock_server: Callable[..., Any]) -> None:
    server = mock_server()
    pages = list(source_for(server, page_size=37).changed_since(datetime(1970, 1, 1)))
    records = [r for page in pages for r in page.records]
    assert [p.number for p in pages] == list(range(1, len(pages) + 1))
    assert pages[-1].next_token is None and all(p.next_token for p in pages[:-1])
    keys = [(r.fields["source_updated_at"], r.fields["personal_id"]) for r in records if r.rejection is None]
    assert keys == sorted(keys)
    duplicates = sum(1 for kind in server.dataset.defects.values() if kind == "duplicate_conflict")
    assert len({r.payload for r in records}) == len(records)  # nothing repeated
    assert len(records) == 600 + duplicates  # each conflicting duplicate is delivered twice


def test_since_filters_strictly_after(mock_server: Callable[..., Any]) -> None:
    server = mock_server()
    source = source_for(server, page_size=1000)
    everything = [r for p in source.changed_since(datetime(1970, 1, 1)) for r in p.records if r.citizen]
    middle = sorted(r.citizen.source_updated_at for r in everything if r.citizen)[len(everything) // 2]
    later = [r for p in source.changed_since(middle) for r in p.records if r.citizen]
    assert later and all(r.citizen.source_updated_at > middle for r in later if r.citizen)


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
    with pytest.raises(FatalSourceError, match="outside"):
        SoapClient(system=SYSTEM, url=hostile_wsdl_server, username="u", password="p", timeout=2)


def test_unreachable_endpoint_is_transient() -> None:
    from hub.local.mock_process import free_port

    with pytest.raises(TransientSourceError, match="connection"):
        SoapClient(
            system=SYSTEM, url=f"http://127.0.0.1:{free_port()}/population", username="u", password="p", timeout=2
        )


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
        parse_response(response, SYSTEM, "GetCitizen")
    assert caught.value.fault_code == "Client.NotFound"
    assert "001085000123" not in str(caught.value) and "Nguyen" not in str(caught.value)


# --- WS-Security as the peers expect it ---------------------------------------------------

WSSE_PASSWORD = "s3cret-Pass-Word"


def verify_through(source: PopulationSource) -> None:
    assert source.verify_citizen("001085000123", "Nguyen Van An", date(1985, 3, 1)) == (True, True, True)


def test_the_client_sends_a_digest_with_nonce_created_and_a_timestamp_never_the_password() -> None:
    with soap_peer(lambda body, n: (200, verdict())) as peer:
        client = SoapClient(system=SYSTEM, url=peer.url, username="lgsp", password=WSSE_PASSWORD, timeout=5)
        source = PopulationSource(client, page_size=10, max_attempts=1, backoff=0.01)
        verify_through(source)
        verify_through(source)
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


def test_the_connection_decides_digest_or_text(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """The digest unless the Airflow connection asks for text (URI query or JSON extra); nonsense is refused."""
    from hub.pipeline.population_sync import connect_source

    from hub.settings import load_settings

    for name in ("URL", "USERNAME", "PASSWORD", "WSSE_PASSWORD"):
        monkeypatch.delenv(f"LGSP_POPULATION_{name}", raising=False)

    def uri(url: str, query: str = "") -> str:
        return url.replace("http://", f"http://lgsp:{WSSE_PASSWORD}@") + query

    def json_form(url: str, extra: dict[str, str]) -> str:
        parts = urlsplit(url)
        connection = {"conn_type": "http", "host": parts.hostname, "port": parts.port, "schema": parts.path}
        return json.dumps({**connection, "login": "lgsp", "password": WSSE_PASSWORD, "extra": extra})

    def sent(connection: Callable[[str], str]) -> str:
        """The Password Type the peer got, after checking the password travels only as text."""
        with soap_peer(lambda body, n: (200, verdict())) as peer:
            monkeypatch.setenv("AIRFLOW_CONN_NATIONAL_POPULATION", connection(peer.url))
            verify_through(connect_source(load_settings(home=tmp_path)))
        password = security_header(peer.posts[0]).find(f"{{{WSSE}}}UsernameToken/{{{WSSE}}}Password")
        assert password is not None
        kind = (password.get("Type") or "").rsplit("#", 1)[-1]
        assert (password.text == WSSE_PASSWORD) == (kind == "PasswordText")
        assert (WSSE_PASSWORD.encode() in peer.posts[0]) == (kind == "PasswordText")
        return kind

    assert sent(uri) == "PasswordDigest"
    assert sent(lambda url: uri(url, "?wsse_password=digest")) == "PasswordDigest"
    assert sent(lambda url: uri(url, "?wsse_password=text")) == "PasswordText"
    assert sent(lambda url: json_form(url, {"wsse_password": "text"})) == "PasswordText"
    assert sent(lambda url: json_form(url, {})) == "PasswordDigest"
    monkeypatch.setenv("AIRFLOW_CONN_NATIONAL_POPULATION", uri("http://127.0.0.1:9/population", "?wsse_password=md5"))
    with pytest.raises(ConfigError, match="wsse_password must be 'digest' or 'text'"):
        connect_source(load_settings(home=tmp_path))


def test_a_peer_that_refuses_text_takes_the_digest(mock_server: Callable[..., Any]) -> None:
    """Against the real mock configured as real peers are: the default client gets through, a text one does not."""
    server = mock_server(population_wsse="digest")
    assert source_for(server).get_citizen("001999999999") is None  # authenticated: NotFound, not Authentication
    client = SoapClient(
        system=SYSTEM,
        url=f"{server.base_url}/population",
        username="lgsp-demo",
        password="demo-only-password",
        timeout=5,
        password_type="text",
    )
    with pytest.raises(FatalSourceError, match="Authentication"):
        PopulationSource(client, page_size=10, max_attempts=1, backoff=0.01).get_citizen("001999999999")
