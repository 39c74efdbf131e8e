"""The national portal mock over real HTTP: idempotency, regressions, validation, rate limit, listing, faults."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from openapi_contract import validate_response
from openapi_spec_validator import validate

from mocks.population.dataset import PopulationDataset
from mocks.server import MockServer
from mocks.settings import MockSettings
from schemas.portal import OPENAPI_PATH

KEY = {"X-API-Key": "demo-only-key"}
CODE = "H38.01-260101-0001"
UPDATE = {
    "TrangThai": "TiepNhan",
    "ThoiDiem": "2026-01-01T08:00:00+07:00",
    "MaThuTuc": "TT-KS-01",
    "MaDonViXuLy": "TINH",
    "KenhNop": "TrucTuyen",
}


@pytest.fixture
def portal(client: httpx.Client) -> Iterator[httpx.Client]:
    """The shared client, on an empty portal."""
    client.delete("/portal/v1/_admin/state").raise_for_status()
    yield client


def put(client: httpx.Client, body: Any, key: str | None, code: str = CODE) -> httpx.Response:
    headers = {**KEY, **({"Idempotency-Key": key} if key is not None else {})}
    response = client.put(f"/portal/v1/dossiers/{code}/status", json=body, headers=headers)
    if response.headers.get("content-type", "").endswith("json"):
        validate_response(OPENAPI_PATH, "/dossiers/{MaHoSo}/status", "put", response.status_code, response.json())
    return response


def held(client: httpx.Client, code: str = CODE) -> httpx.Response:
    response = client.get(f"/portal/v1/dossiers/{code}", headers=KEY)
    validate_response(OPENAPI_PATH, "/dossiers/{MaHoSo}", "get", response.status_code, response.json())
    return response


def stats(client: httpx.Client) -> dict[str, int]:
    body: dict[str, int] = client.get("/portal/v1/_admin/stats").json()
    validate_response(OPENAPI_PATH, "/_admin/stats", "get", 200, body)
    return body


def test_the_contract_is_valid_openapi_3_1_and_says_it_is_a_mock(portal: httpx.Client) -> None:
    spec = yaml.safe_load(OPENAPI_PATH.read_text(encoding="utf-8"))
    validate(spec)
    assert "mock" in spec["info"]["description"].lower() and "not" in spec["info"]["description"]
    assert yaml.safe_load(portal.get("/portal/v1/openapi.yaml").content) == spec


def test_an_update_is_acknowledged_and_held(portal: httpx.Client) -> None:
    assert held(portal).status_code == 404
    accepted = put(portal, UPDATE, "k1")
    assert accepted.status_code == 202
    ack = accepted.json()["MaXacNhan"]
    view = held(portal).json()
    assert view == {
        "MaHoSo": CODE,
        **UPDATE,
        "MaXacNhan": ack,
        "LichSu": [{"TrangThai": "TiepNhan", "ThoiDiem": UPDATE["ThoiDiem"], "MaXacNhan": ack}],
    }


def test_the_same_key_gives_the_same_ack_and_another_body_under_it_is_422(portal: httpx.Client) -> None:
    first = put(portal, UPDATE, "k1")
    again = put(portal, UPDATE, "k1")
    assert (first.status_code, again.status_code) == (202, 200) and first.json() == again.json()
    assert put(portal, {**UPDATE, "TrangThai": "DangXuLy"}, "k1").status_code == 422
    assert put(portal, UPDATE, "k1", code="H38.01-260101-0002").status_code == 422  # same key, other dossier
    duplicate = put(portal, UPDATE, "k1-new")  # the update held, under a new key
    assert duplicate.status_code == 200 and duplicate.json() == first.json()
    assert len(held(portal).json()["LichSu"]) == 1
    assert stats(portal) == {
        "accepted": 1,
        "duplicates": 2,
        "rejected_400": 0,
        "rejected_409": 0,
        "rejected_422": 2,
        "throttled_429": 0,
        "dossiers": 1,
        "updates": 1,
    }


def test_a_status_that_would_go_backwards_is_409_and_nothing_is_stored(portal: httpx.Client) -> None:
    result = {**UPDATE, "TrangThai": "CoKetQua", "ThoiDiem": "2026-01-03T08:00:00+07:00"}
    assert put(portal, result, "a").status_code == 202
    before = held(portal).json()
    for key, change in {
        "lower": {"TrangThai": "DangXuLy", "ThoiDiem": "2026-01-04T08:00:00+07:00"},
        "older": {"TrangThai": "DaTraKetQua", "ThoiDiem": "2026-01-02T08:00:00+07:00"},
        "older-by-offset": {"TrangThai": "DaTraKetQua", "ThoiDiem": "2026-01-03T00:59:59Z"},  # 07:59:59+07:00
        "reject-after-result": {"TrangThai": "TuChoi", "ThoiDiem": "2026-01-04T08:00:00+07:00"},
    }.items():
        refused = put(portal, {**UPDATE, **change}, key)
        assert refused.status_code == 409, key
        assert refused.headers["content-type"] == "application/problem+json"
    assert held(portal).json() == before
    same_instant = {**UPDATE, "TrangThai": "DaTraKetQua", "ThoiDiem": "2026-01-03T01:00:00Z"}
    assert put(portal, same_instant, "b").status_code == 202  # the same instant as the one held is not older
    after_terminal = {**UPDATE, "TrangThai": "CoKetQua", "ThoiDiem": "2026-01-05T08:00:00+07:00"}
    assert put(portal, after_terminal, "c").status_code == 409  # nothing follows a terminal status
    assert stats(portal)["rejected_409"] == 5


@pytest.mark.parametrize(
    "body",
    [
        {**UPDATE, "TrangThai": "HoanThanh"},
        {k: v for k, v in UPDATE.items() if k != "KenhNop"},
        {**UPDATE, "ThoiDiem": "2026-01-01"},
        {**UPDATE, "ThoiDiem": "2026-01-01T08:00:00"},  # no offset
        {**UPDATE, "ThoiDiem": "01/01/2026 08:00"},
        {**UPDATE, "MaThuTuc": "TT-ZZ-01"},  # not in the catalogue
        {**UPDATE, "MaDonViXuLy": "HUYEN"},
        {**UPDATE, "Extra": "x"},
        ["not", "an", "object"],
    ],
)
def test_an_invalid_payload_is_422_and_not_echoed(portal: httpx.Client, body: Any) -> None:
    refused = put(portal, body, "bad")
    assert refused.status_code == 422
    assert "HoanThanh" not in refused.text and "TT-ZZ-01" not in refused.text and "01/01/2026" not in refused.text
    assert held(portal).status_code == 404 and stats(portal)["rejected_422"] == 1


def test_without_an_idempotency_key_it_is_400(portal: httpx.Client) -> None:
    assert put(portal, UPDATE, None).status_code == 400
    assert put(portal, UPDATE, "").status_code == 400
    assert put(portal, UPDATE, "x" * 256).status_code == 400
    not_json = portal.put(f"/portal/v1/dossiers/{CODE}/status", content=b"{", headers={**KEY, "Idempotency-Key": "j"})
    assert not_json.status_code == 400
    assert stats(portal)["rejected_400"] == 4 and held(portal).status_code == 404


def test_the_api_key_is_required(portal: httpx.Client) -> None:
    for headers in ({}, {"X-API-Key": "nope"}):
        with_key = {**headers, "Idempotency-Key": "a"}
        denied = portal.put(f"/portal/v1/dossiers/{CODE}/status", json=UPDATE, headers=with_key)
        assert denied.status_code == 401
        assert portal.get(f"/portal/v1/dossiers/{CODE}", headers=headers).status_code == 401
    assert stats(portal)["accepted"] == 0


def test_listing_pages_through_everything_held_in_order(portal: httpx.Client) -> None:
    codes = [f"H38.01-260101-{n:04d}" for n in range(23, 0, -1)]
    for number, code in enumerate(codes):
        assert put(portal, UPDATE, f"list-{number}", code=code).status_code == 202
    for limit in (1, 7, 1000):
        seen: list[dict[str, Any]] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
            response = portal.get("/portal/v1/dossiers", params=params, headers=KEY)
            validate_response(OPENAPI_PATH, "/dossiers", "get", 200, response.json())
            seen += response.json()["items"]
            cursor = response.json()["next_cursor"]
            if cursor is None:
                break
        assert [item["MaHoSo"] for item in seen] == sorted(codes)
    bad = portal.get("/portal/v1/dossiers", params={"cursor": "forged"}, headers=KEY)
    assert bad.status_code == 422


def test_faults_are_observable(portal: httpx.Client) -> None:
    portal.post("/_admin/faults", json={"fault": "http_503", "system": "one_stop"}).raise_for_status()
    portal.post("/_admin/faults", json={"fault": "http_502", "system": "portal", "operation": "put_status"})
    portal.post("/_admin/faults", json={"fault": "truncated_body", "system": "portal", "operation": "get_status"})
    assert put(portal, UPDATE, "f").status_code == 502
    assert put(portal, UPDATE, "f").status_code == 202  # the retry with the same key is accepted once
    truncated = portal.get(f"/portal/v1/dossiers/{CODE}", headers=KEY)
    assert truncated.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        truncated.json()
    assert held(portal).status_code == 200


def test_under_load_it_answers_429_with_retry_after(population: PopulationDataset, mock_settings: MockSettings) -> None:
    settings = mock_settings.model_copy(update={"portal_rate_per_second": 2.0})
    with MockServer(settings, population=population) as slow, httpx.Client(base_url=slow.base_url) as client:
        later = [{**UPDATE, "ThoiDiem": f"2026-01-01T08:00:0{n}+07:00"} for n in range(6)]
        answers = [put(client, body, f"load-{n}").status_code for n, body in enumerate(later)]
        throttled = client.get(f"/portal/v1/dossiers/{CODE}", headers=KEY)
        counters = client.get("/portal/v1/_admin/stats").json()
    assert answers[:2] == [202, 202] and 429 in answers[2:]  # a burst of one second's worth, then the limit
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) >= 1
    assert throttled.headers["content-type"] == "application/problem+json"
    assert counters["throttled_429"] == answers.count(429) + 1
