"""The social insurance mock over real HTTP: contract, API key, numbered pages, the shared clock, defects, faults.

Its own module-scoped `server` (the conftest's 800 residents and 10 feed days, with a
defect rate high enough for every type); the conftest's `client` resets the clock and
the fault rules after each test. The rules below are written from the contract and
the population data, not from the generator.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import yaml
from openapi_contract import validate_response
from openapi_spec_validator import validate
from pydantic import SecretStr

from mocks.clock import DAY, EPOCH
from mocks.population.dataset import NEVER, PopulationDataset
from mocks.population.regions import regions
from mocks.server import MockServer
from mocks.settings import DEMO_API_KEY, MockSettings
from mocks.social_insurance import DEFECT_TYPES, STATUSES, SocialInsuranceDataset
from mocks.social_insurance.app import OPENAPI_PATH
from mocks.social_insurance.render import coverage_object
from schemas.personal_id import is_well_formed

BASE = "/social-insurance/v1"
EARLIEST = "1900-01-01T00:00:00Z"
KEY = {"X-Api-Key": DEMO_API_KEY}
DEFECT_RATE = 0.1
LATE = EPOCH + 30 * DAY  # after the 10 feed days and the week a move takes to reach the register
COMMUNES = regions().commune_codes
Item = dict[str, Any]


@pytest.fixture(scope="module")
def server(population: PopulationDataset, mock_settings: MockSettings) -> Iterator[MockServer]:
    """The mock server with one coverage in ten defective."""
    settings = mock_settings.model_copy(update={"social_insurance_defect_rate": DEFECT_RATE})
    with MockServer(settings, population=population) as running:
        yield running


def get(client: httpx.Client, headers: dict[str, str] | None = None, **params: Any) -> httpx.Response:
    """GET /coverages with the demo key (unless ``headers`` say otherwise)."""
    return client.get(f"{BASE}/coverages", params=params, headers=KEY if headers is None else headers)


def read_all(client: httpx.Client, since: str = EARLIEST, page_size: int = 1000) -> list[Item]:
    """Every coverage after ``since``: pages 1 to total_pages, each checked against the contract."""
    first = get(client, updated_since=since, page_size=page_size)
    assert first.status_code == 200, first.text
    items: list[Item] = []
    total_pages = first.json()["total_pages"]
    for number in range(1, total_pages + 1):
        page = first if number == 1 else get(client, updated_since=since, page=number, page_size=page_size)
        body = page.json()
        validate_response(OPENAPI_PATH, "/coverages", "get", 200, body)
        assert (body["page"], body["page_size"], body["total_pages"]) == (number, page_size, total_pages)
        assert len(body["data"]) == (page_size if number < total_pages else body["total"] - page_size * (number - 1))
        items += body["data"]
    assert len(items) == first.json()["total"]
    return items


def utc(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def set_clock(client: httpx.Client, seconds: int) -> None:
    client.post("/population/_admin/clock", json={"to": utc(seconds)}).raise_for_status()


def arm(client: httpx.Client, **rule: Any) -> None:
    client.post("/_admin/faults", json={"system": "social_insurance", **rule}).raise_for_status()


def rules_broken(item: Item, repeated: Counter[str | None]) -> set[str]:
    """The rules one delivered coverage breaks; ``repeated`` counts MaSoBHXH over the whole snapshot."""
    broken: set[str] = set()
    number, start, end, status = item["MaSoBHXH"], item["NgayBatDau"], item["NgayKetThuc"], item["TrangThai"]
    written = item["NgayCapNhat"][:10]  # the day, in the register's own time (+07:00)
    if number is None:
        broken.add("missing_insurance_number")
    elif not (len(number) == 10 and number.isdigit()):
        broken.add("insurance_number_format")
    elif repeated[number] > 1:
        broken.add("duplicate_conflict")
    if not is_well_formed(item["SoDinhDanh"]):
        broken.add("malformed_id")
    if item["MaXa"] not in COMMUNES:
        broken.add("unknown_commune")
    if start > written:
        broken.add("future_start_date")
    if end is not None and end < start:
        broken.add("end_before_start")
    if end is not None and end > written:
        broken.add("end_in_future")
    if status not in STATUSES:
        broken.add("unknown_status")
    elif (status == "DaKetThuc") != (end is not None):
        broken.add("end_date_without_ending")
    return broken


# --- the contract ---------------------------------------------------------------------------


def test_the_contract_is_valid_openapi_3_1_and_says_it_is_a_mock() -> None:
    document = yaml.safe_load(OPENAPI_PATH.read_text(encoding="utf-8"))
    validate(document)
    assert document["openapi"].startswith("3.1") and "MOCK" in document["info"]["description"]
    scheme = document["components"]["securitySchemes"]["apiKey"]
    assert scheme == {"type": "apiKey", "in": "header", "name": "X-Api-Key"}
    assert all("gov.vn" not in server["url"] for server in document["servers"])


def test_the_contract_is_served_with_this_servers_url(client: httpx.Client, server: MockServer) -> None:
    served = yaml.safe_load(client.get(f"{BASE}/openapi.yaml").text)
    assert served["servers"][0]["url"] == f"{server.base_url}{BASE}"
    validate(served)
    assert client.get(BASE).status_code == 200  # the bare prefix answers too


# --- the API key ----------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"X-Api-Key": "wrong"}, {"X-Api-Key": ""}, {"Authorization": DEMO_API_KEY}])
def test_without_the_right_key_a_401_problem(client: httpx.Client, headers: dict[str, str]) -> None:
    response = get(client, headers, updated_since=EARLIEST)
    assert response.status_code == 401 and response.headers["content-type"] == "application/problem+json"
    validate_response(OPENAPI_PATH, "/coverages", "get", 401, response.json())
    assert response.json()["type"] == "urn:lgsp:mock:social-insurance:problem:unauthorized"
    assert "wrong" not in response.text


def test_the_key_comes_from_the_settings(population: PopulationDataset, mock_settings: MockSettings) -> None:
    settings = mock_settings.model_copy(update={"social_insurance_api_key": SecretStr("another-key")})
    with MockServer(settings, population=population) as other, httpx.Client(base_url=other.base_url) as http:
        assert get(http, updated_since=EARLIEST).status_code == 401
        assert get(http, {"x-api-key": "another-key"}, updated_since=EARLIEST).status_code == 200


# --- paging and filtering -------------------------------------------------------------------


@pytest.mark.parametrize("page_size", [7, 100, 1000])
def test_all_pages_together_are_every_coverage_once_in_order(
    client: httpx.Client, server: MockServer, page_size: int
) -> None:
    items = read_all(client, page_size=page_size)
    assert items == [coverage_object(record) for record in server.social_insurance.records(EPOCH)]
    assert len(items) == 200 + Counter(server.social_insurance.defects.values())["duplicate_conflict"]
    keys = [(item["NgayCapNhat"], item["MaSoBHXH"] or "") for item in items]
    assert keys == sorted(keys)


def test_defaults_and_a_page_past_the_end(client: httpx.Client) -> None:
    body = get(client, updated_since=EARLIEST).json()
    assert (body["page"], body["page_size"], len(body["data"])) == (1, 100, 100)
    assert body["total_pages"] == -(-body["total"] // 100)
    past = get(client, updated_since=EARLIEST, page=body["total_pages"] + 1).json()
    assert past["data"] == [] and past["total"] == body["total"]
    nothing = get(client, updated_since="2030-01-01T00:00:00Z").json()
    assert (nothing["data"], nothing["total"], nothing["total_pages"]) == ([], 0, 0)


def test_updated_since_is_strict_and_any_offset_works(client: httpx.Client, server: MockServer) -> None:
    everything = read_all(client)
    middle = everything[len(everything) // 2]["NgayCapNhat"]  # +07:00, as the register writes it
    later = read_all(client, since=middle)
    assert later and all(item["NgayCapNhat"] > middle for item in later)
    assert later == [item for item in everything if item["NgayCapNhat"] > middle]
    assert len(later) < len(everything)
    assert read_all(client, since=utc(int(datetime.fromisoformat(middle).timestamp()))) == later


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({}, "updated_since"),
        ({"updated_since": "yesterday"}, "updated_since"),
        ({"updated_since": "2026-01-01T00:00:00"}, "updated_since"),  # no offset
        ({"updated_since": "2026-13-01T00:00:00Z"}, "updated_since"),
        ({"updated_since": EARLIEST, "page": "0"}, "page"),
        ({"updated_since": EARLIEST, "page": "-1"}, "page"),
        ({"updated_since": EARLIEST, "page": "one"}, "page"),
        ({"updated_since": EARLIEST, "page_size": "0"}, "page_size"),
        ({"updated_since": EARLIEST, "page_size": "1001"}, "page_size"),
        ({"updated_since": EARLIEST, "page_size": "1e2"}, "page_size"),
    ],
)
def test_bad_parameters_are_400_problems_naming_the_parameter(
    client: httpx.Client, params: dict[str, str], named: str
) -> None:
    response = get(client, **params)
    assert response.status_code == 400 and response.headers["content-type"] == "application/problem+json"
    validate_response(OPENAPI_PATH, "/coverages", "get", 400, response.json())
    assert response.json()["detail"].startswith(named + " ")
    assert all(value not in response.text for value in params.values() if value != EARLIEST and len(value) > 4)


# --- the shared clock -----------------------------------------------------------------------


def test_the_population_clock_reveals_changes(client: httpx.Client, server: MockServer) -> None:
    before = read_all(client)
    last = before[-1]["NgayCapNhat"]
    assert all(datetime.fromisoformat(item["NgayCapNhat"]).timestamp() <= EPOCH for item in before)
    set_clock(client, LATE)
    after = read_all(client)
    assert len(after) == len(before)  # every coverage once, its latest version
    changed = read_all(client, since=last)
    assert changed and changed == [item for item in after if item["NgayCapNhat"] > last]
    assert {item["TrangThai"] for item in changed} >= {"TamDung", "DaKetThuc"}
    assert changed == [coverage_object(r) for r in server.social_insurance.records(LATE, since=EPOCH)]


def test_deaths_and_moves_of_the_population_reach_the_register(
    client: httpx.Client, server: MockServer, population: PopulationDataset
) -> None:
    set_clock(client, LATE)
    deaths = moves = 0
    for item in read_all(client):
        if server.social_insurance.defects.get(item["SoDinhDanh"]) is not None:
            continue
        pid = item["SoDinhDanh"]
        initial, final = population.citizen(pid, EPOCH - 1), population.citizen(pid, NEVER)
        assert initial is not None and final is not None  # an insured person is a resident of the population mock
        if final.ngay_mat is not None:
            deaths += 1
            assert item["TrangThai"] == "DaKetThuc" and item["NgayKetThuc"] <= final.ngay_mat
        else:
            moves += item["MaXa"] != initial.ma_xa
            assert item["MaXa"] == final.ma_xa
    assert deaths and moves


# --- data: rules and defects ----------------------------------------------------------------


@pytest.mark.parametrize("clock", [EPOCH, LATE])
def test_clean_coverages_keep_every_rule_and_each_defect_breaks_exactly_its_own(
    client: httpx.Client, server: MockServer, clock: int
) -> None:
    set_clock(client, clock)
    items = read_all(client)
    repeated = Counter(item["MaSoBHXH"] for item in items)
    truth = server.social_insurance.defects
    found: Counter[str] = Counter()
    for item in items:
        broken = rules_broken(item, repeated)
        kind = truth.get(item["SoDinhDanh"])
        assert broken == ({kind} if kind else set()), (item, kind)
        found[kind or "clean"] += 1
    assert set(found) == {*DEFECT_TYPES, "clean"}
    assert found["duplicate_conflict"] % 2 == 0
    assert dict(found) == {**server.social_insurance.defect_counts(clock), "clean": found["clean"]}
    assert (
        sum(server.social_insurance.defect_counts(clock).values())
        == round(200 * DEFECT_RATE) + found["duplicate_conflict"] // 2
    )


def test_insured_people_are_adult_residents(server: MockServer, population: PopulationDataset) -> None:
    records = server.social_insurance.records()
    clean = [r for r in records if server.social_insurance.defect_of(r) is None]
    for record in clean:
        resident = population.citizen(record.so_dinh_danh, EPOCH)
        assert resident is not None and resident.ngay_mat is None and resident.ngay_sinh <= "2008-01-01"
        assert record.ma_xa == resident.ma_xa
    assert (
        len({r.so_dinh_danh for r in records})
        == len(records) - server.social_insurance.defect_counts()["duplicate_conflict"] // 2
    )
    assert Counter(r.trang_thai for r in clean).most_common(1)[0][0] == "DangThamGia"


def test_counts_follow_the_settings(population: PopulationDataset) -> None:
    default = SocialInsuranceDataset.generate(population, 11, None, 0.0, 10)
    assert len(default.records()) == 800 // 4 and not default.defects
    assert len(SocialInsuranceDataset.generate(population, 11, 300, 0.0, 10).records()) == 300
    with pytest.raises(ValueError, match="social_insurance_records=5000"):
        SocialInsuranceDataset.generate(population, 11, 5000, 0.0, 10)


def test_same_settings_same_data_another_seed_other_data(population: PopulationDataset) -> None:
    def build(seed: int) -> SocialInsuranceDataset:
        return SocialInsuranceDataset.generate(population, seed, None, 0.05, 10)

    first, again = build(11), build(11)
    assert list(first.versions) == list(again.versions) and dict(first.defects) == dict(again.defects)
    assert list(build(12).versions) != list(first.versions)


def test_same_seed_same_bytes(client: httpx.Client, population: PopulationDataset, server: MockServer) -> None:
    with MockServer(server.settings, population=population) as twin, httpx.Client(base_url=twin.base_url) as other:
        mine = get(client, updated_since=EARLIEST, page=2, page_size=50)
        theirs = get(other, updated_since=EARLIEST, page=2, page_size=50)
        assert mine.status_code == 200 and mine.content == theirs.content


# --- faults ---------------------------------------------------------------------------------


def test_503_is_a_problem_and_429_says_when_to_retry(client: httpx.Client) -> None:
    arm(client, fault="unavailable_fault", operation="list_coverages")
    arm(client, fault="http_429", operation="list_coverages")
    unavailable = get(client, updated_since=EARLIEST)
    assert unavailable.status_code == 503 and unavailable.headers["content-type"] == "application/problem+json"
    validate_response(OPENAPI_PATH, "/coverages", "get", 503, unavailable.json())
    limited = get(client, updated_since=EARLIEST)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "7"
    assert get(client, updated_since=EARLIEST).status_code == 200


def test_faults_come_before_the_key(client: httpx.Client) -> None:
    arm(client, fault="http_502")
    assert get(client, {}, updated_since=EARLIEST).status_code == 502
    assert get(client, {}, updated_since=EARLIEST).status_code == 401


def test_broken_bodies_are_not_json(client: httpx.Client) -> None:
    for kind in ("malformed_body", "truncated_body", "dtd_entity"):
        arm(client, fault=kind)
        response = get(client, updated_since=EARLIEST, page_size=50)
        assert response.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(response.content)


def test_a_reset_drops_the_connection(client: httpx.Client) -> None:
    arm(client, fault="connection_reset")
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        get(client, updated_since=EARLIEST)
    assert get(client, updated_since=EARLIEST).status_code == 200


def test_rules_for_another_system_leave_this_one_alone(client: httpx.Client) -> None:
    client.post("/_admin/faults", json={"fault": "http_500", "system": "household_business"}).raise_for_status()
    assert get(client, updated_since=EARLIEST).status_code == 200


# --- settings ---------------------------------------------------------------------------------


def test_demo_credentials_name_the_connections_of_the_declared_systems() -> None:
    credentials = MockSettings(household_business_username="bo", household_business_password="pw").demo_credentials()
    assert set(credentials) == {
        "national_population",
        "civil_status",
        "one_stop",
        "social_insurance",
        "household_business",
    }
    login, secret = credentials["social_insurance"]
    assert (login, secret.get_secret_value()) == ("api", DEMO_API_KEY)
    login, secret = credentials["household_business"]
    assert (login, secret.get_secret_value()) == ("bo", "pw")
