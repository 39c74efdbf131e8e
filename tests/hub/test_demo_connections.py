"""The demo's Airflow connections to the mocks, derived for every declared system that names a demo path."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from hub.local.demo_connections import declared_connections
from hub.settings import declared_endpoint, load_settings
from hub.systems.loader import DEFAULT_DIR, load_file, load_systems
from mocks.settings import MockSettings


def test_each_declared_system_with_a_demo_path_reaches_its_mock_with_the_mocks_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    systems = load_systems(DEFAULT_DIR)
    credentials = MockSettings().demo_credentials()
    connections = declared_connections("http://127.0.0.1:8123", systems)
    assert len(connections) == len([d for d in systems if d.decl.demo is not None]) >= 2
    for declared in systems:
        decl = declared.decl
        assert decl.demo is not None
        uri = urlsplit(connections[f"AIRFLOW_CONN_{decl.connection.upper()}"])
        login, secret = credentials[decl.connection]
        assert (uri.hostname, uri.port, uri.path) == ("127.0.0.1", 8123, decl.demo.path)
        assert (unquote(uri.username or ""), unquote(uri.password or "")) == (login, secret.get_secret_value())
        monkeypatch.setenv(f"AIRFLOW_CONN_{decl.connection.upper()}", uri.geturl())
        endpoint = declared_endpoint(load_settings(), decl.connection)  # what the sync will read
        assert endpoint.url == f"http://127.0.0.1:8123{decl.demo.path}"


def test_a_system_without_a_demo_path_gets_no_demo_connection(tmp_path: Path) -> None:
    source = sorted(DEFAULT_DIR.glob("*.yaml"))[0]
    copy = tmp_path / source.name
    text = source.read_text(encoding="utf-8")
    copy.write_text("\n".join(line for line in text.splitlines() if not line.startswith("demo:")), encoding="utf-8")
    assert declared_connections("http://127.0.0.1:8123", (load_file(copy),)) == {}
