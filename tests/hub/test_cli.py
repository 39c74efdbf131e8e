"""The lgsp commands a data engineer types, against a real store filled by a real sync."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hub.cli.app import app

# A personal id shown in full: 12 digits standing alone (hashes are hex: a run inside one is not an id).
FULL_ID = re.compile(r"(?<![0-9a-fA-F])\d{12}(?![0-9a-fA-F])")


@pytest.fixture
def mock(mock_server: Callable[..., Any]) -> Any:
    return mock_server(defect_rate=0.05)


@pytest.fixture
def synced_home(mock: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LGSP_HOME", str(tmp_path))
    monkeypatch.delenv("LGSP_DATABASE_URL", raising=False)
    monkeypatch.setenv("LGSP_POPULATION_URL", f"{mock.base_url}/population")
    monkeypatch.setenv("LGSP_POPULATION_USERNAME", "lgsp-demo")
    monkeypatch.setenv("LGSP_POPULATION_PASSWORD", "demo-only-password")
    loaded = CliRunner().invoke(app, ["agencies", "load"])  # subscriptions in force: the sync queues pushes
    assert loaded.exit_code == 0, loaded.output
    result = CliRunner().invoke(app, ["sync", "population", "--run-id", "cli-test"])
    assert result.exit_code == 0, result.output
    assert '"quarantined"' in result.output
    return tmp_path


LISTINGS = [
    ["status", "--limit", "50"],
    ["quarantine", "--limit", "1000"],
    ["outbox", "list", "--limit", "5000"],
    ["outbox", "list", "--topic", "push.BHXH", "--limit", "5000"],
    ["outbox", "list", "--state", "pending", "--limit", "5000"],
    ["agencies"],
    ["agreements"],
    ["audit", "verify"],
    ["audit", "export"],
    ["audit", "export", "--format", "json"],
]


def test_no_listing_shows_a_personal_id(synced_home: Path) -> None:
    for command in LISTINGS:
        result = CliRunner().invoke(app, command, env={"COLUMNS": "250"})
        assert result.exit_code == 0, (command, result.output)
        assert not FULL_ID.search(result.output), (command, FULL_ID.search(result.output))


def test_the_outbox_lists_agency_pushes_by_topic_with_ids_masked(synced_home: Path) -> None:
    pushes = CliRunner().invoke(app, ["outbox", "list", "--topic", "push.BHXH", "--limit", "3"], env={"COLUMNS": "200"})
    assert pushes.exit_code == 0, pushes.output
    assert "topic" in pushes.output and pushes.output.count("push.BHXH") == 3 and "push.TU-PHAP" not in pushes.output
    assert re.search(r"\d{3}\*{7}\d{2}", pushes.output)  # the aggregate: a personal id, masked
    unknown = CliRunner().invoke(app, ["outbox", "list", "--topic", "push.NOBODY"])
    assert unknown.exit_code == 2 and unknown.stdout == ""
    assert "portal.dossier_status" in unknown.stderr and "push.BHXH" in unknown.stderr
    assert "push.NOBODY" in unknown.stderr


def test_outbox_push_delivers_to_the_agencies_as_the_dag_does(
    synced_home: Path, mock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    origin = mock.base_url.split("//", 1)[1]
    monkeypatch.setenv("AIRFLOW_CONN_AGENCY_PUSH_BHXH", f"http://:demo-only-push-secret@{origin}/agency/v1/BHXH/inbox")
    pushed = CliRunner().invoke(app, ["outbox", "push", "--limit", "5"])
    assert pushed.exit_code == 0, pushed.output
    assert json.loads(pushed.stdout)["BHXH"]["acknowledged"] == 5  # TU-PHAP has no connection: it waits
    acknowledged = CliRunner().invoke(
        app, ["outbox", "list", "--state", "acknowledged", "--topic", "push.BHXH"], env={"COLUMNS": "200"}
    )
    assert "acknowledged: 5" in acknowledged.output and not FULL_ID.search(acknowledged.output)


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
