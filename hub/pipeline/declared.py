"""The pipeline of a declared stream: its StreamSpec derived from the declaration, and its four stages.

Airflow tasks, the CLI and the tests call ``extract``, ``audit``, ``publish`` and ``sync``
with a run id and ``stream="<system>.<stream>"``; the stream is looked up among the
declarations (``config/systems``, or ``LGSP_SYSTEMS_DIR``) and runs through the same
write-audit-publish machinery as every other stream (hub.pipeline.stages). Nothing
here names a system: staging and golden tables come from hub.store.declared, the
suite from quality.rules, the pages from connectors.declared, the merge from the
declaration (a named domain function) or hub.pipeline.generic_merge.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Protocol, cast

from sqlalchemy import Connection, Date, DateTime, Engine, Table

from connectors.declared import DeclaredPage, DeclaredSource
from hub.pipeline import runs, stages
from hub.pipeline.generic_merge import merge_declared
from hub.pipeline.stages import MergeCounts, StreamSpec, preparation
from hub.settings import Settings, declared_endpoint
from hub.store.declared import dataset_table, ensure_declared_tables, staging_table
from hub.store.engine import open_store
from hub.store.tables import metadata as hub_metadata
from hub.systems.loader import HUB_DATASETS, Declared, DeclaredStream, load_systems, streams
from lgsp.declaration import python_function
from lgsp.errors import ConfigError
from quality.rules import compile_suite
from quality.verdicts import Rule, Suite, verdict

Merge = Callable[[Connection, str, datetime], MergeCounts]
_LEDGER_NAME = 40  # audit_ledger.dataset holds the qualified stream name
_specs: dict[tuple[str, str], StreamSpec] = {}
_lock = threading.Lock()


def find_stream(qualified: str, systems: tuple[Declared, ...] | None = None) -> DeclaredStream:
    """The declared stream named ``system.stream``.

    Raises:
        ConfigError: no declaration has it (the message lists the declared ones), or a declaration is wrong.
    """
    declared = list(streams(systems if systems is not None else load_systems()))
    for candidate in declared:
        if candidate.qualified == qualified:
            return candidate
    known = ", ".join(candidate.qualified for candidate in declared) or "none"
    raise ConfigError(
        f"no declared stream {qualified!r}; declared: {known}. Name one as system.stream, "
        "or declare it in config/systems/<system>.yaml"
    )


def spec_for(stream: DeclaredStream, systems: tuple[Declared, ...] | None = None) -> StreamSpec:
    """The write-audit-publish spec of a declared stream (built once per declaration).

    ``systems`` (default: every declaration) names the datasets a ``references`` rule may point at.

    Raises:
        ConfigError: the stream's storage, rules or merge cannot be derived (the message says what to fix).
    """
    cache_key = (stream.qualified, stream.system.model_dump_json())
    with _lock:
        spec = _specs.get(cache_key)
        if spec is None:
            spec = _specs[cache_key] = _build_spec(stream, systems if systems is not None else load_systems())
        return spec


def extract(
    run_id: str, settings: Settings, engine: Engine | None = None, since: datetime | None = None, *, stream: str
) -> runs.RunSummary:
    """Stage what the declared ``stream`` changed since its cursor (or since ``since``: a backfill).

    Raises:
        ConfigError: the stream is not declared, its declaration or connection is wrong.
        SourceError: the system failed (transient after the retries) or refused us.
        StoreError: the store refused the work; nothing of the run was committed.
    """
    systems = load_systems()
    spec = spec_for(find_stream(stream, systems), systems)
    engine = engine or open_store(settings.resolved_database_url())
    ensure_declared_tables(engine, systems)  # a declaration edited since the store was opened
    return stages.extract(spec, run_id, settings, engine, since)


def audit(run_id: str, settings: Settings, engine: Engine | None = None, *, stream: str) -> runs.RunSummary:
    """Run the declared stream's suite once over the run's staging rows.

    Raises:
        ConfigError: the stream is not declared. StoreError: the run is not extracted, or the audit failed.
    """
    return stages.audit(_spec(stream), run_id, settings, engine)


def publish(run_id: str, settings: Settings, engine: Engine | None = None, *, stream: str) -> runs.RunSummary:
    """Merge the run's passing rows, quarantine the failing ones and advance the cursor, in one transaction.

    Raises:
        ConfigError: the stream is not declared. StoreError: the run is not audited, or the store refused.
    """
    return stages.publish(_spec(stream), run_id, settings, engine)


def sync(run_id: str, settings: Settings, engine: Engine | None = None, *, stream: str) -> runs.RunSummary:
    """Extract, audit and publish the declared ``stream``, for the CLI and tests.

    Raises:
        ConfigError, SourceError, StoreError: as the three stages.
    """
    _spec(stream)  # an unknown stream is said before anything is opened
    engine = engine or open_store(settings.resolved_database_url())
    extract(run_id, settings, engine, stream=stream)
    audit(run_id, settings, engine, stream=stream)
    return publish(run_id, settings, engine, stream=stream)


class Summary(Protocol):
    """What a followup returns: figures a person or a script reads."""

    def as_dict(self) -> dict[str, Any]:
        """The figures."""
        ...


Followup = Callable[..., Summary]  # (run_id, settings, engine=None) -> summary


def followup(run_id: str, settings: Settings, engine: Engine | None = None, *, stream: str, task: str) -> Summary:
    """Run the declared stream's followup ``task`` (its ``then:``), the domain function it names.

    Raises:
        ConfigError: the stream is not declared, names no such task, or its function does not import.
        SourceError, StoreError: as the function raises them.
    """
    declared = find_stream(stream)
    step = next((item for item in declared.stream.then if item.task == task), None)
    if step is None:
        tasks = ", ".join(item.task for item in declared.stream.then) or "none"
        raise ConfigError(f"stream {stream} declares no followup task {task!r}; its then: tasks are {tasks}")
    return followup_function(stream, step.run)(run_id, settings, engine)


def followups(run_id: str, settings: Settings, engine: Engine | None = None, *, stream: str) -> dict[str, Summary]:
    """Run every followup of the declared ``stream`` in order (the CLI, after a sync): task -> its summary."""
    return {
        item.task: followup(run_id, settings, engine, stream=stream, task=item.task)
        for item in find_stream(stream).stream.then
    }


def followup_function(stream: str, reference: str) -> Followup:
    """The function ``package.module:function`` a ``then:`` entry names.

    Raises:
        ConfigError: it does not import, or is not callable.
    """
    function = python_function(reference)
    if function is None:
        raise ConfigError(
            f"stream {stream} names followup {reference!r}, which is no function of an installed module; "
            "write it as package.module:function"
        )
    return cast(Followup, function)


def _spec(qualified: str) -> StreamSpec:
    systems = load_systems()
    return spec_for(find_stream(qualified, systems), systems)


def _build_spec(stream: DeclaredStream, systems: tuple[Declared, ...]) -> StreamSpec:
    declared = stream.stream
    if len(stream.qualified) > _LEDGER_NAME:
        raise ConfigError(
            f"stream {stream.qualified!r} is {len(stream.qualified)} characters; the audit ledger keeps "
            f"{_LEDGER_NAME}: shorten the system's or the stream's name"
        )
    staging = staging_table(declared)
    merge = _merge(stream)
    person = next((name for name, field in declared.fields.items() if field.type == "personal_id"), None)
    return StreamSpec(
        stream=stream.qualified,
        system=stream.system.system,
        staging=staging,
        suite=_suite(stream, staging, systems),
        cursor_column=declared.cursor.field if declared.cursor is not None else None,
        read_pages=partial(_read_pages, stream),
        merge=merge,
        prepare=preparation(merge),
        shares=declared.shared_dataset,
        person_column=person,
        initial_cursor=_naive_utc(stream) if declared.cursor is not None else runs.BEGINNING_OF_TIME,
    )


def _suite(stream: DeclaredStream, staging: Table, systems: tuple[Declared, ...]) -> Suite:
    """The declared rules compiled, and the key always judged: a row without one cannot be published."""
    datasets = {
        **{other.stream.dataset: (dataset_table(other.stream).name, other.stream.key) for other in streams(systems)},
        **HUB_DATASETS,
    }
    _check_referenced_columns(stream, systems)
    suite = compile_suite(stream.stream, staging=staging, datasets=datasets)
    key = stream.stream.key
    if f"{key}.not_empty" in suite.rule_names():
        return suite
    rule = Rule(
        f"{key}.not_empty",
        f"{key} (the dataset's key) is present and not blank",
        lambda as_of: verdict(f"s.{key} IS NOT NULL AND trim(s.{key}) <> ''"),
    )
    return Suite(suite.name, suite.staging, (suite.rules[0], rule, *suite.rules[1:]))


def _check_referenced_columns(stream: DeclaredStream, systems: tuple[Declared, ...]) -> None:
    """An ``after_referenced`` rule names a date column its dataset's golden table has.

    Raises:
        ConfigError: the column is not there, or holds no date (the message lists the date columns).
    """
    tables = {other.stream.dataset: dataset_table(other.stream) for other in streams(systems)}
    for rule in stream.stream.rules:
        args = getattr(rule, "after_referenced", None)
        if args is None:
            continue
        table = tables.get(args.dataset)
        if table is None:
            table = hub_metadata.tables.get(HUB_DATASETS.get(args.dataset, ("", ""))[0])
        if table is None:
            continue  # an unknown dataset: compile_suite says so
        dates = [column.name for column in table.columns if isinstance(column.type, Date | DateTime)]
        if args.column not in dates:
            raise ConfigError(
                f"stream {stream.qualified}: after_referenced names column {args.column!r} of {args.dataset}, "
                f"which holds no such date; name one of: {', '.join(dates) or 'none'}"
            )


def _merge(stream: DeclaredStream) -> Merge:
    """The declared ``merge`` (``package.module:function``), else the generic upsert."""
    reference = stream.stream.merge
    if reference is None:
        return partial(merge_declared, stream=stream)
    function = python_function(reference)
    if function is None:
        raise ConfigError(
            f"stream {stream.qualified} names merge {reference!r}, which is no function of an installed module; "
            "write it as package.module:function, or remove it for the generic merge"
        )
    return cast(Merge, function)


def _read_pages(stream: DeclaredStream, settings: Settings, since: datetime) -> Iterator[DeclaredPage]:
    kind = stream.system.auth.kind
    endpoint = declared_endpoint(
        settings,
        stream.system.connection,
        needs_login=kind in ("basic", "oauth2_client_credentials", "wsse_username_token"),
        needs_secret=kind is not None,
    )
    moved = endpoint.extras.get("wsse_password")
    if moved is not None:  # the hand-written population flow read it there; said, not silently ignored
        kind = "text" if moved == "text" else "digest"
        raise ConfigError(
            f"the Airflow connection '{stream.system.connection}' sets wsse_password, which the declaration says "
            f"now: write soap: {{auth: {{wsse_username_token: {{password: {kind}}}}}}} "
            f"in config/systems/{stream.system.system}.yaml and drop it from the connection"
        )
    with DeclaredSource(
        stream.system,
        stream.name,
        url=endpoint.url,
        login=endpoint.username,
        password=endpoint.password,
        timeout=settings.operation_timeout,
        max_attempts=settings.max_attempts,
        backoff=settings.backoff_seconds,
        max_body_bytes=settings.max_response_bytes,
        page_size=settings.page_size,
        max_pages=settings.max_pages,
    ) as source:
        cursor = stream.stream.cursor
        overlap = timedelta(seconds=cursor.overlap_seconds) if cursor is not None else timedelta(0)
        # Re-reading the overlap costs a few rows counted unchanged; not re-reading it can lose a record
        # the source wrote in the cursor's own second after we read (see Incremental.overlap_seconds).
        yield from source.changed_since(since - overlap)


def _naive_utc(stream: DeclaredStream) -> str:
    """The declared cursor's start as the store keeps time: naive UTC, ISO 8601.

    Raises:
        ConfigError: ``cursor.from`` is not an ISO 8601 date or date-time.
    """
    assert stream.stream.cursor is not None
    text = stream.stream.cursor.from_
    try:
        start = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"stream {stream.qualified}: cursor.from {text!r} is not an ISO 8601 date-time; "
            'write e.g. "2000-01-01T00:00:00Z"'
        ) from None
    if start.tzinfo is not None:
        start = start.astimezone(UTC).replace(tzinfo=None)
    return start.isoformat()
