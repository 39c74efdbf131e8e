"""The population data set: deterministic, realistic, consistent, defective exactly as declared."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
from mock_population_rules import violations

from mocks.clock import DAY, EPOCH
from mocks.population import render
from mocks.population.dataset import PopulationDataset
from mocks.population.generate import INITIAL_FROM
from mocks.population.record import DEFECT_TYPES, CongDan, format_timestamp
from mocks.population.regions import MERGED_INTO, regions
from schemas.personal_id import Gender, agrees_with, is_well_formed


def clean(dataset: PopulationDataset, clock: int = EPOCH) -> list[CongDan]:
    return [r for r in dataset.visible(clock) if r.so_dinh_danh not in dataset.defects]


def test_same_seed_same_bytes_other_seed_other_data() -> None:
    first, again = PopulationDataset.generate(400, 3), PopulationDataset.generate(400, 3)
    other = PopulationDataset.generate(400, 4)
    assert list(first.versions) == list(again.versions)
    assert render.list_changed_response(first.versions, "t") == render.list_changed_response(again.versions, "t")
    assert dict(first.defects) == dict(again.defects)
    assert list(first.versions) != list(other.versions)
    assert [r.ho_va_ten for r in first.versions[:50]] != [r.ho_va_ten for r in other.versions[:50]]


@pytest.mark.parametrize("clock", [EPOCH, EPOCH + 5 * DAY, EPOCH + 30 * DAY])
def test_clean_records_break_no_rule_and_defective_ones_exactly_their_own(
    population: PopulationDataset, clock: int
) -> None:
    snapshot = list(population.visible(clock))
    for record, broken in zip(snapshot, violations(snapshot), strict=True):
        expected = {population.defects[record.so_dinh_danh]} if record.so_dinh_danh in population.defects else set()
        assert broken == expected, (record.so_dinh_danh[-3:], broken, expected)


def test_clean_ids_are_unique_and_agree_with_birth_date_and_gender(population: PopulationDataset) -> None:
    records = clean(population)
    ids = [r.so_dinh_danh for r in records]
    assert len(ids) == len(set(ids)) == population.citizens - len(population.defects)
    for r in records:
        gender: Gender = "male" if r.gioi_tinh == "1" else "female"
        assert is_well_formed(r.so_dinh_danh) and agrees_with(r.so_dinh_danh, date.fromisoformat(r.ngay_sinh), gender)


def test_birth_registrations_include_merged_provinces_and_favour_the_residence(population: PopulationDataset) -> None:
    records = clean(population)
    today_of = regions().today_of_old
    merged_away = {old for new, olds in MERGED_INTO.items() for old in olds if old[1:] != new}
    assert merged_away & {r.so_dinh_danh[:3] for r in records}  # e.g. 002 Ha Giang, 030 Hai Duong
    at_home = sum(today_of[r.so_dinh_danh[:3]] == r.ma_tinh for r in records)
    # 80% register where they live, before wives and minors move: far above the ~4% of chance.
    assert at_home / len(records) > 0.4


def test_residents_look_vietnamese_and_live_in_real_communes(population: PopulationDataset) -> None:
    records = clean(population)
    communes = {c.code: c.province for c in regions().communes}
    assert all(communes[r.ma_xa] == r.ma_tinh and len(r.ma_xa) == 5 and len(r.ma_tinh) == 2 for r in records)
    assert all("1925-01-01" <= r.ngay_sinh <= "2025-12-31" and r.quoc_tich == "VN" for r in records)
    families = Counter(r.ho_va_ten.split()[0] for r in records)
    assert families.most_common(1)[0][0] == "Nguyễn"
    assert all(len(r.ho_va_ten.split()) >= 3 for r in records)
    assert Counter(r.dan_toc for r in records).most_common(1)[0][0] == "01"
    assert Counter(r.ton_giao for r in records).most_common(1)[0][0] == "00"
    assert Counter(r.gioi_tinh for r in records).keys() == {"1", "2"}


def test_families_reference_existing_older_parents_and_married_couples(population: PopulationDataset) -> None:
    records = clean(population)
    by_id = {r.so_dinh_danh: r for r in records}
    with_parents = [r for r in records if r.so_dinh_danh_me]
    assert 0.2 < len(with_parents) / len(records) < 0.9  # some have parents, others none
    for child in with_parents:
        mother = by_id[child.so_dinh_danh_me or ""]
        assert mother.gioi_tinh == "2" and int(child.ngay_sinh[:4]) - int(mother.ngay_sinh[:4]) >= 17
    married = [r for r in records if r.tinh_trang_hon_nhan == "2" and r.ngay_mat is None]
    assert married and all(
        by_id[r.so_dinh_danh_vo_chong or ""].so_dinh_danh_vo_chong == r.so_dinh_danh for r in married
    )
    statuses = Counter(r.tinh_trang_hon_nhan for r in records)
    assert statuses.keys() == {"1", "2", "3", "4"}
    assert any(r.ngay_mat for r in records)


def test_every_defect_type_is_present_at_the_configured_rate(population: PopulationDataset) -> None:
    counts = population.defect_counts()
    assert set(counts) == set(DEFECT_TYPES) and all(counts[kind] > 0 for kind in DEFECT_TYPES)
    assert len(population.defects) == round(population.citizens * 0.02)
    assert counts["duplicate_conflict"] == 2 * Counter(population.defects.values())["duplicate_conflict"]
    initial = sum(1 for v in population.versions if v.ngay_cap_nhat < EPOCH)
    assert sum(counts.values()) / initial == pytest.approx(0.02, abs=0.005)


def test_defect_rate_scales_and_zero_means_clean() -> None:
    assert not PopulationDataset.generate(500, 1, defect_rate=0.0).defects
    busy = PopulationDataset.generate(1000, 1, defect_rate=0.1)
    assert len(busy.defects) == 100 and all(busy.defect_counts().values())


def test_duplicate_conflict_is_one_id_twice_with_the_same_timestamp_and_another_body(
    population: PopulationDataset,
) -> None:
    duplicated = [k for k, kind in population.defects.items() if kind == "duplicate_conflict"]
    for personal_id in duplicated:
        copies = [v for v in population.versions if v.so_dinh_danh == personal_id]
        assert len(copies) == 2 and copies[0].ngay_cap_nhat == copies[1].ngay_cap_nhat
        assert copies[0] != copies[1]


def test_timestamps_initial_before_epoch_feed_after_it(population: PopulationDataset) -> None:
    times = [v.ngay_cap_nhat for v in population.versions]
    assert times == sorted(times)
    assert times[0] >= INITIAL_FROM and times[-1] < EPOCH + 10 * DAY
    assert format_timestamp(times[0]).startswith("2025-07-")
    feed = [v for v in population.versions if v.ngay_cap_nhat >= EPOCH]
    per_day = len(feed) / 10 / population.citizens
    assert 0.002 < per_day < 0.01  # about 0.5% of residents a day


def test_feed_events_keep_couples_consistent(population: PopulationDataset) -> None:
    feed = [v for v in population.versions if v.ngay_cap_nhat >= EPOCH]
    deaths = [v for v in feed if v.ngay_mat and v.ngay_mat >= "2026-01-01"]
    marriages = [v for v in feed if v.tinh_trang_hon_nhan == "2" and v.ngay_mat is None]
    assert deaths and marriages
    for record in deaths + marriages:
        assert record.ngay_mat is None or record.ngay_mat == format_timestamp(record.ngay_cap_nhat)[:10]
    at_end = {r.so_dinh_danh: r for r in population.visible(EPOCH + 30 * DAY)}
    for record in marriages:
        partner = at_end[record.so_dinh_danh_vo_chong or ""]
        assert partner.so_dinh_danh_vo_chong == record.so_dinh_danh


def test_visible_version_is_the_latest_at_the_clock(population: PopulationDataset) -> None:
    changed = next(v for v in population.versions if v.ngay_cap_nhat >= EPOCH)
    before = population.citizen(changed.so_dinh_danh, EPOCH)
    assert before is not None and before.ngay_cap_nhat < EPOCH
    assert population.citizen(changed.so_dinh_danh, changed.ngay_cap_nhat) == changed
    assert population.citizen(changed.so_dinh_danh, INITIAL_FROM - 1) is None
    assert population.citizen("000000000000", EPOCH) is None


def test_impossible_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        PopulationDataset.generate(0, 1)
    with pytest.raises(ValueError):
        PopulationDataset.generate(100, 1, defect_rate=1.5)
    with pytest.raises(ValueError, match="defect"):
        PopulationDataset.generate(100, 1, defect_rate=0.9)


@pytest.mark.parametrize("seed", [1, 2])
def test_rules_hold_for_other_seeds_over_a_month_of_feed(seed: int) -> None:
    dataset = PopulationDataset.generate(3000, seed, defect_rate=0.05, feed_days=30)
    for clock in (EPOCH, EPOCH + 31 * DAY):
        snapshot = list(dataset.visible(clock))
        for record, broken in zip(snapshot, violations(snapshot), strict=True):
            kind = dataset.defects.get(record.so_dinh_danh)
            assert broken == ({kind} if kind else set()), (seed, clock, broken, kind)
