"""The ``lgsp`` command: the main job, one-off syncs, the store, and the mocks."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from hub.cli.support import (
    cell,
    check_options,
    complain,
    existing_store,
    fail,
    failures,
    mask_text,
    masked,
    migrated_store,
    say,
)
from hub.settings import load_settings
from lgsp.serving import port_problem

if TYPE_CHECKING:
    pass

app = typer.Typer(help="lgsp: provincial integration and data-sharing platform.", no_args_is_help=True)
stderr = Console(stderr=True)


def _mount_sync() -> None:
    from hub.cli.sync import sync_app

    app.add_typer(sync_app, name="sync")


_mount_sync()  # first, where `lgsp --help` has always listed it


def _mount_mocks() -> None:
    from mocks.cli import mocks_app

    app.add_typer(mocks_app, name="mocks", help="Serve the simulated national systems on loopback.")


_mount_mocks()


def _mount_outbox() -> None:
    from hub.cli.outbox import outbox_app

    app.add_typer(
        outbox_app,
        name="outbox",
        help="The outbox (portal deliveries and agency pushes): list, replay dead letters, deliver, push.",
    )


_mount_outbox()


def _mount_sharing() -> None:
    from hub.cli.audit import audit_app
    from hub.cli.sharing import agencies_app, agreements

    app.add_typer(agencies_app, name="agencies", help="Agencies in force; load config/sharing, hash a secret.")
    app.command("agreements")(agreements)
    app.add_typer(audit_app, name="audit", help="The audit ledger: verify the hash chain, export for auditors.")


def _mount_api() -> None:
    from hub.cli.api import api_app

    app.add_typer(api_app, name="api", help="Serve the hub's API to agencies (OAuth2, /v1, OpenAPI).")


def _mount_systems() -> None:
    from hub.cli.systems import systems_app

    app.add_typer(systems_app, name="systems", help="The declared systems: check, list, probe live, JSON Schema.")


_mount_sharing()
_mount_api()
_mount_systems()


@app.command()
def run(
    citizens: Annotated[int, typer.Option(help="Residents the population mock simulates.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic data.")] = 42,
    defect_rate: Annotated[float, typer.Option(help="Share of defective records the mock injects.")] = 0.02,
    as_json: Annotated[bool, typer.Option("--json", help="Print only a JSON report on stdout.")] = False,
) -> None:
    """Start the mocks, run every DAG through Airflow in-process, stop the mocks, report."""
    from hub.local.main_job import run_main_job
    from mocks.settings import MockSettings

    check_options("lgsp run", MockSettings, {"--citizens": citizens, "--seed": seed, "--defect-rate": defect_rate})
    with failures("lgsp run"):
        settings = load_settings()
        status = stderr.status("starting the mocks and Airflow...")
        status.start()

        def progress(dag_id: str, stage: str, rows: int) -> None:
            status.update(f"{dag_id}: {stage} ({rows:,} records)")

        try:
            report = run_main_job(settings, citizens=citizens, seed=seed, defect_rate=defect_rate, on_progress=progress)
        finally:
            status.stop()
    if as_json:  # error texts come from peers and the store: id-shaped runs are masked here too
        sys.stdout.write(json.dumps(masked(report.as_dict()), indent=2, sort_keys=True) + "\n")
    else:
        _print_report(report.as_dict())
    if any(flow.state != "success" for flow in report.flows.values()):
        raise typer.Exit(1)


@app.command("airflow")
def airflow_command(
    port: Annotated[int, typer.Option(help="Port of the Airflow UI and REST API (0: a free one).")] = 8080,
    host: Annotated[
        str,
        typer.Option(
            help="Interface to listen on. Beyond loopback a weak LGSP_AIRFLOW_PASSWORD is refused.",
        ),
    ] = "127.0.0.1",
    metadata_db: Annotated[
        str | None,
        typer.Option(
            help="Airflow's metadata DB URL, e.g. postgresql+psycopg://USER:PW@HOST/DB [SQLite in LGSP_HOME/airflow].",
        ),
    ] = None,
    citizens: Annotated[int, typer.Option(help="Residents the population mock simulates.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic data.")] = 42,
    defect_rate: Annotated[float, typer.Option(help="Share of defective records the mock injects.")] = 0.02,
    executor: Annotated[
        str,
        typer.Option(
            help="local: the scheduler runs the tasks. celery: Redis and --workers Celery workers run them, "
            "on PostgreSQL (--metadata-db, or one started for the run).",
        ),
    ] = "local",
    workers: Annotated[int, typer.Option(help="Celery workers (with --executor celery).", min=1, max=32)] = 2,
) -> None:
    """Run the mocks and a real Airflow (api-server, scheduler, dag-processor, triggerer) until Ctrl-C."""
    from lgsp.serving import check_port
    from mocks.settings import MockSettings

    options = {"--citizens": citizens, "--seed": seed, "--defect-rate": defect_rate}
    check_options("lgsp airflow", MockSettings, options, also=[port_problem(port)])
    with failures("lgsp airflow"):
        check_port(host, port)  # before the minutes Airflow takes to start, not after
        from hub.local.airflow.cluster import check_executor

        check_executor(executor, workers, metadata_db)
    from hub.local.airflow.demo import serve_demo

    with failures("lgsp airflow", code=1):  # it could not start, or a process died: as before, exit 1
        serve_demo(
            load_settings(),
            port=port,
            host=host,
            metadata_db=metadata_db,
            citizens=citizens,
            seed=seed,
            defect_rate=defect_rate,
            executor=executor,
            workers=workers,
            say=say,
            on_ready=lambda cluster: typer.echo(f"READY {cluster.base_url}"),
        )


def _print_report(document: dict[str, object]) -> None:
    console = Console()
    flows = document["flows"]
    assert isinstance(flows, dict)
    for name, flow in flows.items():
        if "pushes" in flow:
            console.print(_pushes_table(name, flow))
            continue
        table = Table(title=Text(f"{name}: {flow['state']}"), title_justify="left")
        table.add_column("read", justify="right")
        table.add_column("published", justify="right")
        table.add_column("quarantined", justify="right")
        table.add_column("unchanged", justify="right")
        table.add_row(*(f"{flow[key]:,}" for key in ("read", "published", "quarantined", "unchanged")))
        console.print(table)
        if flow["rules_failed"]:
            rules = Table("rule", "rows failing", title="failures per rule", title_justify="left")
            for rule, count in sorted(flow["rules_failed"].items()):
                rules.add_row(cell(rule), f"{count:,}")
            console.print(rules)
        if flow.get("figures"):
            console.print(_figures_table(flow["figures"]))
        if flow["error"]:  # a peer's or the store's text: literal, id-shaped runs masked
            console.print(Text.assemble(("error: ", "red"), mask_text(str(flow["error"]))))
        elif flow["read"] == 0:
            console.print("nothing changed since the last published cursor (delete LGSP_HOME for a fresh load)")
    once_only = document.get("once_only")
    if isinstance(once_only, dict):
        table = Table(
            "procedure", "name", title="once-only: form fields prefilled from verified sources", title_justify="left"
        )
        for heading in ("dossiers", "prefilled", "nothing beyond consent", "nothing held asked"):
            table.add_column(heading, justify="right")
        rows = [(code, line["name"], line) for code, line in once_only["procedures"].items()]
        shares = ("prefilled_share", "complete_share", "held_complete_share")
        for code, name, line in [*rows, ("all", "", once_only["overall"])]:
            table.add_row(
                cell(code),
                cell(name),
                f"{line['dossiers']:,}",
                *("-" if line[key] is None else f"{line[key]:.1%}" for key in shares),
            )
        console.print(table)
    audit = document.get("ledger")
    if isinstance(audit, dict) and audit:
        verdict = "intact" if audit["intact"] else f"[red]BROKEN at entry {audit['first_bad_entry']}[/red]"
        console.print(f"audit ledger: {audit['entries']:,} entries, {verdict} (lgsp audit verify)")
    if document.get("report"):
        console.print(f"auditors' report: {document['report']} (lgsp report rebuilds it; lgsp api serve: /reports/)")
    state = document["state"]
    assert isinstance(state, dict)
    console.print(Text(f"store: {state['database']}\nairflow: {state['airflow_home']}"))


def _pushes_table(name: str, flow: dict[str, Any]) -> Table:
    """Pushes to the subscribing agencies, per agency and outbox state."""
    table = Table(
        "agency",
        "acknowledged",
        "pending",
        "sent",
        "dead",
        title=Text(f"{name}: {flow['state']}"),
        title_justify="left",
    )
    for agency, states in sorted(flow["pushes"].items()):
        counts = (f"{states.get(state, 0):,}" for state in ("acknowledged", "pending", "sent", "dead"))
        table.add_row(cell(agency), *counts)
    return table


def _figures_table(figures: dict[str, Any]) -> Table:
    """The province's reporting figures, as a person reads them."""
    table = Table("figure", "value", title="figures", title_justify="left")
    for name, value in figures.items():
        if isinstance(value, dict):
            value = ", ".join(f"{key} {inner if inner is not None else '-'}" for key, inner in value.items())
        elif isinstance(value, float) and name.endswith("_share"):
            value = f"{value:.1%}"
        table.add_row(cell(name.replace("_", " ")), cell("-" if value is None else value))
    return table


@app.command()
def report(
    out: Annotated[str | None, typer.Option(help="Where to build the site (default LGSP_HOME/reports).")] = None,
    runs: Annotated[int, typer.Option(min=1, help="Runs per dataset the pages show (the newest).")] = 60,
) -> None:
    """Build the auditors' data-quality site (HTML, CSV, Data Docs) from the store; prints its index."""
    from pathlib import Path

    from quality.report.build import build_site

    with failures("lgsp report"):
        settings = load_settings()
        target = Path(out) if out else settings.home / "reports"
        engine = existing_store(settings)
        try:
            summary = build_site(engine, target, runs_per_dataset=runs)
        except OSError as exc:  # the folder given (or LGSP_HOME) cannot be written
            fail(f"lgsp report failed: cannot write the site to {target}: {exc.strerror or exc}; pick another --out")
        finally:
            engine.dispose()
    say(
        f"{summary.pages} pages, {summary.tables} CSV tables, {summary.data_docs} Data Docs pages "
        f"in {summary.seconds:.1f} s"
    )
    typer.echo(str(summary.path.resolve()))


@app.command()
def status(limit: Annotated[int, typer.Option(min=1, help="How many runs to show.")] = 10) -> None:
    """The newest sync runs and their counts (error texts literal, ids masked)."""
    from sqlalchemy import select

    from hub.store.tables import sync_run

    table = Table("run", "stream", "status", "read", "published", "quarantined", "unchanged", "error")
    with failures("lgsp status"):
        engine = existing_store(load_settings())
        with engine.connect() as conn:
            query = select(sync_run).order_by(sync_run.c.started_at.desc()).limit(limit)
            for row in conn.execute(query).mappings():
                table.add_row(
                    cell(row["run_id"]),
                    cell(row["stream"]),
                    cell(row["status"]),
                    str(row["read"]),
                    str(row["published"]),
                    str(row["quarantined"]),
                    str(row["unchanged"]),
                    cell(row["error"], width=80),
                )
    Console().print(table)


@app.command()
def quarantine(
    rule: Annotated[str | None, typer.Option(help="Only records that broke this rule.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many records to list.")] = 20,
) -> None:
    """Held records: counts per rule, then the newest ones (ids masked; raw payloads stay in the store)."""
    from collections import Counter

    from sqlalchemy import select

    from hub.store.tables import quarantine as held
    from schemas.personal_id import mask

    query = select(held.c.quarantine_id, held.c.personal_id, held.c.rules, held.c.run_id, held.c.quarantined_at)
    query = query.where(held.c.status == "open").order_by(held.c.quarantine_id.desc())
    with failures("lgsp quarantine"):
        engine = existing_store(load_settings())
        with engine.connect() as conn:
            rows = [row for row in conn.execute(query) if rule is None or rule in row.rules.split(",")]
    per_rule = Counter(name for row in rows for name in row.rules.split(","))
    summary = Table("rule", "open records", title=f"{len(rows):,} records held", title_justify="left")
    for name, count in sorted(per_rule.items()):
        summary.add_row(cell(name), f"{count:,}")
    listing = Table("id", "personal id", "rules", "run", "since")
    for row in rows[:limit]:
        listing.add_row(
            str(row.quarantine_id),
            cell(mask(row.personal_id)),
            cell(row.rules),
            cell(row.run_id),
            row.quarantined_at.isoformat(timespec="seconds"),
        )
    Console().print(summary, listing)


@app.command("upgrade-db")
def upgrade_db() -> None:
    """Create or migrate the hub's store to the newest schema."""
    with failures("lgsp upgrade-db"):
        migrated_store(load_settings()).dispose()
    say("store is at the newest schema")


def main() -> None:
    """Entry point of the ``lgsp`` script: a failure nobody expected is one line too, never a traceback.

    A traceback would show locals and arguments (URLs, payloads, personal values).
    Commands catch what they expect where it enters; this is the net under them.
    """
    try:
        app()
    except Exception as exc:  # noqa: BLE001 - the last net: anything else is a bug, said in one line
        complain(f"lgsp failed unexpectedly ({type(exc).__name__}); this is a bug: please report the command you ran")
        raise SystemExit(1) from None
