"""Settings, the server's routing, and ``lgsp mocks serve`` as a real child process."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from mock_soap_helpers import NS, envelope, list_changed, payload
from pydantic import ValidationError

from mocks.population.dataset import PopulationDataset
from mocks.server import MockServer
from mocks.settings import MockSettings, load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LGSP_MOCK_CITIZENS", "1234")
    monkeypatch.setenv("LGSP_MOCK_PASSWORD", "s3cret-for-test")
    monkeypatch.setenv("LGSP_MOCK_FAULT_RATES", '{"http_503": 0.25}')
    settings = load_settings(seed=9)
    assert (settings.citizens, settings.seed, settings.fault_rates) == (1234, 9, {"http_503": 0.25})
    assert settings.password.get_secret_value() == "s3cret-for-test"
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings.model_dump())


def test_defaults_and_refusals() -> None:
    settings = MockSettings()
    assert (settings.username, settings.citizens, settings.seed, settings.defect_rate, settings.feed_days) == (
        "lgsp-demo",
        20_000,
        42,
        0.02,
        30,
    )
    assert settings.fault_rates == {}
    for bad in ({"citizens": 0}, {"defect_rate": 2.0}, {"fault_rates": {"http_503": 1.5}}, {"fault_rates": {"x": 0.1}}):
        with pytest.raises(ValidationError):
            load_settings(**bad)


def test_population_answers_on_the_bare_path_and_with_a_slash(
    server: MockServer, population: PopulationDataset
) -> None:
    for path in ("/population", "/population/"):
        response = httpx.post(server.base_url + path, content=envelope(list_changed(size=1)))
        assert response.status_code == 200 and payload(response).find(f"{NS}CongDan") is not None
    assert httpx.get(server.base_url + "/population/?wsdl").status_code == 200
    assert server.dataset is population


def test_cli_serves_until_stopped_and_never_prints_the_password() -> None:
    command = [
        sys.executable,
        "-c",
        "from mocks.cli import mocks_app; mocks_app()",
        "serve",
        "--citizens",
        "300",
        "--seed",
        "3",
        "--port",
        "0",
    ]
    child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = child.stdout.readline()
            lines.append(line)
            if line.startswith("READY "):
                break
        base_url = lines[-1].split()[1]
        assert any(f"{base_url}/population?wsdl" in line for line in lines)
        assert any("lgsp-demo" in line for line in lines)
        assert httpx.get(f"{base_url}/population?wsdl").status_code == 200
        assert httpx.post(f"{base_url}/population", content=envelope(list_changed(size=1))).status_code == 200
    finally:
        child.terminate()
        _, errors = child.communicate(timeout=15)
    assert "demo-only-password" not in "".join(lines) + errors
