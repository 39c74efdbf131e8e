"""Wire record -> staged canonical text: every type's normal form, for JSON and XML alike."""

from __future__ import annotations

import json
from typing import Any

import pytest
from lxml import etree

from connectors.declared import RecordMapper
from connectors.digest import content_hash_of
from lgsp.declaration import Stream

NS = "urn:lgsp:test:mapping:1"


def stream(field_type: str, wire: str = "GiaTri", value_map: dict[str, str] | None = None) -> Stream:
    spec: dict[str, Any] = {"from": wire, "type": field_type}
    if value_map:
        spec["map"] = value_map
    return Stream.model_validate(
        {"get": "/x", "records": "data", "dataset": "thing", "key": "key", "fields": {"key": "Ma", "value": spec}}
    )


def staged(field_type: str, value: Any, **options: Any) -> tuple[str | None, str | None]:
    """(staged value, contract error) of ``value`` as JSON."""
    record = RecordMapper(stream(field_type, **options)).from_json({"Ma": "k1", "GiaTri": value})
    return record.fields["value"], None if record.rejection is None else str(record.rejection)


@pytest.mark.parametrize(
    ("field_type", "wire", "expected"),
    [
        ("text", "Nguyễn Văn An", "Nguyễn Văn An"),
        ("text", " spaced ", " spaced "),
        ("text", 42, "42"),
        ("text", True, "true"),
        ("personal_id", "001085000123", "001085000123"),
        ("province", "01", "01"),
        ("commune", "00070", "00070"),
        ("integer", 12, "12"),
        ("integer", "007", "7"),
        ("integer", "+5", "5"),
        ("integer", "-0", "0"),
        ("integer", "9223372036854775807", "9223372036854775807"),  # the store's BigInteger holds it
        ("integer", "-9223372036854775808", "-9223372036854775808"),
        ("decimal", "1250.50", "1250.5"),
        ("decimal", "1E+3", "1000"),
        ("decimal", 2.5, "2.5"),
        ("decimal", 1e-7, "0.0000001"),
        ("decimal", "-0.00", "0"),
        ("decimal", 10, "10"),
        ("decimal", ".5", "0.5"),
        ("decimal", "-12.", "-12"),
        ("decimal", "9" * 28, "9" * 28),  # Numeric(38, 10): 28 digits before the point
        ("date", "2025-03-04", "2025-03-04"),
        ("date", "2025-03-04+07:00", "2025-03-04"),
        ("date", "2025-03-04Z", "2025-03-04"),
        ("datetime", "2025-03-04T10:00:00Z", "2025-03-04T10:00:00"),
        ("datetime", "2025-03-04T10:00:00+07:00", "2025-03-04T03:00:00"),
        ("datetime", "2025-03-04T00:30:00.250+01:00", "2025-03-03T23:30:00.250000"),
        ("datetime", "2025-03-04T10:00:00.1234567Z", "2025-03-04T10:00:00.123456"),
        ("boolean", True, "true"),
        ("boolean", False, "false"),
        ("boolean", "TRUE", "true"),
        ("boolean", "0", "false"),
        ("boolean", 1, "true"),
        ("date", "", None),  # an empty date is no value
        ("integer", "  ", None),
        ("text", "", ""),  # an empty text is what was sent
    ],
)
def test_normal_forms(field_type: str, wire: Any, expected: str | None) -> None:
    assert staged(field_type, wire) == (expected, None)


@pytest.mark.parametrize(
    ("field_type", "wire", "error"),
    [
        ("integer", 1.5, "GiaTri is not an integer"),
        ("integer", "1e3", "GiaTri is not an integer"),
        ("integer", True, "GiaTri is not an integer"),
        ("integer", "9223372036854775808", "GiaTri is not an integer"),  # beyond BigInteger: would fail publish
        ("decimal", "NaN", "GiaTri is not a decimal"),
        ("decimal", "1_000", "GiaTri is not a decimal"),
        ("decimal", " 12 ", "GiaTri is not a decimal"),
        ("decimal", "1E+999999999", "GiaTri is not a decimal"),  # would write a billion digits
        ("decimal", "1" * 29, "GiaTri is not a decimal"),
        ("datetime", "0001-01-01T00:00:00+01:00", "GiaTri is not a datetime"),  # no UTC year for it
        ("decimal", "Infinity", "GiaTri is not a decimal"),
        ("decimal", "12,5", "GiaTri is not a decimal"),
        ("decimal", False, "GiaTri is not a decimal"),
        ("date", "04/03/2025", "GiaTri is not a date"),
        ("date", "2025-02-30", "GiaTri is not a date"),
        ("date", "2025-03-04T10:00:00Z", "GiaTri is not a date"),
        ("date", 20250304, "GiaTri is not a date"),
        ("datetime", "2025-03-04T10:00:00", "GiaTri is not a datetime"),  # no zone: ambiguous
        ("datetime", "2025-03-04", "GiaTri is not a datetime"),
        ("datetime", 1741082400, "GiaTri is not a datetime"),
        ("datetime", "yesterday", "GiaTri is not a datetime"),
        ("boolean", "yes", "GiaTri is not a boolean"),
        ("boolean", 2, "GiaTri is not a boolean"),
        ("text", {"nested": "object"}, "GiaTri is not a text"),
        ("personal_id", ["001085000123"], "GiaTri is not a personal id (at most 32 characters)"),
        # Longer than the golden column holds: PostgreSQL would refuse the whole publish, every retry.
        ("personal_id", "1" * 33, "GiaTri is not a personal id (at most 32 characters)"),
        ("commune", "123456789", "GiaTri is not a commune code (at most 8 characters)"),
    ],
)
def test_a_value_that_is_not_its_type_rejects_the_record_without_quoting_it(
    field_type: str, wire: Any, error: str
) -> None:
    value, rejection = staged(field_type, wire)
    assert value is None and rejection == f"contract.valid: {error}"
    assert json.dumps(wire, ensure_ascii=False).strip('"') not in error


def test_a_map_applies_before_the_type_and_keeps_what_it_does_not_know() -> None:
    assert staged("text", "DangHoatDong", value_map={"DangHoatDong": "active"}) == ("active", None)
    assert staged("text", "LaLung", value_map={"DangHoatDong": "active"}) == ("LaLung", None)
    assert staged("boolean", "Co", value_map={"Co": "true", "Khong": "false"}) == ("true", None)
    assert staged("boolean", "Khong", value_map={"Co": "true", "Khong": "false"}) == ("false", None)
    assert staged("integer", 1, value_map={"1": "10"}) == ("10", None)  # a JSON number maps by its spelling


def test_null_and_missing_are_null_and_dotted_paths_reach_into_objects() -> None:
    spec = Stream.model_validate(
        {
            "get": "/x",
            "records": "data",
            "dataset": "thing",
            "key": "key",
            "fields": {
                "key": "Ma",
                "commune": {"from": "DiaChi.MaXa", "type": "commune"},
                "dotted": "a.b",
                "gone": "KhongCo",
            },
        }
    )
    mapper = RecordMapper(spec)
    record = mapper.from_json({"Ma": None, "DiaChi": {"MaXa": "00070"}, "a.b": "literal key wins"})
    assert record.fields == {"key": None, "commune": "00070", "dotted": "literal key wins", "gone": None}
    assert mapper.from_json({"Ma": "k", "DiaChi": "not an object"}).fields["commune"] is None
    assert record.content_hash == content_hash_of(record.fields, ("commune", "dotted", "gone"))  # the key is no content


def test_a_record_that_is_not_an_object_is_rejected_and_hashed_by_its_payload() -> None:
    record = RecordMapper(stream("text")).from_json([1, 2])
    assert record.rejection is not None and str(record.rejection) == "contract.valid: a record is not an object"
    assert record.payload == "[1, 2]" and record.fields == {"key": None, "value": None}
    assert record.content_hash == content_hash_of({"payload": "[1, 2]"}, ("payload",))


def test_the_payload_is_the_record_as_received_sorted_and_unescaped() -> None:
    record = RecordMapper(stream("text")).from_json({"Ma": "k1", "GiaTri": "Hà Nội"})
    assert record.payload == '{"GiaTri": "Hà Nội", "Ma": "k1"}'
    assert "Hà Nội" not in repr(record)  # a record's repr shows no personal value


def test_the_first_broken_field_names_the_rejection_and_the_others_still_map() -> None:
    spec = Stream.model_validate(
        {
            "get": "/x",
            "records": "data",
            "dataset": "thing",
            "key": "key",
            "fields": {
                "key": "Ma",
                "born": {"from": "NgaySinh", "type": "date"},
                "count": {"from": "SoLan", "type": "integer"},
            },
        }
    )
    record = RecordMapper(spec).from_json({"Ma": "k1", "NgaySinh": "x", "SoLan": "y"})
    assert str(record.rejection) == "contract.valid: NgaySinh is not a date"
    assert record.fields == {"key": "k1", "born": None, "count": None}


# --- XML ---------------------------------------------------------------------------------


def xml_stream() -> Stream:
    return Stream.model_validate(
        {
            "operation": "Op",
            "records": "Ban",
            "dataset": "thing",
            "key": "key",
            "fields": {
                "key": "Ma",
                "born": {"from": "NgaySinh", "type": "date"},
                "amount": {"from": "SoTien", "type": "decimal"},
                "commune": {"from": "DiaChi/MaXa", "type": "commune"},
                "street": {"from": "DiaChi/ChiTiet/Duong"},
                "note": "GhiChu",
            },
        }
    )


def element(text: str) -> etree._Element:
    return etree.fromstring(text.encode())


def test_xml_fields_by_local_name_whatever_the_namespace() -> None:
    mapper = RecordMapper(xml_stream())
    for record_xml in (
        f'<Ban xmlns="{NS}"><Ma>k1</Ma><NgaySinh>1985-03-04</NgaySinh><SoTien>1.50</SoTien>'
        f"<DiaChi><MaXa>00070</MaXa><ChiTiet><Duong>Hàng Bạc</Duong></ChiTiet></DiaChi><GhiChu/></Ban>",
        f'<p:Ban xmlns:p="{NS}"><p:Ma>k1</p:Ma><!-- c --><p:NgaySinh>1985-03-04</p:NgaySinh><SoTien>1.50</SoTien>'
        f"<p:DiaChi><p:MaXa>00070</p:MaXa><p:ChiTiet><p:Duong>Hàng Bạc</p:Duong></p:ChiTiet></p:DiaChi>"
        f"<GhiChu></GhiChu></p:Ban>",
    ):
        record = mapper.from_xml(element(record_xml))
        assert record.rejection is None
        assert record.fields == {
            "key": "k1",
            "born": "1985-03-04",
            "amount": "1.5",
            "commune": "00070",
            "street": "Hàng Bạc",
            "note": "",  # present and empty: an empty text
        }
        # the element as received (lxml writes an empty element self-closed)
        assert record.payload == record_xml.replace("<GhiChu></GhiChu>", "<GhiChu/>")


def test_xml_nil_and_absent_are_null_and_a_broken_value_rejects() -> None:
    mapper = RecordMapper(xml_stream())
    xsi = "http://www.w3.org/2001/XMLSchema-instance"
    record = mapper.from_xml(element(f'<Ban xmlns:xsi="{xsi}"><Ma>k1</Ma><GhiChu xsi:nil="true"/><NgaySinh/></Ban>'))
    assert record.rejection is None
    assert record.fields == {"key": "k1", "born": None, "amount": None, "commune": None, "street": None, "note": None}
    broken = mapper.from_xml(element("<Ban><Ma>k1</Ma><SoTien>1.000,50</SoTien></Ban>"))
    assert str(broken.rejection) == "contract.valid: SoTien is not a decimal" and "1.000,50" in broken.payload


def test_xml_the_first_of_repeated_elements_counts() -> None:
    record = RecordMapper(xml_stream()).from_xml(element("<Ban><Ma>first</Ma><Ma>second</Ma></Ban>"))
    assert record.fields["key"] == "first"
