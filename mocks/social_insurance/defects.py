"""Defect injection: each defective coverage breaks exactly one rule, of a known type.

The rules a clean coverage keeps: MaSoBHXH present, 10 digits, one record per number;
SoDinhDanh 12 digits of a birth-registration province (a resident of the population
mock); MaXa one of today's communes; NgayBatDau not after the day of NgayCapNhat;
NgayKetThuc null unless TrangThai is DaKetThuc, then on or after NgayBatDau and not
after the day of NgayCapNhat; TrangThai one of DangThamGia, TamDung, DaKetThuc.
Defective coverages take no part in the change feed, so their one defect stays put.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from mocks import registers
from mocks.social_insurance.record import ACTIVE, ENDED, BaoHiem, DefectType

UNKNOWN_STATUSES = ("DaNghiHuu", "HuyBo", "ChoDuyet", "dang_tham_gia", "DANGTHAMGIA", "3")
Mutation = Callable[[random.Random, BaoHiem, set[str]], BaoHiem]


def _malformed_id(rng: random.Random, record: BaoHiem, taken: set[str]) -> BaoHiem:
    """SoDinhDanh of 11 digits, or with a province prefix no birth registration uses."""
    return record._replace(so_dinh_danh=registers.malformed_id(rng, record.so_dinh_danh, taken))


def _unknown_commune(rng: random.Random, record: BaoHiem, taken: set[str]) -> BaoHiem:
    """MaXa of five digits that is none of today's communes."""
    return record._replace(ma_xa=registers.unknown_commune(rng))


def _end_before_start(rng: random.Random, record: BaoHiem, taken: set[str]) -> BaoHiem:
    """An ended coverage whose NgayKetThuc lies a day to a year before NgayBatDau."""
    start = registers.day_ordinal(record.ngay_bat_dau)
    return record._replace(trang_thai=ENDED, ngay_ket_thuc=registers.iso_day(start - rng.randint(1, 365)))


def _future_start_date(rng: random.Random, record: BaoHiem, taken: set[str]) -> BaoHiem:
    """An active coverage starting years after the day it was written."""
    start = registers.iso_day(registers.future_day(rng, record.ngay_cap_nhat))
    return record._replace(trang_thai=ACTIVE, ngay_bat_dau=start, ngay_ket_thuc=None)


def _missing_insurance_number(rng: random.Random, record: BaoHiem, taken: set[str]) -> BaoHiem:
    """MaSoBHXH null."""
    return record._replace(ma_so_bhxh=None)


def _keep(rng: random.Random, record: BaoHiem, taken: set[str]) -> BaoHiem:
    """duplicate_conflict leaves the first record as it is; `conflicting_copy` makes the second."""
    return record


def _unknown_status(rng: random.Random, record: BaoHiem, taken: set[str]) -> BaoHiem:
    """A TrangThai outside the three the contract names; no end date, so no other rule can object."""
    return record._replace(trang_thai=rng.choice(UNKNOWN_STATUSES), ngay_ket_thuc=None)


def conflicting_copy(rng: random.Random, record: BaoHiem) -> BaoHiem:
    """The same MaSoBHXH, person and NgayCapNhat, at another commune of the same province."""
    return record._replace(ma_xa=registers.other_commune(rng, record.ma_xa))


MUTATIONS: dict[DefectType, Mutation] = {
    "malformed_id": _malformed_id,
    "unknown_commune": _unknown_commune,
    "end_before_start": _end_before_start,
    "future_start_date": _future_start_date,
    "missing_insurance_number": _missing_insurance_number,
    "duplicate_conflict": _keep,
    "unknown_status": _unknown_status,
}
