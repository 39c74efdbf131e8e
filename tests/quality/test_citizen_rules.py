"""Each citizen rule catches its defect, only its defect, and lets clean rows pass.

Every test stages a handful of clean, varied rows next to the defective ones and
runs the real suite through GX on the real store (SQLite and PostgreSQL). A
defective row must break exactly the rule under test: that pins down the scoping
decisions (a malformed id is not also an id/birth mismatch, a broken contract is
reported once) as well as the rule itself.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from population_sync import rule_names, suite
from sqlalchemy import Engine
from staged_citizens import (
    AS_OF,
    RULE_FOR_DEFECT,
    RUN,
    citizen,
    other_province_commune,
    personal_id_of,
    publish,
    rules_by_row,
    stage,
)

from mocks.population.record import DEFECT_TYPES
from quality.runner import validate_run


def clean_rows() -> list[dict[str, object]]:
    """Valid rows that sit on the rules' edges; none may fail anything."""
    father, mother = personal_id_of(1), personal_id_of(2, "1992-02-28", "female")
    return [
        citizen(1),
        citizen(1),  # an identical re-delivery is not a conflict
        citizen(2, birth_date="1992-02-28", gender="female", marital_status="married", spouse_id=father),
        citizen(3, birth_date="1900-01-01", death_date="1960-02-29"),  # earliest birth, leap day
        citizen(4, birth_date="2000-02-29", gender="female", death_date=AS_OF.isoformat()),
        citizen(5, birth_date=AS_OF.isoformat()),  # born on the as-of day
        citizen(6, full_name="Ngô  Bảo\u00a0Châu", marital_status="widowed", spouse_id=personal_id_of(60)),
        citizen(7, birth_date="2015-06-01", father_id=father, mother_id=mother),
        # Empty optional elements read as absent, as the publish step reads them.
        citizen(8, father_id="", mother_id="", spouse_id="", death_date=""),
        citizen(9, mother_id=personal_id_of(999, "1960-01-01", "female")),  # found nowhere
    ]


def _contract(engine: Engine) -> list[int]:
    return stage(
        engine,
        citizen(
            101,
            personal_id="x",
            full_name=None,
            birth_date="1990-05-17",
            gender=None,
            contract_error="missing element HoVaTen",
        ),
        citizen(102, personal_id="001090000102", birth_date="17/05/1990", contract_error="NgaySinh is not an xs:date"),
    )


def _missing(field: str, serial: int) -> Callable[[Engine], list[int]]:
    """A row without ``field`` (a well-formed id, so that only the field's own rule fires)."""

    def staged(engine: Engine) -> list[int]:
        if field == "birth_date":  # no birth date to build the id from: one the id rule cannot check
            return stage(engine, citizen(serial, personal_id=f"0010990{serial:05d}", birth_date=None))
        return stage(engine, citizen(serial, **{field: None}))

    return staged


def _id_format(engine: Engine) -> list[int]:
    return stage(
        engine,
        citizen(103, personal_id="00109012345"),  # 11 digits
        citizen(104, personal_id="0010901234567"),  # 13 digits
        citizen(105, personal_id="00109012345X"),
        citizen(106, personal_id="003090123456"),  # 003 is no province code
        citizen(107, personal_id=" 01090123456"),
        citizen(108, personal_id="００１０９０１２３４５６"),  # full-width digits
    )


def _id_mismatch(engine: Engine) -> list[int]:
    return stage(
        engine,
        citizen(110, personal_id=personal_id_of(110, "1990-05-17", "female")),  # gender digit
        citizen(111, personal_id=personal_id_of(111, "1991-05-17")),  # year digits
        citizen(112, birth_date="2003-01-01", personal_id=personal_id_of(112, "1903-01-01")),
    )


def _duplicates(engine: Engine) -> list[int]:
    return stage(engine, citizen(113), citizen(113, full_name="Nguyễn Văn Bình"))


def _empty_name(engine: Engine) -> list[int]:
    return stage(
        engine,
        *(citizen(114 + n, full_name=name) for n, name in enumerate([None, "", "   ", "\t\u00a0\u3000"])),
    )


def _birth(engine: Engine) -> list[int]:
    # Dates no id can agree with get a well-formed id: only the birth rule may fire.
    bad = [
        "1899-12-31",
        "2023-02-29",
        "1900-02-29",
        "1990-13-01",
        "1990-04-31",
        "1990-5-17",
        "19900517",
        "1990-05-17T00:00:00",
    ]
    return stage(
        engine,
        citizen(120, birth_date="2026-03-02"),  # the day after the as-of date
        *(citizen(121 + n, personal_id=f"0010990{n:05d}", birth_date=value) for n, value in enumerate(bad)),
    )


def _death(engine: Engine) -> list[int]:
    # A death date that is no date at all is the mapping's to refuse (contract.valid): the declared
    # type is date, so only ISO dates reach staging.
    return stage(engine, citizen(140, death_date="1990-05-16"), citizen(141, death_date="1900-01-01"))


def _death_in_future(engine: Engine) -> list[int]:
    return stage(engine, citizen(142, death_date="2026-03-02"), citizen(143, death_date="2999-12-31"))


def _gender(engine: Engine) -> list[int]:
    return stage(engine, *(citizen(150 + n, gender=g) for n, g in enumerate(["M", "Nam", "3"])))


def _marital(engine: Engine) -> list[int]:
    return stage(engine, *(citizen(155 + n, marital_status=m) for n, m in enumerate(["engaged", "Single", "5"])))


def _residence(engine: Engine) -> list[int]:
    province, commune = other_province_commune()
    return stage(
        engine,
        citizen(160, residence_commune="99999"),
        citizen(161, residence_commune=commune),  # a real commune, of another province
        citizen(162, residence_province=province),
    )


def _relatives(engine: Engine) -> list[int]:
    return stage(
        engine,
        citizen(170, father_id="12345"),
        citizen(171, mother_id="003090123456"),
        citizen(172, marital_status="married", spouse_id="0010901234567"),
    )


def _self_as(field: str, serial: int) -> Callable[[Engine], list[int]]:
    """A row naming the person as their own father, mother or spouse."""

    def staged(engine: Engine) -> list[int]:
        return stage(engine, citizen(serial, marital_status="married", **{field: personal_id_of(serial)}))

    return staged


def _parents(engine: Engine) -> list[int]:
    father = personal_id_of(180, "1995-01-01")
    mother = personal_id_of(181, "1990-05-17", "female")
    publish(engine, mother, "1990-05-17", "female")  # same day as the child: not older
    stage(engine, citizen(180, birth_date="1995-01-01"))  # the father himself is fine
    return stage(engine, citizen(182, father_id=father), citizen(183, mother_id=mother))


def _spouse(engine: Engine) -> list[int]:
    return stage(engine, citizen(190, spouse_id=personal_id_of(191)))


DEFECTS: dict[str, Callable[[Engine], list[int]]] = {
    "contract.valid": _contract,
    **{
        f"{field}.not_empty": _missing(field, 200 + n)
        for n, field in enumerate(
            (
                "birth_date",
                "gender",
                "residence_province",
                "residence_commune",
                "marital_status",
                "source_updated_at",
            )
        )
    },
    "personal_id.not_empty": lambda engine: stage(engine, citizen(109, personal_id=None)),
    "personal_id.format": _id_format,
    "personal_id.matches_birth_and_gender": _id_mismatch,
    "personal_id.unique_in_run": _duplicates,
    "full_name.not_empty": _empty_name,
    "birth_date.plausible": _birth,
    "death_date.after_birth": _death,
    "death_date.not_in_future": _death_in_future,
    "gender.valid": _gender,
    "marital_status.valid": _marital,
    "residence.commune_known": _residence,
    "relatives.id_format": _relatives,
    **{f"{field}.differs": _self_as(field, 210 + n) for n, field in enumerate(("father_id", "mother_id", "spouse_id"))},
    "parents.older_than_child": _parents,
    "spouse.consistent_with_marital_status": _spouse,
}


# A person named as their own parent is also not older than themselves: both rules are right.
ALSO = {f"{parent}.differs": {"parents.older_than_child"} for parent in ("father_id", "mother_id")}


def test_every_rule_has_a_defect_case_and_every_mock_defect_a_rule() -> None:
    assert set(DEFECTS) == set(rule_names())
    assert set(RULE_FOR_DEFECT) == set(DEFECT_TYPES)
    assert set(RULE_FOR_DEFECT.values()) <= set(rule_names())


@pytest.mark.parametrize("rule", list(DEFECTS))
def test_rule_catches_its_defect_and_only_it(engine: Engine, rule: str) -> None:
    stage(engine, *clean_rows())
    broken = DEFECTS[rule](engine)

    validation = validate_run(engine, RUN, AS_OF, suite())

    failures = rules_by_row(validation)
    assert {row: failures.get(row) for row in broken} == {row: {rule, *ALSO.get(rule, ())} for row in broken}
    assert set(failures) == set(broken), "a clean row failed a rule"
    summary = {r.rule: r for r in validation.rules}
    assert summary[rule].failed == len(broken) and not summary[rule].success


def test_clean_rows_pass_every_rule(engine: Engine) -> None:
    # A parent published with a wrong (younger) birth date, corrected in this run:
    # this run's copy is the newer truth, so the child passes.
    corrected = personal_id_of(30, "1960-01-01")
    publish(engine, corrected, "2000-01-01")
    elder = personal_id_of(31, "1950-01-01", "female")
    publish(engine, elder, "1950-01-01", "female")
    stage(
        engine,
        *clean_rows(),
        citizen(30, birth_date="1960-01-01"),
        citizen(32, birth_date="1985-01-01", father_id=corrected, mother_id=elder),
    )

    validation = validate_run(engine, RUN, AS_OF, suite())

    assert validation.failing_rows == 0
    assert all(r.success and r.failed == 0 for r in validation.rules)
    evaluated = {r.rule: r.evaluated for r in validation.rules}
    assert evaluated["contract.valid"] == validation.evaluated == 12
    assert evaluated["parents.older_than_child"] == 3  # rows naming a parent
    assert evaluated["spouse.consistent_with_marital_status"] == 10  # the single ones
