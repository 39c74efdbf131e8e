"""The declared systems' Airflow connections, pointed at a running mock server with its demo credentials."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from hub.systems.loader import load_systems


def declared_connections(server: Any) -> dict[str, str]:
    """``AIRFLOW_CONN_<ID>`` -> URI of each declared system on ``server`` (its ``demo.path``)."""
    netloc = urlsplit(server.base_url).netloc
    found = {}
    for system in load_systems():
        login, secret = server.settings.demo_credentials()[system.decl.connection]
        assert system.decl.demo is not None, f"{system.decl.system} declares no demo path"
        found[f"AIRFLOW_CONN_{system.decl.connection.upper()}"] = (
            f"http://{login}:{secret.get_secret_value()}@{netloc}{system.decl.demo.path}"
        )
    return found


def sync_declared(server: Any, stream: str, run_id: str, settings: Any, engine: Any, *, followups: bool = False) -> Any:
    """``hub.pipeline.declared.sync`` of ``stream`` with the declared connections pointed at ``server``.

    ``followups``: then run the stream's ``then:`` tasks too (as ``lgsp sync`` does).
    """
    import pytest

    from hub.pipeline import declared

    with pytest.MonkeyPatch.context() as patch:
        for name, uri in declared_connections(server).items():
            patch.setenv(name, uri)
        summary = declared.sync(run_id, settings, engine, stream=stream)
        if followups:
            declared.followups(run_id, settings, engine, stream=stream)
        return summary


def connect_declared(monkeypatch: Any, server: Any) -> None:
    """Point every declared system's connection at ``server`` for the rest of the test."""
    for name, uri in declared_connections(server).items():
        monkeypatch.setenv(name, uri)
