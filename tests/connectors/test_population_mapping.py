"""Wire (Vietnamese, XML) -> canonical Citizen: the one mapping, and what it refuses."""

from __future__ import annotations

from datetime import date, datetime

from connectors.population import map_citizen
from lxml import etree

from schemas.population import NAMESPACE


def wire(**overrides: str | None) -> etree._Element:
    values: dict[str, str | None] = {
        "SoDinhDanh": "001085000123",
        "HoVaTen": "Nguyễn Văn An",
        "NgaySinh": "1985-03-04",
        "GioiTinh": "1",
        "QuocTich": "VN",
        "DanToc": "01",
        "TonGiao": "00",
        "QueQuan": "Nam Định",
        "MaTinh": "01",
        "MaXa": "00070",
        "ChiTiet": "Số 1, Hàng Bạc",
        "SoDinhDanhCha": None,
        "SoDinhDanhMe": "001160000555",
        "SoDinhDanhVoChong": None,
        "TinhTrangHonNhan": "1",
        "NgayMat": None,
        "NgayCapNhat": "2025-08-01T10:00:00Z",
    }
    values.update(overrides)
    ns = f"{{{NAMESPACE}}}"
    root = etree.Element(ns + "CongDan", nsmap={"p": NAMESPACE})
    for name, value in values.items():
        if value is None or name in ("MaTinh", "MaXa", "ChiTiet"):
            continue
        etree.SubElement(root, ns + name).text = value
        if name == "QueQuan":
            address = etree.SubElement(root, ns + "NoiThuongTru")
            for part in ("MaTinh", "MaXa", "ChiTiet"):
                etree.SubElement(address, ns + part).text = values[part]
    return root


def test_maps_every_field_to_its_canonical_name() -> None:
    record = map_citizen(wire())
    assert record.rejection is None and record.citizen is not None
    c = record.citizen
    assert (c.personal_id, c.full_name, c.birth_date, c.gender) == (
        "001085000123",
        "Nguyễn Văn An",
        date(1985, 3, 4),
        "male",
    )
    assert (c.residence_province, c.residence_commune, c.residence_detail) == ("01", "00070", "Số 1, Hàng Bạc")
    assert c.mother_id == "001160000555" and c.father_id is None and c.marital_status == "single"
    assert c.source_updated_at == datetime(2025, 8, 1, 10, 0, 0)  # naive UTC
    assert record.fields["gender"] == "male" and record.fields["birth_date"] == "1985-03-04"
    assert b"001085000123" in record.payload.encode()  # raw kept for reprocessing


def test_content_hash_ignores_update_time_but_not_content() -> None:
    base = map_citizen(wire()).content_hash
    assert map_citizen(wire(NgayCapNhat="2025-09-01T00:00:00Z")).content_hash == base
    assert map_citizen(wire(ChiTiet="Số 2, Hàng Bạc")).content_hash != base


def test_contract_breaches_are_rejected_not_raised() -> None:
    for broken in (wire(NgaySinh="2023-02-30"), wire(GioiTinh="X"), wire(NgayCapNhat=None), wire(HoVaTen=None)):
        record = map_citizen(broken)
        assert record.citizen is None and record.rejection is not None
        assert record.rejection.rule == "contract.valid"
        assert "Nguyễn" not in str(record.rejection) and "001085000123" not in str(record.rejection)


def test_empty_name_is_left_for_the_quality_rule() -> None:
    record = map_citizen(wire(HoVaTen=""))
    assert record.rejection is None and record.fields["full_name"] == ""
