"""The one-stop data set: deterministic, realistic, progressing over time, defective exactly as declared.

The rules below are written from the contract, independently of the generator; a
clean dossier breaks none, a defective one exactly its own type.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from mocks.clock import DAY, EPOCH
from mocks.one_stop.dataset import OneStopDataset
from mocks.one_stop.record import DEFECT_TYPES
from mocks.population.dataset import PopulationDataset
from schemas.one_stop import OPENAPI_PATH, STATUS_ORDER, TERMINAL, may_follow
from schemas.portal import OPENAPI_PATH as PORTAL_OPENAPI_PATH
from schemas.procedures import Procedure, load_catalogue

CATALOGUE = load_catalogue()
DOSSIERS, SEED = 1500, 11
LATE_CLOCK = EPOCH + 60 * DAY  # everything that progresses by itself has finished


@pytest.fixture(scope="module")
def one_stop(population: PopulationDataset) -> OneStopDataset:
    """1,500 dossiers, 5% defective (15 per type), over the shared 800-resident population."""
    return OneStopDataset.generate(population, DOSSIERS, SEED, defect_rate=0.05, days=10)


def seconds(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


def broken_rules(dossier: dict[str, Any], residents: set[str], duplicated: set[str]) -> set[str]:
    """The rules a dossier breaks, named after the defect type that breaks each."""
    broken: set[str] = set()
    procedure = CATALOGUE.get(dossier["MaThuTuc"])
    if procedure is None:
        broken.add("unknown_procedure")
    if not re.fullmatch(r"\d{12}", dossier["SoDinhDanh"]) or dossier["SoDinhDanh"] not in residents:
        broken.add("malformed_applicant_id")
    if procedure and seconds(dossier["HanXuLy"]) != seconds(dossier["NgayTiepNhan"]) + procedure.days * DAY:
        broken.add("due_before_received")
    history = dossier["LichSu"]
    times = [seconds(entry["ThoiDiem"]) for entry in history]
    statuses = [entry["TrangThai"] for entry in history]
    in_order = times == sorted(times) and all(map(may_follow, statuses, statuses[1:]))
    first_ok = statuses[0] == "TiepNhan" and times[0] == seconds(dossier["NgayTiepNhan"])
    last_ok = (statuses[-1], times[-1]) == (dossier["TrangThai"], seconds(dossier["NgayCapNhat"]))
    if not (in_order and first_ok and last_ok) or len(set(statuses)) != len(statuses):
        broken.add("history_out_of_order")
    if dossier["MaHoSo"] in duplicated:
        broken.add("duplicate_conflict")
    return broken


def test_catalogue_loads_typed_procedures() -> None:
    assert CATALOGUE["TT-KS-01"] == Procedure("TT-KS-01", "Đăng ký khai sinh", "commune", 1)
    assert {p.competent for p in CATALOGUE.values()} == {"commune", "province"}
    assert load_catalogue() is not CATALOGUE  # a fresh dict each time: callers may not spoil the shared one
    with pytest.raises(AttributeError):
        CATALOGUE["TT-KS-01"].days = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"code": "A", "name": "B", "competent": "district", "days": 1}, "competent"),
        ({"code": "A", "name": "B", "competent": "commune", "days": 0}, "days"),
        ({"code": "", "name": "B", "competent": "commune", "days": 1}, "code and name"),
    ],
)
def test_a_malformed_catalogue_says_what_to_fix(tmp_path: Path, entry: dict[str, Any], message: str) -> None:
    path = tmp_path / "catalogue.yaml"
    path.write_text(yaml.safe_dump({"procedures": [entry]}), encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_catalogue(path)


def test_status_order_is_the_contracts() -> None:
    assert list(STATUS_ORDER) == ["TiepNhan", "DangXuLy", "ChuyenXuLy", "CoKetQua", "DaTraKetQua", "TuChoi"]
    assert sorted(TERMINAL) == ["DaTraKetQua", "TuChoi"]
    for path in (OPENAPI_PATH, PORTAL_OPENAPI_PATH):
        description = yaml.safe_load(path.read_text(encoding="utf-8"))["info"]["description"]
        table = dict(re.findall(r"^\| (\d)\s+\| (\w+)", description, flags=re.MULTILINE))
        assert {status: int(order) for order, status in table.items()} == STATUS_ORDER, path.name


def test_what_may_follow_what() -> None:
    assert may_follow("TiepNhan", "CoKetQua") and may_follow("ChuyenXuLy", "TuChoi")
    assert may_follow("DangXuLy", "DangXuLy")  # the same status again (a later ThoiDiem) is no regression
    assert not may_follow("CoKetQua", "DangXuLy")
    assert not may_follow("CoKetQua", "TuChoi")  # TuChoi follows 1-3 only
    assert not may_follow("TuChoi", "DaTraKetQua") and not may_follow("DaTraKetQua", "TuChoi")


def test_same_seed_same_dossiers_other_seed_other_ones(population: PopulationDataset) -> None:
    first, again = (OneStopDataset.generate(population, 300, 5) for _ in range(2))
    other = OneStopDataset.generate(population, 300, 6)
    assert first.snapshot(EPOCH) == again.snapshot(EPOCH)
    assert dict(first.defects) == dict(again.defects) and dict(first.routing) == dict(again.routing)
    assert first.snapshot(EPOCH) != other.snapshot(EPOCH)


@pytest.mark.parametrize("clock", [EPOCH - 10 * DAY, EPOCH, EPOCH + 5 * DAY, LATE_CLOCK])
def test_clean_dossiers_break_no_rule_and_defective_ones_exactly_their_own(
    population: PopulationDataset, one_stop: OneStopDataset, clock: int
) -> None:
    # Population records are dated up to EPOCH (their last update): ask it from EPOCH on.
    residents = {r.so_dinh_danh for r in population.visible(max(clock, EPOCH))}
    snapshot = one_stop.snapshot(clock)
    codes = Counter(d["MaHoSo"] for d in snapshot)
    duplicated = {code for code, count in codes.items() if count > 1}
    for dossier in snapshot:
        expected = {one_stop.defects[dossier["MaHoSo"]]} if dossier["MaHoSo"] in one_stop.defects else set()
        assert broken_rules(dossier, residents, duplicated) == expected, dossier["MaHoSo"]


def test_defects_are_spread_evenly_and_counted_as_delivered(one_stop: OneStopDataset) -> None:
    assert one_stop.defect_counts() == {kind: 30 if kind == "duplicate_conflict" else 15 for kind in DEFECT_TYPES}
    assert len(one_stop) == DOSSIERS + 15
    snapshot = one_stop.snapshot(LATE_CLOCK)
    pairs = [d for d in snapshot if one_stop.defects.get(d["MaHoSo"]) == "duplicate_conflict"]
    by_code: dict[str, list[dict[str, Any]]] = {}
    for dossier in pairs:
        by_code.setdefault(dossier["MaHoSo"], []).append(dossier)
    for first, second in by_code.values():
        assert first["NgayCapNhat"] == second["NgayCapNhat"] and first["KenhNop"] != second["KenhNop"]
    assert all(
        d["HanXuLy"] < d["NgayTiepNhan"] for d in snapshot if one_stop.defects.get(d["MaHoSo"]) == "due_before_received"
    )


def test_defective_dossiers_need_no_routing(one_stop: OneStopDataset) -> None:
    assert not set(one_stop.defects) & set(one_stop.routing)


def test_channels_rejections_and_late_results_look_real(one_stop: OneStopDataset) -> None:
    finished = [d for d in one_stop.snapshot(LATE_CLOCK) if d["MaHoSo"] not in one_stop.routing]
    online = sum(d["KenhNop"] == "TrucTuyen" for d in finished) / len(finished)
    rejected = sum(d["TrangThai"] == "TuChoi" for d in finished) / len(finished)
    decided = [d for d in finished if d["TrangThai"] == "DaTraKetQua"]
    late = sum(_result_time(d) > seconds(d["HanXuLy"]) for d in decided) / len(decided)
    assert 0.55 < online < 0.65 and 0.02 < rejected < 0.09 and 0.06 < late < 0.25
    assert all(d["TrangThai"] in TERMINAL for d in finished)


def _result_time(dossier: dict[str, Any]) -> int:
    return next(seconds(e["ThoiDiem"]) for e in dossier["LichSu"] if e["TrangThai"] == "CoKetQua")


def test_in_person_dossiers_arrive_on_weekdays_in_office_hours(one_stop: OneStopDataset) -> None:
    in_person = [
        datetime.fromisoformat(d["NgayTiepNhan"])
        for d in one_stop.snapshot(LATE_CLOCK)
        if d["KenhNop"] == "TrucTiep" and one_stop.defects.get(d["MaHoSo"]) != "duplicate_conflict"
    ]
    assert all(t.weekday() < 5 and (7, 30) <= (t.hour, t.minute) < (17, 0) for t in in_person)
    assert all(t.utcoffset() is not None and t.utcoffset().total_seconds() == 7 * 3600 for t in in_person)


def test_routing_truth_names_commune_dossiers_received_at_the_centre_and_the_applicants_commune(
    population: PopulationDataset, one_stop: OneStopDataset
) -> None:
    snapshot = {d["MaHoSo"]: d for d in one_stop.snapshot(LATE_CLOCK)}
    assert len(one_stop.routing) > 20
    for code, dossier in snapshot.items():
        procedure = CATALOGUE.get(dossier["MaThuTuc"])
        commune_level = procedure is not None and procedure.competent == "commune"
        should_route = commune_level and dossier["MaDonViTiepNhan"] == "TINH"
        assert (code in one_stop.routing) == should_route, code
    for code, commune in one_stop.routing.items():
        dossier = snapshot[code]
        for clock in (EPOCH, LATE_CLOCK):
            resident = population.citizen(dossier["SoDinhDanh"], clock)
            assert resident is not None and resident.ma_xa == commune
        # Nobody routes them here: they wait in processing at the centre for ever.
        assert (dossier["TrangThai"], dossier["MaDonViXuLy"]) == ("DangXuLy", "TINH")


def test_dossiers_not_routed_are_received_and_processed_where_they_belong(
    population: PopulationDataset, one_stop: OneStopDataset
) -> None:
    checked = 0
    for dossier in one_stop.snapshot(EPOCH):
        procedure = CATALOGUE.get(dossier["MaThuTuc"])
        resident = population.citizen(dossier["SoDinhDanh"], EPOCH)
        if dossier["MaHoSo"] in one_stop.routing or procedure is None or resident is None:
            continue
        if procedure.competent == "commune":  # received and decided at the applicant's commune
            assert dossier["MaDonViTiepNhan"] == dossier["MaDonViXuLy"] == resident.ma_xa
        else:  # received at the centre or the applicant's commune, decided by the province
            assert dossier["MaDonViTiepNhan"] in ("TINH", resident.ma_xa) and dossier["MaDonViXuLy"] == "TINH"
        checked += 1
    assert checked > DOSSIERS // 2


def test_statuses_only_move_forward_as_the_clock_advances(one_stop: OneStopDataset) -> None:
    previous: dict[tuple[str, str], dict[str, Any]] = {}
    changes = 0
    for clock in range(EPOCH - 20 * DAY, EPOCH + 30 * DAY, 2 * DAY):
        current = {(d["MaHoSo"], d["KenhNop"]): d for d in one_stop.snapshot(clock)}
        assert previous.keys() <= current.keys()  # nothing disappears
        for key, before in previous.items():
            after = current[key]
            assert STATUS_ORDER[after["TrangThai"]] >= STATUS_ORDER[before["TrangThai"]]
            assert after["NgayCapNhat"] >= before["NgayCapNhat"]
            if one_stop.defects.get(key[0]) != "history_out_of_order":
                assert after["LichSu"][: len(before["LichSu"])] == before["LichSu"]
            changes += after != before
        previous = current
    assert changes > DOSSIERS  # most dossiers move several times in 50 days


def test_nothing_is_visible_before_it_is_received(one_stop: OneStopDataset) -> None:
    for clock in (EPOCH - 31 * DAY, EPOCH - 15 * DAY, EPOCH):
        assert all(seconds(d["NgayTiepNhan"]) <= clock for d in one_stop.snapshot(clock))
    assert one_stop.snapshot(EPOCH - 31 * DAY) == []


def test_impossible_settings_are_refused(population: PopulationDataset) -> None:
    with pytest.raises(ValueError, match="defect"):
        OneStopDataset.generate(population, 10, 1, defect_rate=1.0)
    with pytest.raises(ValueError, match="province"):
        OneStopDataset.generate(population, 10, 1, province="99")


def test_applicants_are_living_residents_of_the_province(
    population: PopulationDataset, one_stop: OneStopDataset
) -> None:
    for dossier in one_stop.snapshot(LATE_CLOCK):
        assert dossier["MaHoSo"].startswith(f"H{one_stop.province}.")
        if one_stop.defects.get(dossier["MaHoSo"]) == "malformed_applicant_id":
            continue
        resident = population.citizen(dossier["SoDinhDanh"], LATE_CLOCK)
        assert resident is not None and resident.ngay_mat is None and resident.ma_tinh == one_stop.province
        assert resident.so_dinh_danh not in population.defects
