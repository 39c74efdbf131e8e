"""Defect injection: each defective household business breaks exactly one rule, of a known type.

The rules a clean record keeps: one record per SoDangKy; TenHoKinhDoanh not blank;
SoDinhDanhChuHo 12 digits of a birth-registration province (a resident of the
population mock); MaXa one of today's communes; NgayDangKy not after the day of
ThoiDiemCapNhat; TrangThai one of HoatDong, TamNgung, ChamDut. Defective records take
no part in the change feed, so their one defect stays put.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from mocks import registers
from mocks.household_business.names import business_name
from mocks.household_business.record import DefectType, HoKinhDoanh

UNKNOWN_STATUSES = ("DangHoatDong", "GiaiThe", "NgungHoatDong", "hoat_dong", "HOATDONG", "1")
Mutation = Callable[[random.Random, HoKinhDoanh, set[str]], HoKinhDoanh]


def _malformed_id(rng: random.Random, record: HoKinhDoanh, taken: set[str]) -> HoKinhDoanh:
    """SoDinhDanhChuHo of 11 digits, or with a province prefix no birth registration uses."""
    return record._replace(so_dinh_danh_chu_ho=registers.malformed_id(rng, record.so_dinh_danh_chu_ho, taken))


def _unknown_commune(rng: random.Random, record: HoKinhDoanh, taken: set[str]) -> HoKinhDoanh:
    """MaXa of five digits that is none of today's communes."""
    return record._replace(ma_xa=registers.unknown_commune(rng))


def _future_registration_date(rng: random.Random, record: HoKinhDoanh, taken: set[str]) -> HoKinhDoanh:
    """NgayDangKy years after the day the record was written."""
    return record._replace(ngay_dang_ky=registers.iso_day(registers.future_day(rng, record.thoi_diem_cap_nhat)))


def _empty_name(rng: random.Random, record: HoKinhDoanh, taken: set[str]) -> HoKinhDoanh:
    """TenHoKinhDoanh empty, or blanks only."""
    return record._replace(ten_ho_kinh_doanh=rng.choice(("", " ", "   ")))


def _keep(rng: random.Random, record: HoKinhDoanh, taken: set[str]) -> HoKinhDoanh:
    """duplicate_conflict leaves the first record as it is; `conflicting_copy` makes the second."""
    return record


def _unknown_status(rng: random.Random, record: HoKinhDoanh, taken: set[str]) -> HoKinhDoanh:
    """A TrangThai outside the three the contract names."""
    return record._replace(trang_thai=rng.choice(UNKNOWN_STATUSES))


def conflicting_copy(rng: random.Random, record: HoKinhDoanh, owner_name: str) -> HoKinhDoanh:
    """The same SoDangKy and ThoiDiemCapNhat under another business name."""
    while (name := business_name(rng, owner_name)) == record.ten_ho_kinh_doanh:
        pass
    return record._replace(ten_ho_kinh_doanh=name)


MUTATIONS: dict[DefectType, Mutation] = {
    "malformed_id": _malformed_id,
    "unknown_commune": _unknown_commune,
    "future_registration_date": _future_registration_date,
    "empty_name": _empty_name,
    "duplicate_conflict": _keep,
    "unknown_status": _unknown_status,
}
