"""``lgsp systems``: the declared systems checked, listed, probed live, and the declaration format's JSON Schema.

check   every problem of the declarations with its file and line, the contract files included
list    each declared stream: protocol, owner, dataset, schedule, connection, last good run
test    a live probe of one system that writes nothing to the store (``hub.cli.probe``)
schema  the JSON Schema editors read (``schemas/declaration.schema.json``)
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from hub.cli.support import Peer, cell, existing_store, fail, failures, say
from hub.settings import Endpoint, Settings, declared_endpoint, load_settings
from hub.systems.loader import DeclarationError, Declared, Problem, load_file, load_systems, systems_dir
from lgsp.errors import ConfigError, LgspError

if TYPE_CHECKING:
    from hub.systems.loader import DeclaredStream
    from lgsp.declaration import SystemDecl

systems_app = typer.Typer(
    help="The declared systems (config/systems/*.yaml): check, list, probe live, JSON Schema.", no_args_is_help=True
)


@systems_app.command("check")
def check(
    path: Annotated[
        Path | None, typer.Argument(help="A declaration file or a folder of them [LGSP_SYSTEMS_DIR or config/systems].")
    ] = None,
) -> None:
    """Every problem of the declarations, with file:line and what to write instead; exit 1 if any."""
    target = path or systems_dir()
    if not target.exists():
        fail(f"lgsp systems check: no such file or folder: {target}; give a declaration or a folder of them")
    with failures("lgsp systems check"):
        errors, warnings, loaded = _checked(target)
    for problem in errors:
        typer.echo(str(problem))
    for problem in warnings:
        typer.echo(_warning(problem))
    if errors:
        noun = "problem" if len(errors) == 1 else "problems"
        files = len({problem.path for problem in errors})
        say(f"{len(errors)} {noun} in {files} file(s): fix them and run `lgsp systems check` again")
        raise typer.Exit(1)
    streams = sum(len(declared.decl.streams) for declared in loaded)
    note = f" ({len(warnings)} warning(s))" if warnings else ""
    typer.echo(f"{len(loaded)} systems, {streams} streams: OK{note}")


def _warning(problem: Problem) -> str:
    return str(problem).replace(f":{problem.line}: ", f":{problem.line}: warning: ", 1)


def _checked(target: Path) -> tuple[list[Problem], list[Problem], list[Declared]]:
    """(errors, warnings, the declarations checked) for a file or a folder, errors in file and line order.

    A file the loader refuses is not checked further until it loads. Its folder's other
    declarations are the context: the datasets a ``references`` rule may name, the pools.
    """
    errors: list[Problem] = []
    folder = target if target.is_dir() else target.parent
    context = []
    for file in sorted(folder.glob("*.yaml")):
        try:
            context.append(load_file(file))
        except DeclarationError:
            continue  # said below, when it is the target or in the folder checked
    if target.is_dir():
        try:
            load_systems(target)
        except DeclarationError as exc:  # every file's problems, and those between files
            errors.extend(exc.problems)
        wrong = {problem.path.resolve() for problem in errors}
        checked = [declared for declared in context if declared.path.resolve() not in wrong]
    else:
        try:
            checked = [load_file(target)]
        except DeclarationError as exc:
            errors.extend(exc.problems)
            checked = []
        context = [d for d in context if d.path.resolve() != target.resolve()] + checked
    warnings: list[Problem] = []
    settings = _settings_or_none()
    for declared in checked:
        more, notes = _deeper(declared, tuple(context), settings)
        errors.extend(more)
        warnings.extend(notes)
    return sorted(errors, key=_place), sorted(warnings, key=_place), checked


def _place(problem: Problem) -> tuple[str, int]:
    return str(problem.path), problem.line


def _deeper(
    declared: Declared, loaded: tuple[Declared, ...], settings: Settings | None
) -> tuple[list[Problem], list[Problem]]:
    """What the loader cannot see: the contract file, the rules compiled, schedules, pools, the connection."""
    from hub.orchestration.schedules import HUB_SCHEDULES, declared_pool_problems
    from hub.systems.contracts import contract_findings
    from hub.systems.loader import HUB_DATASETS, DeclaredStream
    from quality.rules import rule_problems

    found = contract_findings(declared)
    errors, warnings = list(found.errors), list(found.warnings)
    decl = declared.decl

    def at(loc: tuple[str | int, ...], message: str) -> Problem:
        return Problem(declared.path, declared.locate(loc), message)

    # The golden table of a declared dataset is named after it (hub.store.declared).
    datasets = {**{s.dataset: (s.dataset, s.key) for d in loaded for s in d.decl.streams.values()}, **HUB_DATASETS}
    for name, stream in decl.streams.items():
        item = DeclaredStream(decl, name, stream)
        compiled = rule_problems(stream, datasets)
        errors.extend(at(("streams", name, "rules", index), message) for index, message in compiled)
        schedule_problem = _schedule_problem(stream.schedule)
        if schedule_problem:
            errors.append(at(("streams", name, "schedule"), schedule_problem))
        if item.dag_id in HUB_SCHEDULES:
            errors.append(
                at(("streams", name), f"its DAG would be {item.dag_id}, one of the hub's own flows: rename the stream")
            )
        if not compiled:
            errors.extend(at(("streams", name), message) for message in _spec_problems(item, loaded))
    pools = declared_pool_problems({other.decl.system: other.decl.pools for other in loaded})
    errors.extend(at(("pools",), message) for system, message in pools if system == decl.system)
    connection = _connection_problem(decl, settings)
    if connection:
        warnings.append(at(("connection",), connection))
    return errors, warnings


def _schedule_problem(schedule: str) -> str | None:
    from croniter import croniter

    from hub.orchestration.schedules import PRESETS

    if croniter.is_valid(PRESETS.get(schedule, schedule)):
        return None
    return (
        f"schedule {schedule!r} is neither a cron expression nor one of {', '.join(PRESETS)}: "
        'write e.g. "@hourly" or "*/15 * * * *" (UTC)'
    )


def _spec_problems(item: DeclaredStream, loaded: tuple[Declared, ...]) -> list[str]:
    """What deriving the stream's pipeline refuses: a merge that does not import, a name too long, a bad cursor."""
    from hub.pipeline.declared import spec_for

    try:
        spec_for(item, loaded)
    except ConfigError as exc:
        return [str(exc)]
    return []


def _settings_or_none() -> Settings | None:
    try:
        return load_settings()
    except ConfigError as exc:
        say(f"connections not checked: {exc}")
        return None


def _connection_problem(decl: SystemDecl, settings: Settings | None) -> str | None:
    """Why the system's connection cannot be used yet, or None; read from the environment (AIRFLOW_CONN_<ID>)."""
    from hub.orchestration.declared import example_uri

    if settings is None:
        return None
    variable = f"AIRFLOW_CONN_{decl.connection.upper()}"
    if not os.environ.get(variable):
        return (
            f"the connection {decl.connection} is not configured: set {variable}={example_uri(decl)} "
            "(or the Airflow connection); fine for a check, needed to sync"
        )
    try:
        endpoint_of(decl, settings)
    except ConfigError as exc:
        return str(exc)
    return None


def endpoint_of(decl: SystemDecl, settings: Settings) -> Endpoint:
    """The system's endpoint from its Airflow connection, needing what its declared auth needs.

    Raises:
        ConfigError: the connection is missing or lacks the login or secret the auth needs.
    """
    kind = decl.auth.kind
    return declared_endpoint(
        settings,
        decl.connection,
        needs_login=kind in ("basic", "oauth2_client_credentials", "wsse_username_token"),
        needs_secret=kind is not None,
    )


def peer_of(decl: SystemDecl) -> Peer:
    """The system as a failing command names it: its title, where its connection points, what configures it."""
    return Peer(
        decl.system,
        f"{decl.title.en} ({decl.system})",
        lambda settings: endpoint_of(decl, settings),
        f"the Airflow connection {decl.connection} (AIRFLOW_CONN_{decl.connection.upper()})",
    )


@systems_app.command("schema")
def schema() -> None:
    """Print the declaration format's JSON Schema (``lgsp systems schema > schemas/declaration.schema.json``)."""
    from lgsp.declaration import declaration_schema

    sys.stdout.write(json.dumps(declaration_schema(), indent=2, ensure_ascii=False) + "\n")


@systems_app.command("list")
def list_systems() -> None:
    """Each declared stream: protocol, owner, dataset, schedule, connection, and its last good run if a store exists."""
    from hub.orchestration.schedules import missed_runs
    from hub.pipeline.runs import utcnow
    from hub.systems.loader import streams

    with failures("lgsp systems list"):
        systems = load_systems()
        settings = load_settings()
    last = _last_published(settings)
    now = utcnow()
    table = Table(title="declared streams", title_justify="left")
    for heading in ("stream", "protocol", "owner", "dataset", "schedule", "connection", "last good run"):
        table.add_column(heading, overflow="fold")
    for item in streams(systems):
        decl = item.system
        configured = _connection_problem(decl, settings) is None
        table.add_row(
            cell(f"{item.qualified}\n{decl.title.en}"),
            decl.protocol.upper(),
            cell(decl.owner),
            cell(item.stream.dataset),
            cell(item.stream.schedule),
            cell(f"{decl.connection}: " + ("configured" if configured else "not configured")),
            cell(_freshness(last, item.qualified, item.stream.schedule, now, missed_runs)),
        )
    Console().print(table)
    streams_count = sum(len(d.decl.streams) for d in systems)
    say(f"{len(systems)} systems, {streams_count} streams" + ("" if last is not None else "; no store yet"))


def _last_published(settings: Settings) -> dict[str, datetime | None] | None:
    """Stream -> when its newest published run finished; None when there is no store to read."""
    from sqlalchemy import func, select
    from sqlalchemy.exc import SQLAlchemyError

    from hub.store.tables import sync_run

    try:
        engine = existing_store(settings)
    except LgspError:
        return None
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(sync_run.c.stream, func.max(sync_run.c.finished_at))
                .where(sync_run.c.status == "published")
                .group_by(sync_run.c.stream)
            )
            return {stream: finished for stream, finished in rows}
    except SQLAlchemyError:
        return None
    finally:
        engine.dispose()


def _freshness(
    last: dict[str, datetime | None] | None, stream: str, schedule: str, now: datetime, missed: object
) -> str:
    if last is None:
        return "- (no store)"
    finished = last.get(stream)
    if finished is None:
        return "never"
    count = missed(schedule, finished, now)  # type: ignore[operator]
    state = "fresh" if count == 0 else f"{count} missed run(s)"
    return f"{finished.isoformat(sep=' ', timespec='minutes')} UTC, {state}"


@systems_app.command("test")
def test(
    system: Annotated[str, typer.Argument(help="The declared system to probe (its `system:` name).")],
    stream: Annotated[str | None, typer.Option(help="Only this stream [every stream of the system].")] = None,
    pages: Annotated[int, typer.Option(min=1, max=100, help="Pages to read per stream.")] = 2,
    since: Annotated[
        str | None,
        typer.Option(
            help="Read records changed after this ISO 8601 time, e.g. 2026-03-01T00:00:00+07:00 "
            "[the stream's first cursor]."
        ),
    ] = None,
) -> None:
    """Probe a system live and write nothing: per page status, records, seconds; keys, fields and rule failures."""
    from hub.cli.probe import probe_system

    probe_system(system, stream=stream, pages=pages, since=since)
