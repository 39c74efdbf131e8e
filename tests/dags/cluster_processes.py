"""The processes a local Airflow cluster started, to prove none outlives it (shared by the cluster tests)."""

from __future__ import annotations

from typing import Any

import psutil

from hub.local.airflow.rest import Cluster


def process_tree(cluster: Cluster) -> list[Any]:
    """The cluster's processes and every descendant (the task processes sit in process groups of their own)."""
    procs = []
    for pid in cluster.supervisor.pids:
        try:
            parent = psutil.Process(pid)
            procs += [parent, *parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
    return procs


def survivors(procs: list[Any]) -> list[Any]:
    """Those of ``procs`` still running (a zombie waiting for its parent counts as gone)."""
    return [proc for proc in procs if _alive(proc)]


def _alive(proc: Any) -> bool:
    try:
        return bool(proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False
