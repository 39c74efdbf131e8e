"""``lgsp agencies`` and ``lgsp agreements``: who may receive what, as loaded in the store.

The declaration lives in config/sharing/*.yaml (LGSP_SHARING_CONFIG); ``lgsp agencies load``
puts it in force. Listings show the store, since that is what the API and pushes obey.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from connectors.errors import LgspError
from hub.settings import Settings, load_settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

agencies_app = typer.Typer(help="Agencies, their API clients and push subscriptions.", invoke_without_command=True)
stderr = Console(stderr=True)


def _store(settings: Settings) -> Engine:
    from hub.store.engine import open_store

    return open_store(settings.resolved_database_url())


@agencies_app.callback()
def agencies(ctx: typer.Context) -> None:
    """List the agencies in force: code, name, contact, push endpoint, clients, subscriptions."""
    if ctx.invoked_subcommand is not None:
        return
    from sqlalchemy import select

    from hub.store.tables import agency, api_client, subscription

    try:
        engine = _store(load_settings())
        with engine.connect() as conn:
            rows = conn.execute(select(agency).order_by(agency.c.agency_code)).mappings().all()
            clients = conn.execute(
                select(api_client.c.agency_code, api_client.c.client_id, api_client.c.role, api_client.c.scopes)
            ).all()
            subs = conn.execute(
                select(subscription.c.agency_code, subscription.c.dataset, subscription.c.purpose).where(
                    subscription.c.active
                )
            ).all()
    except LgspError as exc:
        stderr.print(f"[red]lgsp agencies failed:[/red] {exc}")
        raise typer.Exit(2) from exc
    if not rows:
        stderr.print("no agencies in the store yet: run `lgsp agencies load`")
        return
    table = Table("code", "name", "contact", "push", "clients (role: scopes)", "subscriptions")
    for row in rows:
        code = row["agency_code"]
        table.add_row(
            code,
            row["name"],
            row["contact"],
            row["push_url"] or "-",
            "\n".join(f"{c.client_id} ({c.role}: {c.scopes})" for c in clients if c.agency_code == code),
            "\n".join(f"{s.dataset} / {s.purpose}" for s in subs if s.agency_code == code) or "-",
        )
    Console().print(table)


@agencies_app.command("load")
def load_command() -> None:
    """Load config/sharing/*.yaml into the store (replaces agencies, clients, agreements; adds subscriptions)."""
    from hub.sharing.registry import load_configured

    try:
        settings = load_settings()
        counts = load_configured(_store(settings), settings).counts
    except LgspError as exc:
        stderr.print(f"[red]lgsp agencies load failed:[/red] {exc}")
        raise typer.Exit(2) from exc
    stderr.print("loaded " + ", ".join(f"{count} {name}" for name, count in counts.items()))


@agencies_app.command("hash-secret")
def hash_secret_command() -> None:
    """Read a client secret from stdin and print its hash, to paste as secret_hash in agencies.yaml."""
    from hub.sharing.client_secrets import hash_secret

    secret = sys.stdin.readline().rstrip("\n")
    if len(secret) < 16:
        stderr.print("[red]a client secret must be at least 16 characters[/red]")
        raise typer.Exit(2)
    sys.stdout.write(hash_secret(secret) + "\n")


def agreements(
    agency_code: Annotated[str | None, typer.Option("--agency", help="Only this agency's agreements.")] = None,
) -> None:
    """List the data-sharing agreements in force: agency, dataset, purpose, fields, legal basis, validity."""
    from sqlalchemy import select

    from hub.store.tables import agreement

    query = select(agreement).order_by(agreement.c.agency_code, agreement.c.agreement_id)
    if agency_code is not None:
        query = query.where(agreement.c.agency_code == agency_code)
    try:
        with _store(load_settings()).connect() as conn:
            rows = conn.execute(query).mappings().all()
    except LgspError as exc:
        stderr.print(f"[red]lgsp agreements failed:[/red] {exc}")
        raise typer.Exit(2) from exc
    if not rows:
        stderr.print("no agreements in the store: run `lgsp agencies load` (deny by default: nobody reads anything)")
        return
    today = datetime.now(UTC).date()
    table = Table("id", "agency", "dataset", "purpose", "fields", "legal basis", "valid", "in force")
    for row in rows:
        until = row["valid_until"]
        in_force = row["valid_from"] <= today and (until is None or today <= until)
        table.add_row(
            row["agreement_id"],
            row["agency_code"],
            row["dataset"],
            row["purpose"],
            row["fields"].replace(",", ", "),
            row["legal_basis"],
            f"{row['valid_from']} .. {until or 'open'}",
            "yes" if in_force else "[red]no[/red]",
        )
    Console().print(table)
