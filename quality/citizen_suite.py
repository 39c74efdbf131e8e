"""The citizen expectation suite: what a good staged citizen record is.

Rules are SQL verdicts validated by GX (see ``quality.verdicts`` for why): the
batch GX sees holds row keys and 0/1 flags only.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, get_args

from hub.store.tables import staging_citizen
from quality.verdicts import (
    FAIL,
    PASS,
    Rule,
    Suite,
    commune_known,
    contract_rule,
    iso_date_ok,
    optional,
    personal_id_ok,
    sql_in,
    unique_in_run,
    verdict,
)
from schemas.citizen import Gender, MaritalStatus
from schemas.personal_id import century_gender_digit

if TYPE_CHECKING:
    from great_expectations.core.expectation_suite import ExpectationSuite

SUITE_NAME = "citizen"
EARLIEST_BIRTH = "1900-01-01"
__all__ = [
    "EARLIEST_BIRTH",
    "FAIL",
    "PASS",
    "RULES",
    "SUITE",
    "SUITE_NAME",
    "build_suite",
    "rule_names",
    "verdict_query",
]

# What "blank" means for a name: ASCII white space plus the no-break and ideographic
# spaces that copy-pasted Vietnamese text carries. Raw characters in the literal are
# portable; E'\t' escapes are PostgreSQL-only and char()/chr() differ by dialect.
_BLANKS = " \t\r\n\u00a0\u3000"
_CENTURIES = (19, 20, 21)  # the centuries the decree gives a century/gender digit
_GENDERS = sql_in(get_args(Gender))
_MARITAL = sql_in(get_args(MaritalStatus))


def _century_digit() -> str:
    """The century/gender digit the row's birth year and gender call for."""
    branches = " ".join(
        f"WHEN '{century}' THEN CASE s.gender"
        f" WHEN 'male' THEN '{century_gender_digit(century * 100, 'male')}'"
        f" ELSE '{century_gender_digit(century * 100, 'female')}' END"
        for century in _CENTURIES
    )
    return f"CASE substr(s.birth_date, 1, 2) {branches} END"


def _staged_person(person_col: str, extra: str = "") -> str:
    """EXISTS a usable row of this run for the person whose id is in ``person_col``."""
    # The IS NOT NULL guard first: most rows name no parent, and both engines skip
    # the subquery when the left side of AND is false. (S608: this SQL is built from
    # the module's own constants and column names; no outside value goes in.)
    return (
        f"({person_col} IS NOT NULL AND EXISTS (SELECT 1 FROM staging_citizen p"  # noqa: S608
        f" WHERE p.run_id = s.run_id AND p.personal_id = {person_col}"
        f" AND p.contract_error IS NULL AND {iso_date_ok('p.birth_date')}{extra}))"
    )


def _golden_person(person_col: str, extra: str = "") -> str:
    """EXISTS a published citizen whose id is in ``person_col``."""
    return (
        f"({person_col} IS NOT NULL AND EXISTS (SELECT 1 FROM citizen g"  # noqa: S608
        f" WHERE g.personal_id = {person_col}{extra}))"
    )


def _parent_older(parent_col: str) -> str:
    """The parent, if found, was born strictly before the child.

    This run's copy of the parent wins over the published one: it is newer, and it
    is what the golden table will say once the run publishes. Not found: vacuously true.
    """
    not_older_staged = _staged_person(parent_col, " AND p.birth_date >= s.birth_date")
    # CAST(date AS TEXT) is 'YYYY-MM-DD' on both SQLite (dates are stored as that
    # text) and PostgreSQL (ISO DateStyle), so it compares with the staged text.
    not_older_golden = _golden_person(parent_col, " AND CAST(g.birth_date AS TEXT) >= s.birth_date")
    return f"CASE WHEN {_staged_person(parent_col)} THEN NOT {not_older_staged} ELSE NOT {not_older_golden} END"


def _relative_ok(col: str) -> str:
    """An optional relative's id: absent, or a well-formed id that is not the person's own."""
    return f"({col} IS NULL OR ({personal_id_ok(col)} AND (s.personal_id IS NULL OR {col} <> s.personal_id)))"


# --- the rules ------------------------------------------------------------------

_FATHER, _MOTHER = optional("s.father_id"), optional("s.mother_id")
_DEATH = optional("s.death_date")

RULES: tuple[Rule, ...] = (
    contract_rule(),
    Rule(
        "personal_id.format",
        "the personal id is 12 digits starting with one of the 63 birth-registration province codes",
        lambda as_of: verdict(personal_id_ok("s.personal_id")),
    ),
    Rule(
        "personal_id.matches_birth_and_gender",
        "the id's 4th digit encodes the birth century and gender and digits 5-6 are the"
        " birth year's last two digits (checked where id, birth date and gender are valid)",
        lambda as_of: verdict(
            f"substr(s.personal_id, 4, 1) = {_century_digit()}"
            " AND substr(s.personal_id, 5, 2) = substr(s.birth_date, 3, 2)",
            applies=(
                f"{personal_id_ok('s.personal_id')} AND {iso_date_ok('s.birth_date')}"
                f" AND s.gender IN {_GENDERS}"
                f" AND substr(s.birth_date, 1, 2) IN {sql_in(str(c) for c in _CENTURIES)}"
            ),
        ),
    ),
    Rule(
        "personal_id.unique_in_run",
        "no other row of the run carries the same personal id with different content",
        lambda as_of: verdict(unique_in_run("personal_id", "staging_citizen"), applies="s.personal_id IS NOT NULL"),
    ),
    Rule(
        "full_name.not_empty",
        "the full name is present and not blank",
        lambda as_of: verdict(f"s.full_name IS NOT NULL AND trim(s.full_name, '{_BLANKS}') <> ''"),
    ),
    Rule(
        "birth_date.plausible",
        f"the birth date is a real ISO date, not before {EARLIEST_BIRTH} and not after the run's as-of date",
        lambda as_of: verdict(
            f"{iso_date_ok('s.birth_date')} AND s.birth_date >= '{EARLIEST_BIRTH}' AND s.birth_date <= {as_of}"
        ),
    ),
    Rule(
        "death_date.after_birth",
        "the death date, if any, is a real ISO date, not before the birth date and not"
        " after the run's as-of date (checked where the birth date is valid)",
        lambda as_of: verdict(
            f"{_DEATH} IS NULL OR ({iso_date_ok(_DEATH)} AND {_DEATH} >= s.birth_date AND {_DEATH} <= {as_of})",
            applies=iso_date_ok("s.birth_date"),
        ),
    ),
    Rule(
        "gender.valid",
        "gender is 'male' or 'female'",
        lambda as_of: verdict(f"s.gender IN {_GENDERS}"),
    ),
    Rule(
        "marital_status.valid",
        "marital status is one of single, married, divorced, widowed",
        lambda as_of: verdict(f"s.marital_status IN {_MARITAL}"),
    ),
    Rule(
        "residence.commune_known",
        "the residence commune is one of today's communes and lies in the residence province",
        lambda as_of: verdict(commune_known("s.residence_commune", "s.residence_province")),
    ),
    Rule(
        "relatives.id_format",
        "father, mother and spouse ids, when present, are well-formed personal ids other than the person's own",
        lambda as_of: verdict(
            " AND ".join(_relative_ok(optional(f"s.{col}")) for col in ("father_id", "mother_id", "spouse_id"))
        ),
    ),
    Rule(
        "parents.older_than_child",
        "a father or mother named by id was born strictly before the child, as this run's copy"
        " of the parent says or else the published one (checked where a parent is named and the"
        " birth date is valid; a parent found in neither cannot be checked and passes)",
        lambda as_of: verdict(
            f"{_parent_older(_FATHER)} AND {_parent_older(_MOTHER)}",
            applies=(f"{iso_date_ok('s.birth_date')} AND ({_FATHER} IS NOT NULL OR {_MOTHER} IS NOT NULL)"),
        ),
    ),
    Rule(
        "spouse.consistent_with_marital_status",
        "a single person has no spouse id",
        lambda as_of: verdict(f"{optional('s.spouse_id')} IS NULL", applies="s.marital_status = 'single'"),
    ),
)


SUITE = Suite(name=SUITE_NAME, staging=staging_citizen, rules=RULES)


def rule_names() -> tuple[str, ...]:
    """The names of every rule, in suite order."""
    return SUITE.rule_names()


def verdict_query(run_id: str, as_of: date) -> str:
    """The SQL selecting one run's staging rows as ``row_id`` plus one verdict per rule."""
    return SUITE.verdict_query(run_id, as_of)


def build_suite() -> ExpectationSuite:
    """The GX suite: per rule, its verdict column must be 0 wherever it applies."""
    return SUITE.build()
