"""A store synced from the real mocks, for the report's tests: every flow, some pushes, one API denial."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine

from hub.pipeline import civil_status_sync, dossier_sync, population_sync
from hub.settings import Settings, load_settings
from hub.store.engine import open_store


def settings_for(server: Any, database_url: str, home: Path) -> Settings:
    """Settings pointing every connector at the mock server, with the mocks' demo credentials."""
    return load_settings(
        home=home, database_url=database_url,
        population_url=f"{server.base_url}/population", population_username="lgsp-demo",
        population_password="demo-only-password",
        civil_status_url=f"{server.base_url}/civil-status/v1", civil_status_client_id="lgsp-demo",
        civil_status_client_secret="demo-only-password",
        one_stop_url=f"{server.base_url}/one-stop/v1", one_stop_api_key="demo-only-key",
        portal_url=f"{server.base_url}/portal/v1", portal_api_key="demo-only-key",
        page_size=200, backoff_seconds=0.01, operation_timeout=5,
    )


def synced_store(server: Any, database_url: str, home: Path, *, runs: int = 2) -> tuple[Engine, Settings]:
    """Run every inbound flow ``runs`` times against the mock (the mock's clock moves between runs)."""
    from hub.sharing.registry import load_configured

    settings = settings_for(server, database_url, home)
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
