"""The lgsp commands a data engineer types, against a real store filled by a real sync."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hub.cli import app


@pytest.fixture
def synced_home(mock_server: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    server = mock_server(defect_rate=0.05)
    monkeypatch.setenv("LGSP_HOME", str(tmp_path))
    monkeypatch.delenv("LGSP_DATABASE_URL", raising=False)
    monkeypatch.setenv("LGSP_POPULATION_URL", f"{server.base_url}/population")
    monkeypatch.setenv("LGSP_POPULATION_USERNAME", "lgsp-demo")
    monkeypatch.setenv("LGSP_POPULATION_PASSWORD", "demo-only-password")
    result = CliRunner().invoke(app, ["sync", "population", "--run-id", "cli-test"])
    assert result.exit_code == 0, result.output
    assert '"quarantined"' in result.output
    return tmp_path


def test_quarantine_lists_rules_and_masks_ids(synced_home: Path) -> None:
    result = CliRunner().invoke(app, ["quarantine", "--limit", "100"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "personal_id.unique_in_run" in result.output and "records held" in result.output
    assert not re.search(r"\d{12}", result.output)  # no full personal id on screen


def test_report_builds_the_site_and_prints_its_index(synced_home: Path) -> None:
    result = CliRunner().invoke(app, ["report"])
    assert result.exit_code == 0, result.output
    index = Path(result.stdout.strip().splitlines()[-1])
    assert index == (synced_home / "reports" / "index.html").resolve() and index.is_file()
    assert "cli-test" in (synced_home / "reports" / "datasets" / "citizen.html").read_text(encoding="utf-8") or any(
        "cli-test" in p.name for p in (synced_home / "reports" / "runs").iterdir()
    )
    assert (synced_home / "reports" / "en" / "index.html").is_file()


def test_report_on_an_unreachable_store_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LGSP_HOME", str(tmp_path))
    monkeypatch.setenv("LGSP_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    result = CliRunner().invoke(app, ["report"])
    assert result.exit_code == 2 and "store" in result.output
    assert not (tmp_path / "reports").exists()


def test_status_shows_the_run(synced_home: Path) -> None:
    result = CliRunner().invoke(app, ["status"], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "cli-test" in result.output and "published" in result.output


def test_sync_without_an_endpoint_says_what_to_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LGSP_HOME", str(tmp_path))
    for name in ("LGSP_POPULATION_URL", "AIRFLOW_CONN_NATIONAL_POPULATION", "LGSP_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(app, ["sync", "population"])
    assert result.exit_code == 2
    assert "AIRFLOW_CONN_NATIONAL_POPULATION" in result.output
