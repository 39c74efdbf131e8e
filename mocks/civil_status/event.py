"""One civil-status event as the wire carries it, and the ground-truth types.

Field names are the contract's in snake case (`ma_su_kien` is `MaSuKien`). A
NamedTuple keeps 100,000+ events compact, and a defect is one `_replace` away.
"""

from __future__ import annotations

import time
from typing import Literal, NamedTuple, get_args

from mocks.clock import DAY

BIRTH, MARRIAGE, DEATH = "KhaiSinh", "KetHon", "KhaiTu"  # LoaiSuKien
EVENT_TYPES = (BIRTH, MARRIAGE, DEATH)

DefectType = Literal[
    "malformed_id",
    "unknown_event_type",
    "future_event_date",
    "marriage_without_spouse",
    "unknown_commune",
    "duplicate_conflict",
    "event_before_birth",
]
DEFECT_TYPES: tuple[DefectType, ...] = get_args(DefectType)

# Not a defect of the record: a clean event the population database contradicts on purpose.
DISAGREEMENT: Literal["disagreement"] = "disagreement"
TruthType = DefectType | Literal["disagreement"]

_UNIX_EPOCH_DAY = 719_163  # date(1970, 1, 1).toordinal()


class SuKien(NamedTuple):
    """A civil-status event (contract schema ``Event``); NgaySuKien ISO, ThoiDiemGhiNhan epoch seconds."""

    ma_su_kien: str
    loai_su_kien: str
    so_dinh_danh: str
    so_dinh_danh_vo_chong: str | None
    ngay_su_kien: str
    ma_xa_dang_ky: str
    thoi_diem_ghi_nhan: int


def format_timestamp(seconds: int) -> str:
    """Epoch seconds as RFC 3339 UTC with second precision, e.g. 2026-01-01T00:00:00Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def day_start(ordinal: int) -> int:
    """Epoch seconds of midnight UTC starting the day ``ordinal`` (a `date.toordinal()`)."""
    return (ordinal - _UNIX_EPOCH_DAY) * DAY


def day_of(seconds: int) -> int:
    """The date ordinal of the UTC day holding epoch second ``seconds``."""
    return seconds // DAY + _UNIX_EPOCH_DAY
