"""``lgsp audit``: verify the exchange ledger's hash chain, export it for auditors."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console

from connectors.errors import LgspError
from hub.settings import load_settings

audit_app = typer.Typer(help="The audit ledger: verify its hash chain, export it.", no_args_is_help=True)
stderr = Console(stderr=True)


@audit_app.command("verify")
def verify_command() -> None:
    """Walk the whole chain: exit 0 if every entry chains onto the one before; else exit 1 naming the first bad one.

    An intact walk is noted as a checkpoint, from which the report's builds walk on.
    """
    from hub import ledger
    from hub.store.engine import open_store

    try:
        engine = open_store(load_settings().resolved_database_url())
        result = ledger.verify(engine)
        ledger.record_checkpoint(engine, result)
    except LgspError as exc:
        stderr.print(f"[red]lgsp audit verify failed:[/red] {exc}")
        raise typer.Exit(2) from exc
    if result.intact:
        sys.stdout.write(f"ledger intact: {result.entries:,} entries\n")
        return
    sys.stdout.write(
        f"ledger BROKEN at entry {result.first_bad_seq}: {result.reason} "
        f"({result.entries:,} entries before it verify)\n"
    )
    raise typer.Exit(1)


@audit_app.command("export")
def export_command(
    since: Annotated[datetime | None, typer.Option(help="Only entries at or after this time (UTC).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
) -> None:
    """Write the ledger's entries (oldest first) to stdout as CSV or JSON; record keys stay hashed."""
    from hub import ledger
    from hub.store.engine import open_store

    if fmt not in ("csv", "json"):
        stderr.print("[red]--format must be csv or json[/red]")
        raise typer.Exit(2)
    try:
        engine = open_store(load_settings().resolved_database_url())
        count = ledger.write_export(ledger.export_rows(engine, since), sys.stdout, fmt)
    except LgspError as exc:
        stderr.print(f"[red]lgsp audit export failed:[/red] {exc}")
        raise typer.Exit(2) from exc
    stderr.print(f"exported {count:,} entries")
