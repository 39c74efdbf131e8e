"""The project's own files: compose stays valid, the README documents the two commands."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_docker_compose_is_valid_and_complete() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "mocks", "airflow"} <= set(services)
    for name, service in services.items():
        assert "image" in service or "build" in service, name
        assert "command" in service or name == "postgres", name
    assert services["airflow"]["environment"]["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/lgsp/dags"
    for volume in services["postgres"]["volumes"]:
        source = volume.split(":", 1)[0]
        if source.startswith("./"):
            assert (ROOT / source).exists(), source


def test_readme_opens_with_the_two_commands() -> None:
    head = (ROOT / "README.md").read_text().split("\n## ", 1)[0]
    assert "make run" in head and "make test" in head
