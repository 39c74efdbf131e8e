"""JSON bodies of the civil-status API, built from events with the contract's field names."""

from __future__ import annotations

import json
from collections.abc import Iterable

from mocks.civil_status.event import SuKien, format_timestamp

_COMPACT = (",", ":")


def event_object(event: SuKien) -> dict[str, str | None]:
    """The contract's ``Event`` object."""
    return {
        "MaSuKien": event.ma_su_kien,
        "LoaiSuKien": event.loai_su_kien,
        "SoDinhDanh": event.so_dinh_danh,
        "SoDinhDanhVoChong": event.so_dinh_danh_vo_chong,
        "NgaySuKien": event.ngay_su_kien,
        "MaXaDangKy": event.ma_xa_dang_ky,
        "ThoiDiemGhiNhan": format_timestamp(event.thoi_diem_ghi_nhan),
    }


def event_body(event: SuKien) -> bytes:
    """``GET /events/{MaSuKien}``: one ``Event``."""
    return json.dumps(event_object(event), separators=_COMPACT).encode()


def page_body(events: Iterable[SuKien], next_cursor: str | None) -> bytes:
    """``GET /events``: an ``EventPage``."""
    page = {"items": [event_object(event) for event in events], "next_cursor": next_cursor}
    return json.dumps(page, separators=_COMPACT).encode()
