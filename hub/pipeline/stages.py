"""Write, audit, publish for any inbound stream, driven by its ``StreamSpec``.

Each stage is one function of (spec, run id, settings); Airflow tasks, the CLI and
the tests call the same three. A stage that already ran for the run is not
repeated, and publish is one transaction: merged rows, quarantined rows, the
stream's cursor and the run's counts move together or not at all.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar, cast

from sqlalchemy import Column, Connection, Engine, Table, delete, exists, func, or_, select, text

from hub import ledger
from hub.keys import LEDGER_KEY, hub_key
from hub.pipeline import runs
from hub.pipeline.quarantine import quarantine_failing
from hub.pipeline.staging import StagedPage, stage_pages
from hub.settings import Settings
from hub.sharing.push import queue_changes
from hub.store.engine import open_store, store_errors
from hub.store.tables import audit_finding
from lgsp.errors import LgspError
from quality.verdicts import Suite

log = logging.getLogger(__name__)
_Merge = TypeVar("_Merge", bound=Callable[..., Any])


@dataclass(frozen=True)
class MergeCounts:
    """How a run's passing rows landed."""

    published: int
    unchanged: int


# Work a merge needs done before the publish transaction, in committed steps nobody reads until the
# merge switches them in (hub.pipeline.citizen_merge.load_aside): (engine, run id, publish time).
Prepare = Callable[[Engine, str, datetime], None]


def prepared_by(prepare: Prepare) -> Callable[[_Merge], _Merge]:
    """Name the step ``prepare`` a merge function needs run before its publish transaction."""

    def mark(merge: _Merge) -> _Merge:
        setattr(merge, "prepare", prepare)  # noqa: B010 -- a function attribute: the declaration names only the merge
        return merge

    return mark


def preparation(merge: Callable[..., MergeCounts]) -> Prepare | None:
    """The step ``merge`` was declared to need first (``prepared_by``), if any."""
    return cast(Prepare | None, getattr(merge, "prepare", None))


@dataclass(frozen=True)
class StreamSpec:
    """Everything that differs between two inbound streams."""

    stream: str  # the cursor's and quarantine's name: "<system>.<stream>" of its declaration
    system: str  # the source system, as provenance names it
    staging: Table
    suite: Suite
    cursor_column: str | None  # the staging column whose newest value becomes the next cursor (None: never moves)
    read_pages: Callable[[Settings, datetime], Iterable[StagedPage]]  # pages changed after a cursor
    merge: Callable[[Connection, str, datetime], MergeCounts]  # passing rows -> golden tables
    prepare: Prepare | None = None  # what the merge needs done before the publish transaction (prepared_by)
    shares: str | None = None  # the dataset whose subscribers get this stream's changes pushed (None: no pushes)
    person_column: str | None = "personal_id"  # the staging column quarantine files a row under (None: nobody)
    initial_cursor: str = runs.BEGINNING_OF_TIME  # where the first run reads from (naive UTC, ISO 8601)


def extract(
    spec: StreamSpec, run_id: str, settings: Settings, engine: Engine | None = None, since: datetime | None = None
) -> runs.RunSummary:
    """Stage every record changed since the stream's cursor (or since ``since``: a backfill), page by page.

    A backfill re-reads what the hub may already hold: publish counts it unchanged, and
    the cursor never moves back. ``since`` is naive UTC, as the store keeps time.
    """
    engine = engine or open_store(settings.resolved_database_url())
    if since is not None and since.tzinfo is not None:
        since = since.astimezone(UTC).replace(tzinfo=None)
    with store_errors("extract"), engine.begin() as conn:
        done = runs.load_run(conn, run_id)
        if done is not None and done.status == runs.PUBLISHED:
            return done
        cursor = runs.start_run(conn, run_id, spec.stream, spec.staging)
        if since is None and cursor == runs.BEGINNING_OF_TIME != spec.initial_cursor:
            since = datetime.fromisoformat(spec.initial_cursor)  # never published: start where the stream does
        if since is not None:  # the run's row says where it really read from
            cursor = since.isoformat()
            runs.mark(conn, run_id, cursor_from=cursor)
    started = time.monotonic()
    try:
        pages = spec.read_pages(settings, datetime.fromisoformat(cursor))
        with store_errors("extract"):
            page_count, read = stage_pages(engine, spec.staging, run_id, pages, runs.utcnow())
    except BaseException as exc:  # a time limit (AirflowTaskTimeout) or a stop is a failure to record too
        with _recording(exc), engine.begin() as conn:
            runs.mark_failed(conn, run_id, f"extract: {_why(exc)}")
            ledger.append(
                conn,
                _pull(spec, run_id, "failed", f"extract failed: {type(exc).__name__}"),
                key=hub_key(settings, LEDGER_KEY),
            )
        raise
    with engine.begin() as conn:
        runs.mark(
            conn,
            run_id,
            status=runs.EXTRACTED,
            pages=page_count,
            read=read,
            extract_seconds=round(time.monotonic() - started, 3),
        )
        summary = runs.load_run(conn, run_id)
    assert summary is not None
    log.info("run %s staged %d records in %d pages changed after %s", run_id, read, page_count, cursor)
    return summary


def audit(
    spec: StreamSpec, run_id: str, settings: Settings, engine: Engine | None = None, as_of: date | None = None
) -> runs.RunSummary:
    """Run the stream's expectation suite once over the run's staging rows."""
    from quality.runner import audit_run

    engine = engine or open_store(settings.resolved_database_url())
    with engine.begin() as conn:
        run = runs.require_run(conn, run_id, runs.EXTRACTED, runs.AUDITED, runs.PUBLISHED)
    if run.status == runs.PUBLISHED:
        return run
    started = time.monotonic()
    try:
        with store_errors("audit"):
            outcome = audit_run(engine, run_id, as_of or runs.utcnow().date(), spec.suite)
    except BaseException as exc:
        with _recording(exc), engine.begin() as conn:
            runs.mark_failed(conn, run_id, f"audit: {_why(exc)}")
        raise
    with engine.begin() as conn:
        runs.mark(
            conn,
            run_id,
            status=runs.AUDITED,
            rules_failed=outcome.rule_counts,
            audit_seconds=round(time.monotonic() - started, 3),
        )
        summary = runs.load_run(conn, run_id)
    assert summary is not None
    log.info("run %s audited: %d of %d rows fail a rule", run_id, outcome.failing_rows, outcome.evaluated)
    return summary


def publish(spec: StreamSpec, run_id: str, settings: Settings, engine: Engine | None = None) -> runs.RunSummary:
    """In one transaction: merge passing rows, quarantine failing ones, advance the cursor.

    A merge declared ``prepared_by`` a step gets it run first, outside that transaction, in
    committed steps nobody reads until the merge switches them in (a first load on SQLite).
    """
    engine = engine or open_store(settings.resolved_database_url())
    started = time.monotonic()
    now = runs.utcnow()
    if spec.prepare is not None:
        with store_errors("publish"):
            with engine.connect() as conn:
                status = runs.require_run(conn, run_id, runs.AUDITED, runs.PUBLISHED).status
            if status == runs.AUDITED:
                spec.prepare(engine, run_id, now)
    with store_errors("publish"), engine.begin() as conn:
        run = runs.require_run(conn, run_id, runs.AUDITED, runs.PUBLISHED)
        if run.status == runs.PUBLISHED:
            return run
        # Read before the merge writes: on SQLite every page read searches the log of the transaction's writes.
        newest = (
            None
            if spec.cursor_column is None
            else _newest(conn, spec.staging, spec.staging.c[spec.cursor_column], run_id)
        )
        quarantined = quarantine_failing(conn, spec.staging, run_id, spec.stream, now, spec.person_column)
        merged = spec.merge(conn, run_id, now)
        if spec.shares is not None:  # in the change's transaction: a committed change is never lost to subscribers
            queue_changes(conn, spec.shares, run_id, now)
        cursor_to = runs.advance_cursor(conn, spec.stream, run_id, newest)
        # Staging is scratch space: the quarantine keeps every failing payload, the golden tables the rest.
        conn.execute(delete(audit_finding).where(audit_finding.c.run_id == run_id))
        _drop_staged(conn, spec.staging, run_id)
        runs.mark(
            conn,
            run_id,
            status=runs.PUBLISHED,
            published=merged.published,
            quarantined=quarantined,
            unchanged=merged.unchanged,
            cursor_to=cursor_to,
            finished_at=now,
            error=None,
            publish_seconds=round(time.monotonic() - started, 3),
        )
        summary = runs.load_run(conn, run_id)
        assert summary is not None
        # Last statement of the transaction: the ledger's lock is held only until the commit.
        ledger.append(
            conn,
            _pull(
                spec,
                run_id,
                "ok",
                f"published {summary.published}, quarantined {summary.quarantined}, unchanged {summary.unchanged}",
                summary.read,
            ),
            key=hub_key(settings, LEDGER_KEY),
            now=now,
        )
    if summary.read != summary.published + summary.quarantined + summary.unchanged:
        log.error("run %s does not balance: %s", run_id, summary.as_dict())
    log.info(
        "run %s published %d, quarantined %d, unchanged %d", run_id, merged.published, quarantined, merged.unchanged
    )
    return summary


def _why(exc: BaseException) -> str:
    """Our errors speak for themselves; anything else is named by its type only (its text may quote data)."""
    if isinstance(exc, LgspError):
        return str(exc)
    return (
        f"interrupted by {type(exc).__name__} (the task's time limit, LGSP_TASK_TIMEOUT_<KIND>_MINUTES, "
        "or a stop); clear the task to resume from the last committed cursor"
    )


@contextmanager
def _recording(failure: BaseException) -> Iterator[None]:
    """Record a stage's failure without letting a failed record hide it: the original is re-raised after."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - the stage's own failure is what the caller must see
        log.warning("could not record the failure (%s) of the run: %s", type(failure).__name__, type(exc).__name__)


def _pull(spec: StreamSpec, run_id: str, outcome: str, detail: str, count: int = 0) -> ledger.Exchange:
    """The ledger entry of one pull: the source, the stream, how many records; the run id correlates."""
    return ledger.Exchange(
        action="pull",
        client=spec.system,
        outcome=outcome,
        correlation_id=run_id,
        dataset=spec.stream,
        record_count=count,
        detail=detail,
    )


def _drop_staged(conn: Connection, staging: Table, run_id: str) -> None:
    """Delete the run's staging rows; when no other run has any, empty the table wholesale.

    A DELETE with a WHERE rewrites every page it touches (1M rows: gigabytes of SQLite's
    write-ahead log); SQLite's unqualified DELETE frees the pages instead, and PostgreSQL's
    TRUNCATE (transactional: a rollback brings the rows back) leaves no dead rows to vacuum.
    """
    # Two index seeks, where "run_id != ?" would walk the whole index.
    others = conn.execute(
        select(or_(exists().where(staging.c.run_id < run_id), exists().where(staging.c.run_id > run_id)))
    ).scalar()
    if others:
        conn.execute(delete(staging).where(staging.c.run_id == run_id))
    elif conn.dialect.name == "postgresql":
        conn.execute(text(f"TRUNCATE {conn.dialect.identifier_preparer.format_table(staging)}"))
    else:
        conn.execute(delete(staging))


def _newest(conn: Connection, staging: Table, column: Column[str], run_id: str) -> str | None:
    """The newest cursor value among the run's mappable rows (failing ones included: they were read)."""
    return conn.execute(
        select(func.max(column)).where(staging.c.run_id == run_id, staging.c.contract_error.is_(None))
    ).scalar()
