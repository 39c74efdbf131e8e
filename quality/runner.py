"""Audit one run: validate its staging rows once with GX, store the findings as keys.

``audit_run`` is the audit step of write-audit-publish. It runs a stream's suite (the
declared rules compiled by ``quality.rules``) once, through a GX SQL data source on the store itself:
the rules run inside the database (push-down) and GX sees only a query asset of
row keys and verdicts, never the rows. Then, in one transaction, it replaces the
run's rows in ``audit_finding`` (run, row, rule: keys only), ``quality_result``
(one summary line per rule) and ``validation_result`` (GX's own result, sanitized,
for the auditors' Data Docs), so a repeated audit leaves the same rows.

What GX returns, and what we keep of it: with ``exclude_unexpected_values`` GX
1.24 returns ``unexpected_index_list`` as ``[{"row_id": [every failing key]}]``;
without it the list holds ``{"row_id": k, <column>: <value>}`` pairs, and the
partial/unexpected lists and counts copy the failing values. We ask for keys
only, the batch holds no personal column anyway, and ``RunValidation.report``
keeps a whitelisted, keys-free summary (counts, rule names) rather than GX's dict,
which also carries the query text and ``unexpected_index_query``; and
``RunValidation.document`` is GX's dict rebuilt from whitelists
(``quality.report.gx_results``): what Data Docs renders, without keys or query.

GX costs seconds to import, so it is imported only when a run is validated:
importing this module stays cheap for Airflow's DAG parser.

Two guards keep a partial audit from passing rows unchecked: every rule's key
count must equal its failure count, and the rows GX saw must equal the run's
staged rows (counted separately, with a bound parameter).
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, delete, func, insert, select
from sqlalchemy.exc import SQLAlchemyError

from hub.store.tables import audit_finding, quality_result, validation_result
from lgsp.errors import StoreError
from quality.gx import load as load_gx
from quality.verdicts import Suite

if TYPE_CHECKING:
    from great_expectations.core.expectation_validation_result import (
        ExpectationSuiteValidationResult,
        ExpectationValidationResult,
    )

log = logging.getLogger(__name__)

KEY = "row_id"
_DATASOURCE, _BATCH = "lgsp_store", "run"
# Each rule returns every failing key: GX caps the index list at partial_unexpected_count
# (default 20) and runs it as a SQL LIMIT, so the cap is set beyond any possible run.
_NO_CAP = 2**31 - 1
RESULT_FORMAT: dict[str, Any] = {
    "result_format": "COMPLETE",
    "unexpected_index_column_names": [KEY],
    "exclude_unexpected_values": True,
    "partial_unexpected_count": _NO_CAP,
    "return_unexpected_index_query": False,
}
_INSERT_CHUNK = 5_000


class AuditError(StoreError):
    """The audit could not run to the end; nothing was written. Fix the cause and re-run."""


@dataclass(frozen=True)
class AuditOutcome:
    """What one run's audit found: row counts only."""

    run_id: str
    evaluated: int  # staging rows of the run
    failing_rows: int  # distinct rows breaking at least one rule
    rule_counts: dict[str, int]  # rule -> rows breaking it (every rule, zeros included)


@dataclass(frozen=True)
class RuleResult:
    """One rule's line in the auditors' summary (``quality_result``)."""

    rule: str
    expectation: str  # the GX expectation type
    evaluated: int  # rows the rule applies to
    failed: int
    success: bool


@dataclass(frozen=True)
class RunValidation:
    """One validation of one run, reduced to keys and counts."""

    run_id: str
    evaluated: int
    rules: tuple[RuleResult, ...]
    failing: dict[str, tuple[int, ...]]  # rule -> sorted failing row ids
    report: dict[str, Any] = field(repr=False)  # keys-free summary, safe to persist or log
    # GX's suite validation result, sanitized (quality.report.gx_results): JSON-ready, keys-free.
    document: dict[str, Any] = field(repr=False)

    @property
    def failing_rows(self) -> int:
        """Distinct rows breaking at least one rule."""
        return len({row for rows in self.failing.values() for row in rows})


def audit_run(engine: Engine, run_id: str, as_of: date, suite: Suite) -> AuditOutcome:
    """Validate the run once, then replace its findings, rule summary and GX result in one transaction.

    Raises:
        AuditError: the validation or the write failed; the previous findings stay.
    """
    validation = validate_run(engine, run_id, as_of, suite)
    checked_at = datetime.now(UTC).replace(tzinfo=None)  # the store keeps naive UTC
    # Serialised before the transaction opens: it holds no lock while JSON is built.
    document = json.dumps(validation.document, ensure_ascii=False, separators=(",", ":"))
    try:
        with engine.begin() as conn:
            conn.execute(delete(audit_finding).where(audit_finding.c.run_id == run_id))
            conn.execute(delete(quality_result).where(quality_result.c.run_id == run_id))
            conn.execute(delete(validation_result).where(validation_result.c.run_id == run_id))
            findings = [
                {"run_id": run_id, "row_id": row, "rule": rule}
                for rule, rows in validation.failing.items()
                for row in rows
            ]
            for start in range(0, len(findings), _INSERT_CHUNK):
                conn.execute(insert(audit_finding), findings[start : start + _INSERT_CHUNK])
            conn.execute(
                insert(quality_result),
                [
                    {
                        "run_id": run_id,
                        "rule": r.rule,
                        "expectation": r.expectation,
                        "evaluated": r.evaluated,
                        "failed": r.failed,
                        "success": r.success,
                        "checked_at": checked_at,
                    }
                    for r in validation.rules
                ],
            )
            conn.execute(
                insert(validation_result),
                {
                    "run_id": run_id,
                    "suite": suite.name,
                    "validated_at": checked_at,
                    "success": bool(validation.report["success"]),
                    "document": document,
                },
            )
    except SQLAlchemyError as exc:
        raise AuditError(
            f"could not store the audit of run {run_id!r} ({type(exc).__name__}); "
            "the previous findings are unchanged: check the store and re-run the audit"
        ) from exc
    outcome = AuditOutcome(
        run_id=run_id,
        evaluated=validation.evaluated,
        failing_rows=validation.failing_rows,
        rule_counts={r.rule: r.failed for r in validation.rules},
    )
    log.info(
        "audit of run %s: %d of %d rows break a rule; %s",
        run_id,
        outcome.failing_rows,
        outcome.evaluated,
        ", ".join(f"{rule}={n}" for rule, n in outcome.rule_counts.items() if n) or "all pass",
    )
    return outcome


def validate_run(engine: Engine, run_id: str, as_of: date, suite: Suite) -> RunValidation:
    """Run the citizen suite once over the run's staging rows, push-down; keys and counts only.

    Raises:
        AuditError: GX or the database could not evaluate the suite.
    """
    if "%" in run_id or "\x00" in run_id:
        # GX compiles the query asset's SQL twice; on pyformat drivers (psycopg) each
        # pass doubles a literal '%', so the run's rows would silently not match.
        raise AuditError(
            f"run id {run_id!r} contains '%' or NUL, which the audit cannot quote portably; "
            "use run ids made of letters, digits and _.~:+- (Airflow's default pattern)"
        )
    validation = _reduce(run_id, _run_suite(engine, run_id, as_of, suite), suite)
    staged = _count_staged(engine, run_id, suite)
    if validation.evaluated != staged:
        # Whatever the cause (quoting, rows landing mid-audit), a partial audit must
        # not let unchecked rows through as if they had passed.
        raise AuditError(
            f"the audit of run {run_id!r} saw {validation.evaluated} rows but {staged} are "
            "staged; make sure extraction has finished, then re-run the audit"
        )
    return validation


def _count_staged(engine: Engine, run_id: str, suite: Suite) -> int:
    """The run's staging rows, counted with a bound parameter (no quoting involved)."""
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).select_from(suite.staging).where(suite.staging.c.run_id == run_id)
                ).scalar_one()
            )
    except SQLAlchemyError as exc:
        raise AuditError(
            f"could not count the staged rows of run {run_id!r} ({type(exc).__name__}); "
            "check the store and re-run the audit"
        ) from exc


def _run_suite(engine: Engine, run_id: str, as_of: date, suite: Suite) -> ExpectationSuiteValidationResult:
    """GX's own result for one run (keys and verdicts only: see the module docstring)."""
    load_gx()  # once per process, without what we never use; a preloaded worker has it already
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.datasource.fluent.interfaces import GxDatasourceWarning

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}  # type: ignore[assignment]
    datasource = None
    try:
        with warnings.catch_warnings():
            # "a more specific PostgresDatasource may be more appropriate": see _add_datasource.
            warnings.simplefilter("ignore", GxDatasourceWarning)
            datasource = _add_datasource(context, engine)
            query = suite.verdict_query(run_id, as_of)
            asset = datasource.add_query_asset(name=f"{suite.staging.name}_run", query=query)
            definition = context.validation_definitions.add(
                gx.ValidationDefinition(
                    name=f"{suite.name}-audit",
                    data=asset.add_batch_definition_whole_table(_BATCH),
                    suite=context.suites.add(suite.build()),
                )
            )
            # The pipeline's run id as GX's run name: Data Docs shows it on the page.
            result: ExpectationSuiteValidationResult = definition.run(
                result_format=RESULT_FORMAT, run_id=RunIdentifier(run_name=run_id)
            )
        return result
    except (SQLAlchemyError, gx.exceptions.GreatExpectationsError) as exc:  # type: ignore[attr-defined]
        # The class only: a database message may quote a row's value.
        raise AuditError(
            f"the {suite.name} suite could not run on run {run_id!r} ({type(exc).__name__}); "
            "check that the store is reachable and its tables are migrated, then re-run"
        ) from exc
    finally:
        if datasource is not None:
            # Close GX's connections now (and with them the temp table of verdicts)
            # rather than whenever the garbage collector gets to them.
            datasource.get_execution_engine().close()
            datasource.get_engine().dispose()


def _add_datasource(context: Any, engine: Engine) -> Any:
    """A GX SQL data source on the same database as ``engine`` (GX opens its own connections).

    PostgreSQL goes through the generic SQL data source: GX's PostgresDatasource
    validates the URL as a DSN with a host and so refuses Unix-socket URLs
    (``postgresql+psycopg://user@/db?host=/run/postgresql``).
    """
    url = engine.url
    backend = url.get_backend_name()
    if backend == "sqlite" and url.database in (None, "", ":memory:"):
        raise AuditError(
            "the audit needs a file or server database: GX opens its own connection, "
            "which would see an empty in-memory SQLite database"
        )
    options = {
        "name": _DATASOURCE,
        "connection_string": url.render_as_string(hide_password=False),
        # The verdict query (lookups, joins) runs once into a temp table of keys and
        # verdicts; every metric then reads that table instead of re-running it.
        "create_temp_table": True,
    }
    if backend == "sqlite":
        return context.data_sources.add_or_update_sqlite(**options)
    return context.data_sources.add_or_update_sql(**options)


def _reduce(run_id: str, result: ExpectationSuiteValidationResult, suite: Suite) -> RunValidation:
    """Keys and counts out of GX's result; raises if GX could not evaluate a rule."""
    # Here, not at the top: the report package may grow heavy imports (plots), and this module
    # must stay cheap to import for Airflow's DAG parser.
    from quality.report.gx_results import result_document

    rules: list[RuleResult] = []
    failing: dict[str, tuple[int, ...]] = {}
    evaluated = 0
    for item in result.results:
        rule = str(item.expectation_config.meta["rule"])  # type: ignore[union-attr]
        if item.exception_info.get("raised_exception"):
            # Not GX's message: an error text is no place to risk a row's value.
            raise AuditError(
                f"GX could not evaluate rule {rule} on run {run_id!r}; nothing was stored. "
                "Check that the store's tables are migrated, then re-run the audit"
            )
        rows = _failing_keys(item)
        stats = item.result
        evaluated = int(stats["element_count"])
        in_scope = evaluated - int(stats.get("missing_count") or 0)
        failed = int(stats.get("unexpected_count") or 0)
        if failed != len(rows):
            raise AuditError(
                f"GX returned {len(rows)} keys for the {failed} rows failing {rule} on run "
                f"{run_id!r}: refusing to publish on a partial list"
            )
        failing[rule] = rows
        rules.append(
            RuleResult(
                rule=rule,
                expectation=str(item.expectation_config.type),  # type: ignore[union-attr]
                evaluated=in_scope,
                failed=failed,
                success=bool(item.success),
            )
        )
    report = {
        "suite": suite.name,
        "run_id": run_id,
        "success": bool(result.success),
        "evaluated": evaluated,
        "rules": [
            {
                "rule": r.rule,
                "expectation": r.expectation,
                "evaluated": r.evaluated,
                "failed": r.failed,
                "success": r.success,
            }
            for r in rules
        ],
        "great_expectations_version": str(result.meta.get("great_expectations_version", "")),
    }
    return RunValidation(
        run_id=run_id,
        evaluated=evaluated,
        rules=tuple(rules),
        failing=failing,
        report=report,
        document=result_document(result),
    )


def _failing_keys(item: ExpectationValidationResult) -> tuple[int, ...]:
    """Every failing ``row_id`` of one expectation, whatever shape GX returned them in.

    With ``exclude_unexpected_values`` GX gives ``[{"row_id": [k1, k2, ...]}]``; without
    it, ``[{"row_id": k1, "<column>": <value>}, ...]``. Only the key is read either way.
    """
    keys: list[int] = []
    for entry in item.result.get("unexpected_index_list") or []:
        value = entry[KEY]
        keys.extend(value if isinstance(value, list) else [value])
    return tuple(sorted(int(k) for k in keys))
