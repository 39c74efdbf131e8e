"""Fixtures for the mocks' tests: one small data set, one real server on a free loopback port."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from mocks.population.dataset import PopulationDataset
from mocks.server import MockServer
from mocks.settings import MockSettings

CITIZENS, SEED, FEED_DAYS = 800, 11, 10


@pytest.fixture(scope="session")
def population() -> PopulationDataset:
    """800 residents (enough for every defect type), ten days of change feed."""
    return PopulationDataset.generate(CITIZENS, SEED, defect_rate=0.02, feed_days=FEED_DAYS)


@pytest.fixture(scope="session")
def mock_settings() -> MockSettings:
    """Settings matching the `population` fixture, with short fault durations."""
    return MockSettings(
        citizens=CITIZENS,
        seed=SEED,
        feed_days=FEED_DAYS,
        latency_seconds=0.3,
        timeout_seconds=3.0,
        retry_after_seconds=7,
    )


@pytest.fixture(scope="module")
def server(population: PopulationDataset, mock_settings: MockSettings) -> Iterator[MockServer]:
    """The mock server, shared by a test module; `client` resets its clock and faults."""
    with MockServer(mock_settings, population=population) as running:
        yield running


@pytest.fixture
def client(server: MockServer) -> Iterator[httpx.Client]:
    """An httpx client on the server; afterwards the clock is back at EPOCH and no fault is armed."""
    with httpx.Client(base_url=server.base_url, timeout=10.0) as http:
        yield http
        http.delete("/_admin/faults").raise_for_status()
        http.post("/population/_admin/clock", json={"to": "2026-01-01T00:00:00Z"}).raise_for_status()
