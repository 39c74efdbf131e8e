"""A dossier (hồ sơ) as the one-stop system's wire carries it, its status events, and the defect types.

A dossier is a fixed part (`HoSo`) and a list of status events in time order; what a
client sees at clock C is the fixed part with the events dated <= C. NamedTuples keep
100,000 dossiers and their ~400,000 events compact.
"""

from __future__ import annotations

import time
from typing import Literal, NamedTuple, get_args

DefectType = Literal[
    "unknown_procedure",
    "malformed_applicant_id",
    "due_before_received",
    "history_out_of_order",
    "duplicate_conflict",
]
DEFECT_TYPES: tuple[DefectType, ...] = get_args(DefectType)

ONLINE, IN_PERSON = "TrucTuyen", "TrucTiep"  # KenhNop
VIETNAM_OFFSET = 7 * 3600  # the system speaks local time (UTC+07:00), as Vietnamese systems do


class Event(NamedTuple):
    """A status change: TrangThai from ThoiDiem (epoch seconds) on, and the processing unit from then on."""

    trang_thai: str
    thoi_diem: int
    ma_don_vi_xu_ly: str


class HoSo(NamedTuple):
    """The fixed fields of a dossier; times in epoch seconds. ``copy`` 1: a duplicate_conflict's second record."""

    ma_ho_so: str
    ma_thu_tuc: str
    so_dinh_danh: str
    kenh_nop: str
    ngay_tiep_nhan: int
    han_xu_ly: int
    ma_don_vi_tiep_nhan: str
    copy: int = 0


def format_time(seconds: int) -> str:
    """Epoch seconds as RFC 3339 in Vietnam time, e.g. 2026-01-01T07:00:00+07:00."""
    return time.strftime("%Y-%m-%dT%H:%M:%S+07:00", time.gmtime(seconds + VIETNAM_OFFSET))
