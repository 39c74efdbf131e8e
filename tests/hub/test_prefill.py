"""Prefill: a form filled from golden records, each value with its source, and only what the agreement allows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Connection, Engine, event, insert, update

from hub.sharing.prefill import Filled, MustSupply, PrefillForm, UnknownProcedure, prefill, prefill_many
from hub.store.engine import open_store
from hub.store.tables import citizen, field_conflict
from schemas.citizen import CONTENT_FIELDS
from schemas.procedures.forms import load_forms

UPDATED = datetime(2025, 11, 3, 8, 30)
APPLICANT, FATHER, MOTHER, SPOUSE = "001090000011", "001060000022", "001162000033", "001191000044"


def person(personal_id: str, *, systems: dict[str, str] | None = None, **values: Any) -> dict[str, Any]:
    """A golden row: every field from the population database unless ``systems`` says otherwise."""
    row: dict[str, Any] = {
        "personal_id": personal_id,
        "full_name": "Nguyễn Văn An",
        "birth_date": date(1990, 5, 17),
        "gender": "male",
        "nationality": "VN",
        "ethnicity": "01",
        "religion": "00",
        "hometown": "Hà Nội",
        "residence_province": "01",
        "residence_commune": "00070",
        "residence_detail": "Số 9, ngõ 12 Hàng Bạc",
        "father_id": None,
        "mother_id": None,
        "spouse_id": None,
        "marital_status": "single",
        "death_date": None,
        "source_updated_at": UPDATED,
        "content_hash": "x",
        "published_run_id": "r",
        "published_at": UPDATED,
        **values,
    }
    stamps = {
        name: {
            "system": (systems or {}).get(name, "national_population"),
            "source_updated_at": UPDATED.isoformat(),
            "fetched_at": UPDATED.isoformat(),
            "run_id": "r",
        }
        for name in CONTENT_FIELDS
    }
    return {**row, "provenance": json.dumps(stamps, ensure_ascii=False)}


def conflict(personal_id: str, name: str, status: str = "open") -> dict[str, Any]:
    return {
        "personal_id": personal_id,
        "field": name,
        "kept_value": "2025-10-01",
        "kept_source": "civil_status",
        "kept_updated_at": UPDATED,
        "other_value": None,
        "other_source": "national_population",
        "other_updated_at": UPDATED,
        "run_id": "r",
        "detected_at": UPDATED,
        "status": status,
    }


def family() -> list[dict[str, Any]]:
    """A married man whose father, mother and wife the platform holds."""
    return [
        person(APPLICANT, father_id=FATHER, mother_id=MOTHER, spouse_id=SPOUSE, marital_status="married"),
        person(FATHER, full_name="Nguyễn Văn Bình", birth_date=date(1960, 2, 1)),
        person(MOTHER, full_name="Trần Thị Cúc", birth_date=date(1962, 3, 4), gender="female"),
        person(
            SPOUSE,
            full_name="Lê Thị Dung",
            birth_date=date(1991, 7, 8),
            gender="female",
            spouse_id=APPLICANT,
            marital_status="married",
        ),
    ]


@pytest.fixture
def conn(store_engine: Engine) -> Iterator[Connection]:
    with store_engine.begin() as connection:
        yield connection


def by_key(form: PrefillForm | None) -> dict[str, Filled | MustSupply]:
    assert form is not None
    return {result.key: result for result in form.fields}


def filled(form: PrefillForm | None, key: str) -> Filled:
    result = by_key(form)[key]
    assert isinstance(result, Filled), result
    return result


def test_own_fields_are_filled_with_source_and_time_and_the_citizens_are_asked(conn: Connection) -> None:
    conn.execute(insert(citizen), [person(APPLICANT)])
    form = prefill(conn, "TT-TR-01", APPLICANT)
    assert form is not None and [result.key for result in form.fields] == [
        item.key for item in load_forms()["TT-TR-01"].fields
    ]
    assert filled(form, "birth_date") == Filled(
        "birth_date", "1990-05-17", "national_population", UPDATED.isoformat(), verified=True
    )
    assert filled(form, "full_name").value == "Nguyễn Văn An"
    assert filled(form, "current_commune").value == "00070"
    assert filled(form, "personal_id") == Filled(
        "personal_id", APPLICANT, "national_population", UPDATED.isoformat(), verified=True
    )
    for key in ("new_address", "head_of_household", "relationship_to_head"):
        assert by_key(form)[key] == MustSupply(key, "no_source")
    assert form.verified_count == 6 and not form.complete
    json.dumps(form.as_dict())  # JSON-ready as it is


def test_a_value_from_outside_the_registers_is_filled_but_not_verified(conn: Connection) -> None:
    conn.execute(insert(citizen), [person(APPLICANT, systems={"residence_detail": "commune_survey"})])
    result = filled(prefill(conn, "TT-TR-01", APPLICANT), "current_residence")
    assert (result.value, result.source, result.verified) == ("Số 9, ngõ 12 Hàng Bạc", "commune_survey", False)
    assert filled(prefill(conn, "TT-TR-01", APPLICANT), "full_name").verified


def test_an_open_conflict_unverifies_the_field_until_resolved(conn: Connection) -> None:
    conn.execute(insert(citizen), [person(APPLICANT, systems={"marital_status": "civil_status"})])
    conn.execute(insert(field_conflict), [conflict(APPLICANT, "marital_status")])
    result = filled(prefill(conn, "TT-KH-01", APPLICANT), "marital_status")
    assert (result.value, result.source, result.verified) == ("single", "civil_status", False)
    assert filled(prefill(conn, "TT-KH-01", APPLICANT), "birth_date").verified  # other fields are not disputed
    conn.execute(update(field_conflict).values(status="resolved"))
    assert filled(prefill(conn, "TT-KH-01", APPLICANT), "marital_status").verified


def test_relatives_are_filled_from_their_own_records(database_url: str) -> None:
    engine = open_store(database_url)
    with engine.begin() as connection:
        connection.execute(insert(citizen), family())
        judicial = prefill(connection, "TT-LL-01", APPLICANT)
        birth = prefill(connection, "TT-KS-01", APPLICANT)
    engine.dispose()
    assert filled(judicial, "father_full_name") == Filled(
        "father_full_name", "Nguyễn Văn Bình", "national_population", UPDATED.isoformat(), True
    )
    assert filled(judicial, "mother_full_name").value == "Trần Thị Cúc"
    assert filled(judicial, "spouse_full_name").value == "Lê Thị Dung"
    assert filled(judicial, "full_name").value == "Nguyễn Văn An"
    assert by_key(judicial)["purpose"] == MustSupply("purpose", "no_source")
    assert judicial is not None and judicial.verified_count == 10
    assert filled(birth, "other_parent_personal_id").value == SPOUSE
    assert filled(birth, "other_parent_full_name").value == "Lê Thị Dung"


def test_a_missing_relative_must_be_supplied(conn: Connection) -> None:
    # No mother on record; a father named by id whom the platform does not hold.
    conn.execute(insert(citizen), [person(APPLICANT, father_id=FATHER, spouse_id=SPOUSE, marital_status="married")])
    form = prefill(conn, "TT-LL-01", APPLICANT)
    assert by_key(form)["mother_full_name"] == MustSupply("mother_full_name", "not_held")
    assert by_key(form)["father_full_name"] == MustSupply("father_full_name", "not_held")
    assert by_key(form)["spouse_full_name"] == MustSupply("spouse_full_name", "not_held")
    # The spouse's id is on the applicant's own record, held or not.
    assert filled(prefill(conn, "TT-KS-01", APPLICANT), "other_parent_personal_id").value == SPOUSE


def test_a_disputed_link_unverifies_the_relatives_values(conn: Connection) -> None:
    conn.execute(insert(citizen), family())
    conn.execute(insert(field_conflict), [conflict(APPLICANT, "spouse_id")])
    form = prefill(conn, "TT-KS-01", APPLICANT)
    name = filled(form, "other_parent_full_name")
    assert name.value == "Lê Thị Dung" and name.source == "national_population" and not name.verified
    assert not filled(form, "other_parent_personal_id").verified
    assert filled(form, "requester_full_name").verified


def test_fields_outside_the_agreement_are_withheld_and_appear_nowhere(conn: Connection) -> None:
    conn.execute(insert(citizen), family())
    allowed = frozenset({"full_name", "birth_date", "mother_id"})
    form = prefill(conn, "TT-LL-01", APPLICANT, allowed_fields=allowed)
    assert filled(form, "full_name").value == "Nguyễn Văn An"
    assert filled(form, "birth_date").value == "1990-05-17"
    assert filled(form, "personal_id").value == APPLICANT  # the key asked by is never withheld
    assert filled(form, "mother_full_name").value == "Trần Thị Cúc"  # mother_id and full_name allowed
    for key in ("gender", "nationality", "ethnicity", "residence", "father_full_name", "spouse_full_name"):
        assert by_key(form)[key] == MustSupply(key, "not_in_agreement")
    assert by_key(form)["purpose"] == MustSupply("purpose", "no_source")
    shown = json.dumps(form.as_dict() if form else None, ensure_ascii=False) + repr(form)
    for withheld in ("Hàng Bạc", "Nguyễn Văn Bình", "Lê Thị Dung", FATHER, SPOUSE, "male", "VN"):
        assert withheld not in shown
    # The link alone does not give the relative's name: both must be allowed.
    named = prefill(conn, "TT-LL-01", APPLICANT, allowed_fields=frozenset({"father_id"}))
    assert by_key(named)["father_full_name"] == MustSupply("father_full_name", "not_in_agreement")
    linked = prefill(conn, "TT-KS-01", APPLICANT, allowed_fields=frozenset({"spouse_id"}))
    assert filled(linked, "other_parent_personal_id").value == SPOUSE
    assert by_key(linked)["requester_full_name"] == MustSupply("requester_full_name", "not_in_agreement")


def test_values_are_not_in_the_repr(conn: Connection) -> None:
    conn.execute(insert(citizen), family())
    form = prefill(conn, "TT-LL-01", APPLICANT)
    assert form is not None and filled(form, "full_name").value == "Nguyễn Văn An"
    assert "Nguyễn" not in repr(form) and APPLICANT not in repr(form) and "1990" not in repr(form)


def test_a_death_registered_by_the_register_but_disputed_is_filled_unverified(conn: Connection, tmp_path: Path) -> None:
    # A form of our own asking for dates of death: the register says the father died, the population
    # database still says alive, so the conflict stays open.
    fields = [
        {"key": key, "label_vi": key, "label_en": key, "source": path}
        for key, path in (
            ("own_death", "applicant.death_date"),
            ("father_death", "applicant.father.death_date"),
            ("father_birth", "applicant.father.birth_date"),
        )
    ]
    forms_path = tmp_path / "forms.yaml"
    forms_path.write_text(yaml.safe_dump({"forms": [{"procedure": "TT-XN-01", "title": "T", "fields": fields}]}))
    forms = load_forms(forms_path)
    conn.execute(
        insert(citizen),
        [
            person(APPLICANT, father_id=FATHER),
            person(FATHER, death_date=date(2025, 10, 1), systems={"death_date": "civil_status"}),
        ],
    )
    conn.execute(insert(field_conflict), [conflict(FATHER, "death_date")])
    form = prefill(conn, "TT-XN-01", APPLICANT, forms=forms)
    assert by_key(form)["own_death"] == MustSupply("own_death", "not_held")  # alive: nothing to fill
    death = filled(form, "father_death")
    assert (death.value, death.source, death.verified) == ("2025-10-01", "civil_status", False)
    assert filled(form, "father_birth") == Filled(
        "father_birth", "1990-05-17", "national_population", UPDATED.isoformat(), True
    )
    conn.execute(update(field_conflict).values(status="resolved"))
    assert filled(prefill(conn, "TT-XN-01", APPLICANT, forms=forms), "father_death").verified


def test_unknown_procedure_and_unknown_citizen(conn: Connection) -> None:
    conn.execute(insert(citizen), [person(APPLICANT)])
    with pytest.raises(UnknownProcedure, match="TT-ZZ-01"):
        prefill(conn, "TT-ZZ-01", APPLICANT)
    with pytest.raises(LookupError, match="no form"):  # in the catalogue, but no form declared
        prefill(conn, "TT-CT-01", APPLICANT)
    assert prefill(conn, "TT-TR-01", "001090999999") is None


def test_many_applicants_are_read_in_three_queries_per_thousand(conn: Connection) -> None:
    rows = family()
    others = [f"002090{n:06d}" for n in range(998)]
    rows += [person(other, father_id=FATHER, spouse_id=SPOUSE) for other in others]
    conn.execute(insert(citizen), rows)
    wanted = [APPLICANT, *others, "001090999999"]  # a thousand: one batch
    statements: list[str] = []

    def seen(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(conn, "before_cursor_execute", seen)
    try:
        forms = prefill_many(conn, "TT-LL-01", wanted)
    finally:
        event.remove(conn, "before_cursor_execute", seen)
    assert len(statements) == 3  # applicants, relatives, open conflicts
    assert set(forms) == set(wanted) - {"001090999999"}  # the unknown one is left out
    assert filled(forms[others[5]], "father_full_name").value == "Nguyễn Văn Bình"
    assert by_key(forms[others[5]])["mother_full_name"] == MustSupply("mother_full_name", "not_held")
    assert forms[APPLICANT].verified_count == 10
    # One more than a batch: the second batch is read too, and an id asked twice is answered once.
    assert set(prefill_many(conn, "TT-LL-01", [*wanted, FATHER, APPLICANT])) == set(forms) | {FATHER}
