"""JSON bodies of the social insurance API, built from coverages with the contract's field names."""

from __future__ import annotations

import json

from mocks.registers import format_local
from mocks.social_insurance.record import BaoHiem
from mocks.versioned_feed import NumberedPage

_COMPACT = (",", ":")


def coverage_object(record: BaoHiem) -> dict[str, str | None]:
    """The contract's ``Coverage`` object."""
    return {
        "MaSoBHXH": record.ma_so_bhxh,
        "SoDinhDanh": record.so_dinh_danh,
        "MaXa": record.ma_xa,
        "NgayBatDau": record.ngay_bat_dau,
        "NgayKetThuc": record.ngay_ket_thuc,
        "TrangThai": record.trang_thai,
        "NgayCapNhat": format_local(record.ngay_cap_nhat),
    }


def page_body(page: NumberedPage[BaoHiem]) -> bytes:
    """``GET /coverages``: a ``CoveragePage``."""
    body = {
        "data": [coverage_object(record) for record in page.records],
        "page": page.page,
        "page_size": page.page_size,
        "total_pages": page.total_pages,
        "total": page.total,
    }
    return json.dumps(body, ensure_ascii=False, separators=_COMPACT).encode()
