"""What `lgsp` prints from peers and files is shown as written: never Rich markup, id-shaped runs masked."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, update
from typer.testing import CliRunner

from hub.cli.app import _print_report, app
from hub.sharing.outbox import enqueue
from hub.store.engine import open_store
from hub.store.tables import outbox, sync_run

ROOT = Path(__file__).resolve().parents[2]
ID = "001099012345"
HOSTILE = f"[red]x[/red] [link=http://evil.example]click[/link] {ID}"  # as a peer might answer
NOW = datetime(2026, 1, 10, 2, 0)


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """A store with the sharing config in force (an agency's name in YAML carries markup) and hostile errors."""
    monkeypatch.setenv("LGSP_HOME", str(tmp_path))
    monkeypatch.delenv("LGSP_DATABASE_URL", raising=False)
    config = tmp_path / "sharing"
    shutil.copytree(ROOT / "config" / "sharing", config)
    agencies = config / "agencies.yaml"
    agencies.write_text(
        agencies.read_text(encoding="utf-8").replace("Sở Tư pháp (mô phỏng)", "[bold]Sở Tư pháp[/bold]"),
        encoding="utf-8",
    )
    monkeypatch.setenv("LGSP_SHARING_CONFIG", str(config))
    assert CliRunner().invoke(app, ["agencies", "load"]).exit_code == 0
    engine = open_store(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    with engine.begin() as conn:
        enqueue(conn, topic="push.TU-PHAP", aggregate_id=ID, payload={}, idempotency_key="k1", now=NOW)
        enqueue(conn, topic="portal.dossier_status", aggregate_id="H38.01-1", payload={}, idempotency_key="k2", now=NOW)
        conn.execute(update(outbox).values(state="dead", last_error=HOSTILE))
        conn.execute(
            insert(sync_run).values(
                run_id="r1", stream="population.citizens", status="failed", started_at=NOW, error=HOSTILE
            )
        )
    return engine


def test_the_outbox_shows_a_peers_error_literally_and_masks_ids(store: Engine) -> None:
    result = CliRunner().invoke(app, ["outbox", "list"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "[red]x[/red] [link=http://evil.example]click[/link] 001*******45" in result.output
    assert ID not in result.output and "push.TU-PHAP" in result.output and "H38.01-1" in result.output


def test_status_shows_a_runs_error_literally_and_masks_ids(store: Engine) -> None:
    result = CliRunner().invoke(app, ["status"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "[red]x[/red] [link=http://evil.example]click[/link] 001*******45" in result.output
    assert ID not in result.output


def test_agencies_show_names_from_yaml_literally(store: Engine) -> None:
    result = CliRunner().invoke(app, ["agencies"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "[bold]Sở Tư pháp[/bold]" in result.output


def test_the_run_report_shows_a_flows_error_literally(capsys: pytest.CaptureFixture[str]) -> None:
    flow = {"state": "failed", "read": 0, "published": 0, "quarantined": 0, "unchanged": 0, "rules_failed": {}}
    document = {
        "flows": {"population_sync": {**flow, "error": HOSTILE}},
        "state": {"database": "/tmp/hub.sqlite", "airflow_home": "/tmp/airflow"},
    }
    _print_report(document)
    shown = capsys.readouterr().out
    assert "error: [red]x[/red] [link=http://evil.example]click[/link] 001*******45" in shown
    assert ID not in shown
