"""Freshness against a flow's schedule: how many scheduled runs went by since the last good one."""

from __future__ import annotations

from datetime import datetime

from hub.orchestration.schedules import SCHEDULES, missed_runs


def test_a_run_within_the_last_interval_is_fresh() -> None:
    assert missed_runs("@hourly", datetime(2026, 12, 1, 9, 30), datetime(2026, 12, 1, 10, 36)) == 0


def test_every_tick_beyond_the_one_in_progress_is_a_missed_run() -> None:
    assert missed_runs("*/15 * * * *", datetime(2026, 12, 1, 9, 30), datetime(2026, 12, 1, 10, 36)) == 3
    assert missed_runs("@hourly", datetime(2026, 11, 30, 10, 0), datetime(2026, 12, 1, 10, 0)) == 23


def test_a_flow_that_never_succeeded_has_no_freshness() -> None:
    assert missed_runs("@hourly", None, datetime(2026, 12, 1)) is None


def test_every_dag_reads_its_schedule_from_the_table() -> None:
    from pathlib import Path

    dags = Path(__file__).resolve().parents[2] / "dags"
    for flow in SCHEDULES:
        assert f'SCHEDULES["{flow}"]' in (dags / f"{flow}.py").read_text(encoding="utf-8"), flow
