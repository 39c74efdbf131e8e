"""One coverage record as the social insurance register's wire carries it, and the defect types.

Field names are the contract's in snake case (`ma_so_bhxh` is `MaSoBHXH`). A NamedTuple
keeps the records compact, and a new version is one `_replace` away.
"""

from __future__ import annotations

from typing import Literal, NamedTuple, get_args

ACTIVE, SUSPENDED, ENDED = "DangThamGia", "TamDung", "DaKetThuc"  # TrangThai
STATUSES = (ACTIVE, SUSPENDED, ENDED)

DefectType = Literal[
    "malformed_id",
    "unknown_commune",
    "end_before_start",
    "future_start_date",
    "missing_insurance_number",
    "duplicate_conflict",
    "unknown_status",
]
DEFECT_TYPES: tuple[DefectType, ...] = get_args(DefectType)


class BaoHiem(NamedTuple):
    """A coverage (contract schema ``Coverage``); dates ISO strings, NgayCapNhat epoch seconds."""

    ma_so_bhxh: str | None
    so_dinh_danh: str
    ma_xa: str
    ngay_bat_dau: str
    ngay_ket_thuc: str | None
    trang_thai: str
    ngay_cap_nhat: int
