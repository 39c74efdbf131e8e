"""Wire (Vietnamese, XML) -> staged citizen text, as national_population.yaml declares it, and what it refuses.

The declared mapper rejects what cannot be read as its declared type (a date that is not
a day, a time without a zone); what is readable but wrong (an unknown code, a missing
element, an empty name) is kept as sent for the citizen rules to judge at audit.
"""

from __future__ import annotations

from lxml import etree
from population_source import DECL, STREAM, mapper
from population_sync import rule_names

from connectors.declared import DeclaredRecord
from schemas.population import NAMESPACE

PERSONAL = ("001085000123", "Nguyễn Văn An", "001160000555", "Hàng Bạc")


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
                if values[part] is not None:
                    etree.SubElement(address, ns + part).text = values[part]
    return root


def mapped(element: etree._Element) -> DeclaredRecord:
    return mapper().from_xml(element)


def test_maps_every_field_to_its_canonical_name() -> None:
    record = mapped(wire())
    assert record.rejection is None
    assert record.fields == {
        "personal_id": "001085000123",
        "full_name": "Nguyễn Văn An",
        "birth_date": "1985-03-04",
        "gender": "male",
        "nationality": "VN",
        "ethnicity": "01",
        "religion": "00",
        "hometown": "Nam Định",
        "residence_province": "01",  # nested: NoiThuongTru/MaTinh
        "residence_commune": "00070",
        "residence_detail": "Số 1, Hàng Bạc",
        "father_id": None,
        "mother_id": "001160000555",
        "spouse_id": None,
        "marital_status": "single",
        "death_date": None,
        "source_updated_at": "2025-08-01T10:00:00",  # naive UTC
    }
    assert list(record.fields) == list(DECL.streams[STREAM].fields)  # every declared field, in order
    assert b"001085000123" in record.payload.encode()  # raw kept for reprocessing


def test_codes_and_times_are_normalised() -> None:
    record = mapped(wire(GioiTinh="2", TinhTrangHonNhan="4", NgayCapNhat="2025-08-01T17:00:00+07:00"))
    assert record.rejection is None
    assert (record.fields["gender"], record.fields["marital_status"]) == ("female", "widowed")
    assert record.fields["source_updated_at"] == "2025-08-01T10:00:00"
    assert mapped(wire(NgayMat="2024-12-31")).fields["death_date"] == "2024-12-31"


def test_content_hash_ignores_update_time_and_key_but_not_content() -> None:
    base = mapped(wire()).content_hash
    assert mapped(wire(NgayCapNhat="2025-09-01T00:00:00Z")).content_hash == base
    assert mapped(wire(SoDinhDanh="001085000999")).content_hash == base  # the key says which, not what
    assert mapped(wire(ChiTiet="Số 2, Hàng Bạc")).content_hash != base
    assert mapped(wire(MaTinh="79")).content_hash != base
    assert mapped(wire(GioiTinh="2")).content_hash != base


def test_contract_breaches_are_rejected_not_raised() -> None:
    breaches = {
        "NgaySinh is not a date": wire(NgaySinh="2023-02-30"),
        "NgayMat is not a date": wire(NgayMat="31/12/2024"),
        "NgayCapNhat is not a datetime": wire(NgayCapNhat="2025-08-01T10:00:00"),  # no zone: ambiguous
        "SoDinhDanh is not a personal id (at most 32 characters)": wire(SoDinhDanh="0" * 33),
        "NoiThuongTru/MaTinh is not a province code (at most 8 characters)": wire(MaTinh="Hà Nội, Việt Nam"),
    }
    for why, broken in breaches.items():
        record = mapped(broken)
        assert record.rejection is not None, why
        assert record.rejection.rule == "contract.valid"
        assert str(record.rejection) == f"contract.valid: {why}"
        leaked = [value for value in PERSONAL if value in str(record.rejection) or value in repr(record)]
        assert not leaked, f"{why}: {leaked}"
        assert record.content_hash != mapped(wire()).content_hash  # a rejected record hashes its payload


def test_readable_but_wrong_values_are_left_for_the_citizen_rules() -> None:
    """Unlike the hand-written mapper, the declared one keeps unknown codes and missing elements for audit."""
    unknown = mapped(wire(GioiTinh="X", TinhTrangHonNhan="9"))
    assert unknown.rejection is None
    assert (unknown.fields["gender"], unknown.fields["marital_status"]) == ("X", "9")  # as sent
    missing = mapped(wire(NgayCapNhat=None, HoVaTen=None, MaTinh=None))
    assert missing.rejection is None
    assert missing.fields["source_updated_at"] is None and missing.fields["full_name"] is None
    assert missing.fields["residence_province"] is None and missing.fields["residence_commune"] == "00070"
    judged_by = set(rule_names())
    assert {"gender.valid", "marital_status.valid", "source_updated_at.not_empty", "full_name.not_empty"} <= judged_by
    assert "residence_province.not_empty" in judged_by


def test_empty_name_is_left_for_the_quality_rule() -> None:
    record = mapped(wire(HoVaTen=""))
    assert record.rejection is None and record.fields["full_name"] == ""
    assert "full_name.not_empty" in rule_names()
