"""``lgsp sync``: one flow's stages run once, directly, without Airflow."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from hub.cli.support import CIVIL_STATUS, ONE_STOP, POPULATION, PORTAL, Peer, failures, masked, say
from hub.settings import Settings, load_settings

if TYPE_CHECKING:
    from hub.pipeline.runs import RunSummary

sync_app = typer.Typer(help="Run one flow's stages directly, without Airflow.", no_args_is_help=True)


@sync_app.command("population")
def sync_population(
    run_id: Annotated[str | None, typer.Option(help="Resume or repeat this run id.")] = None,
) -> None:
    """Extract, audit and publish the population stream once (endpoint from LGSP_POPULATION_* or Airflow)."""
    from hub.pipeline import population_sync

    _sync_once("lgsp sync population", population_sync.sync, run_id, (POPULATION,))


def _sync_once(
    what: str, sync: Callable[[str, Settings], RunSummary], run_id: str | None, peers: tuple[Peer, ...]
) -> None:
    """Run one flow's three stages and print its counts as JSON; a peer that fails is named with its origin."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_id = run_id or f"cli:{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"
    with failures(what):
        settings = load_settings()
    with failures(what, settings, peers):
        summary = sync(run_id, settings)
    sys.stdout.write(json.dumps(masked({"run_id": run_id, **summary.as_dict()}), indent=2) + "\n")


@sync_app.command("civil-status")
def sync_civil_status(
    run_id: Annotated[str | None, typer.Option(help="Resume or repeat this run id.")] = None,
) -> None:
    """Extract, audit and publish civil-status events once (endpoint from LGSP_CIVIL_STATUS_* or Airflow)."""
    from hub.pipeline import civil_status_sync

    _sync_once("lgsp sync civil-status", civil_status_sync.sync, run_id, (CIVIL_STATUS,))


@sync_app.command("dossiers")
def sync_dossiers(
    run_id: Annotated[str | None, typer.Option(help="Resume or repeat this run id.")] = None,
) -> None:
    """Extract, audit and publish one-stop dossiers once, then route and deliver to the portal."""
    from hub.pipeline import dossier_sync

    def everything(sync_run_id: str, settings: Settings) -> RunSummary:
        summary = dossier_sync.sync(sync_run_id, settings)
        say(f"routing: {dossier_sync.route(sync_run_id, settings).as_dict()}")
        say(f"delivery: {dossier_sync.deliver(sync_run_id, settings).as_dict()}")
        return summary

    _sync_once("lgsp sync dossiers", everything, run_id, (ONE_STOP, PORTAL))
