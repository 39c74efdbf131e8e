"""A store synced from the real mocks, for the report's tests: every flow (the declared ones too), some pushes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from declared_connections import declared_connections
from mock_settings import settings_for
from sqlalchemy import Engine

from hub.pipeline import declared
from hub.settings import Settings
from hub.store.engine import open_store
from hub.systems.loader import load_systems, streams


def synced_store(server: Any, database_url: str, home: Path, *, runs: int = 2) -> tuple[Engine, Settings]:
    """Run every inbound flow ``runs`` times against the mock (the mock's clock moves between runs)."""
    from hub.sharing.registry import load_configured

    settings = settings_for(
        server, database_url, home, portal_url=f"{server.base_url}/portal/v1", portal_api_key="demo-only-key"
    )
    engine = open_store(database_url)
    load_configured(engine, settings)
    with pytest.MonkeyPatch.context() as patch:
        for name, uri in declared_connections(server).items():  # the declared systems' Airflow connections
            patch.setenv(name, uri)
        for n in range(1, runs + 1):
            if n > 1:  # the mock's change feed moves on: the next runs read what changed meanwhile
                httpx.post(f"{server.base_url}/population/_admin/clock", json={"advance_days": 20}).raise_for_status()
            for stream in streams(load_systems()):  # in lgsp run's order; the dossiers' route and deliver too
                declared.sync(f"{stream.dag_id}:t{n}", settings, engine, stream=stream.qualified)
                declared.followups(f"{stream.dag_id}:t{n}", settings, engine, stream=stream.qualified)
    return engine, settings
