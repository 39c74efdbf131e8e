"""GX results kept per run and rendered as Data Docs: replaced on re-audit, atomic, keys-free, offline."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from population_sync import rule_names, suite
from sqlalchemy import Engine, insert, select, update
from staged_citizens import AS_OF, RUN, citizen, stage

from hub.store.tables import audit_finding, quality_result, staging_citizen, validation_result
from quality.report.data_docs import StoredValidation, build_data_docs, read_validations
from quality.report.gx_results import RESULT_COUNTS, sanitize_result
from quality.runner import AuditError, audit_run

OTHER_RUN = "population_sync:scheduled__2026-02-01T00:00:00+00:00"

# Values no rule, suite or run name could contain by chance.
PLANTED = {
    "name": "Zyxwvut Quixotic",
    "twin name": "Zyxwvut Quixotic Twin",
    "id": "001190777777",  # well-formed, but its digits disagree with the birth date
    "father": "98765X",  # a malformed reference
    "birth": "1987-06-05",
    "birth dd/mm/yyyy": "05/06/1987",
    "hometown": "Xã Bí Ẩn, Tỉnh Không Có",
    "address": "Số 4242, Ngõ Bí Mật",
    "payload": "<HoVaTen>Payload Secret</HoVaTen>",
}


def stored(engine: Engine) -> dict[str, dict[str, Any]]:
    """run id -> its validation_result row."""
    with engine.connect() as conn:
        return {row.run_id: row._asdict() for row in conn.execute(select(validation_result))}


def stage_planted(engine: Engine) -> list[int]:
    """A clean row, a row breaking several rules with planted values, and its conflicting twin."""
    return stage(
        engine,
        citizen(1),
        citizen(
            2,
            personal_id=PLANTED["id"],
            full_name=PLANTED["name"],
            birth_date=PLANTED["birth"],
            hometown=PLANTED["hometown"],
            residence_detail=PLANTED["address"],
            father_id=PLANTED["father"],
            residence_commune="99999",
            death_date="1900-01-01",
            payload=PLANTED["payload"],
        ),
        citizen(3, personal_id=PLANTED["id"], full_name=PLANTED["twin name"], birth_date=PLANTED["birth"]),
    )


def lists_in(node: Any, path: str = "") -> list[str]:
    """The path of every list in a JSON document."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            found += lists_in(value, f"{path}.{key}")
    elif isinstance(node, list):
        found.append(path)
        for item in node:
            found += lists_in(item, f"{path}[]")
    return found


# --- stored with the audit -----------------------------------------------------------


def test_one_validation_result_per_run_replaced_by_a_re_audit(engine: Engine) -> None:
    _, empty_name, bad_commune = stage(
        engine, citizen(1), citizen(2, full_name=" "), citizen(3, residence_commune="99999")
    )
    stage(engine, citizen(4, run_id=OTHER_RUN))

    audit_run(engine, RUN, AS_OF, suite())
    audit_run(engine, OTHER_RUN, AS_OF, suite())
    first = stored(engine)
    with engine.begin() as conn:
        conn.execute(update(staging_citizen).where(staging_citizen.c.row_id == empty_name).values(full_name="Lê Hoa"))
    audit_run(engine, RUN, AS_OF, suite())
    second = stored(engine)

    assert set(first) == set(second) == {RUN, OTHER_RUN}
    assert second[OTHER_RUN] == first[OTHER_RUN]
    assert (first[RUN]["suite"], first[RUN]["success"]) == ("citizen", False)
    assert (second[OTHER_RUN]["suite"], second[OTHER_RUN]["success"]) == ("citizen", True)
    assert second[RUN]["validated_at"] >= first[RUN]["validated_at"]

    def failed(row: dict[str, Any]) -> dict[str, int]:
        document = json.loads(row["document"])
        assert document["meta"]["run_id"]["run_name"] == row["run_id"]  # GX's run name is the run
        return {r["expectation_config"]["meta"]["rule"]: r["result"]["unexpected_count"] for r in document["results"]}

    assert failed(first[RUN]) == {rule: 0 for rule in rule_names()} | {
        "full_name.not_empty": 1,
        "residence.commune_known": 1,
    }
    assert failed(second[RUN]) == {rule: 0 for rule in rule_names()} | {"residence.commune_known": 1}
    # The document agrees with the rule summary stored in the same transaction.
    with engine.connect() as conn:
        query = select(quality_result.c.rule, quality_result.c.failed).where(quality_result.c.run_id == RUN)
        summary = {rule: failed for rule, failed in conn.execute(query)}
    assert summary == failed(second[RUN])
    assert bad_commune  # the row the remaining finding is about


@pytest.mark.parametrize("failing_table", ["quality_result", "validation_result"])
def test_a_failed_write_keeps_the_previous_result_and_findings(store_engine: Engine, failing_table: str) -> None:
    (row,) = stage(store_engine, citizen(1, full_name=""))
    audit_run(store_engine, RUN, AS_OF, suite())
    before = stored(store_engine)
    with store_engine.connect() as conn:
        findings_before = set(conn.execute(select(audit_finding)))
        summary_before = set(conn.execute(select(quality_result.c.rule, quality_result.c.failed)))
    with store_engine.begin() as conn:
        conn.execute(update(staging_citizen).where(staging_citizen.c.row_id == row).values(full_name="Lê Hoa"))
        # A real failure inside the audit's transaction, after the deletes have run.
        conn.exec_driver_sql(
            f"CREATE TRIGGER refuse BEFORE INSERT ON {failing_table} BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )

    with pytest.raises(AuditError, match="could not store the audit"):
        audit_run(store_engine, RUN, AS_OF, suite())

    assert stored(store_engine) == before
    with store_engine.connect() as conn:
        assert set(conn.execute(select(audit_finding))) == findings_before and findings_before
        assert set(conn.execute(select(quality_result.c.rule, quality_result.c.failed))) == summary_before


def test_the_stored_document_holds_no_personal_value_and_no_row_list(engine: Engine) -> None:
    stage_planted(engine)

    outcome = audit_run(engine, RUN, AS_OF, suite())

    assert outcome.failing_rows == 2 and sum(outcome.rule_counts.values()) >= 6  # it did fail
    text = stored(engine)[RUN]["document"]
    for what, value in PLANTED.items():
        assert value not in text, f"the planted {what} reached the stored document"
    assert "FROM staging_citizen" not in text and "SELECT " not in text  # no query text
    document = json.loads(text)
    assert document["statistics"]["unsuccessful_expectations"] == sum(1 for n in outcome.rule_counts.values() if n)
    # The only lists: the results themselves and each rule's value set [0]. No row ids.
    assert set(lists_in(document)) == {".results", ".results[].expectation_config.kwargs.value_set"}
    for result in document["results"]:
        assert set(result["result"]) <= RESULT_COUNTS
        assert {"element_count", "unexpected_count", "unexpected_percent"} <= set(result["result"])
    assert document["meta"]["batch_spec"] == {"data_asset_name": "staging_citizen_run"}


def test_sanitize_result_keeps_counts_and_drops_every_list_value_and_query() -> None:
    secret = "Nguyễn Bí Mật 1987-06-05"
    document: dict[str, Any] = {
        "success": False,
        "suite_name": "citizen",
        "id": None,
        "statistics": {"evaluated_expectations": 1, "success_percent": 0.0},
        "suite_parameters": {"as_of": secret},
        "meta": {
            "great_expectations_version": "1.24.1",
            "batch_spec": {"data_asset_name": "a", "query": f"SELECT '{secret}'", "batch_identifiers": {"d": secret}},
            "batch_parameters": {"value": secret},
            "active_batch_definition": {"data_asset_name": "a", "batch_identifiers": {"d": secret}},
            "run_id": {"run_name": "run-1", "run_time": "2026-12-01T00:00:00+00:00"},
            "something_new": secret,
        },
        "results": [
            {
                "success": False,
                "expectation_config": {
                    "type": "expect_column_values_to_be_in_set",
                    "kwargs": {"column": "v_x", "value_set": [0]},
                    "meta": {"rule": "x.rule"},
                    "description": "x.rule: what good looks like",
                    "rendered_content": [{"value": secret}],
                },
                "result": {
                    "element_count": 3,
                    "unexpected_count": 2,
                    "unexpected_percent": 66.7,
                    "unexpected_percent_total": 66.7,
                    "unexpected_percent_nonmissing": 66.7,
                    "missing_count": 0,
                    "missing_percent": 0.0,
                    "partial_unexpected_list": [secret],
                    "partial_unexpected_counts": [{"value": secret, "count": 2}],
                    "partial_unexpected_index_list": [{"row_id": 7, "v_x": secret}],
                    "unexpected_list": [secret],
                    "unexpected_index_list": [{"row_id": [7, 8]}],
                    "unexpected_index_query": f"SELECT row_id WHERE x = '{secret}'",
                    "unexpected_index_column_names": ["row_id"],
                    "observed_value": secret,
                    "details": {"value_counts": [{"value": secret, "count": 2}]},
                },
                "meta": {"note": secret},
                "exception_info": {"metric.x": {"raised_exception": True, "exception_message": secret}},
                "rendered_content": [{"value": secret}],
            }
        ],
    }

    clean = sanitize_result(document)

    assert secret not in json.dumps(clean, ensure_ascii=False)
    assert "row_id" not in json.dumps(clean)
    (result,) = clean["results"]
    assert result["result"] == {
        "element_count": 3,
        "unexpected_count": 2,
        "unexpected_percent": 66.7,
        "unexpected_percent_total": 66.7,
        "unexpected_percent_nonmissing": 66.7,
        "missing_count": 0,
        "missing_percent": 0.0,
    }
    assert result["exception_info"]["raised_exception"] is True
    assert result["expectation_config"]["meta"] == {"rule": "x.rule"}
    assert clean["meta"]["batch_spec"] == {"data_asset_name": "a"}
    assert clean["meta"]["run_id"]["run_name"] == "run-1"
    assert document["results"][0]["result"]["unexpected_list"] == [secret]  # the input is left alone


# --- reading and rendering -------------------------------------------------------------


def test_read_validations_streams_all_or_the_asked_runs_in_chunks(store_engine: Engine) -> None:
    at = datetime(2026, 12, 1, 10, 0, 0)
    rows = [
        {"run_id": f"run:{n:04d}", "suite": "citizen", "validated_at": at, "success": n % 2 == 0, "document": "{}"}
        for n in range(1_200)
    ]
    with store_engine.begin() as conn:
        conn.execute(insert(validation_result), rows)
    wanted = {f"run:{n:04d}" for n in range(0, 1_200, 2)} | {f"run:{n:04d}" for n in range(1, 300, 2)}

    asked = list(read_validations(store_engine, wanted | {"never-audited"}))
    everything = list(read_validations(store_engine))

    assert len(asked) == len(wanted) and {v.run_id for v in asked} == wanted
    assert len(everything) == 1_200
    assert all(isinstance(v, StoredValidation) and v.document == {} for v in asked)
    assert {v.run_id: v.success for v in asked}["run:0002"] is True
    assert list(read_validations(store_engine, [])) == []


def test_data_docs_name_the_rules_and_counts_and_hold_no_personal_value(store_engine: Engine, tmp_path: Path) -> None:
    stage_planted(store_engine)
    stage(store_engine, citizen(9, run_id=OTHER_RUN))
    outcome = audit_run(store_engine, RUN, AS_OF, suite())
    audit_run(store_engine, OTHER_RUN, AS_OF, suite())
    site = tmp_path / "site"

    pages = build_data_docs(read_validations(store_engine), site)

    assert set(pages) == {RUN, OTHER_RUN}
    page = (site / pages[RUN]).read_text(encoding="utf-8")
    assert "Status:" in page and "Failed" in page
    for rule, failed in outcome.rule_counts.items():
        assert f"{rule}: " in page, f"rule {rule} is not named on its page"
        if failed:
            assert f"{failed} unexpected values found" in page
    assert RUN in page  # GX's "Run Name"
    index = (site / "index.html").read_text(encoding="utf-8")
    assert all(f'href="{path}"' in index for path in pages.values())
    assert (site / "expectations" / "citizen.html").is_file()
    # GX's relative links (home, suite, images) land on files of the site.
    for link in re.findall(r'(?:href|src)="([^"#]+)"', page):
        assert (site / pages[RUN]).parent.joinpath(link).resolve().is_file(), link

    written = [path for path in site.rglob("*") if path.is_file()]
    assert len(written) >= 6
    clean = citizen(1)
    planted = {
        **PLANTED,
        "clean id": clean["personal_id"],
        "clean birth": "1990-05-17",
        "clean birth d/m/y": "17/05/1990",
    }
    for path in written:
        data = path.read_bytes()
        for what, value in planted.items():
            assert value.encode() not in data, f"the planted {what} reached {path.relative_to(site)}"
        if path.suffix == ".html":
            text = data.decode()
            assert not re.search(r"(?:src|href)=\"(?:https?:)?//|url\(\s*['\"]?(?:https?:)?//", text), (
                f"{path.relative_to(site)} fetches a remote resource: the site must work offline"
            )
            assert "unexpected_index" not in text and "SELECT " not in text


@pytest.mark.parametrize(
    "run_ids",
    [
        [
            "population_sync:manual__2026-12-01T10:00:00+00:00",
            "population_sync:manual__2026-12-01T10:00:00-00:00",  # differs only in a replaced character
            "a/b",
            "a+b",
            "A+B",  # differs only in case
            "../../escape",
            "..",
            "đợt:một",
            "x" * 250,
        ]
    ],
)
def test_page_names_are_safe_and_unique(store_engine: Engine, tmp_path: Path, run_ids: list[str]) -> None:
    stage(store_engine, citizen(1, full_name=""))
    audit_run(store_engine, RUN, AS_OF, suite())
    (template,) = read_validations(store_engine)
    validations = [
        StoredValidation(
            suite="citizen",
            run_id=run_id,
            validated_at=template.validated_at,
            success=False,
            document=template.document,
        )
        for run_id in run_ids
    ]
    site = tmp_path / "site"

    pages = build_data_docs(validations, site)

    assert set(pages) == set(run_ids)
    assert len(set(pages.values())) == len(run_ids)
    root = site.resolve()
    for path in pages.values():
        parts = path.split("/")
        assert all(re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._-]*", part) for part in parts), path
        assert len(path) < 200
        assert (site / path).resolve().is_relative_to(root) and (site / path).is_file()


def test_importing_the_data_docs_module_does_not_import_gx() -> None:
    code = "import sys, quality.report.data_docs;sys.exit('great_expectations' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_an_empty_store_builds_an_index_saying_so(store_engine: Engine, tmp_path: Path) -> None:
    assert build_data_docs(read_validations(store_engine), tmp_path) == {}
    assert "No validation has been stored yet" in (tmp_path / "index.html").read_text(encoding="utf-8")
