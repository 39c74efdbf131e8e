"""``lgsp agencies`` and ``lgsp agreements``: who may receive what, as loaded in the store.

The declaration lives in config/sharing/*.yaml (LGSP_SHARING_CONFIG); ``lgsp agencies load``
puts it in force. Listings show the store, since that is what the API and pushes obey.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from hub.cli.support import cell, existing_store, fail, failures, migrated_store, say
from hub.settings import load_settings

agencies_app = typer.Typer(help="Agencies, their API clients and push subscriptions.", invoke_without_command=True)


@agencies_app.callback()
def agencies(ctx: typer.Context) -> None:
    """List the agencies in force: code, name, contact, push endpoint, clients, subscriptions."""
    if ctx.invoked_subcommand is not None:
        return
    from sqlalchemy import select

    from hub.store.tables import agency, api_client, subscription

    with failures("lgsp agencies"):
        engine = existing_store(load_settings())
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
    if not rows:
        say("no agencies in the store yet: run `lgsp agencies load`")
        return
    table = Table("code", "name", "contact", "push", "clients (role: scopes)", "subscriptions")
    for row in rows:  # names, contacts and URLs come from YAML: shown literally, never as markup
        code = row["agency_code"]
        table.add_row(
            cell(code),
            cell(row["name"]),
            cell(row["contact"]),
            cell(row["push_url"] or "-"),
            cell("\n".join(f"{c.client_id} ({c.role}: {c.scopes})" for c in clients if c.agency_code == code)),
            cell("\n".join(f"{s.dataset} / {s.purpose}" for s in subs if s.agency_code == code) or "-"),
        )
    Console().print(table)


@agencies_app.command("load")
def load_command() -> None:
    """Load config/sharing/*.yaml into the store (replaces agencies, clients, agreements; adds subscriptions)."""
    from hub.sharing.registry import load_configured

    with failures("lgsp agencies load"):
        settings = load_settings()
        counts = load_configured(migrated_store(settings), settings).counts
    say("loaded " + ", ".join(f"{count} {name}" for name, count in counts.items()))


@agencies_app.command("hash-secret")
def hash_secret_command() -> None:
    """Read a client secret from stdin and print its hash, to paste as secret_hash in agencies.yaml."""
    from hub.sharing.client_secrets import hash_secret

    secret = sys.stdin.readline().rstrip("\n")
    if len(secret) < 16:
        fail("lgsp agencies hash-secret: a client secret must be at least 16 characters")
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
    with failures("lgsp agreements"), existing_store(load_settings()).connect() as conn:
        rows = conn.execute(query).mappings().all()
    if not rows:
        say("no agreements in the store: run `lgsp agencies load` (deny by default: nobody reads anything)")
        return
    today = datetime.now(UTC).date()
    table = Table("id", "agency", "dataset", "purpose", "fields", "legal basis", "valid", "in force")
    for row in rows:
        until = row["valid_until"]
        in_force = row["valid_from"] <= today and (until is None or today <= until)
        table.add_row(  # from YAML: shown literally, never as markup
            cell(row["agreement_id"]),
            cell(row["agency_code"]),
            cell(row["dataset"]),
            cell(row["purpose"]),
            cell(row["fields"].replace(",", ", ")),
            cell(row["legal_basis"]),
            f"{row['valid_from']} .. {until or 'open'}",
            Text("yes") if in_force else Text("no", style="red"),
        )
    Console().print(table)
