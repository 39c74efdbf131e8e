"""The SOAP connector against the real population mock: operations, paging, failure modes."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import httpx
import pytest

from connectors.errors import FatalSourceError, TransientSourceError
from connectors.population import SYSTEM, PopulationSource
from connectors.soap import SoapClient


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
    from hub.mock_process import free_port

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
