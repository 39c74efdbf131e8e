"""``lgsp outbox``: look at what the hub owes the portal, replay dead letters, deliver by hand.

The lead mounts ``outbox_app`` in ``hub/cli.py``; every command opens the store named
by the settings (LGSP_DATABASE_URL, else SQLite under LGSP_HOME).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from connectors.errors import LgspError
from hub.settings import load_settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

outbox_app = typer.Typer(help="The outbox: messages to the portal, dead letters, replay.", no_args_is_help=True)
stderr = Console(stderr=True)
_ERROR_WIDTH = 90  # enough for the status and problem type; the full text stays in the store


def _store() -> Engine:
    from hub.store.engine import open_store

    return open_store(load_settings().resolved_database_url())


@outbox_app.command("list")
def list_command(
    state: Annotated[str | None, typer.Option(help="Only this state: pending, sent, acknowledged or dead.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many messages to show, newest first.")] = 50,
) -> None:
    """Counts per state, then the newest messages: id, dossier, seq, state, attempts, last error, ack."""
    from hub.sharing.outbox import STATES, counts, list_messages

    if state is not None and state not in STATES:
        stderr.print(f"[red]--state must be one of {', '.join(STATES)}[/red]")
        raise typer.Exit(2)
    try:
        engine = _store()
        per_state, rows = counts(engine), list_messages(engine, state, limit)
    except LgspError as exc:
        stderr.print(f"[red]outbox list failed:[/red] {exc}")
        raise typer.Exit(2) from exc
    summary = "  ".join(f"{name}: {count:,}" for name, count in per_state.items())
    table = Table("id", "dossier", "seq", "state", "attempts", "last error", "ack", title=summary, title_justify="left")
    for row in rows:
        error = row.last_error or ""
        if len(error) > _ERROR_WIDTH:
            error = error[: _ERROR_WIDTH - 1] + "…"
        table.add_row(
            str(row.message_id),
            row.aggregate_id,
            str(row.sequence),
            row.state,
            str(row.attempts),
            error,
            row.ack_id or "",
        )
    Console().print(table)


@outbox_app.command("replay")
def replay_command(
    ids: Annotated[list[int] | None, typer.Option("--id", help="A dead message to re-queue (repeatable).")] = None,
    all_dead: Annotated[bool, typer.Option("--all-dead", help="Re-queue every dead message.")] = False,
) -> None:
    """Put dead messages back to pending, due now with no attempts; the next delivery sends them."""
    from hub.sharing.outbox import replay

    if bool(ids) == all_dead:
        stderr.print("[red]give --id N (one or more) or --all-dead[/red]")
        raise typer.Exit(2)
    try:
        now = datetime.now(UTC).replace(tzinfo=None)  # the store keeps naive UTC
        replayed = replay(_store(), message_ids=ids or None, all_dead=all_dead, now=now)
    except LgspError as exc:
        stderr.print(f"[red]outbox replay failed:[/red] {exc}")
        raise typer.Exit(2) from exc
    asked = "every dead message" if all_dead else f"{len(set(ids or ())):,} asked"
    stderr.print(f"re-queued {replayed:,} dead message(s) ({asked}; messages that were not dead are left as they are)")


@outbox_app.command("deliver")
def deliver_command(
    limit: Annotated[int | None, typer.Option(min=0, help="At most this many calls to the portal.")] = None,
) -> None:
    """Deliver the due messages to the portal now (endpoint from LGSP_PORTAL_* or Airflow); prints the counts."""
    from hub.sharing.delivery import deliver

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        summary = deliver(_store(), load_settings(), limit=limit)
    except LgspError as exc:
        stderr.print(f"[red]outbox delivery failed:[/red] {exc}")
        raise typer.Exit(2) from exc
    sys.stdout.write(json.dumps(summary.as_dict(), indent=2) + "\n")
