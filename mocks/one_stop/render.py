"""Dossiers as the one-stop system's JSON carries them (Vietnamese field names, Vietnam time)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mocks.one_stop.record import Event, HoSo, format_time


def dossier(record: HoSo, events: Sequence[Event], newest_first: bool = False) -> dict[str, Any]:
    """A ``Dossier`` object from the fixed part and the events visible (the last one is current)."""
    history = [{"TrangThai": event.trang_thai, "ThoiDiem": format_time(event.thoi_diem)} for event in events]
    if newest_first:
        history.reverse()  # the history_out_of_order defect
    current = events[-1]
    return {
        "MaHoSo": record.ma_ho_so,
        "MaThuTuc": record.ma_thu_tuc,
        "SoDinhDanh": record.so_dinh_danh,
        "KenhNop": record.kenh_nop,
        "NgayTiepNhan": format_time(record.ngay_tiep_nhan),
        "HanXuLy": format_time(record.han_xu_ly),
        "TrangThai": current.trang_thai,
        "LichSu": history,
        "MaDonViTiepNhan": record.ma_don_vi_tiep_nhan,
        "MaDonViXuLy": current.ma_don_vi_xu_ly,
        "NgayCapNhat": format_time(current.thoi_diem),
    }
