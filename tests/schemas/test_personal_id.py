"""The personal id's legal structure (Decree 137/2015, Circular 07/2016)."""

from __future__ import annotations

from datetime import date

import pytest

from schemas import personal_id


def test_build_follows_the_legal_structure() -> None:
    pid = personal_id.build("030", date(1987, 5, 1), "female", 123)
    assert pid == "030187000123"  # Hải Dương (merged 2025), 1900s female = 1, year 87
    assert personal_id.is_well_formed(pid)
    assert personal_id.agrees_with(pid, date(1987, 5, 1), "female")


@pytest.mark.parametrize(
    ("year", "gender", "digit"),
    [
        (1950, "male", "0"),
        (1950, "female", "1"),
        (2004, "male", "2"),
        (2004, "female", "3"),
        (2100, "male", "4"),
        (2100, "female", "5"),
    ],
)
def test_century_gender_digit(year: int, gender: personal_id.Gender, digit: str) -> None:
    assert personal_id.century_gender_digit(year, gender) == digit


def test_year_outside_defined_centuries_is_refused() -> None:
    with pytest.raises(ValueError, match="century"):
        personal_id.century_gender_digit(1899, "male")


@pytest.mark.parametrize(
    "bad", ["03018700012", "0301870001234", "03018700012A", "003187000123", "", "０３０１８７０００１２３"]
)
def test_malformed_ids(bad: str) -> None:
    assert not personal_id.is_well_formed(bad)


def test_mismatches_are_detected() -> None:
    pid = personal_id.build("001", date(2001, 1, 1), "male", 1)
    assert not personal_id.agrees_with(pid, date(2001, 1, 1), "female")  # gender digit
    assert not personal_id.agrees_with(pid, date(2002, 1, 1), "male")  # year digits
    assert not personal_id.agrees_with(pid, date(1901, 1, 1), "male")  # century


def test_all_63_pre_2025_provinces_are_known() -> None:
    assert len(personal_id.BIRTH_REGISTRATION_PROVINCES) == 63
    assert all(len(code) == 3 and code.isdigit() for code in personal_id.BIRTH_REGISTRATION_PROVINCES)


def test_mask_keeps_the_province_and_the_last_two_digits() -> None:
    assert personal_id.mask("096201000045") == "096*******45"
    assert personal_id.mask(None) == "<empty>"


def test_mask_hides_a_value_that_is_not_an_id_whole() -> None:
    # A defect can put a name or an address in the id field: none of it may show.
    assert personal_id.mask("Nguyễn Văn An") == "*" * 12
    assert personal_id.mask("09620100004") == "096******04"  # 11 digits: still id-shaped
    assert personal_id.mask("1234") == "****"
    assert personal_id.mask("٠٩٦٢٠١٠٠٠٠٤٥") == "*" * 12  # Arabic-Indic digits are not an id


def test_only_ascii_digits_make_an_id() -> None:
    from schemas.personal_id import is_well_formed

    assert is_well_formed("001199000042")
    assert not is_well_formed("001" + "\u0660" * 9)  # Arabic-Indic zeros are digits to \d, not to us
