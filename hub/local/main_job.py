"""The platform's main job (``lgsp run``): mocks up, every DAG through Airflow, a report.

This is what ``make run`` calls on a fresh machine: it needs nothing but the
embedded defaults (SQLite under LGSP_HOME, an in-process Airflow, mocks on loopback).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, func, select

from hub import ledger
from hub.local.airflow.in_process import DagOutcome, airflow_environment, migrate_metadata_db, run_dag
from hub.local.demo_connections import demo_connections
from hub.local.mock_process import mocks_running
from hub.pipeline import runs
from hub.reporting.figures import dossier_figures
from hub.reporting.once_only import once_only_figures
from hub.settings import Settings
from hub.sharing.registry import load_configured
from hub.store.engine import open_store
from hub.store.tables import dossier, outbox, staging_citizen, sync_run
from quality.report.build import build_site

# The hub's own flow, after every declared stream (in declaration order: the population's citizens first,
# which the others link to): agency_push, when every flow before it has queued its changes for the subscribers.
FLOWS = ("agency_push",)
PUSH_FLOW = "agency_push"


def main_job_flows(declared: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """The DAGs ``lgsp run`` runs, in order: the declared streams, the hub's own flows, then the pushes.

    Declared streams run in declaration order (``order``, then name): the sources others reference
    first. ``agency_push`` comes last, so a death or a changed declared record reaches its subscribers
    in the same run. ``declared``: their DAG ids (default: as declared now).
    """
    if declared is None:
        from hub.orchestration.schedules import declared_streams

        declared = tuple(item.dag_id for item in declared_streams())
    return (*declared, *FLOWS)


@dataclass
class FlowReport:
    """One flow's outcome: Airflow's verdict and the store's counts."""

    dag_id: str
    state: str
    run_id: str
    summary: runs.RunSummary | None
    error: str | None = None
    figures: dict[str, Any] | None = None
    pushes: dict[str, dict[str, int]] | None = None  # agency_push: per agency and state

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` shape of one flow."""
        counts = (
            self.summary.as_dict()
            if self.summary
            else {"read": 0, "published": 0, "quarantined": 0, "unchanged": 0, "rules_failed": {}}
        )
        document = {**counts, "state": self.state, "run_id": self.run_id, "error": self.error}
        if self.figures is not None:
            document["figures"] = self.figures
        if self.pushes is not None:
            document["pushes"] = self.pushes
        return document


@dataclass
class MainJobReport:
    """Everything ``lgsp run`` prints."""

    flows: dict[str, FlowReport] = field(default_factory=dict)
    database: str = ""
    airflow_home: str = ""
    once_only: dict[str, Any] | None = None  # hub.reporting.once_only figures; None unless the dossiers' sync succeeded
    ledger: dict[str, Any] = field(default_factory=dict)  # the audit ledger after the run: entries, intact
    report: str | None = None  # the auditors' site's index.html, built last

    def as_dict(self) -> dict[str, Any]:
        """The document ``lgsp run --json`` prints."""
        return {
            "flows": {name: flow.as_dict() for name, flow in self.flows.items()},
            "once_only": self.once_only,
            "ledger": self.ledger,
            "report": self.report,
            "state": {"database": self.database, "airflow_home": self.airflow_home},
        }


def run_main_job(
    settings: Settings,
    *,
    citizens: int,
    seed: int,
    defect_rate: float,
    on_progress: Callable[[str, str, int], None] | None = None,
) -> MainJobReport:
    """Start the mocks, run every flow's DAG once through Airflow, stop the mocks, report.

    Raises:
        DeclarationError: a system declaration is wrong (said before anything starts).
    """
    from hub.systems.loader import load_systems

    load_systems()  # a wrong declaration is said now, with every problem, not as a DAG that is missing
    flows = main_job_flows()
    database_url = settings.resolved_database_url()
    engine = open_store(database_url)
    report = MainJobReport(database=_display_url(engine), airflow_home=str((settings.home / "airflow").resolve()))
    load_configured(engine, settings)  # agencies and agreements in force before anything is shared
    with mocks_running(citizens=citizens, seed=seed, defect_rate=defect_rate) as mocks:
        env = airflow_environment(
            settings.home,
            {
                **demo_connections(mocks.base_url, engine),
                "LGSP_DATABASE_URL": database_url,
                # Loopback mocks recover in seconds, not minutes: keep the demo's retries short.
                "LGSP_TASK_RETRY_DELAY_SECONDS": "3",
            },
        )
        migrate_metadata_db(env)
        publishes, needs = flow_datasets()
        broken: dict[str, str] = {}  # dataset -> the flow that failed to publish it
        for dag_id in flows:
            base = sorted({broken[dataset] for dataset in needs.get(dag_id, ()) if dataset in broken})
            if base:  # a flow reading what a failed flow should have published would run on a broken base
                report.flows[dag_id] = FlowReport(
                    dag_id=dag_id, state="skipped", run_id="", summary=None, error=f"not run: {base[0]} failed first"
                )
                broken.update(dict.fromkeys(publishes.get(dag_id, ()), base[0]))
                continue
            outcome = _run_with_progress(dag_id, env, engine, on_progress)
            report.flows[dag_id] = _flow_report(engine, outcome)
            if outcome.state != "success":  # the flows reading its datasets are skipped; the others go on
                broken.update(dict.fromkeys(publishes.get(dag_id, ()), dag_id))
    dossiers = [flow for name, flow in report.flows.items() if _feeds_dossiers(name)]
    if any(flow.state == "success" for flow in dossiers):  # the figure reads the dossiers that flow held
        report.once_only = once_only_figures(engine)
    verification = ledger.verify(engine)
    ledger.record_checkpoint(engine, verification)  # the report built next walks on from here
    report.ledger = {
        "entries": verification.entries,
        "intact": verification.intact,
        "first_bad_entry": verification.first_bad_seq,
    }
    if on_progress is not None:
        on_progress("report", "building the auditors' site", 0)
    report.report = str(build_site(engine, settings.home / "reports").path.resolve())
    engine.dispose()
    return report


def flow_datasets() -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]]]:
    """Per flow, the datasets it publishes and those it reads (its ``reads``, its rules' ``references`` and
    ``after_referenced``)."""
    from hub.orchestration.schedules import declared_streams

    publishes: dict[str, frozenset[str]] = {}
    needs: dict[str, frozenset[str]] = {}
    for item in declared_streams():
        publishes[item.dag_id] = frozenset(item.stream.published_datasets)
        read: set[str] = set(item.stream.reads)
        for rule in item.stream.rules:
            read.update((getattr(rule, "references", None) or {}).values())
            linked = getattr(rule, "after_referenced", None)
            if linked is not None and linked.dataset != item.stream.dataset:
                read.add(linked.dataset)
        needs[item.dag_id] = frozenset(read)
    return publishes, needs


def _run_with_progress(
    dag_id: str, env: dict[str, str], engine: Engine, on_progress: Callable[[str, str, int], None] | None
) -> DagOutcome:
    """Run the DAG; meanwhile, poll the store and report the newest run's stage and rows."""
    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(0.5):
            if on_progress is not None:
                stage, rows = _latest_progress(engine, dag_id)
                on_progress(dag_id, stage, rows)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    try:
        return run_dag(dag_id, env)
    finally:
        stop.set()
        watcher.join()


def _latest_progress(engine: Engine, dag_id: str) -> tuple[str, int]:
    staging = _staging_of(dag_id)
    with engine.connect() as conn:
        row = conn.execute(
            select(sync_run.c.run_id, sync_run.c.status, sync_run.c.read)
            .where(sync_run.c.run_id.like(f"{dag_id}:%"))
            .order_by(sync_run.c.started_at.desc())
            .limit(1)
        ).first()
        if row is None:
            return "starting", 0
        if row.status == runs.STARTED:
            staged = conn.execute(
                select(func.count()).select_from(staging).where(staging.c.run_id == row.run_id)
            ).scalar_one()
            return "extracting", int(staged)
        return {"extracted": "auditing", "audited": "publishing"}.get(row.status, row.status), int(row.read)


def _staging_of(dag_id: str) -> Table:
    """The staging table a flow's extract fills: a declared stream's own, else the citizens'."""
    from hub.orchestration.schedules import declared_streams
    from hub.store.declared import staging_table

    for item in declared_streams():
        if item.dag_id == dag_id:
            return staging_table(item.stream)
    return staging_citizen


def _feeds_dossiers(dag_id: str) -> bool:
    """Whether the flow is the declared stream that publishes the hub's dossiers (its figures follow it)."""
    from hub.orchestration.schedules import declared_streams

    return any(item.dag_id == dag_id and item.stream.dataset == dossier.name for item in declared_streams())


def _flow_report(engine: Engine, outcome: DagOutcome) -> FlowReport:
    run_id = f"{outcome.dag_id}:{outcome.run_id}"
    with engine.connect() as conn:
        summary = runs.load_run(conn, run_id)
        error = conn.execute(select(sync_run.c.error).where(sync_run.c.run_id == run_id)).scalar()
    if outcome.state != "success" and not error:
        failed = [task for task, state in outcome.task_states.items() if state == "failed"]
        error = f"task(s) failed: {', '.join(failed) or 'unknown'}; see the Airflow output above"
    figures = dossier_figures(engine) if _feeds_dossiers(outcome.dag_id) else None
    pushes = push_counts(engine) if outcome.dag_id == "agency_push" else None
    return FlowReport(
        dag_id=outcome.dag_id,
        state=outcome.state,
        run_id=run_id,
        summary=summary,
        error=error,
        figures=figures,
        pushes=pushes,
    )


def push_counts(engine: Engine) -> dict[str, dict[str, int]]:
    """Pushes per agency and state (pending, sent, acknowledged, dead), from the outbox."""
    from hub.sharing.outbox import STATES
    from hub.sharing.push import TOPIC_PREFIX

    with engine.connect() as conn:
        rows = conn.execute(
            select(outbox.c.topic, outbox.c.state, func.count())
            .where(outbox.c.topic.like(f"{TOPIC_PREFIX}%"))
            .group_by(outbox.c.topic, outbox.c.state)
        )
        counts: dict[str, dict[str, int]] = {}
        for topic, state, count in rows:
            counts.setdefault(topic[len(TOPIC_PREFIX) :], dict.fromkeys(STATES, 0))[state] = int(count)
    return counts


def _display_url(engine: Engine) -> str:
    url = engine.url
    if url.get_backend_name() == "sqlite":
        return str(Path(url.database or "").resolve())
    return url.render_as_string(hide_password=True)
