"""audit_run: once per run, every failing key, keys only, idempotent, on both backends."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from population_sync import rule_names, suite
from sqlalchemy import Engine, create_engine, insert, select, update
from staged_citizens import AS_OF, RUN, citizen, stage

from hub.store.tables import audit_finding, quality_result, staging_citizen
from quality.runner import AuditError, _run_suite, audit_run, validate_run


def findings(engine: Engine, run_id: str = RUN) -> set[tuple[int, str]]:
    """The stored (row, rule) pairs of one run."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(audit_finding.c.row_id, audit_finding.c.rule).where(audit_finding.c.run_id == run_id)
        )
        return {(row_id, rule) for row_id, rule in rows}


def summaries(engine: Engine, run_id: str = RUN) -> set[tuple[Any, ...]]:
    """The stored per-rule summary of one run, without the check time."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                quality_result.c.rule,
                quality_result.c.expectation,
                quality_result.c.evaluated,
                quality_result.c.failed,
                quality_result.c.success,
            ).where(quality_result.c.run_id == run_id)
        )
        return {tuple(row) for row in rows}


def test_audit_run_stores_keys_and_is_idempotent(engine: Engine) -> None:
    clean, empty_name, bad_commune = stage(
        engine, citizen(1), citizen(2, full_name=" "), citizen(3, residence_commune="99999")
    )
    other_run = "scheduled__2026-02-01T00:00:00+00:00"
    other = stage(engine, citizen(4, run_id=other_run, full_name=""))

    first = audit_run(engine, RUN, AS_OF, suite())
    audit_run(engine, other_run, AS_OF, suite())
    stored, summary = findings(engine), summaries(engine)
    second = audit_run(engine, RUN, AS_OF, suite())

    assert first == second
    assert first.run_id == RUN and first.evaluated == 3 and first.failing_rows == 2
    assert first.rule_counts == {rule: 0 for rule in rule_names()} | {
        "full_name.not_empty": 1,
        "residence.commune_known": 1,
    }
    assert (
        stored
        == findings(engine)
        == {
            (empty_name, "full_name.not_empty"),
            (bad_commune, "residence.commune_known"),
        }
    )
    assert summary == summaries(engine) and len(summary) == len(rule_names())
    assert ("full_name.not_empty", "expect_column_values_to_be_in_set", 3, 1, False) in summary

    # A corrected row drops out on the next audit; the other run's findings stay.
    with engine.begin() as conn:
        conn.execute(
            update(staging_citizen).where(staging_citizen.c.row_id == empty_name).values(full_name="Lê Thị Hoa")
        )
    audit_run(engine, RUN, AS_OF, suite())
    assert findings(engine) == {(bad_commune, "residence.commune_known")}
    assert findings(engine, other_run) == {(other[0], "full_name.not_empty")}
    assert clean not in {row for row, _ in findings(engine)}


def test_every_failing_key_comes_back(engine: Engine) -> None:
    # Far beyond GX's default of 20 keys and UnexpectedRowsExpectation's 200 rows.
    failing = 1_200
    rows = [citizen(n, full_name="") for n in range(failing)] + [citizen(n) for n in range(failing, failing + 300)]
    with engine.begin() as conn:
        conn.execute(insert(staging_citizen), rows)
    with engine.connect() as conn:
        expected = set(
            conn.execute(select(staging_citizen.c.row_id).where(staging_citizen.c.full_name == "")).scalars()
        )

    outcome = audit_run(engine, RUN, AS_OF, suite())

    assert outcome.evaluated == failing + 300
    assert outcome.failing_rows == outcome.rule_counts["full_name.not_empty"] == failing
    assert findings(engine) == {(row, "full_name.not_empty") for row in expected}


def test_only_the_runs_own_rows_are_audited(engine: Engine) -> None:
    mine = stage(engine, citizen(1))
    # Same person, other content, other run: not a duplicate within this run.
    stage(engine, citizen(1, run_id="other-run", full_name="Trần Văn Khác"))

    validation = validate_run(engine, RUN, AS_OF, suite())

    assert validation.evaluated == len(mine) == 1
    assert validation.failing_rows == 0


@pytest.mark.parametrize("run_id", ["o'brien :name {batch} \\ ;--", "::x", "a\\b"])
def test_awkward_run_ids_are_quoted_not_interpreted(engine: Engine, run_id: str) -> None:
    stage(engine, citizen(1, run_id=run_id), citizen(2, run_id=run_id, full_name=""), citizen(3))

    outcome = audit_run(engine, run_id, AS_OF, suite())

    assert (outcome.evaluated, outcome.failing_rows) == (2, 1)
    assert len(findings(engine, run_id)) == 1


def test_a_run_id_with_a_percent_sign_is_refused(store_engine: Engine) -> None:
    # It would silently match no row on PostgreSQL (GX compiles the SQL twice).
    stage(store_engine, citizen(1, run_id="100%"))
    with pytest.raises(AuditError, match="contains '%'"):
        audit_run(store_engine, "100%", AS_OF, suite())


def test_no_personal_value_leaks(engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    planted = {
        "name": "Zyxwvut Quixotic",
        "id": "001190777777",  # well-formed, but its digits disagree with the birth date
        "birth": "1987-06-05",
        "address": "Số 4242, Ngõ Bí Mật",
        "father": "98765X",  # a malformed reference
    }
    stage(
        engine,
        citizen(1),
        citizen(
            2,
            personal_id=planted["id"],
            full_name=planted["name"],
            birth_date=planted["birth"],
            residence_detail=planted["address"],
            father_id=planted["father"],
            residence_commune="99999",
            death_date="1900-01-01",
        ),
        citizen(3, full_name=planted["name"] + " ", personal_id=planted["id"]),  # a conflicting twin
    )
    caplog.set_level(logging.DEBUG)

    raw = _run_suite(engine, RUN, AS_OF, suite())
    validation = validate_run(engine, RUN, AS_OF, suite())
    outcome = audit_run(engine, RUN, AS_OF, suite())

    assert outcome.failing_rows == 2 and sum(outcome.rule_counts.values()) >= 6  # it did fail
    with engine.connect() as conn:
        stored = [tuple(r) for r in conn.execute(select(audit_finding))]
        stored += [tuple(r) for r in conn.execute(select(quality_result))]
    kept = {
        "GX's own result": json.dumps(raw.to_json_dict(), default=str, ensure_ascii=False),
        "the report we keep": json.dumps(validation.report, ensure_ascii=False),
        "the run validation": repr(validation),
        "the outcome": repr(outcome),
        "the stored findings and summaries": repr(stored),
        "the logs": caplog.text,
    }
    for where, text in kept.items():
        for what, value in planted.items():
            assert value not in text, f"the planted {what} reached {where}"


def test_an_in_memory_database_is_refused() -> None:
    with pytest.raises(AuditError, match="file or server database"):
        validate_run(create_engine("sqlite://"), RUN, AS_OF, suite())


def test_a_store_without_tables_raises_an_audit_error(tmp_path: Path) -> None:
    empty = create_engine(f"sqlite:///{tmp_path / 'empty.sqlite'}")
    with empty.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE placeholder (x INTEGER)")
        conn.commit()
    with pytest.raises(AuditError, match="could not run"):
        audit_run(empty, RUN, AS_OF, suite())


def test_a_failed_audit_leaves_the_previous_findings(store_engine: Engine) -> None:
    stage(store_engine, citizen(1, full_name=""))
    audit_run(store_engine, RUN, AS_OF, suite())
    before = findings(store_engine)
    with store_engine.begin() as conn:  # the suite needs admin_unit: take it away
        conn.exec_driver_sql("ALTER TABLE admin_unit RENAME TO admin_unit_gone")

    with pytest.raises(AuditError):
        audit_run(store_engine, RUN, AS_OF, suite())

    assert findings(store_engine) == before and len(before) == 1


def test_suite_names_one_rule_per_expectation() -> None:
    built = suite().build()
    names = [e.meta["rule"] for e in built.expectations]
    assert names == list(rule_names()) and len(set(names)) == len(names)
    assert all(e.description.startswith(f"{e.meta['rule']}: ") for e in built.expectations)


def test_importing_the_quality_modules_does_not_import_gx() -> None:
    code = "import sys, quality.runner, quality.rules;sys.exit('great_expectations' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_the_verdict_query_runs_once(engine: Engine) -> None:
    """The verdict query runs once, into GX's temp table: not once per rule or metric."""
    stage(engine, citizen(1), citizen(2, full_name=""))
    statements: list[str] = []

    from sqlalchemy import event
    from sqlalchemy.engine import Engine as AnyEngine

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(AnyEngine, "before_cursor_execute", record)
    try:
        validate_run(engine, RUN, AS_OF, suite())
    finally:
        event.remove(AnyEngine, "before_cursor_execute", record)
    verdicts = [s for s in statements if "AS v_contract__valid" in s]
    assert len(verdicts) == 1 and verdicts[0].lstrip().upper().startswith("CREATE TEMPORARY TABLE")
    # Besides it, only the row count (the completeness check) touches staging.
    others = [s for s in statements if "staging_citizen" in s and s not in verdicts]
    assert len(others) == 1 and others[0].lstrip().lower().startswith("select count(*)")
