"""SOAP 1.1 response bodies, built as strings.

Building a 1,000-record page as an lxml tree costs more than the rest of the request
together; string templates with escaping are several times faster and produce the
same document. Every text value from the data set goes through `escape`.
"""

from __future__ import annotations

from collections.abc import Iterable

from mocks.population.record import CongDan, format_timestamp
from schemas.population import NAMESPACE

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
_HEAD = f'<?xml version="1.0" encoding="UTF-8"?>\n<soap:Envelope xmlns:soap="{SOAP_ENV}"><soap:Body>'
_TAIL = "</soap:Body></soap:Envelope>"
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})


def escape(text: str) -> str:
    """Escape text for element content or a double-quoted attribute."""
    return text.translate(_ESCAPES) if any(c in text for c in '&<>"') else text


def envelope(body: str) -> bytes:
    """Wrap a body element in a SOAP 1.1 envelope, UTF-8 encoded."""
    return f"{_HEAD}{body}{_TAIL}".encode()


def congdan(record: CongDan) -> str:
    """A ``CongDan`` element (unprefixed; the enclosing element declares the namespace)."""
    parts = [
        "<CongDan><SoDinhDanh>",
        escape(record.so_dinh_danh),
        "</SoDinhDanh><HoVaTen>",
        escape(record.ho_va_ten),
        "</HoVaTen><NgaySinh>",
        record.ngay_sinh,
        "</NgaySinh><GioiTinh>",
        record.gioi_tinh,
        "</GioiTinh><QuocTich>",
        record.quoc_tich,
        "</QuocTich><DanToc>",
        record.dan_toc,
        "</DanToc><TonGiao>",
        record.ton_giao,
        "</TonGiao><QueQuan>",
        escape(record.que_quan),
        "</QueQuan><NoiThuongTru><MaTinh>",
        record.ma_tinh,
        "</MaTinh><MaXa>",
        record.ma_xa,
        "</MaXa><ChiTiet>",
        escape(record.chi_tiet),
        "</ChiTiet></NoiThuongTru>",
    ]
    if record.so_dinh_danh_cha is not None:
        parts += ("<SoDinhDanhCha>", escape(record.so_dinh_danh_cha), "</SoDinhDanhCha>")
    if record.so_dinh_danh_me is not None:
        parts += ("<SoDinhDanhMe>", escape(record.so_dinh_danh_me), "</SoDinhDanhMe>")
    if record.so_dinh_danh_vo_chong is not None:
        parts += ("<SoDinhDanhVoChong>", escape(record.so_dinh_danh_vo_chong), "</SoDinhDanhVoChong>")
    parts += ("<TinhTrangHonNhan>", record.tinh_trang_hon_nhan, "</TinhTrangHonNhan>")
    if record.ngay_mat is not None:
        parts += ("<NgayMat>", record.ngay_mat, "</NgayMat>")
    parts += ("<NgayCapNhat>", format_timestamp(record.ngay_cap_nhat), "</NgayCapNhat></CongDan>")
    return "".join(parts)


def get_citizen_response(record: CongDan) -> bytes:
    """The GetCitizenResponse envelope."""
    return envelope(f'<GetCitizenResponse xmlns="{NAMESPACE}">{congdan(record)}</GetCitizenResponse>')


def verify_citizen_response(exists: bool, name_matches: bool, birth_matches: bool) -> bytes:
    """The VerifyCitizenResponse envelope."""

    def flag(value: bool) -> str:
        return "true" if value else "false"

    return envelope(
        f'<VerifyCitizenResponse xmlns="{NAMESPACE}"><TonTai>{flag(exists)}</TonTai>'
        f"<KhopHoTen>{flag(name_matches)}</KhopHoTen><KhopNgaySinh>{flag(birth_matches)}</KhopNgaySinh>"
        "</VerifyCitizenResponse>"
    )


def list_changed_response(records: Iterable[CongDan], next_token: str | None) -> bytes:
    """The ListChangedCitizensResponse envelope; no NextPageToken on the last page."""
    token = f"<NextPageToken>{escape(next_token)}</NextPageToken>" if next_token else ""
    body = "".join(map(congdan, records))
    return envelope(f'<ListChangedCitizensResponse xmlns="{NAMESPACE}">{body}{token}</ListChangedCitizensResponse>')


def fault(code: str, message: str, error: str, description: str) -> bytes:
    """A soap:Fault with detail tns:LoiChiTiet; ``code`` is e.g. "soap:Client.NotFound"."""
    return envelope(
        f"<soap:Fault><faultcode>{code}</faultcode><faultstring>{escape(message)}</faultstring>"
        f'<detail><tns:LoiChiTiet xmlns:tns="{NAMESPACE}"><tns:MaLoi>{escape(error)}</tns:MaLoi>'
        f"<tns:MoTa>{escape(description)}</tns:MoTa></tns:LoiChiTiet></detail></soap:Fault>"
    )
