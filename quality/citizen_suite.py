"""The citizen expectation suite: what a good staged citizen record is.

Each rule is a SQL *verdict* per staging row: NULL where the rule does not apply,
0 where the row passes, 1 where it fails. One query, ``verdict_query``, selects a
run's rows as ``row_id`` plus one verdict column per rule, and nothing else; the
Great Expectations suite holds one expectation per rule, "this verdict column is
0 wherever it applies", named by the rule in its ``meta`` and description.

Why verdicts computed in SQL rather than GX expectations on the raw columns:

- Keys only. The batch GX validates holds row keys and 0/1 flags, so no personal
  value (id, name, date, address) can reach a validation result, whatever result
  format is asked for. The rules read personal values inside the database only.
- All keys. A column expectation with ``unexpected_index_column_names`` returns
  every failing ``row_id``; ``UnexpectedRowsExpectation`` (the usual route for
  cross-row rules) stops at 200 rows (GX's ``MAX_RESULT_RECORDS``).
- Portable. SQLite has no REGEXP and several rules compare rows with other rows
  or tables; plain ``substr``/``length``/``trim``/``CASE``/``EXISTS`` run the same
  on SQLite and PostgreSQL. The SQL deliberately avoids casts of staged text
  (PostgreSQL raises on a bad value, and its message would carry that value), the
  ``%`` sign and bind-like ``:name`` text (GX compiles the query text twice,
  which doubles a ``%`` on psycopg and reads ``:name`` as a parameter), and braces.
- Cheap. GX materialises the query once into a temporary table, so the joins and
  lookups run once per audit, not once per metric.

A record whose wire form could not be mapped (``contract_error`` set) is reported
by ``contract.valid`` alone: its content columns are unreliable, so every other
rule treats it as not applicable instead of piling a dozen findings on one row.

GX is imported inside ``build_suite`` only: this module is imported by Airflow's
DAG parser and must stay cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, get_args

from schemas.citizen import Gender, MaritalStatus
from schemas.personal_id import BIRTH_REGISTRATION_PROVINCES, century_gender_digit

if TYPE_CHECKING:
    from great_expectations.core.expectation_suite import ExpectationSuite

SUITE_NAME = "citizen"
PASS, FAIL = 0, 1
EARLIEST_BIRTH = "1900-01-01"

_DIGITS = "0123456789"
# What "blank" means for a name: ASCII white space plus the no-break and ideographic
# spaces that copy-pasted Vietnamese text carries. Raw characters in the literal are
# portable; E'\t' escapes are PostgreSQL-only and char()/chr() differ by dialect.
_BLANKS = " \t\r\n\u00a0\u3000"
_CENTURIES = (19, 20, 21)  # the centuries the decree gives a century/gender digit


@dataclass(frozen=True, slots=True)
class Rule:
    """One named rule: what a good row looks like, and how SQL tells."""

    name: str
    description: str
    verdict: Callable[[str], str]  # as-of date literal -> SQL CASE giving NULL / 0 / 1

    @property
    def column(self) -> str:
        """The verdict column's name in the verdict query (a plain SQL identifier)."""
        return "v_" + self.name.replace(".", "__")


# --- SQL fragments --------------------------------------------------------------
# The value predicates start with an IS NOT NULL test, so that FALSE AND ... gives
# FALSE, never NULL; and _verdict reads any remaining NULL the safe way round (an
# unknown scope: not applicable; an unknown outcome: a failure).


def _quote(value: str) -> str:
    """A SQL string literal for ``value`` that survives being re-parsed as text.

    Single quotes are doubled. Each colon is placed right before a closing quote
    (``'a' || ':' || 'b'``): SQLAlchemy's ``text()``, which GX wraps the query in,
    reads ``:word`` as a bind parameter even inside a string literal, but never a
    colon followed by a quote.
    """
    if "\x00" in value:
        raise ValueError("a SQL literal cannot contain NUL")
    parts = (part.replace("'", "''") for part in value.split(":"))
    return "'" + "' || ':' || '".join(parts) + "'"


def _in(values: Iterable[object]) -> str:
    """A parenthesised list of string literals."""
    return "(" + ", ".join(_quote(str(v)) for v in values) + ")"


_PROVINCES = _in(sorted(BIRTH_REGISTRATION_PROVINCES))
_GENDERS = _in(get_args(Gender))
_MARITAL = _in(get_args(MaritalStatus))
_MULTIPLES_OF_4 = _in(f"{n:02d}" for n in range(0, 100, 4))
_MULTIPLES_OF_4_NOT_00 = _in(f"{n:02d}" for n in range(4, 100, 4))


def _personal_id_ok(col: str) -> str:
    """12 digits, the first three a pre-2025 birth-registration province code."""
    return (
        f"({col} IS NOT NULL AND length({col}) = 12"
        f" AND trim({col}, '{_DIGITS}') = ''"  # only digits: trimming them leaves nothing
        f" AND substr({col}, 1, 3) IN {_PROVINCES})"
    )


def _leap_year(col: str) -> str:
    """The date text's year is a leap year (string arithmetic: no cast, no %)."""
    yy, cc = f"substr({col}, 3, 2)", f"substr({col}, 1, 2)"
    return f"({yy} IN {_MULTIPLES_OF_4_NOT_00} OR ({yy} = '00' AND {cc} IN {_MULTIPLES_OF_4}))"


def _iso_date_ok(col: str) -> str:
    """``YYYY-MM-DD`` naming a real calendar day (what ``date.fromisoformat`` accepts)."""
    month, day = f"substr({col}, 6, 2)", f"substr({col}, 9, 2)"
    last_day = (
        f"CASE WHEN {month} IN ('04', '06', '09', '11') THEN '30'"
        f" WHEN {month} = '02' THEN CASE WHEN {_leap_year(col)} THEN '29' ELSE '28' END"
        " ELSE '31' END"
    )
    # Fixed-width digit strings compare like the numbers they spell.
    return (
        f"({col} IS NOT NULL AND length({col}) = 10"
        f" AND substr({col}, 5, 1) = '-' AND substr({col}, 8, 1) = '-'"
        f" AND length(replace({col}, '-', '')) = 8"
        f" AND trim(replace({col}, '-', ''), '{_DIGITS}') = ''"
        f" AND {month} BETWEEN '01' AND '12' AND {day} >= '01' AND {day} <= {last_day})"
    )


def _verdict(passes: str, applies: str = "") -> str:
    """NULL where the rule does not apply (or the contract broke), else 0 if it passes, 1 if not.

    A NULL ``passes`` counts as a failure: an unknown is not a pass.
    """
    scope = "s.contract_error IS NULL" + (f" AND ({applies})" if applies else "")
    return f"CASE WHEN {scope} THEN CASE WHEN {passes} THEN {PASS} ELSE {FAIL} END END"


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
        f" AND p.contract_error IS NULL AND {_iso_date_ok('p.birth_date')}{extra}))"
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


def _optional(col: str) -> str:
    """An optional field, with an empty element read as absent (as the publish step does)."""
    return f"NULLIF({col}, '')"


def _relative_ok(col: str) -> str:
    """An optional relative's id: absent, or a well-formed id that is not the person's own."""
    return f"({col} IS NULL OR ({_personal_id_ok(col)} AND (s.personal_id IS NULL OR {col} <> s.personal_id)))"


# --- the rules ------------------------------------------------------------------

_FATHER, _MOTHER = _optional("s.father_id"), _optional("s.mother_id")
_DEATH = _optional("s.death_date")

RULES: tuple[Rule, ...] = (
    Rule(
        "contract.valid",
        "the wire record could be mapped to a canonical record (contract_error is null)",
        lambda as_of: f"CASE WHEN s.contract_error IS NULL THEN {PASS} ELSE {FAIL} END",
    ),
    Rule(
        "personal_id.format",
        "the personal id is 12 digits starting with one of the 63 birth-registration province codes",
        lambda as_of: _verdict(_personal_id_ok("s.personal_id")),
    ),
    Rule(
        "personal_id.matches_birth_and_gender",
        "the id's 4th digit encodes the birth century and gender and digits 5-6 are the"
        " birth year's last two digits (checked where id, birth date and gender are valid)",
        lambda as_of: _verdict(
            f"substr(s.personal_id, 4, 1) = {_century_digit()}"
            " AND substr(s.personal_id, 5, 2) = substr(s.birth_date, 3, 2)",
            applies=(
                f"{_personal_id_ok('s.personal_id')} AND {_iso_date_ok('s.birth_date')}"
                f" AND s.gender IN {_GENDERS}"
                f" AND substr(s.birth_date, 1, 2) IN {_in(str(c) for c in _CENTURIES)}"
            ),
        ),
    ),
    Rule(
        "personal_id.unique_in_run",
        "no other row of the run carries the same personal id with different content",
        lambda as_of: _verdict(
            "NOT EXISTS (SELECT 1 FROM staging_citizen d WHERE d.run_id = s.run_id"
            " AND d.personal_id = s.personal_id AND d.content_hash <> s.content_hash"
            " AND d.contract_error IS NULL)",
            applies="s.personal_id IS NOT NULL",
        ),
    ),
    Rule(
        "full_name.not_empty",
        "the full name is present and not blank",
        lambda as_of: _verdict(f"s.full_name IS NOT NULL AND trim(s.full_name, '{_BLANKS}') <> ''"),
    ),
    Rule(
        "birth_date.plausible",
        f"the birth date is a real ISO date, not before {EARLIEST_BIRTH} and not after the run's as-of date",
        lambda as_of: _verdict(
            f"{_iso_date_ok('s.birth_date')} AND s.birth_date >= '{EARLIEST_BIRTH}' AND s.birth_date <= {as_of}"
        ),
    ),
    Rule(
        "death_date.after_birth",
        "the death date, if any, is a real ISO date, not before the birth date and not"
        " after the run's as-of date (checked where the birth date is valid)",
        lambda as_of: _verdict(
            f"{_DEATH} IS NULL OR ({_iso_date_ok(_DEATH)} AND {_DEATH} >= s.birth_date AND {_DEATH} <= {as_of})",
            applies=_iso_date_ok("s.birth_date"),
        ),
    ),
    Rule(
        "gender.valid",
        "gender is 'male' or 'female'",
        lambda as_of: _verdict(f"s.gender IN {_GENDERS}"),
    ),
    Rule(
        "marital_status.valid",
        "marital status is one of single, married, divorced, widowed",
        lambda as_of: _verdict(f"s.marital_status IN {_MARITAL}"),
    ),
    Rule(
        "residence.commune_known",
        "the residence commune is one of today's communes and lies in the residence province",
        lambda as_of: _verdict(
            "EXISTS (SELECT 1 FROM admin_unit a WHERE a.commune_code = s.residence_commune"
            " AND a.province_code = s.residence_province)"
        ),
    ),
    Rule(
        "relatives.id_format",
        "father, mother and spouse ids, when present, are well-formed personal ids other than the person's own",
        lambda as_of: _verdict(
            " AND ".join(_relative_ok(_optional(f"s.{col}")) for col in ("father_id", "mother_id", "spouse_id"))
        ),
    ),
    Rule(
        "parents.older_than_child",
        "a father or mother named by id was born strictly before the child, as this run's copy"
        " of the parent says or else the published one (checked where a parent is named and the"
        " birth date is valid; a parent found in neither cannot be checked and passes)",
        lambda as_of: _verdict(
            f"{_parent_older(_FATHER)} AND {_parent_older(_MOTHER)}",
            applies=(f"{_iso_date_ok('s.birth_date')} AND ({_FATHER} IS NOT NULL OR {_MOTHER} IS NOT NULL)"),
        ),
    ),
    Rule(
        "spouse.consistent_with_marital_status",
        "a single person has no spouse id",
        lambda as_of: _verdict(f"{_optional('s.spouse_id')} IS NULL", applies="s.marital_status = 'single'"),
    ),
)


def rule_names() -> tuple[str, ...]:
    """The names of every rule, in suite order."""
    return tuple(rule.name for rule in RULES)


def verdict_query(run_id: str, as_of: date) -> str:
    """The SQL selecting one run's staging rows as ``row_id`` plus one verdict per rule."""
    as_of_literal = _quote(as_of.isoformat())
    columns = ",\n  ".join(f"{rule.verdict(as_of_literal)} AS {rule.column}" for rule in RULES)
    return f"SELECT s.row_id AS row_id,\n  {columns}\nFROM staging_citizen s\nWHERE s.run_id = {_quote(run_id)}"


def build_suite() -> ExpectationSuite:
    """The GX suite: per rule, its verdict column must be 0 wherever it applies."""
    import great_expectations as gx

    suite = gx.ExpectationSuite(name=SUITE_NAME)
    for rule in RULES:
        suite.add_expectation(
            # NULL verdicts (rule not applicable) are skipped by GX's map expectations,
            # so missing_count = rows out of scope and unexpected_count = rows failing.
            gx.expectations.ExpectColumnValuesToBeInSet(  # type: ignore[attr-defined]  # GX re-exports implicitly
                column=rule.column,
                value_set=[PASS],
                description=f"{rule.name}: {rule.description}",
                meta={"rule": rule.name},
            )
        )
    return suite
