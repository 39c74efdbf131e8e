"""``lgsp audit``: verify the exchange ledger's hash chain, export it for auditors."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Annotated

import typer

from hub.cli.support import existing_store, fail, failures, mask_text, say
from hub.settings import load_settings

audit_app = typer.Typer(help="The audit ledger: verify its hash chain, export it.", no_args_is_help=True)


@audit_app.command("verify")
def verify_command() -> None:
    """Walk the whole chain: exit 0 if every entry chains onto the one before; else exit 1 naming the first bad one.

    An intact walk is noted as a checkpoint, from which the report's builds walk on.
    """
    from hub import ledger

    with failures("lgsp audit verify"):
        engine = existing_store(load_settings())  # a mistyped LGSP_HOME is no store, not an empty intact ledger
        result = ledger.verify(engine)
        ledger.record_checkpoint(engine, result)
    if result.intact:
        sys.stdout.write(f"ledger intact: {result.entries:,} entries\n")
        return
    sys.stdout.write(
        f"ledger BROKEN at entry {result.first_bad_seq}: {mask_text(result.reason)} "
        f"({result.entries:,} entries before it verify)\n"
    )
    raise typer.Exit(1)


@audit_app.command("export")
def export_command(
    since: Annotated[datetime | None, typer.Option(help="Only entries at or after this time (UTC).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
) -> None:
    """Write the ledger's entries (oldest first) to stdout as CSV or JSON; record keys stay hashed.

    Entries are written as stored (no masking), so that each entry's hash can be re-checked
    offline; the ledger holds no personal value (keys hashed, details name rules and runs).
    """
    from hub import ledger

    if fmt not in ("csv", "json"):
        fail("lgsp audit export: --format must be csv or json")
    with failures("lgsp audit export"):
        engine = existing_store(load_settings())
        count = ledger.write_export(ledger.export_rows(engine, since), sys.stdout, fmt)
    say(f"exported {count:,} entries")
