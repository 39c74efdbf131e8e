"""One household business as the registry's wire carries it, and the defect types.

Field names are the XSD's element names in snake case (`so_dang_ky` is `SoDangKy`).
"""

from __future__ import annotations

from typing import Literal, NamedTuple, get_args

ACTIVE, SUSPENDED, CLOSED = "HoatDong", "TamNgung", "ChamDut"  # TrangThai
STATUSES = (ACTIVE, SUSPENDED, CLOSED)

DefectType = Literal[
    "malformed_id",
    "unknown_commune",
    "future_registration_date",
    "empty_name",
    "duplicate_conflict",
    "unknown_status",
]
DEFECT_TYPES: tuple[DefectType, ...] = get_args(DefectType)


class HoKinhDoanh(NamedTuple):
    """A household business (XSD type ``HoKinhDoanh``); NgayDangKy ISO, ThoiDiemCapNhat epoch seconds."""

    so_dang_ky: str
    ten_ho_kinh_doanh: str
    so_dinh_danh_chu_ho: str
    ma_xa: str
    ngay_dang_ky: str
    trang_thai: str
    thoi_diem_cap_nhat: int
