"""The machinery every expectation suite shares: rules as SQL verdicts, validated by GX.

Each rule is a SQL *verdict* per staging row: NULL where the rule does not apply,
0 where the row passes, 1 where it fails. A suite's verdict query selects one run's
rows as ``row_id`` plus one verdict column per rule, and nothing else; the Great
Expectations suite holds one expectation per rule, "this verdict column is 0
wherever it applies", named by the rule in its ``meta`` and description.

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

GX is imported inside ``Suite.build`` only: suites are imported by Airflow's DAG
parser and must stay cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from sqlalchemy import Table

from schemas.personal_id import BIRTH_REGISTRATION_PROVINCES

if TYPE_CHECKING:
    from great_expectations.core.expectation_suite import ExpectationSuite

PASS, FAIL = 0, 1
DIGITS = "0123456789"


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


@dataclass(frozen=True)
class Suite:
    """A dataset's expectation suite: its rules and the staging table they judge."""

    name: str
    staging: Table
    rules: tuple[Rule, ...]

    def rule_names(self) -> tuple[str, ...]:
        """The names of every rule, in suite order."""
        return tuple(rule.name for rule in self.rules)

    def verdict_query(self, run_id: str, as_of: date) -> str:
        """The SQL selecting one run's staging rows as ``row_id`` plus one verdict per rule."""
        as_of_literal = quote(as_of.isoformat())
        columns = ",\n  ".join(f"{rule.verdict(as_of_literal)} AS {rule.column}" for rule in self.rules)
        return f"SELECT s.row_id AS row_id,\n  {columns}\nFROM {self.staging.name} s\nWHERE s.run_id = {quote(run_id)}"

    def build(self) -> ExpectationSuite:
        """The GX suite: per rule, its verdict column must be 0 wherever it applies."""
        from quality.gx import load

        load()  # once per process, without what we never use
        import great_expectations as gx

        # Given to the constructor, not added one by one: add_expectation compares each new
        # expectation with every one before it (quadratic, ~50 ms a run for 24 rules).
        return gx.ExpectationSuite(
            name=self.name,
            expectations=[
                # NULL verdicts (rule not applicable) are skipped by GX's map expectations,
                # so missing_count = rows out of scope and unexpected_count = rows failing.
                gx.expectations.ExpectColumnValuesToBeInSet(  # type: ignore[attr-defined]  # GX re-exports implicitly
                    column=rule.column,
                    value_set=[PASS],
                    description=f"{rule.name}: {rule.description}",
                    meta={"rule": rule.name},
                )
                for rule in self.rules
            ],
        )


# --- SQL fragments --------------------------------------------------------------
# The value predicates start with an IS NOT NULL test, so that FALSE AND ... gives
# FALSE, never NULL; and verdict() reads any remaining NULL the safe way round (an
# unknown scope: not applicable; an unknown outcome: a failure).


def quote(value: str) -> str:
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


def sql_in(values: Iterable[object]) -> str:
    """A parenthesised list of string literals."""
    return "(" + ", ".join(quote(str(v)) for v in values) + ")"


_PROVINCES = sql_in(sorted(BIRTH_REGISTRATION_PROVINCES))
_MULTIPLES_OF_4 = sql_in(f"{n:02d}" for n in range(0, 100, 4))
_MULTIPLES_OF_4_NOT_00 = sql_in(f"{n:02d}" for n in range(4, 100, 4))


def personal_id_ok(col: str) -> str:
    """12 digits, the first three a pre-2025 birth-registration province code."""
    return (
        f"({col} IS NOT NULL AND length({col}) = 12"
        f" AND trim({col}, '{DIGITS}') = ''"  # only digits: trimming them leaves nothing
        f" AND substr({col}, 1, 3) IN {_PROVINCES})"
    )


def _leap_year(col: str) -> str:
    """The date text's year is a leap year (string arithmetic: no cast, no %)."""
    yy, cc = f"substr({col}, 3, 2)", f"substr({col}, 1, 2)"
    return f"({yy} IN {_MULTIPLES_OF_4_NOT_00} OR ({yy} = '00' AND {cc} IN {_MULTIPLES_OF_4}))"


def iso_date_ok(col: str) -> str:
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
        f" AND trim(replace({col}, '-', ''), '{DIGITS}') = ''"
        f" AND {month} BETWEEN '01' AND '12' AND {day} >= '01' AND {day} <= {last_day})"
    )


def verdict(passes: str, applies: str = "") -> str:
    """NULL where the rule does not apply (or the contract broke), else 0 if it passes, 1 if not.

    A NULL ``passes`` counts as a failure: an unknown is not a pass.
    """
    scope = "s.contract_error IS NULL" + (f" AND ({applies})" if applies else "")
    return f"CASE WHEN {scope} THEN CASE WHEN {passes} THEN {PASS} ELSE {FAIL} END END"


def contract_rule() -> Rule:
    """``contract.valid``: the wire record could be mapped (every suite starts with it)."""
    return Rule(
        "contract.valid",
        "the wire record could be mapped to a canonical record (contract_error is null)",
        lambda as_of: f"CASE WHEN s.contract_error IS NULL THEN {PASS} ELSE {FAIL} END",
    )


def optional(col: str) -> str:
    """An optional field, with an empty element read as absent (as the publish step does)."""
    return f"NULLIF({col}, '')"


def unique_in_run(key: str | Sequence[str], table: str) -> str:
    """No other usable row of the run has the same ``key`` (all of several, together) with different content."""
    same = " AND ".join(f"d.{name} = s.{name}" for name in ([key] if isinstance(key, str) else key))
    return (
        f"NOT EXISTS (SELECT 1 FROM {table} d WHERE d.run_id = s.run_id"  # noqa: S608 - identifiers only
        f" AND {same} AND d.content_hash <> s.content_hash AND d.contract_error IS NULL)"
    )


def commune_known(commune: str, province: str | None = None) -> str:
    """The commune is one of today's (and, if given, lies in the province)."""
    in_province = f" AND a.province_code = {province}" if province else ""
    return f"EXISTS (SELECT 1 FROM admin_unit a WHERE a.commune_code = {commune}{in_province})"  # noqa: S608
