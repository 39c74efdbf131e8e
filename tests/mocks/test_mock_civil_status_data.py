"""The civil-status data: the rules a clean event keeps, the defects that break exactly one, the same story as
the population data, and the knobs (event count, rates) a benchmark turns.

The rules below are written from the contract and the population data, not from the
generator: a clean event breaks none, a defective one breaks exactly its own type, and
a disagreement breaks only "disagreement".
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mocks.civil_status import DEFECT_TYPES, DISAGREEMENT, CivilStatusDataset
from mocks.civil_status.render import event_object
from mocks.clock import DAY, EPOCH
from mocks.population.dataset import NEVER, PopulationDataset
from mocks.population.record import CongDan, format_timestamp
from mocks.population.regions import regions
from mocks.server import MockServer
from mocks.settings import MockSettings
from schemas.personal_id import is_well_formed

CITIZENS, SEED, FEED_DAYS = 2000, 5, 30
BASE = "/civil-status/v1"
LATE = EPOCH + (FEED_DAYS + 8) * DAY  # every event recorded
EVENT_TYPES = {"KhaiSinh", "KetHon", "KhaiTu"}
COMMUNES = regions().commune_codes
Item = dict[str, Any]


# --- rules, independent of the generator -------------------------------------------------------


def record_rules(item: Item, population: PopulationDataset, clock: int) -> set[str]:
    """The rules one delivered event breaks, judged against the population data visible at ``clock``."""
    broken: set[str] = set()
    kind, subject, spouse = item["LoaiSuKien"], item["SoDinhDanh"], item["SoDinhDanhVoChong"]
    if not is_well_formed(subject):
        broken.add("malformed_id")
    if kind not in EVENT_TYPES:
        broken.add("unknown_event_type")
    if item["NgaySuKien"] > item["ThoiDiemGhiNhan"][:10]:
        broken.add("future_event_date")
    if item["MaXaDangKy"] not in COMMUNES:
        broken.add("unknown_commune")
    if kind == "KetHon" and spouse in (None, subject):
        broken.add("marriage_without_spouse")
    elif kind != "KetHon" and spouse is not None:
        broken.add("spouse_outside_marriage")
    if broken & {"malformed_id", "unknown_event_type", "marriage_without_spouse"}:
        return broken
    person = population.citizen(subject, clock)
    if kind == "KhaiSinh":
        return broken | _birth_rules(item, person)
    return broken | _life_rules(item, person, population, clock)


def _birth_rules(item: Item, person: CongDan | None) -> set[str]:
    """A known resident's birth is dated NgaySinh; a new child was born in 2026+ with an id that says so."""
    if person is not None:
        return set() if person.ngay_sinh == item["NgaySuKien"] else {"birth_date_differs"}
    new = item["NgaySuKien"] >= "2026-01-01" and item["SoDinhDanh"][4:6] == item["NgaySuKien"][2:4]
    return set() if new else {"unknown_child"}


def _life_rules(item: Item, person: CongDan | None, population: PopulationDataset, clock: int) -> set[str]:
    """Deaths and marriages are of residents, after their birth, as the population data records them."""
    if person is None:
        return {"subject_unknown"}
    partner = population.citizen(item["SoDinhDanhVoChong"], clock) if item["LoaiSuKien"] == "KetHon" else None
    if item["LoaiSuKien"] == "KetHon" and partner is None:
        return {"spouse_unknown"}
    if any(item["NgaySuKien"] < p.ngay_sinh for p in (person, partner) if p is not None):
        return {"event_before_birth"}
    if partner is not None:
        married = person.so_dinh_danh_vo_chong == partner.so_dinh_danh == item["SoDinhDanhVoChong"]
        return set() if married and partner.so_dinh_danh_vo_chong == person.so_dinh_danh else {"not_a_couple"}
    if person.ngay_mat is None:
        return {DISAGREEMENT}
    if person.ngay_mat != item["NgaySuKien"] or person.ma_xa != item["MaXaDangKy"]:
        return {"death_differs"}
    return set()


def judged(items: list[Item], population: PopulationDataset, clock: int) -> dict[str, set[str]]:
    """MaSuKien -> rules broken; a MaSuKien delivered twice with different bodies is a duplicate_conflict."""
    deliveries: dict[str, list[Item]] = {}
    for item in items:
        deliveries.setdefault(item["MaSuKien"], []).append(item)
    verdict = {}
    for ident, copies in deliveries.items():
        broken = record_rules(copies[0], population, clock)
        if len(copies) > 1 and any(copy != copies[0] for copy in copies):
            broken.add("duplicate_conflict")
        verdict[ident] = broken
    return verdict


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def population() -> PopulationDataset:
    """2,000 residents and 30 feed days: enough for every defect type."""
    return PopulationDataset.generate(CITIZENS, SEED, defect_rate=0.02, feed_days=FEED_DAYS)


@pytest.fixture(scope="module")
def server(population: PopulationDataset) -> Iterator[MockServer]:
    settings = MockSettings(citizens=CITIZENS, seed=SEED, feed_days=FEED_DAYS)
    with MockServer(settings, population=population) as running:
        yield running


@pytest.fixture(scope="module")
def delivered(server: MockServer) -> list[Item]:
    """Every event, read over HTTP at a clock where all are recorded."""
    with httpx.Client(base_url=server.base_url + BASE) as http:
        http.post(server.base_url + "/population/_admin/clock", json={"to": format_timestamp(LATE)}).raise_for_status()
        granted = http.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=("lgsp-demo", "demo-only-password")
        ).json()
        headers = {"Authorization": f"Bearer {granted['access_token']}"}
        items: list[Item] = []
        query: dict[str, Any] = {"since": "1900-01-01T00:00:00Z", "limit": 1000}
        while True:
            page = http.get("/events", params=query, headers=headers).json()
            items += page["items"]
            if not page["next_cursor"]:
                break
            query["cursor"] = page["next_cursor"]
        http.post(server.base_url + "/population/_admin/clock", json={"to": "2026-01-01T00:00:00Z"})
    return items


# --- defects and ground truth ----------------------------------------------------------------


def test_clean_events_break_nothing_and_defects_exactly_their_type(
    delivered: list[Item], server: MockServer, population: PopulationDataset
) -> None:
    truth = server.civil_status.ground_truth
    verdict = judged(delivered, population, LATE)
    wrong = {
        ident: (broken, truth.get(ident))
        for ident, broken in verdict.items()
        if broken != ({truth[ident]} if ident in truth else set())
    }
    assert not wrong
    assert set(truth) <= set(verdict)


def test_every_defect_type_and_some_disagreements_at_2000_residents(delivered: list[Item], server: MockServer) -> None:
    dataset = server.civil_status
    assert set(dataset.defects.values()) == set(DEFECT_TYPES)
    assert DISAGREEMENT not in dataset.defects.values()
    assert [ident for ident, kind in dataset.ground_truth.items() if kind == DISAGREEMENT]
    distinct = len({item["MaSuKien"] for item in delivered})
    assert len(dataset.defects) == round(distinct * 0.02)
    counts = dataset.truth_counts()
    assert counts["duplicate_conflict"] == 2 * sum(k == "duplicate_conflict" for k in dataset.defects.values())
    assert counts[DISAGREEMENT] == round(CITIZENS * 0.002)


# --- the same story as the population data ---------------------------------------------------


def _feed_changes(population: PopulationDataset) -> Iterator[tuple[str, CongDan, CongDan]]:
    """("death" | "marriage", before, after) for every population version written after EPOCH."""
    previous: dict[str, CongDan] = {}
    for version in population.versions:
        before = previous.get(version.so_dinh_danh)
        previous[version.so_dinh_danh] = version
        if before is None or version.ngay_cap_nhat < EPOCH:
            continue
        if before.ngay_mat is None and version.ngay_mat is not None:
            yield "death", before, version
        elif before.tinh_trang_hon_nhan in ("1", "3") and version.tinh_trang_hon_nhan == "2":
            yield "marriage", before, version


def test_every_feed_death_and_marriage_has_its_event(delivered: list[Item], population: PopulationDataset) -> None:
    deaths = {(i["SoDinhDanh"], i["NgaySuKien"]) for i in delivered if i["LoaiSuKien"] == "KhaiTu"}
    marriages = {
        frozenset((i["SoDinhDanh"], i["SoDinhDanhVoChong"])): i for i in delivered if i["LoaiSuKien"] == "KetHon"
    }
    changes = list(_feed_changes(population))
    assert {kind for kind, _, _ in changes} == {"death", "marriage"}
    for kind, _, after in changes:
        day = format_timestamp(after.ngay_cap_nhat)[:10]
        if kind == "death":
            assert (after.so_dinh_danh, day) in deaths
        else:
            event = marriages[frozenset((after.so_dinh_danh, after.so_dinh_danh_vo_chong))]
            recorded = event["ThoiDiemGhiNhan"]
            assert event["NgaySuKien"] == day and event["MaXaDangKy"] == after.ma_xa
            assert format_timestamp(after.ngay_cap_nhat) < recorded <= format_timestamp(after.ngay_cap_nhat + DAY)


@pytest.mark.parametrize("days", [0, 3.5, 12.25, 29])
def test_what_the_clock_shows_agrees_with_the_population(
    delivered: list[Item], server: MockServer, population: PopulationDataset, days: float
) -> None:
    clock = EPOCH + round(days * DAY)
    truth = server.civil_status.ground_truth
    visible = [i for i in delivered if i["ThoiDiemGhiNhan"] <= format_timestamp(clock) and i["MaSuKien"] not in truth]
    for item in visible:
        person = population.citizen(item["SoDinhDanh"], clock)
        if item["LoaiSuKien"] == "KhaiTu":
            assert person is not None and person.ngay_mat == item["NgaySuKien"]
        elif item["LoaiSuKien"] == "KetHon":
            assert person is not None and person.so_dinh_danh_vo_chong == item["SoDinhDanhVoChong"]
        elif person is None:  # a new child: the population data never holds it
            assert population.citizen(item["SoDinhDanh"], NEVER) is None


def test_new_births_are_children_the_population_data_does_not_hold(
    delivered: list[Item], population: PopulationDataset, server: MockServer
) -> None:
    new = [
        i
        for i in delivered
        if i["LoaiSuKien"] == "KhaiSinh"
        and i["NgaySuKien"] >= "2026-01-01"
        and i["MaSuKien"] not in server.civil_status.defects
    ]
    assert 1 <= len(new) <= round(CITIZENS * 0.002 * FEED_DAYS / 30)
    assert all(population.citizen(i["SoDinhDanh"], NEVER) is None for i in new)
    assert len({i["SoDinhDanh"] for i in new}) == len(new)


def test_historic_events_are_before_epoch(delivered: list[Item]) -> None:
    historic = [i for i in delivered if i["ThoiDiemGhiNhan"] < "2026-01-01"]
    assert {i["LoaiSuKien"] for i in historic} >= EVENT_TYPES
    assert len(historic) > len(delivered) // 2


# --- determinism and the knobs ---------------------------------------------------------------


def test_same_population_same_events(population: PopulationDataset, server: MockServer) -> None:
    again = CivilStatusDataset.generate(population, FEED_DAYS)
    assert list(again.events) == list(server.civil_status.events)
    assert dict(again.ground_truth) == dict(server.civil_status.ground_truth)
    other = CivilStatusDataset.generate(PopulationDataset.generate(CITIZENS, SEED + 1, feed_days=FEED_DAYS), FEED_DAYS)
    assert list(other.events) != list(again.events)


def test_a_benchmark_can_ask_for_an_exact_number_of_events(population: PopulationDataset) -> None:
    dataset = CivilStatusDataset.generate(population, FEED_DAYS, events=2500)
    items = [event_object(e) for e in dataset.events]
    assert len({i["MaSuKien"] for i in items}) == 2500
    truth = dataset.ground_truth
    verdict = judged(items, population, LATE)
    assert all(broken == ({truth[ident]} if ident in truth else set()) for ident, broken in verdict.items())


@pytest.mark.parametrize("events", [10, 10_000_000 // 3])
def test_impossible_event_counts_name_the_setting(population: PopulationDataset, events: int) -> None:
    with pytest.raises(ValueError, match="civil_status_events"):
        CivilStatusDataset.generate(population, FEED_DAYS, events=events)


def test_settings_reach_the_server(population: PopulationDataset) -> None:
    settings = MockSettings(
        citizens=CITIZENS,
        seed=SEED,
        feed_days=FEED_DAYS,
        civil_status_events=1000,
        defect_rate=0.05,
        civil_status_disagreement_rate=0.01,
    )
    with MockServer(settings, population=population) as running:
        dataset = running.civil_status
        assert len({e.ma_su_kien for e in dataset.events}) == 1000
        assert len(dataset.defects) == 50 and dataset.truth_counts()[DISAGREEMENT] == 20


def test_rates_of_zero_give_a_clean_register(population: PopulationDataset) -> None:
    dataset = CivilStatusDataset.generate(population, FEED_DAYS, defect_rate=0.0, disagreement_rate=0.0)
    assert not dataset.ground_truth
    verdict = judged([event_object(e) for e in dataset.events], population, LATE)
    assert not any(verdict.values())
