"""Freshness against a flow's schedule: how many scheduled runs went by since the last good one."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import pytest

from hub.orchestration import schedules
from hub.orchestration.schedules import HUB_SCHEDULES, SCHEDULES, missed_runs
from hub.systems.loader import DEFAULT_DIR, load_systems, streams


def test_a_run_within_the_last_interval_is_fresh() -> None:
    assert missed_runs("@hourly", datetime(2026, 12, 1, 9, 30), datetime(2026, 12, 1, 10, 36)) == 0


def test_every_tick_beyond_the_one_in_progress_is_a_missed_run() -> None:
    assert missed_runs("*/15 * * * *", datetime(2026, 12, 1, 9, 30), datetime(2026, 12, 1, 10, 36)) == 3
    assert missed_runs("@hourly", datetime(2026, 11, 30, 10, 0), datetime(2026, 12, 1, 10, 0)) == 23


def test_a_flow_that_never_succeeded_has_no_freshness() -> None:
    assert missed_runs("@hourly", None, datetime(2026, 12, 1)) is None


def test_every_hub_dag_reads_its_schedule_from_the_table() -> None:
    dags = Path(__file__).resolve().parents[2] / "dags"
    for flow in HUB_SCHEDULES:
        assert f'SCHEDULES["{flow}"]' in (dags / f"{flow}.py").read_text(encoding="utf-8"), flow


def test_each_declared_stream_is_scheduled_published_and_reported_as_declared() -> None:
    declared = list(streams(load_systems()))
    assert declared
    for item in declared:
        asset = f"lgsp.{item.stream.dataset}"
        assert SCHEDULES[item.dag_id] == item.stream.schedule
        shared = item.stream.shared_dataset
        # Its dataset, and the one its domain merge changes (civil-status events change citizens).
        also = (f"lgsp.{shared}",) if shared not in (None, item.stream.dataset) else ()
        assert schedules.PUBLISHES[item.dag_id] == (asset, *also)
        assert schedules.ASSETS[asset] == f"x-lgsp://hub/{item.stream.dataset}"
        assert asset in schedules.TRIGGERED_BY["quality_report"]
        assert (asset in schedules.TRIGGERED_BY["agency_push"]) == (shared == item.stream.dataset)
        if shared is not None:
            assert f"lgsp.{shared}" in schedules.TRIGGERED_BY["agency_push"]
    civil = next(item for item in declared if item.stream.dataset == "civil_event")
    assert schedules.PUBLISHES[civil.dag_id] == ("lgsp.civil_event", "lgsp.citizen")
    assert set(SCHEDULES) == set(HUB_SCHEDULES) | {item.dag_id for item in declared}


@pytest.fixture
def systems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the declarations in LGSP_SYSTEMS_DIR, to edit."""
    folder = tmp_path / "systems"
    shutil.copytree(DEFAULT_DIR, folder)
    monkeypatch.setenv("LGSP_SYSTEMS_DIR", str(folder))
    return folder


def test_an_edited_declaration_is_read_again_and_a_broken_one_leaves_the_hubs_flows(systems: Path) -> None:
    path = sorted(systems.glob("*.yaml"))[0]
    item = next(found for found in streams(load_systems(systems)) if found.system.system == path.stem)
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace(f'schedule: "{item.stream.schedule}"', 'schedule: "*/5 * * * *"'), encoding="utf-8")
    assert schedules.schedules()[item.dag_id] == "*/5 * * * *"
    path.write_text(text + "\nnot: [valid", encoding="utf-8")
    assert schedules.schedules() == HUB_SCHEDULES  # the DAG file of the declared streams says why
    assert schedules.declared_streams() == ()
    path.write_text(text, encoding="utf-8")
    assert item.dag_id in schedules.schedules()


def test_declared_pools_join_the_hubs_and_a_clash_is_named() -> None:
    assert schedules.declared_pool_problems({"a": {"x_api": 2}, "b": {"x_api": 2}}) == []
    assert schedules.declared_pool_problems({"a": {"x_api": 2}, "b": {"x_api": 3}}) == [
        ("b", "pool 'x_api' has 3 slot(s) here and 2 in a: make them agree")
    ]
    clash = schedules.declared_pool_problems({"a": {"agency_push": 1}})
    assert clash and clash[0][0] == "a" and "hub's own" in clash[0][1]


def test_the_push_pool_has_a_slot_per_lane_the_setting_asks_for(monkeypatch: pytest.MonkeyPatch) -> None:
    from hub.settings import DEFAULT_PUSH_LANES
    from lgsp.errors import ConfigError

    # Fewer slots than lanes would run the mapped lanes one after another: no parallel delivery.
    monkeypatch.delenv("LGSP_PUSH_LANES", raising=False)
    assert schedules.HUB_POOLS["agency_push"][0] == schedules.POOLS["agency_push"][0] == DEFAULT_PUSH_LANES
    monkeypatch.setenv("LGSP_PUSH_LANES", "6")  # raised after import: read again, as plan_lanes reads it
    assert schedules.HUB_POOLS["agency_push"][0] == schedules.POOLS["agency_push"][0] == 6
    assert schedules.pools("9")["agency_push"][0] == 9  # a cluster's own environment wins
    assert schedules.pools()["national_portal"][0] == 1
    monkeypatch.setenv("LGSP_PUSH_LANES", "0")
    with pytest.raises(ConfigError, match="push_lanes"):
        schedules.pools()
    # A pool's name (what a DAG file checks while parsed) does not read the settings.
    assert "agency_push" in schedules.HUB_POOLS and schedules.HUB_POOLS["national_portal"][0] == 1
    assert list(schedules.HUB_POOLS) == ["national_portal", "agency_push"]


def test_the_pool_file_is_what_airflow_pools_import_reads() -> None:
    import json
    import os
    import subprocess
    import sys

    # docker-compose.yml's airflow-init runs this, then `airflow pools import` of its output.
    env = {**os.environ, "LGSP_PUSH_LANES": "3"}
    printed = subprocess.run(
        [sys.executable, "-m", "hub.orchestration.schedules"], env=env, capture_output=True, text=True, check=True
    ).stdout
    found = json.loads(printed)
    assert found["agency_push"]["slots"] == 3 and found["national_portal"]["slots"] == 1
    assert {pool: (entry["slots"], entry["description"]) for pool, entry in found.items()} == schedules.pools("3")
