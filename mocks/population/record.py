"""One version of one citizen, as the wire carries it, and the defect types we inject.

The mock speaks the wire only: field names are the XSD's element names in snake
case (`so_dinh_danh` is `SoDinhDanh`). A NamedTuple keeps 200,000+ versions compact
(no per-instance dict) and a new version is one `_replace` away.
"""

from __future__ import annotations

import time
from typing import Literal, NamedTuple, get_args

DefectType = Literal[
    "malformed_id",
    "id_birth_mismatch",
    "implausible_birth_date",
    "empty_name",
    "unknown_commune",
    "death_before_birth",
    "duplicate_conflict",
    "parent_younger_than_child",
]
DEFECT_TYPES: tuple[DefectType, ...] = get_args(DefectType)

MALE, FEMALE = "1", "2"  # GioiTinh
SINGLE, MARRIED, DIVORCED, WIDOWED = "1", "2", "3", "4"  # TinhTrangHonNhan


class CongDan(NamedTuple):
    """A citizen record (XSD type ``CongDan``); dates are ISO strings, NgayCapNhat epoch seconds."""

    so_dinh_danh: str
    ho_va_ten: str
    ngay_sinh: str
    gioi_tinh: str
    quoc_tich: str
    dan_toc: str
    ton_giao: str
    que_quan: str
    ma_tinh: str
    ma_xa: str
    chi_tiet: str
    so_dinh_danh_cha: str | None
    so_dinh_danh_me: str | None
    so_dinh_danh_vo_chong: str | None
    tinh_trang_hon_nhan: str
    ngay_mat: str | None
    ngay_cap_nhat: int


def format_timestamp(seconds: int) -> str:
    """Epoch seconds as an xs:dateTime in UTC with second precision, e.g. 2026-01-01T00:00:00Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
