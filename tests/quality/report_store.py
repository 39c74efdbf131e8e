"""A store synced from the real mocks, for the report's tests: every flow, some pushes, one API denial."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from mock_settings import settings_for
from sqlalchemy import Engine

from hub.pipeline import civil_status_sync, dossier_sync, population_sync
from hub.settings import Settings
from hub.store.engine import open_store


def synced_store(server: Any, database_url: str, home: Path, *, runs: int = 2) -> tuple[Engine, Settings]:
    """Run every inbound flow ``runs`` times against the mock (the mock's clock moves between runs)."""
    from hub.sharing.registry import load_configured

    settings = settings_for(
        server, database_url, home, portal_url=f"{server.base_url}/portal/v1", portal_api_key="demo-only-key"
    )
    engine = open_store(database_url)
    load_configured(engine, settings)
    for n in range(1, runs + 1):
        if n > 1:  # the mock's change feed moves on: the next runs read what changed meanwhile
            httpx.post(f"{server.base_url}/population/_admin/clock", json={"advance_days": 20}).raise_for_status()
        population_sync.sync(f"population_sync:t{n}", settings, engine)
        civil_status_sync.sync(f"civil_status_sync:t{n}", settings, engine)
        dossier_sync.sync(f"dossier_sync:t{n}", settings, engine)
        dossier_sync.route(f"dossier_sync:t{n}", settings, engine)
        dossier_sync.deliver(f"dossier_sync:t{n}", settings, engine)
    return engine, settings
