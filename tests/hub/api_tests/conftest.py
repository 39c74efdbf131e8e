"""Fixtures: the real API app over a real store, with the demo agencies loaded and a movable clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from api_support import Api, Clock
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from hub.api.app import build_app
from hub.settings import load_settings


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_api(
    store_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: Clock
) -> Iterator[Callable[..., Api]]:
    """``make_api(sharing_config=None, engine=None)``: an Api over a TestClient of a freshly built app."""
    for name in (
        "LGSP_API_SIGNING_KEY",
        "LGSP_LEDGER_KEY",
        "LGSP_SHARING_CONFIG",
        "LGSP_DEMO",
        "LGSP_API_TOKEN_SECONDS",
    ):
        monkeypatch.delenv(name, raising=False)
    clients: list[TestClient] = []

    def make(sharing_config: Path | None = None, engine: Engine | None = None) -> Api:
        settings = load_settings(home=tmp_path / "home", sharing_config=sharing_config)
        store = engine or store_engine
        client = TestClient(build_app(settings, store, clock=clock))
        client.__enter__()  # one event loop for the test, not one per request
        clients.append(client)
        return Api(client, store, clock)

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def api(make_api: Callable[..., Api]) -> Api:
    return make_api()


@pytest.fixture(scope="module")
def shared_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One app for a whole module, for tests that only read (the hostile-input battery)."""
    from sqlalchemy import create_engine

    from hub.store.reference import seed_admin_units
    from hub.store.tables import metadata

    home = tmp_path_factory.mktemp("shared")
    engine = create_engine(f"sqlite:///{home / 'hub.sqlite'}")
    metadata.create_all(engine)
    with engine.begin() as conn:
        seed_admin_units(conn)
    with pytest.MonkeyPatch.context() as patch:
        for name in (
            "LGSP_API_SIGNING_KEY",
            "LGSP_LEDGER_KEY",
            "LGSP_SHARING_CONFIG",
            "LGSP_DEMO",
            "LGSP_API_TOKEN_SECONDS",
        ):
            patch.delenv(name, raising=False)
        clock = Clock()
        with TestClient(build_app(load_settings(home=home / "home"), engine, clock=clock)) as client:
            yield Api(client, engine, clock)
    engine.dispose()
