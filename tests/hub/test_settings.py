"""Settings: the Airflow connection forms a declared system's endpoint comes from, and demo secrets off loopback."""

from __future__ import annotations

import json

import pytest

from hub.settings import Endpoint, Settings, declared_endpoint, load_settings
from lgsp.errors import ConfigError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "AIRFLOW_CONN_NATIONAL_POPULATION",
        "LGSP_DEMO",
        "LGSP_PAGE_SIZE",
        "AIRFLOW_CTX_DAG_ID",
    ):
        monkeypatch.delenv(name, raising=False)


def population_endpoint(settings: Settings) -> Endpoint:
    """The population database's endpoint, as its declared stream reads it (a login and a secret)."""
    return declared_endpoint(settings, "national_population", needs_login=True)


def test_airflow_connection_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_NATIONAL_POPULATION", "http://user%40x:p%3Ass@10.0.0.5:8443/population")
    endpoint = population_endpoint(load_settings())
    assert endpoint.url == "http://10.0.0.5:8443/population"
    assert (endpoint.username, endpoint.password.get_secret_value()) == ("user@x", "p:ss")
    assert "p:ss" not in repr(endpoint)  # SecretStr


def test_airflow_connection_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_NATIONAL_POPULATION",
        json.dumps(
            {
                "conn_type": "https",
                "host": "nbd.example",
                "port": 443,
                "schema": "population",
                "login": "u",
                "password": "s",
            }
        ),
    )
    assert population_endpoint(load_settings()).url == "https://nbd.example:443/population"


def test_demo_password_is_refused_off_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_NATIONAL_POPULATION", "http://lgsp-demo:demo-only-password@nbd.gov.example/p")
    with pytest.raises(ConfigError, match="demo secret"):
        population_endpoint(load_settings())
    monkeypatch.setenv("LGSP_DEMO", "true")
    assert population_endpoint(load_settings()).url == "http://nbd.gov.example/p"


def test_missing_endpoint_and_bad_values_name_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="AIRFLOW_CONN_NATIONAL_POPULATION"):
        population_endpoint(load_settings())
    monkeypatch.setenv("LGSP_PAGE_SIZE", "5000")
    with pytest.raises(ConfigError, match="LGSP_PAGE_SIZE"):
        load_settings()
    monkeypatch.setenv("LGSP_PAGE_SIZE", "many")
    with pytest.raises(ConfigError, match="LGSP_"):
        load_settings()
