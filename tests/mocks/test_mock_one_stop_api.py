"""The one-stop system over real HTTP: contract, authentication, change feed, paging, clock, faults."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from openapi_contract import validate_response
from openapi_spec_validator import validate

from mocks.clock import DAY, EPOCH
from mocks.one_stop.dataset import OneStopDataset
from mocks.population.dataset import PopulationDataset
from mocks.server import MockServer
from mocks.settings import MockSettings
from schemas.one_stop import OPENAPI_PATH, STATUS_ORDER

KEY = {"X-API-Key": "demo-only-key"}
LONG_AGO = "2025-01-01T00:00:00Z"
DOSSIERS = 600


def one_stop_settings(base: MockSettings, **changes: Any) -> MockSettings:
    return base.model_copy(update={"one_stop_dossiers": DOSSIERS, "one_stop_defect_rate": 0.05, **changes})


@pytest.fixture(scope="module")
def server(population: PopulationDataset, mock_settings: MockSettings) -> Iterator[MockServer]:
    """A mock server with 600 dossiers (30 defective); the shared `client` fixture resets clock and faults."""
    with MockServer(one_stop_settings(mock_settings), population=population) as running:
        yield running


@pytest.fixture(scope="module")
def dataset(server: MockServer) -> OneStopDataset:
    return server.one_stop.dataset


def list_page(client: httpx.Client, **params: Any) -> httpx.Response:
    return client.get("/one-stop/v1/dossiers", params={"updated_since": LONG_AGO, **params}, headers=KEY)


def page_through(client: httpx.Client, limit: int, since: str = LONG_AGO) -> list[dict[str, Any]]:
    """Every dossier listed from ``since``, following next_cursor; each page checked against the contract."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"updated_since": since, "limit": limit, **({"cursor": cursor} if cursor else {})}
        response = client.get("/one-stop/v1/dossiers", params=params, headers=KEY)
        assert response.status_code == 200, response.text
        body = response.json()
        validate_response(OPENAPI_PATH, "/dossiers", "get", 200, body)
        assert len(body["items"]) <= limit
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


def set_clock(client: httpx.Client, seconds: int) -> None:
    """Move the shared mock clock (the population mock's admin endpoint moves it for every system)."""
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
    client.post("/population/_admin/clock", json={"to": iso}).raise_for_status()


def test_the_contract_is_valid_openapi_3_1_and_says_it_is_a_mock(client: httpx.Client) -> None:
    spec = yaml.safe_load(OPENAPI_PATH.read_text(encoding="utf-8"))
    validate(spec)
    assert spec["openapi"].startswith("3.1")
    assert "mock" in spec["info"]["description"].lower() and "not" in spec["info"]["description"]
    served = client.get("/one-stop/v1/openapi.yaml")
    assert served.status_code == 200 and yaml.safe_load(served.content) == spec


def test_requests_without_the_right_api_key_get_401_problem_json(client: httpx.Client) -> None:
    for headers in ({}, {"X-API-Key": "wrong"}):
        response = client.get("/one-stop/v1/dossiers", params={"updated_since": LONG_AGO}, headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        validate_response(OPENAPI_PATH, "/dossiers", "get", 401, response.json())


@pytest.mark.parametrize("limit", [1, 7, 1000])
def test_paging_serves_each_dossier_once_and_duplicates_twice_in_order(
    client: httpx.Client, dataset: OneStopDataset, limit: int
) -> None:
    set_clock(client, EPOCH + 5 * DAY)
    items = page_through(client, limit)
    assert items == dataset.snapshot(EPOCH + 5 * DAY)
    keys = [(item["NgayCapNhat"], item["MaHoSo"]) for item in items]
    assert keys == sorted(keys)  # one offset (+07:00) throughout, so text order is time order
    counts = Counter(item["MaHoSo"] for item in items)
    duplicated = {code for code, kind in dataset.defects.items() if kind == "duplicate_conflict"}
    assert {code for code, count in counts.items() if count == 2} == duplicated
    assert set(counts.values()) == {1, 2}


def test_updated_since_is_strict_and_any_offset_is_accepted(client: httpx.Client) -> None:
    everything = page_through(client, 1000)
    middle = everything[len(everything) // 2]["NgayCapNhat"]  # +07:00
    later = page_through(client, 1000, since=middle)
    assert later == [item for item in everything if item["NgayCapNhat"] > middle]
    as_utc = middle.replace("+07:00", "Z")  # the same wall-clock digits in UTC: 7 hours later
    assert len(page_through(client, 1000, since=as_utc)) < len(later)


def test_the_clock_advances_statuses_monotonically(client: httpx.Client, dataset: OneStopDataset) -> None:
    before = {(d["MaHoSo"], d["KenhNop"]): d for d in page_through(client, 1000)}
    client.post("/population/_admin/clock", json={"advance_days": 4}).raise_for_status()
    after = {(d["MaHoSo"], d["KenhNop"]): d for d in page_through(client, 1000)}
    assert before.keys() < after.keys()  # new dossiers arrive, none vanish
    moved = [key for key in before if after[key]["TrangThai"] != before[key]["TrangThai"]]
    assert len(moved) > 20
    for key, old in before.items():
        assert STATUS_ORDER[after[key]["TrangThai"]] >= STATUS_ORDER[old["TrangThai"]]
    # The feed shows exactly what changed since the first look's newest update.
    newest = max(d["NgayCapNhat"] for d in before.values())
    changed = page_through(client, 1000, since=newest)
    assert {(d["MaHoSo"], d["KenhNop"]) for d in changed} == {k for k, d in after.items() if d["NgayCapNhat"] > newest}


def test_a_cursor_is_bound_to_its_query_and_cannot_be_forged(client: httpx.Client) -> None:
    cursor = list_page(client, limit=5).json()["next_cursor"]
    assert cursor
    for params in (
        {"cursor": cursor, "updated_since": "2025-06-01T00:00:00Z"},
        {"cursor": cursor[:-1] + ("0" if cursor[-1] != "0" else "1")},
        {"cursor": "not-a-cursor"},
    ):
        response = list_page(client, **params)
        assert response.status_code == 422
        validate_response(OPENAPI_PATH, "/dossiers", "get", 422, response.json())


@pytest.mark.parametrize(
    "params",
    [
        {"updated_since": None},
        {"updated_since": "2026-01-01"},
        {"updated_since": "2026-01-01T00:00:00"},
        {"limit": 0},
        {"limit": 1001},
        {"limit": "ten"},
    ],
)
def test_bad_parameters_are_422_and_not_echoed(client: httpx.Client, params: dict[str, Any]) -> None:
    query = {"updated_since": LONG_AGO, **params}
    response = client.get(
        "/one-stop/v1/dossiers", params={k: v for k, v in query.items() if v is not None}, headers=KEY
    )
    assert response.status_code == 422
    validate_response(OPENAPI_PATH, "/dossiers", "get", 422, response.json())
    assert "2026-01-01" not in response.text and "ten" not in response.json()["detail"].split()


def test_same_seed_same_bytes(population: PopulationDataset, mock_settings: MockSettings, client: httpx.Client) -> None:
    twin = MockServer(one_stop_settings(mock_settings), population=population)
    with twin, httpx.Client(base_url=twin.base_url) as other:
        for params in ({"limit": 50}, {"limit": 3, "cursor": list_page(client, limit=3).json()["next_cursor"]}):
            assert list_page(client, **params).content == list_page(other, **params).content


def test_dossiers_are_generated_on_first_use(population: PopulationDataset, mock_settings: MockSettings) -> None:
    # A server started for another system does not pay for the dossiers.
    lazy = MockServer(one_stop_settings(mock_settings), population=population)
    assert lazy.one_stop._built is None
    assert len(lazy.one_stop.dataset) > DOSSIERS


def test_faults_are_observable_per_system_and_operation(client: httpx.Client) -> None:
    client.post("/_admin/faults", json={"fault": "http_503", "system": "portal"}).raise_for_status()
    client.post("/_admin/faults", json={"fault": "http_503", "system": "one_stop", "operation": "list_dossiers"})
    client.post("/_admin/faults", json={"fault": "malformed_body", "system": "one_stop"}).raise_for_status()
    client.post("/_admin/faults", json={"fault": "unavailable_fault", "system": "one_stop"}).raise_for_status()
    client.post("/_admin/faults", json={"fault": "http_429", "system": "one_stop", "seconds": 4}).raise_for_status()
    assert client.get("/one-stop/v1/dossiers").status_code == 503  # faults come before authentication
    malformed = list_page(client)
    assert malformed.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        malformed.json()
    unavailable = list_page(client)
    assert unavailable.status_code == 503 and unavailable.headers["content-type"] == "application/problem+json"
    throttled = list_page(client)
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "4"
    assert list_page(client).status_code == 200
    rules = client.get("/_admin/faults").json()["rules"]
    assert [rule["fired"] for rule in rules] == [0, 1, 1, 1, 1]  # the portal's rule never matched
