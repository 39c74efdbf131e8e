"""A running Airflow through its REST API (``/api/v2``): log in, wait until healthy, trigger and follow runs."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from hub.local.airflow.supervisor import ClusterError, Supervisor

COMPONENTS = ("metadatabase", "scheduler", "dag_processor", "triggerer")  # as /api/v2/monitor/health names them


TERMINAL = ("success", "failed")


@dataclass
class Cluster:
    """A running Airflow: where it answers, who may log in, and calls to its REST API (``/api/v2``)."""

    base_url: str
    username: str
    password: str = field(repr=False)
    supervisor: Supervisor = field(repr=False)
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=60.0), repr=False)  # > SQLite's 30 s
    _token: str | None = field(default=None, init=False, repr=False)

    @property
    def logs(self) -> dict[str, Path]:
        """Each process's log file."""
        return self.supervisor.logs

    def token(self, *, renew: bool = False) -> str:
        """A JWT for the admin from SimpleAuthManager's ``POST /auth/token`` (kept until refused).

        Raises:
            ClusterError: the login was refused.
        """
        if self._token is None or renew:
            answer = self._send("POST", "/auth/token", json={"username": self.username, "password": self.password})
            if answer.status_code != 201:
                raise ClusterError(
                    f"Airflow refused the login of {self.username}: {answer.status_code} {answer.text[:200]}"
                )
            self._token = str(answer.json()["access_token"])
        return self._token

    def api(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        expect: Iterable[int] = (200,),
    ) -> Any:
        """An authenticated call; the JSON answer (None if empty). A refused token is renewed once.

        Raises:
            ClusterError: the answer's status is not in ``expect`` (the message carries the body).
            ProcessDied: the api-server (or another process) is gone.
        """
        answer = self._send(method, path, json=json, params=params, token=self.token())
        if answer.status_code == 401:
            answer = self._send(method, path, json=json, params=params, token=self.token(renew=True))
        if answer.status_code not in set(expect):
            raise ClusterError(f"{method} {path}: {answer.status_code} {answer.text[:500]}")
        return answer.json() if answer.content else None

    def _send(self, method: str, path: str, *, token: str | None = None, **options: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            return self.client.request(method, self.base_url + path, headers=headers, **options)
        except httpx.TransportError as exc:
            self.supervisor.check()  # a dead api-server explains itself better than a refused connection
            raise ClusterError(f"{method} {path}: {type(exc).__name__} from the api-server at {self.base_url}") from exc

    def wait_healthy(self, timeout: float, components: Sequence[str] = COMPONENTS) -> dict[str, Any]:
        """Poll ``/api/v2/monitor/health`` until it answers with ``components`` healthy (default: all four).

        Raises:
            ClusterError: not healthy in time (the message carries the last answer and where the logs are).
            ProcessDied: a process exited meanwhile.
        """
        last: Any = "no answer"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.supervisor.check()
            with contextlib.suppress(httpx.TransportError, ValueError):
                answer = self.client.get(f"{self.base_url}/api/v2/monitor/health", timeout=5.0)
                last = answer.json() if answer.status_code == 200 else f"{answer.status_code} {answer.text[:200]}"
                if isinstance(last, dict) and all(
                    (last.get(part) or {}).get("status") == "healthy" for part in components
                ):
                    return last
            time.sleep(0.5)
        raise ClusterError(f"Airflow was not healthy after {timeout:.0f} s: {last}; logs in {self.supervisor.log_dir}")

    def wait_for_dags(self, dag_ids: Iterable[str], timeout: float, patience: float = 20.0) -> None:
        """Poll until the dag-processor has parsed and stored every one of ``dag_ids``.

        A DAG file that fails to import ends the wait ``patience`` seconds after its error
        shows (the other files have been parsed by then), not at ``timeout``.

        Raises:
            ClusterError: some are missing (the import errors are quoted).
            ProcessDied: a process exited meanwhile.
        """
        wanted = set(dag_ids)
        deadline = time.monotonic() + timeout
        while True:
            self.supervisor.check()
            missing = wanted - set(self.dag_ids())
            if not missing:
                return
            errors = self.api("GET", "/api/v2/importErrors")["import_errors"]
            if errors:
                deadline = min(deadline, time.monotonic() + patience)
            if time.monotonic() > deadline:
                quoted = "; ".join(f"{error['filename']}: {error['stack_trace'][-400:]}" for error in errors)
                raise ClusterError(
                    f"DAGs not parsed: {', '.join(sorted(missing))}"
                    f"{'. Import errors: ' + quoted if quoted else ''}; "
                    f"see {self.supervisor.log_dir / 'dag-processor.log'}"
                )
            time.sleep(0.5)

    def dag_ids(self) -> list[str]:
        """The DAGs the dag-processor has stored so far."""
        return [dag["dag_id"] for dag in self.api("GET", "/api/v2/dags", params={"limit": 1000})["dags"]]

    def set_pool(self, name: str, slots: int, description: str) -> None:
        """Create the pool, or set its slots and description (a task in a missing pool is never scheduled)."""
        path = f"/api/v2/pools/{quote(name, safe='')}"
        body = {"slots": slots, "description": description, "include_deferred": False}
        answer = self.api("PATCH", path, json={"pool": name, **body}, expect=(200, 404))  # 3.3 wants every field
        if answer is None or answer.get("name") != name:
            self.api("POST", "/api/v2/pools", json={"name": name, **body}, expect=(201,))

    def unpause(self, dag_id: str) -> None:
        """Let the scheduler run the DAG (on its schedule, and the runs triggered by hand)."""
        self.api("PATCH", f"/api/v2/dags/{quote(dag_id)}", json={"is_paused": False})

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        """Start a manual run now; returns its run id (``logical_date`` is required in Airflow 3, and may be null)."""
        run = self.api(
            "POST", f"/api/v2/dags/{quote(dag_id)}/dagRuns", json={"logical_date": None, "conf": dict(conf or {})}
        )
        return str(run["dag_run_id"])

    def run_state(self, dag_id: str, run_id: str) -> str:
        """The run's state now: queued, running, success or failed."""
        run = self.api("GET", f"/api/v2/dags/{quote(dag_id)}/dagRuns/{quote(run_id, safe='')}")
        return str(run["state"])

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float, poll: float = 1.0) -> str:
        """Poll until the run has finished; returns ``success`` or ``failed``.

        Raises:
            ClusterError: still unfinished after ``timeout`` (the message carries its tasks' states).
            ProcessDied: a process exited meanwhile.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.supervisor.check()
            state = self.run_state(dag_id, run_id)
            if state in TERMINAL:
                return state
            time.sleep(poll)
        raise ClusterError(
            f"{dag_id} run {run_id} unfinished after {timeout:.0f} s: {self.task_states(dag_id, run_id)}"
        )

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        """Each task's state in the run, by task id."""
        listing = self.api("GET", f"/api/v2/dags/{quote(dag_id)}/dagRuns/{quote(run_id, safe='')}/taskInstances")
        return {ti["task_id"]: ti["state"] for ti in listing["task_instances"]}
