"""The REST connector against a real, misbehaving HTTP server: retries, classification, limits, hygiene."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from rest_test_server import PERSONAL_ID, FlakyApi, flaky_api

from connectors.rest import MAX_JSON_DEPTH, RestClient, parse_retry_after
from lgsp.errors import ConfigError, FatalSourceError, TransientSourceError

SYSTEM = "test_api"


@pytest.fixture(scope="module")
def api() -> Iterator[FlakyApi]:
    with flaky_api() as running:
        yield running


@pytest.fixture(autouse=True)
def fresh(api: FlakyApi) -> None:
    api.state.reset()


@pytest.fixture
def delays() -> list[float]:
    return []


@pytest.fixture
def client(api: FlakyApi, delays: list[float]) -> Iterator[RestClient]:
    with RestClient(
        SYSTEM, api.base_url, auth=None, timeout=2.0, max_attempts=3, backoff=0.01, sleep=delays.append
    ) as rest:
        yield rest


def test_get_json_returns_the_body_and_names_lgsp_and_the_request(client: RestClient, api: FlakyApi) -> None:
    assert client.get_json("/json", {"page": 2}, operation="List") == {"ok": True, "query": {"page": "2"}}
    assert api.state.user_agents[0].startswith("lgsp/")
    uuid.UUID(api.state.request_ids[0][1], version=4)  # a fresh uuid4 when the caller gives none


def test_503_is_retried_with_the_same_request_id_until_it_succeeds(
    client: RestClient, api: FlakyApi, delays: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    assert client.get_json("/unavailable", {"fails": 2}, operation="List") == {"ok": True}
    assert api.state.calls["unavailable"] == 3
    assert len(delays) == 2
    (request_id,) = {request_id for _, request_id in api.state.request_ids}
    retries = [record.getMessage() for record in caplog.records if record.name == "connectors.retry"]
    assert len(retries) == 2 and all(f"request {request_id}" in message for message in retries)


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
def test_transient_statuses_give_up_after_max_attempts(
    client: RestClient, api: FlakyApi, delays: list[float], status: int
) -> None:
    with pytest.raises(TransientSourceError, match=rf"test_api List: HTTP {status}") as caught:
        client.get_json("/unavailable", {"status": status}, operation="List")
    assert api.state.calls["unavailable"] == 3 and len(delays) == 2
    assert caught.value.system == SYSTEM and caught.value.operation == "List"


def test_429_retry_after_seconds_is_honoured(client: RestClient, api: FlakyApi, delays: list[float]) -> None:
    assert client.get_json("/retry-after", {"fails": 1, "value": 7}, operation="List") == {"ok": True}
    assert delays == [7.0]  # our own backoff (0.01 s) would have been far shorter
    with pytest.raises(TransientSourceError, match="asked to wait 7 s") as caught:
        client.get_json("/retry-after", {"value": 7}, operation="List")
    assert caught.value.retry_after == 7.0


def test_429_retry_after_http_date_is_honoured(client: RestClient, delays: list[float]) -> None:
    client.get_json("/retry-after", {"fails": 1, "value": 30, "date": 1}, operation="List")
    assert len(delays) == 1 and 28.0 <= delays[0] <= 30.0


def test_parse_retry_after() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=45), usegmt=True), now) == 45.0
    assert parse_retry_after(format_datetime(now - timedelta(days=1), usegmt=True), now) == 0.0
    assert parse_retry_after("-3") is None and parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_a_read_timeout_is_transient_and_quick(api: FlakyApi, delays: list[float]) -> None:
    started = time.monotonic()
    with (
        RestClient(
            SYSTEM, api.base_url, auth=None, timeout=0.3, max_attempts=2, backoff=0.01, sleep=delays.append
        ) as rest,
        pytest.raises(TransientSourceError, match="timed out"),
    ):
        rest.get_json("/slow", {"seconds": 5}, operation="List")
    assert api.state.calls["slow"] == 2
    assert time.monotonic() - started < 3


def test_a_connection_reset_is_transient_and_retried(client: RestClient, api: FlakyApi) -> None:
    assert client.get_json("/reset", {"fails": 1}, operation="List") == {"ok": True}
    assert api.state.calls["reset"] == 2
    with pytest.raises(TransientSourceError, match="connection failed, was reset or cut"):
        client.get_json("/reset", operation="List")
    assert api.state.calls["reset"] == 5


def test_a_connection_refused_is_transient(delays: list[float]) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed on exit: nobody listens there
    with (
        RestClient(
            SYSTEM, f"http://127.0.0.1:{port}", auth=None, timeout=1, max_attempts=2, backoff=0.01, sleep=delays.append
        ) as rest,
        pytest.raises(TransientSourceError),
    ):
        rest.get_json("/json", operation="List")
    assert len(delays) == 1


def test_truncated_json_is_transient_and_retried(client: RestClient, api: FlakyApi) -> None:
    assert len(client.get_json("/truncated", {"fails": 1}, operation="List")["items"]) == 20
    with pytest.raises(TransientSourceError, match="cut or malformed") as caught:
        client.get_json("/truncated", operation="List")
    assert "Nguyễn" not in str(caught.value)
    assert api.state.calls["truncated"] == 2 + 3


@pytest.mark.parametrize(("route", "fragment"), [("/html", "text/html, not JSON"), ("/untyped", "text/plain")])
def test_a_body_that_is_not_json_is_fatal_at_once(client: RestClient, api: FlakyApi, route: str, fragment: str) -> None:
    with pytest.raises(FatalSourceError, match=fragment) as caught:
        client.get_json(route, operation="List")
    assert PERSONAL_ID not in str(caught.value)
    assert sum(api.state.calls.values()) == 1


@pytest.mark.parametrize("status", [400, 403, 404, 405, 409, 410, 413, 415, 418, 422, 501])
def test_other_errors_are_fatal_at_once_and_quote_no_detail(
    client: RestClient, api: FlakyApi, delays: list[float], status: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(FatalSourceError) as caught:
        client.get_json(f"/status/{status}", operation="GetCase")
    message = str(caught.value)
    assert message.startswith(f"test_api GetCase: HTTP {status} ('Failure {status}', type urn:lgsp:test:problem:")
    assert "(request " in message
    assert PERSONAL_ID not in message and PERSONAL_ID not in caplog.text
    assert api.state.calls[f"status/{status}"] == 1 and delays == []


def test_fatal_messages_say_what_to_do(client: RestClient) -> None:
    with pytest.raises(FatalSourceError, match="check the base URL and the path"):
        client.get_json("/status/404", operation="GetCase")
    with pytest.raises(FatalSourceError, match="check the credentials"):
        client.get_json("/status/401", operation="GetCase")


def test_redirects_are_refused_not_followed(client: RestClient, api: FlakyApi) -> None:
    with pytest.raises(FatalSourceError, match="HTTP 302: the server redirects"):
        client.get_json("/redirect", operation="List")
    assert api.state.calls["json"] == 0


def test_expected_statuses_are_outcomes_not_errors(client: RestClient, api: FlakyApi) -> None:
    backwards = client.put_json("/portal/status", {"step": 3}, operation="PutStatus", expected=frozenset({409}))
    assert backwards.status == 409
    assert backwards.json["type"] == "urn:lgsp:mock:portal:status-backwards"
    invalid = client.post_json("/portal/payload", {}, operation="Submit", expected=frozenset({409, 422}))
    assert (invalid.status, invalid.json["title"]) == (422, "Invalid payload")
    with pytest.raises(FatalSourceError, match=r"HTTP 409 \('Status would go backwards'"):
        client.put_json("/portal/status", {"step": 3}, operation="PutStatus")
    assert api.state.calls["portal_status"] == 2 and api.state.calls["portal_payload"] == 1


def test_put_and_post_send_json_and_forms(client: RestClient) -> None:
    put = client.put_json("/echo", {"tên": "An"}, operation="Put", headers={"Idempotency-Key": "k1"})
    assert (put.status, put.json["method"], put.json["content_type"]) == (201, "PUT", "application/json")
    assert put.json["body"] == '{"tên":"An"}'
    form = client.post_form("/echo", {"a": "1 2"}, operation="Post")
    assert form.json["content_type"] == "application/x-www-form-urlencoded" and form.json["body"] == "a=1+2"
    assert client.request("GET", "/empty", operation="Ping").json is None


def test_an_empty_body_where_json_is_expected_is_fatal(client: RestClient) -> None:
    assert client.get_json("/empty", operation="Ping") is None  # 204 says "nothing", which is fine
    with pytest.raises(FatalSourceError, match="empty response where JSON was expected"):
        client.get_json("/empty", {"status": 200}, operation="Ping")


@pytest.mark.parametrize("chunked", [False, True])
def test_bodies_over_max_body_bytes_are_refused(api: FlakyApi, chunked: bool) -> None:
    with RestClient(SYSTEM, api.base_url, auth=None, timeout=2, max_body_bytes=10_000) as rest:
        assert len(rest.get_json("/huge", {"bytes": 9_000, "chunked": chunked or ""}, operation="List")["pad"]) > 0
        with pytest.raises(FatalSourceError, match="larger than max_body_bytes"):
            rest.get_json("/huge", {"bytes": 50_000, "chunked": chunked or ""}, operation="List")
    assert api.state.calls["huge"] == 2


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 100_000])
def test_hostile_nesting_is_refused(client: RestClient, api: FlakyApi, depth: int) -> None:
    with pytest.raises(FatalSourceError, match="nested"):
        client.get_json("/deep", {"depth": depth}, operation="List")
    assert api.state.calls["deep"] == 1
    assert client.get_json("/deep", {"depth": MAX_JSON_DEPTH}, operation="List") is not None


def test_the_callers_request_id_is_sent_and_returned(client: RestClient, api: FlakyApi) -> None:
    response = client.request("GET", "/json", operation="List", request_id="ledger-42.a")
    assert response.request_id == "ledger-42.a" and api.state.request_ids == [("json", "ledger-42.a")]
    with pytest.raises(ValueError, match="request_id"):
        client.request("GET", "/json", operation="List", request_id="bad\r\nX-Injected: 1")


def test_httpx_request_logs_keep_ids_out(client: RestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client.get_json(f"/json?SoDinhDanh={PERSONAL_ID}", operation="GetCitizen")
    client.get_json("/json", {"SoDinhDanh": PERSONAL_ID}, operation="GetCitizen")
    assert "HTTP Request: GET http://127.0.0.1:" in caplog.text  # the line stays, the target goes
    assert PERSONAL_ID not in caplog.text


@pytest.mark.parametrize("timeout", [0, -1, None, float("inf")])
def test_a_client_without_a_real_timeout_is_refused(api: FlakyApi, timeout: float) -> None:
    with pytest.raises(ConfigError, match="timeout must be a positive number"):
        RestClient(SYSTEM, api.base_url, auth=None, timeout=timeout)


def test_a_base_url_that_is_not_http_is_refused() -> None:
    with pytest.raises(ConfigError, match="base_url") as caught:
        RestClient(SYSTEM, "ftp://user:pw@example.invalid/", auth=None, timeout=1)
    assert "pw" not in str(caught.value)


def test_a_closed_client_sends_nothing(api: FlakyApi) -> None:
    with RestClient(SYSTEM, api.base_url, auth=None, timeout=1) as rest:
        rest.get_json("/json", operation="List")
    with pytest.raises(RuntimeError, match="closed"):
        rest.get_json("/json", operation="List")
    assert api.state.calls["json"] == 1
