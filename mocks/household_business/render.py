"""SOAP 1.1 response bodies of the household business registry, built as strings (as the population mock does)."""

from __future__ import annotations

from mocks.household_business.record import HoKinhDoanh
from mocks.population.render import envelope, escape
from mocks.registers import format_local
from mocks.versioned_feed import NumberedPage

NAMESPACE = "urn:lgsp:mock:household-business:v1"  # the contract's target namespace


def ho_kinh_doanh(record: HoKinhDoanh) -> str:
    """A ``HoKinhDoanh`` element (unprefixed; the enclosing element declares the namespace)."""
    return "".join(
        (
            "<HoKinhDoanh><SoDangKy>",
            escape(record.so_dang_ky),
            "</SoDangKy><TenHoKinhDoanh>",
            escape(record.ten_ho_kinh_doanh),
            "</TenHoKinhDoanh><SoDinhDanhChuHo>",
            escape(record.so_dinh_danh_chu_ho),
            "</SoDinhDanhChuHo><MaXa>",
            escape(record.ma_xa),
            "</MaXa><NgayDangKy>",
            record.ngay_dang_ky,
            "</NgayDangKy><TrangThai>",
            escape(record.trang_thai),
            "</TrangThai><ThoiDiemCapNhat>",
            format_local(record.thoi_diem_cap_nhat),
            "</ThoiDiemCapNhat></HoKinhDoanh>",
        )
    )


def list_response(page: NumberedPage[HoKinhDoanh]) -> bytes:
    """The DanhSachHoKinhDoanhResponse envelope."""
    body = "".join(map(ho_kinh_doanh, page.records))
    return envelope(
        f'<DanhSachHoKinhDoanhResponse xmlns="{NAMESPACE}"><TongSoTrang>{page.total_pages}</TongSoTrang>'
        f"<SoTrang>{page.page}</SoTrang>{body}</DanhSachHoKinhDoanhResponse>"
    )


def fault(code: str, message: str, error: str, description: str) -> bytes:
    """A soap:Fault with detail tns:LoiChiTiet in the registry's namespace; ``code`` e.g. "soap:Client.NotFound"."""
    return envelope(
        f"<soap:Fault><faultcode>{code}</faultcode><faultstring>{escape(message)}</faultstring>"
        f'<detail><tns:LoiChiTiet xmlns:tns="{NAMESPACE}"><tns:MaLoi>{escape(error)}</tns:MaLoi>'
        f"<tns:MoTa>{escape(description)}</tns:MoTa></tns:LoiChiTiet></detail></soap:Fault>"
    )
