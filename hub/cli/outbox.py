"""``lgsp outbox``: what the hub owes the portal and the agencies; replay dead letters, deliver by hand.

One outbox carries every topic: ``portal.dossier_status`` (dossier statuses to the portal,
aggregate = the dossier code) and ``push.<AGENCY>`` (changed records pushed to a
subscribing agency, aggregate = the record's key, a citizen's personal id: shown masked).
Every command opens the store named by the settings (LGSP_DATABASE_URL, else SQLite under
LGSP_HOME) as it is: none creates or migrates one.
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

from hub.cli.support import PORTAL, cell, existing_store, fail, failures, masked, say
from hub.settings import load_settings
from schemas.personal_id import mask

if TYPE_CHECKING:
    from sqlalchemy import Engine

outbox_app = typer.Typer(
    help="The outbox (portal deliveries and agency pushes): list, replay dead letters, deliver.",
    no_args_is_help=True,
)
_ERROR_WIDTH = 90  # enough for the status and problem type; the full text stays in the store


def _known_topics(engine: Engine) -> list[str]:
    """The portal's topic, a push topic per agency in force, and any other topic the outbox holds."""
    from sqlalchemy import select

    from hub.sharing.delivery import TOPIC
    from hub.sharing.push import topic_for
    from hub.store.tables import agency, outbox

    with engine.connect() as conn:
        held = conn.execute(select(outbox.c.topic).distinct()).scalars().all()
        codes = conn.execute(select(agency.c.agency_code)).scalars().all()
    return sorted({TOPIC, *(topic_for(code) for code in codes), *held})


def _aggregate(topic: str, aggregate_id: str) -> str:
    """The aggregate as an operator may see it: a push's is a personal id (masked whole), a dossier code is not."""
    from hub.sharing.push import TOPIC_PREFIX

    return mask(aggregate_id) if topic.startswith(TOPIC_PREFIX) else aggregate_id


@outbox_app.command("list")
def list_command(
    state: Annotated[str | None, typer.Option(help="Only this state: pending, sent, acknowledged or dead.")] = None,
    topic: Annotated[
        str | None, typer.Option(help="Only this topic: portal.dossier_status or push.<AGENCY> (e.g. push.BHXH).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many messages to show, newest first.")] = 50,
) -> None:
    """Counts per state, then the newest messages: topic, aggregate (ids masked), seq, state, attempts, error, ack."""
    from hub.sharing.outbox import STATES, counts, list_messages

    if state is not None and state not in STATES:
        fail(f"lgsp outbox list: --state must be one of {', '.join(STATES)}")
    with failures("lgsp outbox list"):
        engine = existing_store(load_settings())
        known = _known_topics(engine)
        if topic is not None and topic not in known:
            fail(f"lgsp outbox list: unknown topic {topic!r}: --topic must be one of {', '.join(known)}")
        per_state, rows = counts(engine, topic=topic), list_messages(engine, state, limit, topic=topic)
    summary = "  ".join(f"{name}: {count:,}" for name, count in per_state.items())
    table = Table(
        "id", "topic", "aggregate", "seq", "state", "attempts", "last error", "ack", title=summary, title_justify="left"
    )
    for row in rows:
        table.add_row(
            str(row.message_id),
            cell(row.topic),
            cell(_aggregate(row.topic, row.aggregate_id)),
            str(row.sequence),
            cell(row.state),
            str(row.attempts),
            cell(row.last_error, width=_ERROR_WIDTH),
            cell(row.ack_id),
        )
    Console().print(table)


@outbox_app.command("replay")
def replay_command(
    ids: Annotated[list[int] | None, typer.Option("--id", help="A dead message to re-queue (repeatable).")] = None,
    all_dead: Annotated[bool, typer.Option("--all-dead", help="Re-queue every dead message.")] = False,
) -> None:
    """Put dead messages back to pending, due now with no attempts; the next delivery (or push) sends them."""
    from hub.sharing.outbox import replay

    if bool(ids) == all_dead:
        fail("lgsp outbox replay: give --id N (one or more) or --all-dead")
    with failures("lgsp outbox replay"):
        now = datetime.now(UTC).replace(tzinfo=None)  # the store keeps naive UTC
        replayed = replay(existing_store(load_settings()), message_ids=ids or None, all_dead=all_dead, now=now)
    asked = "every dead message" if all_dead else f"{len(set(ids or ())):,} asked"
    say(f"re-queued {replayed:,} dead message(s) ({asked}; messages that were not dead are left as they are)")


@outbox_app.command("deliver")
def deliver_command(
    limit: Annotated[int | None, typer.Option(min=0, help="At most this many calls to the portal.")] = None,
) -> None:
    """Deliver the due dossier statuses to the portal now (endpoint: LGSP_PORTAL_* or Airflow); prints the counts."""
    from hub.sharing.delivery import deliver

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with failures("lgsp outbox deliver"):
        settings = load_settings()
    with failures("lgsp outbox deliver", settings, (PORTAL,)):
        summary = deliver(existing_store(settings), settings, limit=limit)
    sys.stdout.write(json.dumps(summary.as_dict(), indent=2) + "\n")


@outbox_app.command("push")
def push_command(
    limit: Annotated[int | None, typer.Option(min=0, help="At most this many calls to each agency.")] = None,
) -> None:
    """Push the due changes to every subscribing agency now, as the agency_push DAG does; prints counts per agency.

    Each agency's endpoint and push secret come from its Airflow connection
    (AIRFLOW_CONN_AGENCY_PUSH_<CODE>); an agency without one is skipped, its pushes wait.
    """
    from hub.sharing.delivery import deliver_pushes

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with failures("lgsp outbox push"):
        settings = load_settings()
        summaries = deliver_pushes(existing_store(settings), settings, limit=limit)
    if not summaries:
        say("no agency was pushed to: nothing due, or no agency_push_<code> connection configured")
    document = {code: summary.as_dict() for code, summary in summaries.items()}
    sys.stdout.write(json.dumps(masked(document), indent=2, sort_keys=True) + "\n")
