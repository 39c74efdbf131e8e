"""The civil-status mock over real HTTP: contract, OAuth2, paging, the shared clock, faults.

Uses the module-scoped `server` (800 residents, 10 feed days) and the `client` that
resets the clock and the fault rules after each test (tests/mocks/conftest.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import yaml
from openapi_contract import validate_response
from openapi_spec_validator import validate

from mocks.civil_status.render import event_object
from mocks.clock import DAY, EPOCH
from mocks.server import MockServer
from mocks.settings import MockSettings
from schemas.civil_status import OPENAPI_PATH

BASE = "/civil-status/v1"
EARLIEST = "1900-01-01T00:00:00Z"
LATE = "2026-01-20T00:00:00Z"  # after the 10 feed days and the week births take to register
CREDENTIALS = ("lgsp-demo", "demo-only-password")


def token(client: httpx.Client, **form: str) -> httpx.Response:
    """POST /oauth/token with the demo credentials by HTTP Basic (unless ``form`` says otherwise)."""
    data = {"grant_type": "client_credentials", **form}
    auth = None if "client_id" in form else CREDENTIALS
    return client.post(f"{BASE}/oauth/token", data=data, auth=auth)


def bearer(client: httpx.Client) -> dict[str, str]:
    """An Authorization header with a fresh token."""
    response = token(client)
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def set_clock(client: httpx.Client, to: str) -> None:
    client.post("/population/_admin/clock", json={"to": to}).raise_for_status()


def pages(client: httpx.Client, headers: dict[str, str], since: str, limit: int) -> Iterator[dict[str, Any]]:
    """Every page of GET /events from ``since``, following next_cursor."""
    query: dict[str, Any] = {"since": since, "limit": limit}
    while True:
        response = client.get(f"{BASE}/events", params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        yield page
        if page["next_cursor"] is None:
            return
        query["cursor"] = page["next_cursor"]


def read_all(
    client: httpx.Client, headers: dict[str, str], since: str = EARLIEST, limit: int = 1000
) -> list[dict[str, Any]]:
    return [item for page in pages(client, headers, since, limit) for item in page["items"]]


def expected(server: MockServer, since: int, clock: int) -> list[dict[str, Any]]:
    """What the register should deliver for ``since`` at ``clock``, in order."""
    return [event_object(e) for e in server.civil_status.events if since < e.thoi_diem_ghi_nhan <= clock]


def epoch(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def arm(client: httpx.Client, **rule: Any) -> None:
    client.post("/_admin/faults", json={"system": "civil_status", **rule}).raise_for_status()


# --- the contract ---------------------------------------------------------------------------


def test_the_contract_is_valid_openapi_3_1_and_says_it_is_a_mock() -> None:
    document = yaml.safe_load(OPENAPI_PATH.read_text(encoding="utf-8"))
    validate(document)
    assert document["openapi"].startswith("3.1") and "MOCK" in document["info"]["description"]
    assert all("gov.vn" not in server["url"] for server in document["servers"])


def test_the_contract_is_served_with_this_servers_url(client: httpx.Client, server: MockServer) -> None:
    served = yaml.safe_load(client.get(f"{BASE}/openapi.yaml").text)
    assert served["servers"][0]["url"] == f"{server.base_url}{BASE}"
    validate(served)


def test_the_contract_helper_rejects_a_body_that_breaks_the_schema() -> None:
    from jsonschema import ValidationError

    good = {
        "MaSuKien": "SK-000001",
        "LoaiSuKien": "KhaiTu",
        "SoDinhDanh": "001203012345",
        "SoDinhDanhVoChong": None,
        "NgaySuKien": "2026-01-02",
        "MaXaDangKy": "00004",
        "ThoiDiemGhiNhan": "2026-01-02T10:00:00Z",
    }
    validate_response(OPENAPI_PATH, "/events/{MaSuKien}", "get", 200, good)
    for broken in (
        {**good, "NgaySuKien": "2026-13-02"},
        {**good, "ThoiDiemGhiNhan": "2026-01-02T25:00:00Z"},
        {k: v for k, v in good.items() if k != "MaXaDangKy"},
        {**good, "extra": 1},
    ):
        with pytest.raises(ValidationError):
            validate_response(OPENAPI_PATH, "/events/{MaSuKien}", "get", 200, broken)


def test_every_kind_of_answer_matches_the_contract(client: httpx.Client) -> None:
    set_clock(client, LATE)
    granted = token(client)
    validate_response(OPENAPI_PATH, "/oauth/token", "post", 200, granted.json())
    headers = {"Authorization": f"Bearer {granted.json()['access_token']}"}
    for page in pages(client, headers, EARLIEST, 1000):
        validate_response(OPENAPI_PATH, "/events", "get", 200, page)  # defects included: shape, not quality
    one = client.get(f"{BASE}/events/SK-000001", headers=headers)
    validate_response(OPENAPI_PATH, "/events/{MaSuKien}", "get", 200, one.json())
    answers = [
        ("/events", client.get(f"{BASE}/events", params={"since": "soon"}, headers=headers), 400),
        ("/events", client.get(f"{BASE}/events", params={"since": EARLIEST}), 401),
        ("/events/{MaSuKien}", client.get(f"{BASE}/events/SK-999999", headers=headers), 404),
        ("/events/{MaSuKien}", client.get(f"{BASE}/events/SK-000001"), 401),
    ]
    for template, response, status in answers:
        assert response.status_code == status
        assert response.headers["content-type"] == "application/problem+json"
        validate_response(OPENAPI_PATH, template, "get", status, response.json())
    for response, status in (
        (token(client, grant_type="password"), 400),
        (token(client, client_id="lgsp-demo", client_secret="wrong"), 401),
    ):
        assert response.status_code == status
        validate_response(OPENAPI_PATH, "/oauth/token", "post", status, response.json())


# --- OAuth2 client credentials ----------------------------------------------------------------


def test_a_token_by_basic_or_by_form_fields(client: httpx.Client) -> None:
    for response in (token(client), token(client, client_id=CREDENTIALS[0], client_secret=CREDENTIALS[1])):
        assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
        body = response.json()
        assert body["token_type"] == "Bearer" and body["expires_in"] == 60
        headers = {"Authorization": f"Bearer {body['access_token']}"}
        assert client.get(f"{BASE}/events", params={"since": EARLIEST, "limit": 1}, headers=headers).status_code == 200


def test_wrong_credentials_are_invalid_client_and_say_nothing_more(client: httpx.Client) -> None:
    for response in (
        token(client, client_id="lgsp-demo", client_secret="wrong"),
        token(client, client_id="someone", client_secret=CREDENTIALS[1]),
        client.post(f"{BASE}/oauth/token", data={"grant_type": "client_credentials"}, auth=("x", "y")),
    ):
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_client"
        assert "wrong" not in response.text and "someone" not in response.text


def test_other_grants_and_malformed_requests_are_refused(client: httpx.Client) -> None:
    assert token(client, grant_type="password").json()["error"] == "unsupported_grant_type"
    no_grant = client.post(f"{BASE}/oauth/token", data={}, auth=CREDENTIALS)
    assert no_grant.status_code == 400 and no_grant.json()["error"] == "invalid_request"
    as_json = client.post(f"{BASE}/oauth/token", json={"grant_type": "client_credentials"}, auth=CREDENTIALS)
    assert as_json.status_code == 400 and as_json.json()["error"] == "invalid_request"
    both_ways = client.post(
        f"{BASE}/oauth/token",
        auth=CREDENTIALS,
        data={"grant_type": "client_credentials", "client_id": CREDENTIALS[0], "client_secret": CREDENTIALS[1]},
    )
    assert both_ways.status_code == 400 and both_ways.json()["error"] == "invalid_request"
    twice = client.post(
        f"{BASE}/oauth/token",
        content="grant_type=client_credentials&grant_type=client_credentials",
        headers={"content-type": "application/x-www-form-urlencoded"},
        auth=CREDENTIALS,
    )
    assert twice.status_code == 400


@pytest.mark.parametrize("authorization", [None, "Bearer", "Bearer not-a-token", "Basic bGdzcC1kZW1vOng="])
def test_events_need_a_token_we_issued(client: httpx.Client, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = client.get(f"{BASE}/events", params={"since": EARLIEST}, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="civil-status", error="invalid_token"'
    assert response.json()["type"] == "urn:lgsp:mock:civil-status:problem:unauthorized"


def test_revoking_tokens_makes_clients_fetch_new_ones(client: httpx.Client) -> None:
    headers = bearer(client)
    query = {"since": EARLIEST, "limit": 1}
    assert client.get(f"{BASE}/events", params=query, headers=headers).status_code == 200
    assert client.post(f"{BASE}/_admin/revoke-tokens").json()["revoked"] >= 1
    assert client.get(f"{BASE}/events", params=query, headers=headers).status_code == 401
    assert client.get(f"{BASE}/events", params=query, headers=bearer(client)).status_code == 200


def test_tokens_expire_in_real_time(population: Any) -> None:
    settings = MockSettings(citizens=population.citizens, seed=population.seed, feed_days=10, token_ttl_seconds=1)
    with MockServer(settings, population=population) as server, httpx.Client(base_url=server.base_url) as http:
        granted = token(http).json()
        assert granted["expires_in"] == 1
        headers = {"Authorization": f"Bearer {granted['access_token']}"}
        query = {"since": EARLIEST, "limit": 1}
        assert http.get(f"{BASE}/events", params=query, headers=headers).status_code == 200
        time.sleep(1.1)
        expired = http.get(f"{BASE}/events", params=query, headers=headers)
        assert expired.status_code == 401 and 'error="invalid_token"' in expired.headers["www-authenticate"]


def test_other_client_credentials_from_the_settings(population: Any) -> None:
    settings = MockSettings(
        citizens=population.citizens,
        seed=population.seed,
        feed_days=10,
        civil_status_client_id="agency-7",
        civil_status_client_secret="s3cret-for-tests",
    )
    with MockServer(settings, population=population) as server, httpx.Client(base_url=server.base_url) as http:
        assert token(http).status_code == 401  # the demo credentials no longer work
        form = {"grant_type": "client_credentials"}
        ok = http.post(f"{BASE}/oauth/token", data=form, auth=("agency-7", "s3cret-for-tests"))
        assert ok.status_code == 200


# --- reading the feed ---------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [1, 7, 1000])
def test_paging_returns_every_event_once_in_order(client: httpx.Client, server: MockServer, limit: int) -> None:
    set_clock(client, LATE)
    headers = bearer(client)
    seen = [item for page in pages(client, headers, EARLIEST, limit) for item in page["items"]]
    want = expected(server, epoch(EARLIEST), epoch(LATE))
    assert seen == want  # duplicate_conflict pairs included, back to back
    keys = [(item["ThoiDiemGhiNhan"], item["MaSuKien"]) for item in seen]
    assert keys == sorted(keys)
    twice = {ident for ident, kind in server.civil_status.defects.items() if kind == "duplicate_conflict"}
    counts = {ident: [item["MaSuKien"] for item in seen].count(ident) for ident in twice}
    assert set(counts.values()) <= {2} and len({item["MaSuKien"] for item in seen}) == len(seen) - len(twice)


def test_default_page_is_100(client: httpx.Client) -> None:
    set_clock(client, LATE)
    page = client.get(f"{BASE}/events", params={"since": EARLIEST}, headers=bearer(client)).json()
    assert len(page["items"]) == 100 and page["next_cursor"]


def test_since_is_exclusive_and_any_offset_works(client: httpx.Client, server: MockServer) -> None:
    set_clock(client, LATE)
    headers = bearer(client)
    events = server.civil_status.events
    middle = events[len(events) // 2].thoi_diem_ghi_nhan
    utc = datetime.fromtimestamp(middle, UTC)
    as_z = utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    as_plus7 = utc.astimezone(timezone(timedelta(hours=7))).isoformat()  # e.g. ...T17:00:00+07:00
    from_z, from_plus7 = read_all(client, headers, as_z), read_all(client, headers, as_plus7)
    assert from_z == from_plus7 == expected(server, middle, epoch(LATE))
    assert all(item["ThoiDiemGhiNhan"] > as_z for item in from_z)
    assert read_all(client, headers, LATE) == []


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"since": "2031-02-03"},
        {"since": "2031-02-03T04:05:06"},
        {"since": "2031-13-03T04:05:06Z"},
        {"since": EARLIEST, "limit": "0"},
        {"since": EARLIEST, "limit": "1001"},
        {"since": EARLIEST, "limit": "ten"},
        {"since": EARLIEST, "cursor": ""},
        {"since": EARLIEST, "cursor": "bm9wZQ"},
    ],
)
def test_bad_parameters_are_400_problems_that_repeat_nothing(client: httpx.Client, query: dict[str, str]) -> None:
    response = client.get(f"{BASE}/events", params=query, headers=bearer(client))
    assert response.status_code == 400 and response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 400 and problem["type"].startswith("urn:lgsp:mock:civil-status:problem:")
    assert all(value not in problem["detail"] for value in query.values() if len(value) > 3)


def test_a_cursor_is_bound_to_its_since_and_signed(client: httpx.Client) -> None:
    set_clock(client, LATE)
    headers = bearer(client)
    first = client.get(f"{BASE}/events", params={"since": EARLIEST, "limit": 5}, headers=headers).json()
    cursor = first["next_cursor"]
    other_since = client.get(
        f"{BASE}/events", params={"since": "1950-01-01T00:00:00Z", "cursor": cursor}, headers=headers
    )
    assert other_since.status_code == 400
    tampered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    assert (
        client.get(f"{BASE}/events", params={"since": EARLIEST, "cursor": tampered}, headers=headers).status_code == 400
    )


def test_one_event_by_id(client: httpx.Client, server: MockServer) -> None:
    set_clock(client, LATE)
    headers = bearer(client)
    dataset = server.civil_status
    for event in dataset.events[:: max(1, len(dataset.events) // 20)]:
        response = client.get(f"{BASE}/events/{event.ma_su_kien}", headers=headers)
        first = next(e for e in dataset.events if e.ma_su_kien == event.ma_su_kien)
        assert response.status_code == 200 and response.json() == event_object(first)
    missing = client.get(f"{BASE}/events/SK-424242", headers=headers)
    assert missing.status_code == 404 and "SK-424242" not in missing.text


def test_the_population_clock_reveals_events(client: httpx.Client, server: MockServer) -> None:
    headers = bearer(client)
    at_epoch = read_all(client, headers)
    assert at_epoch == expected(server, epoch(EARLIEST), EPOCH)
    assert all(item["ThoiDiemGhiNhan"] < "2026-01-01" for item in at_epoch)
    # A client that stopped mid-feed keeps its cursor across a clock change: nothing skipped or repeated.
    since = at_epoch[-1]["ThoiDiemGhiNhan"]
    client.post("/population/_admin/clock", json={"advance_days": 4}).raise_for_status()
    first = client.get(f"{BASE}/events", params={"since": since, "limit": 1}, headers=headers).json()
    assert first["next_cursor"] is not None
    client.post("/population/_admin/clock", json={"advance_days": 6}).raise_for_status()
    new, cursor = list(first["items"]), first["next_cursor"]
    while cursor is not None:
        page = client.get(f"{BASE}/events", params={"since": since, "limit": 1, "cursor": cursor}, headers=headers)
        new += page.json()["items"]
        cursor = page.json()["next_cursor"]
    assert new == expected(server, epoch(since), EPOCH + 10 * DAY)
    assert {item["LoaiSuKien"] for item in new} >= {"KetHon", "KhaiTu"}


def test_same_seed_same_bytes(client: httpx.Client, population: Any, mock_settings: MockSettings) -> None:
    set_clock(client, LATE)
    with MockServer(mock_settings, population=population) as twin, httpx.Client(base_url=twin.base_url) as other:
        set_clock(other, LATE)
        query = {"since": EARLIEST, "limit": 1000}
        mine = client.get(f"{BASE}/events", params=query, headers=bearer(client))
        theirs = other.get(f"{BASE}/events", params=query, headers=bearer(other))
        assert mine.content == theirs.content


# --- faults ------------------------------------------------------------------------------------


def test_503_is_a_problem_and_429_says_when_to_retry(client: httpx.Client) -> None:
    headers = bearer(client)
    query = {"since": EARLIEST, "limit": 1}
    arm(client, fault="unavailable_fault", operation="events")
    arm(client, fault="http_429", operation="events")
    unavailable = client.get(f"{BASE}/events", params=query, headers=headers)
    assert unavailable.status_code == 503 and unavailable.headers["content-type"] == "application/problem+json"
    validate_response(OPENAPI_PATH, "/events", "get", 503, unavailable.json())
    limited = client.get(f"{BASE}/events", params=query, headers=headers)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "7"
    assert client.get(f"{BASE}/events", params=query, headers=headers).status_code == 200


def test_faults_come_before_authentication_and_hit_the_token_endpoint(client: httpx.Client) -> None:
    arm(client, fault="http_503", operation="token")
    assert token(client).status_code == 503
    arm(client, fault="http_502", operation="event")
    assert client.get(f"{BASE}/events/SK-000001").status_code == 502  # no token needed to see the fault
    assert token(client).status_code == 200


def test_broken_bodies_are_not_json(client: httpx.Client) -> None:
    set_clock(client, LATE)
    headers = bearer(client)
    for kind in ("malformed_body", "truncated_body", "dtd_entity"):
        arm(client, fault=kind, operation="events")
        response = client.get(f"{BASE}/events", params={"since": EARLIEST, "limit": 50}, headers=headers)
        assert response.status_code == 200 and int(response.headers["content-length"]) == len(response.content)
        with pytest.raises(json.JSONDecodeError):
            json.loads(response.content)
        if kind == "dtd_entity":
            assert b"<!ENTITY" in response.content
        if kind == "truncated_body":
            whole = client.get(f"{BASE}/events", params={"since": EARLIEST, "limit": 50}, headers=headers)
            assert whole.content.startswith(response.content) and len(response.content) < len(whole.content)


def test_a_reset_drops_the_connection(client: httpx.Client) -> None:
    headers = bearer(client)
    arm(client, fault="connection_reset", operation="events")
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        client.get(f"{BASE}/events", params={"since": EARLIEST}, headers=headers)
    assert client.get(f"{BASE}/events", params={"since": EARLIEST}, headers=headers).status_code == 200


def test_rules_for_another_system_leave_this_one_alone(client: httpx.Client) -> None:
    client.post("/_admin/faults", json={"fault": "http_500", "system": "population"}).raise_for_status()
    assert client.get(f"{BASE}/events", params={"since": EARLIEST}, headers=bearer(client)).status_code == 200
