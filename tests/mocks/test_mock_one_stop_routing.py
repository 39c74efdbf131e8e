"""Cross-boundary routing over real HTTP: inbox, the commune's results, returns, and the dossier moving on.

Each test routes dossiers no other test touches, so they share one server.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from openapi_contract import validate_response

from mocks.clock import DAY, EPOCH
from mocks.one_stop.dataset import OneStopDataset
from mocks.population.dataset import PopulationDataset
from mocks.server import MockServer
from mocks.settings import MockSettings
from schemas.one_stop import OPENAPI_PATH

KEY = {"X-API-Key": "demo-only-key"}
BASE = "/one-stop/v1"


@pytest.fixture(scope="module")
def server(population: PopulationDataset, mock_settings: MockSettings) -> Iterator[MockServer]:
    """600 dossiers, about 50 of them waiting to be routed."""
    settings = mock_settings.model_copy(update={"one_stop_dossiers": 600, "one_stop_defect_rate": 0.05})
    with MockServer(settings, population=population) as running:
        yield running


@pytest.fixture(scope="module")
def waiting(server: MockServer) -> Iterator[tuple[str, str]]:
    """Hands out (MaHoSo, competent commune) of dossiers waiting at EPOCH, one per call, never twice."""
    dataset: OneStopDataset = server.one_stop.dataset
    at_epoch = {d["MaHoSo"]: d for d in dataset.snapshot(EPOCH)}
    ready = [
        (code, commune)
        for code, commune in dataset.routing.items()
        if code in at_epoch and at_epoch[code]["TrangThai"] == "DangXuLy"
    ]
    assert len(ready) >= 10
    return iter(ready)


def post(client: httpx.Client, path: str, body: dict[str, Any], key: str | None) -> httpx.Response:
    headers = {**KEY, **({"Idempotency-Key": key} if key else {})}
    response = client.post(BASE + path, json=body, headers=headers)
    template = "/units/{MaDonVi}/" + path.rsplit("/", 1)[1]
    if response.headers.get("content-type", "").endswith("json"):
        validate_response(OPENAPI_PATH, template, "post", response.status_code, response.json())
    return response


def route(client: httpx.Client, code: str, commune: str, key: str | None, sender: str = "TINH") -> httpx.Response:
    return post(client, f"/units/{commune}/inbox", {"MaHoSo": code, "MaDonViGui": sender}, key)


def give_back(client: httpx.Client, body: dict[str, Any], key: str, unit: str = "TINH") -> httpx.Response:
    return post(client, f"/units/{unit}/returns", body, key)


def results(client: httpx.Client, commune: str, **params: Any) -> httpx.Response:
    response = client.get(
        f"{BASE}/units/{commune}/results", params={"since": "2025-01-01T00:00:00Z", **params}, headers=KEY
    )
    validate_response(OPENAPI_PATH, "/units/{MaDonVi}/results", "get", response.status_code, response.json())
    return response


def state(server: MockServer, code: str, clock: int) -> dict[str, Any]:
    """The dossier as the feed shows it at ``clock`` (ground truth)."""
    return next(d for d in server.one_stop.dataset.snapshot(clock) if d["MaHoSo"] == code)


def advance(client: httpx.Client, days: float) -> int:
    client.post("/population/_admin/clock", json={"advance_days": days}).raise_for_status()
    now = client.get("/population/_admin/clock").json()["now"]
    return calendar.timegm(time.strptime(now, "%Y-%m-%dT%H:%M:%SZ"))


def test_round_trip_inbox_results_returns_then_the_dossier_moves_on(
    client: httpx.Client, server: MockServer, waiting: Iterator[tuple[str, str]]
) -> None:
    code, commune = next(waiting)
    routed = route(client, code, commune, "route-1")
    assert routed.status_code == 201
    transfer = routed.json()["MaChuyen"]
    now = state(server, code, EPOCH)
    assert (now["TrangThai"], now["MaDonViXuLy"]) == ("ChuyenXuLy", commune)
    assert now["LichSu"][-1]["TrangThai"] == "ChuyenXuLy"
    assert results(client, commune).json()["items"] == []  # the commune has not decided yet

    clock = advance(client, 3)  # decisions come 1 to 3 days later
    decided = [r for r in results(client, commune).json()["items"] if r["MaHoSo"] == code]
    assert len(decided) == 1 and decided[0]["MaChuyen"] == transfer
    outcome = decided[0]["KetQua"]

    back = give_back(client, {"MaHoSo": code, "MaChuyen": transfer, "KetQua": outcome}, "back-1")
    assert back.status_code == 201
    expected = "CoKetQua" if outcome == "ChapThuan" else "TuChoi"
    assert back.json() == {"MaHoSo": code, "MaChuyen": transfer, "TrangThai": expected}
    assert state(server, code, clock)["TrangThai"] == expected

    later = advance(client, 3)  # an approved result reaches the applicant by itself
    final = state(server, code, later)
    assert final["TrangThai"] == ("DaTraKetQua" if outcome == "ChapThuan" else "TuChoi")
    assert [e["TrangThai"] for e in final["LichSu"]][:3] == ["TiepNhan", "DangXuLy", "ChuyenXuLy"]
    assert final["MaDonViXuLy"] == commune  # the unit that decided
    listed = client.get(
        f"{BASE}/dossiers", params={"updated_since": "2025-01-01T00:00:00Z", "limit": 1000}, headers=KEY
    ).json()["items"]
    assert [d for d in listed if d["MaHoSo"] == code] == [final]


def test_inbox_and_returns_are_idempotent(
    client: httpx.Client, server: MockServer, waiting: Iterator[tuple[str, str]]
) -> None:
    code, commune = next(waiting)
    body = {"MaHoSo": code, "MaDonViGui": "TINH"}
    first = post(client, f"/units/{commune}/inbox", body, "route-2")
    again = post(client, f"/units/{commune}/inbox", body, "route-2")
    assert (first.status_code, again.status_code) == (201, 200) and first.json() == again.json()
    other_key = post(client, f"/units/{commune}/inbox", body, "route-2b")
    assert other_key.status_code == 409  # already routed: a second transfer is refused
    reused = post(client, f"/units/{commune}/inbox", {**body, "MaDonViGui": "00001"}, "route-2")
    assert reused.status_code == 422  # the key belongs to another request

    advance(client, 3)
    decided = next(r for r in results(client, commune).json()["items"] if r["MaHoSo"] == code)
    back = {"MaHoSo": code, "MaChuyen": decided["MaChuyen"], "KetQua": decided["KetQua"]}
    first_back, again_back = give_back(client, back, "back-2"), give_back(client, back, "back-2")
    assert (first_back.status_code, again_back.status_code) == (201, 200)
    assert first_back.json() == again_back.json()
    assert give_back(client, back, "back-2b").status_code == 409  # already returned
    history = [e["TrangThai"] for e in state(server, code, EPOCH + 10 * DAY)["LichSu"]]
    assert history.count("ChuyenXuLy") == 1 and history.count(history[3]) == 1  # one transfer, one result


def test_only_the_competent_commune_may_receive_a_dossier(
    client: httpx.Client, server: MockServer, waiting: Iterator[tuple[str, str]]
) -> None:
    code, commune = next(waiting)
    other = next(c for _, c in server.one_stop.dataset.routing.items() if c != commune)
    for unit, sender in ((other, "TINH"), ("TINH", "TINH"), (commune, other)):
        refused = route(client, code, unit, f"wrong-{unit}-{sender}", sender=sender)
        assert refused.status_code == 409
        assert code not in refused.text and commune not in refused.text  # errors never repeat request data
    assert state(server, code, EPOCH)["TrangThai"] == "DangXuLy"  # nothing changed
    assert route(client, code, commune, "right").status_code == 201


def test_dossiers_that_need_no_routing_or_do_not_exist_are_refused(client: httpx.Client, server: MockServer) -> None:
    dataset: OneStopDataset = server.one_stop.dataset
    settled = next(d for d in dataset.snapshot(EPOCH) if d["MaHoSo"] not in dataset.routing)
    commune = next(iter(dataset.routing.values()))
    body = {"MaHoSo": settled["MaHoSo"], "MaDonViGui": settled["MaDonViTiepNhan"]}
    assert post(client, f"/units/{commune}/inbox", body, "no-need").status_code == 409
    assert route(client, "H00.01-000000-0000", commune, "nope").status_code == 404
    future = next(
        d
        for d in dataset.snapshot(EPOCH + 30 * DAY)
        if d["MaHoSo"] in dataset.routing and d["NgayTiepNhan"] > "2026-01-02"
    )
    assert route(client, future["MaHoSo"], commune, "later").status_code == 404  # not received yet at the clock


def test_returns_before_the_decision_or_with_another_result_are_refused(
    client: httpx.Client, server: MockServer, waiting: Iterator[tuple[str, str]]
) -> None:
    code, commune = next(waiting)
    transfer = route(client, code, commune, "early").json()
    back = {"MaHoSo": code, "MaChuyen": transfer["MaChuyen"], "KetQua": "ChapThuan"}
    assert give_back(client, back, "too-early").status_code == 409
    advance(client, 3)
    decided = next(r for r in results(client, commune).json()["items"] if r["MaHoSo"] == code)
    wrong = "TuChoi" if decided["KetQua"] == "ChapThuan" else "ChapThuan"
    assert give_back(client, {**back, "KetQua": wrong}, "wrong-result").status_code == 409
    assert give_back(client, {**back, "KetQua": decided["KetQua"]}, "wrong-unit", unit=commune).status_code == 409
    assert give_back(client, {**back, "MaChuyen": "CX9999999"}, "no-transfer").status_code == 404


def test_requests_need_a_key_and_a_valid_body(client: httpx.Client, server: MockServer) -> None:
    commune = next(iter(server.one_stop.dataset.routing.values()))
    body = {"MaHoSo": "H00.01-000000-0000", "MaDonViGui": "TINH"}
    assert route(client, "H00.01-000000-0000", commune, None).status_code == 400
    assert post(client, f"/units/{commune}/inbox", {"MaHoSo": "x"}, "k").status_code == 422
    assert post(client, f"/units/{commune}/inbox", {**body, "Extra": 1}, "k").status_code == 422
    assert post(client, "/units/XA-1/inbox", body, "k").status_code == 422
    not_json = client.post(f"{BASE}/units/{commune}/inbox", content=b"{", headers={**KEY, "Idempotency-Key": "k"})
    assert not_json.status_code == 400
    assert give_back(client, {"MaHoSo": "a", "MaChuyen": "b", "KetQua": "Maybe"}, "k").status_code == 422


def test_results_page_in_order_with_a_cursor_bound_to_the_unit_and_time(
    client: httpx.Client, server: MockServer, waiting: Iterator[tuple[str, str]]
) -> None:
    routed: dict[str, list[str]] = {}
    for number, (code, commune) in enumerate(waiting):  # the rest of them
        if route(client, code, commune, f"bulk-{number}").status_code == 201:
            routed.setdefault(commune, []).append(code)
    busiest = max(routed, key=lambda c: len(routed[c]))
    advance(client, 3)
    whole = results(client, busiest, limit=1000).json()
    assert whole["next_cursor"] is None
    seen, cursor = [], None
    while True:
        page = results(client, busiest, limit=1, **({"cursor": cursor} if cursor else {})).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == whole["items"] and {r["MaHoSo"] for r in seen} >= set(routed[busiest])
    assert [(r["ThoiDiem"], r["MaChuyen"]) for r in seen] == sorted((r["ThoiDiem"], r["MaChuyen"]) for r in seen)
    if len(seen) > 1:
        cursor = results(client, busiest, limit=1).json()["next_cursor"]
        assert results(client, busiest, cursor=cursor, since="2025-06-01T00:00:00Z").status_code == 422
