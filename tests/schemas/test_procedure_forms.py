"""The forms of the essential procedures: typed, declared as data, every source a canonical path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from schemas.citizen import CONTENT_FIELDS
from schemas.procedures import Procedure, load_catalogue
from schemas.procedures.forms import FormField, Source, load_forms

ESSENTIAL = {"TT-KS-01", "TT-KH-01", "TT-KT-01", "TT-TR-01", "TT-LL-01"}
GOOD_FIELD = {
    "key": "full_name",
    "label_vi": "Họ, chữ đệm, tên",
    "label_en": "Full name",
    "source": "applicant.full_name",
}


def test_the_catalogue_carries_residence_and_judicial_record_procedures() -> None:
    catalogue = load_catalogue()
    assert catalogue["TT-TR-01"] == Procedure("TT-TR-01", "Đăng ký thường trú", "commune", 7)
    assert catalogue["TT-LL-01"] == Procedure("TT-LL-01", "Cấp Phiếu lý lịch tư pháp", "province", 10)


def test_the_essential_procedures_have_short_realistic_forms() -> None:
    forms = load_forms()
    assert ESSENTIAL <= set(forms) <= set(load_catalogue())
    for code, form in forms.items():
        assert form.procedure == code and form.title.startswith("Tờ khai")
        assert 5 <= len(form.fields) <= 12, code
        assert len({item.key for item in form.fields}) == len(form.fields)
        # Every form asks something of the citizen, and takes something from the platform.
        assert any(item.source is None for item in form.fields), code
        assert any(item.source is not None for item in form.fields), code
        for item in form.fields:
            assert item.label_vi.strip() and item.label_en.strip() and item.label_vi != item.label_en
            if item.source is not None:
                assert item.source.field in {"personal_id", *CONTENT_FIELDS}


def test_sources_are_parsed_into_relation_and_field() -> None:
    judicial = {item.key: item for item in load_forms()["TT-LL-01"].fields}
    assert judicial["father_full_name"].source == Source("applicant.father.full_name", "father", "full_name")
    assert judicial["father_full_name"].source.link_field == "father_id"
    assert judicial["birth_date"].source == Source("applicant.birth_date", None, "birth_date")
    assert judicial["birth_date"].source.link_field is None
    assert judicial["purpose"].source is None
    birth = {item.key: item.source for item in load_forms()["TT-KS-01"].fields}
    assert birth["child_full_name"] is None  # only the citizen knows the name they chose
    new_address = {item.key: item.source for item in load_forms()["TT-TR-01"].fields}["new_address"]
    assert new_address is None


def test_forms_are_frozen_and_each_call_gets_a_fresh_dict() -> None:
    forms = load_forms()
    assert load_forms() is not forms and load_forms() == forms
    with pytest.raises(AttributeError):
        forms["TT-KS-01"].fields[0].key = "x"  # type: ignore[misc]
    assert isinstance(forms["TT-KS-01"].fields, tuple) and isinstance(forms["TT-KS-01"].fields[0], FormField)


def write(tmp_path: Path, document: Any) -> Path:
    path = tmp_path / "forms.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


def form_with(*fields: dict[str, Any], procedure: str = "TT-KS-01") -> dict[str, Any]:
    return {"forms": [{"procedure": procedure, "title": "Tờ khai", "fields": list(fields)}]}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"procedures": []}, "top-level 'forms' list"),
        (form_with(GOOD_FIELD, procedure="TT-ZZ-01"), r"form 1: procedure 'TT-ZZ-01' is not a code of the catalogue"),
        ({"forms": [{"procedure": "TT-KS-01", "title": "", "fields": [GOOD_FIELD]}]}, r"\(TT-KS-01\): title"),
        ({"forms": [{"procedure": "TT-KS-01", "title": "T", "fields": []}]}, "fields must be a non-empty list"),
        (
            form_with({**GOOD_FIELD, "source": "applicant.nickname"}),
            r"TT-KS-01\): field 1 \(full_name\): source applicant.nickname: nickname is not a canonical citizen field",
        ),
        (
            form_with({**GOOD_FIELD, "source": "applicant.uncle.full_name"}),
            "source applicant.uncle.full_name: relation must be one of father, mother, spouse",
        ),
        (form_with({**GOOD_FIELD, "source": "citizen.full_name"}), "source must be applicant.<field>"),
        (form_with({**GOOD_FIELD, "source": "applicant.father.mother.full_name"}), "source must be applicant.<field>"),
        (form_with({**GOOD_FIELD, "source": 7}), "source must be applicant.<field>"),
        (
            form_with({key: value for key, value in GOOD_FIELD.items() if key != "source"}),
            r"field 1: unknown key\(s\) none, missing key\(s\) \['source'\]",
        ),
        (form_with({**GOOD_FIELD, "sorce": None}), r"unknown key\(s\) \['sorce'\]"),
        (form_with(GOOD_FIELD, {**GOOD_FIELD, "label_en": "Name"}), r"field key\(s\) repeated: full_name"),
        (form_with({**GOOD_FIELD, "label_en": " "}), r"field 1 \(full_name\): label_vi and label_en"),
        (form_with({**GOOD_FIELD, "key": ""}), "field 1: key must be a non-empty string"),
        ({"forms": [form_with(GOOD_FIELD)["forms"][0]] * 2}, "form 2 repeats procedure TT-KS-01"),
    ],
)
def test_a_malformed_forms_file_says_what_to_fix(tmp_path: Path, document: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        load_forms(write(tmp_path, document))
    assert str(caught.value).startswith("forms.yaml: ")


def test_a_well_formed_file_of_ones_own_loads(tmp_path: Path) -> None:
    spouse = {**GOOD_FIELD, "key": "spouse_id", "source": "applicant.spouse.personal_id"}
    forms = load_forms(write(tmp_path, form_with(GOOD_FIELD, spouse, {**GOOD_FIELD, "key": "why", "source": None})))
    assert [item.source.path if item.source else None for item in forms["TT-KS-01"].fields] == [
        "applicant.full_name",
        "applicant.spouse.personal_id",
        None,
    ]
