"""The population sync: National Population Database -> staging -> audit -> golden citizens.

Each stage is one function of (run id, settings); Airflow tasks, the CLI and the
tests call the same three. A stage that already ran for the run is not repeated.
"""

from __future__ import annotations

import logging
import time
from datetime import date, datetime

from sqlalchemy import Engine, delete

from connectors.errors import LgspError
from connectors.population import SYSTEM, PopulationSource
from connectors.soap import SoapClient
from hub.pipeline import runs
from hub.pipeline.publish import merge_passing, newest_update, quarantine_failing
from hub.pipeline.staging import stage_pages
from hub.settings import Settings, population_endpoint
from hub.store.engine import open_store, store_errors
from hub.store.tables import audit_finding, staging_citizen

STREAM = "population.citizens"
log = logging.getLogger(__name__)


def connect_source(settings: Settings) -> PopulationSource:
    """A population source built from the endpoint settings / Airflow connection."""
    endpoint = population_endpoint(settings)
    client = SoapClient(
        system=SYSTEM,
        url=endpoint.url,
        username=endpoint.username,
        password=endpoint.password.get_secret_value(),
        timeout=settings.operation_timeout,
    )
    return PopulationSource(
        client, page_size=settings.page_size, max_attempts=settings.max_attempts, backoff=settings.backoff_seconds
    )


def extract(run_id: str, settings: Settings, engine: Engine | None = None) -> runs.RunSummary:
    """Stage every citizen changed since the stream's cursor, page by page."""
    engine = engine or open_store(settings.resolved_database_url())
    with store_errors("extract"), engine.begin() as conn:
        done = runs.load_run(conn, run_id)
        if done is not None and done.status == runs.PUBLISHED:
            return done
        cursor = runs.start_run(conn, run_id, STREAM)
    started = time.monotonic()
    try:
        source = connect_source(settings)
        with store_errors("extract"):
            pages, read = stage_pages(
                engine, run_id, source.changed_since(datetime.fromisoformat(cursor)), runs.utcnow()
            )
    except LgspError as exc:
        with engine.begin() as conn:
            runs.mark_failed(conn, run_id, f"extract: {exc}")
        raise
    with engine.begin() as conn:
        runs.mark(conn, run_id, status=runs.EXTRACTED, pages=pages, read=read,
                  extract_seconds=round(time.monotonic() - started, 3))
        summary = runs.load_run(conn, run_id)
    assert summary is not None
    log.info("run %s staged %d records in %d pages from cursor %s", run_id, read, pages, cursor)
    return summary


def audit(run_id: str, settings: Settings, engine: Engine | None = None, as_of: date | None = None) -> runs.RunSummary:
    """Run the citizen expectation suite once over the run's staging rows."""
    from quality.runner import audit_run

    engine = engine or open_store(settings.resolved_database_url())
    with engine.begin() as conn:
        run = runs.require_run(conn, run_id, runs.EXTRACTED, runs.AUDITED, runs.PUBLISHED)
    if run.status == runs.PUBLISHED:
        return run
    started = time.monotonic()
    try:
        with store_errors("audit"):
            outcome = audit_run(engine, run_id, as_of or runs.utcnow().date())
    except LgspError as exc:
        with engine.begin() as conn:
            runs.mark_failed(conn, run_id, f"audit: {exc}")
        raise
    with engine.begin() as conn:
        runs.mark(conn, run_id, status=runs.AUDITED, rules_failed=outcome.rule_counts,
                  audit_seconds=round(time.monotonic() - started, 3))
        summary = runs.load_run(conn, run_id)
    assert summary is not None
    log.info("run %s audited: %d of %d rows fail a rule", run_id, outcome.failing_rows, outcome.evaluated)
    return summary


def publish(run_id: str, settings: Settings, engine: Engine | None = None) -> runs.RunSummary:
    """In one transaction: merge passing rows, quarantine failing ones, advance the cursor."""
    engine = engine or open_store(settings.resolved_database_url())
    started = time.monotonic()
    with store_errors("publish"), engine.begin() as conn:
        run = runs.require_run(conn, run_id, runs.AUDITED, runs.PUBLISHED)
        if run.status == runs.PUBLISHED:
            return run
        now = runs.utcnow()
        quarantined = quarantine_failing(conn, run_id, STREAM, now)
        merged = merge_passing(conn, run_id, SYSTEM, now)
        cursor_to = runs.advance_cursor(conn, STREAM, run_id, newest_update(conn, run_id))
        # Staging is scratch space: the quarantine keeps every failing payload, the golden table the rest.
        conn.execute(delete(audit_finding).where(audit_finding.c.run_id == run_id))
        conn.execute(delete(staging_citizen).where(staging_citizen.c.run_id == run_id))
        runs.mark(conn, run_id, status=runs.PUBLISHED, published=merged.published, quarantined=quarantined,
                  unchanged=merged.unchanged, cursor_to=cursor_to, finished_at=now, error=None,
                  publish_seconds=round(time.monotonic() - started, 3))
        summary = runs.load_run(conn, run_id)
    assert summary is not None
    if summary.read != summary.published + summary.quarantined + summary.unchanged:
        log.error("run %s does not balance: %s", run_id, summary.as_dict())
    log.info("run %s published %d, quarantined %d, unchanged %d", run_id, merged.published, quarantined,
             merged.unchanged)
    return summary


def sync(run_id: str, settings: Settings, engine: Engine | None = None) -> runs.RunSummary:
    """All three stages in a row, for the CLI and tests."""
    engine = engine or open_store(settings.resolved_database_url())
    extract(run_id, settings, engine)
    audit(run_id, settings, engine)
    return publish(run_id, settings, engine)
