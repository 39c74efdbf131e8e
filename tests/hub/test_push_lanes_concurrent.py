"""Lanes delivered at once, as Airflow's mapped tasks run them: every push applied once, each citizen's in order."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_push import load_sharing, pushes, settings_for, sharing_config, sync_with_deaths
from test_push_batches import connect
from test_push_delivery import received, states

from hub.sharing.delivery import deliver_pushes
from hub.sharing.outbox import ACKNOWLEDGED
from hub.store.engine import open_store


def test_two_lanes_twice_over_at_once_apply_every_push_once_and_in_order(
    mock_server: Callable[..., Any], database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = mock_server(citizens=1500)
    settings, engine = settings_for(server, database_url, tmp_path, push_batch_size=50), open_store(database_url)
    load_sharing(engine, settings, sharing_config(tmp_path / "sharing"))
    connect(monkeypatch, server)
    sync_with_deaths(server, settings, engine)  # citizens the second runs changed have two pushes queued
    queued = pushes(engine, "BHXH")
    assert any(len(items) > 1 for items in queued.values())

    # Each lane by two deliverers at once (a retried task beside the first): the claim keeps them apart.
    start, errors = threading.Barrier(4), []

    def run(lane: int) -> None:
        try:
            start.wait()
            deliver_pushes(engine, settings, lane=lane, lanes=2)
        except Exception as exc:  # surfaced below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(lane,)) for lane in (0, 1, 0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    total = sum(len(items) for items in queued.values())
    assert states(engine, "BHXH") == {ACKNOWLEDGED: total}
    arrived: dict[str, list[str]] = defaultdict(list)
    for item in received(server, "BHXH"):  # what the receiver applied, in arrival order: once per push
        arrived[item["payload"]["key"]].append(item["payload"]["run_id"])
    assert arrived == {pid: [payload["run_id"] for payload in items] for pid, items in queued.items()}
    engine.dispose()
