"""A real Airflow on this machine: api-server, scheduler, dag-processor and triggerer, each its own process.

With ``executor="celery"`` also Redis and N Celery workers (`hub.local.airflow.celery_cluster`).

``lgsp run`` runs every DAG in-process (``dag.test()``, `hub.local.airflow.in_process`); this runs
Airflow the way a deployment does, so the scheduler, the LocalExecutor, the execution API
the tasks report to, the REST API and the UI are the real ones::

    with airflow_cluster(home, env_extra=connections, port=0) as cluster:
        cluster.wait_for_dags([dag_id], timeout=120)
        cluster.unpause(dag_id)
        run_id = cluster.trigger(dag_id)
        assert cluster.wait_for_run(dag_id, run_id, timeout=300) == "success"

On entry: ``airflow db migrate``, then the four processes in their own process groups
(so a Ctrl-C in the terminal reaches us, not them), each logging to
``LGSP_HOME/airflow/logs/<process>.log``, until the health endpoint reports every one
alive (the scheduler last, once the API answers and the pools of
``hub.orchestration.schedules.POOLS`` exist: tasks report to the API). On exit, however the block ends,
`Supervisor.stop` ends them all. Every wait checks the processes first, so a component
that dies surfaces at once as `ProcessDied`, naming it and its log, instead of as a timeout.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from hub.local.airflow import celery_cluster, preload
from hub.local.airflow.environment import USERNAME, cluster_environment
from hub.local.airflow.in_process import migrate_metadata_db
from hub.local.airflow.rest import Cluster
from hub.local.airflow.supervisor import Supervisor
from hub.orchestration import schedules
from lgsp.errors import ConfigError

# Each component, in the order they start: its arguments, the signal that stops it the way it is built to
# stop, and when it stops. SIGINT is what a Ctrl-C in a terminal sends: the LocalExecutor's workers ignore
# it and finish their tasks, the triggerer stops its trigger runner. The api-server stops last: running
# tasks report to its execution API until the end (and it leaves on SIGTERM; after SIGINT it lingers).
# The scheduler starts last, once the API answers (see `airflow_cluster`).
PROCESSES: dict[str, tuple[tuple[str, ...], signal.Signals, int]] = {
    "api-server": (("api-server",), signal.SIGTERM, 1),  # host and port from AIRFLOW__API__HOST/PORT
    # Every component runs on this machine and the api-server reads task logs from disk, so the
    # log servers (which would listen on every interface, ports 8793/8794) are not started.
    "dag-processor": (("dag-processor",), signal.SIGINT, 0),
    "triggerer": (("triggerer", "--skip-serve-logs"), signal.SIGINT, 0),
    "scheduler": (("scheduler", "--skip-serve-logs"), signal.SIGINT, 0),
}


@contextmanager
def airflow_cluster(
    home: Path,
    *,
    env_extra: Mapping[str, str] | None = None,
    port: int = 8080,
    host: str = "127.0.0.1",
    metadata_db: str | None = None,
    executor: str = "local",
    workers: int = 2,
    ready_timeout: float = 180.0,
    grace: float = 20.0,
) -> Iterator[Cluster]:
    """Migrate the metadata DB, run the four Airflow processes until the block ends, yield them healthy.

    The pools of ``hub.orchestration.schedules.POOLS`` are created (or resized) before the scheduler starts.

    ``executor="celery"`` (PostgreSQL only) also runs Redis first and ``workers`` Celery
    workers last (`hub.local.airflow.celery_cluster`), yielded once each answers a ping.

    ``port`` 0 picks a free one. The processes stop however the block ends, and if starting
    fails: within ``grace`` seconds, then SIGKILL (`Supervisor.stop`).

    Raises:
        ConfigError: a setting is wrong, the port is taken, or ``airflow db migrate`` failed.
        ClusterError: Airflow was not healthy within ``ready_timeout`` seconds.
        ProcessDied: a process exited while starting.
    """
    from hub.local.mock_process import free_port

    celery = check_executor(executor, workers, metadata_db)
    if celery and metadata_db is None:
        raise ConfigError("the Celery cluster runs on PostgreSQL: pass its URL as metadata_db")
    port = port or free_port()
    _check_free(host, port)
    env, password = cluster_environment(home, host=host, port=port, metadata_db=metadata_db, env_extra=env_extra)
    # GX imported once per worker process, before it forks its tasks; the caller's word is still last.
    env.update(preload.celery_environment() if celery else preload.local_executor_environment())
    env.update(env_extra or {})
    supervisor = Supervisor(Path(env["AIRFLOW_HOME"]) / "logs", env)
    cluster = Cluster(
        base_url=env["AIRFLOW__API__BASE_URL"].rstrip("/"), username=USERNAME, password=password, supervisor=supervisor
    )
    try:
        if celery:
            broker = celery_cluster.start_redis(supervisor, Path(env["AIRFLOW_HOME"]) / "redis", free_port())
            env.update(celery_cluster.celery_environment(broker, workers))
            env.update(env_extra or {})  # the caller's word is last, as in cluster_environment
            supervisor.env = dict(env)
        migrate_metadata_db(env)  # every component refuses to start on an unmigrated database
        for name, (arguments, stop_signal, stop_order) in PROCESSES.items():
            if name == "scheduler":
                # Tasks report to the api-server's execution API, and a task in a missing pool is never
                # scheduled; after a restart the scheduler resumes the runs it left at once.
                cluster.wait_healthy(ready_timeout, components=("metadatabase",))
                # The hub's and the declared; the push pool a slot per lane the workers map (their LGSP_PUSH_LANES).
                for pool, (slots, description) in schedules.pools(env.get("LGSP_PUSH_LANES")).items():
                    cluster.set_pool(pool, slots, description)
            supervisor.start(name, [sys.executable, "-m", "airflow", *arguments], stop_signal, stop_order)
        if celery:
            # SIGTERM is Celery's warm shutdown: the running tasks finish, no new one starts.
            for name, arguments, own in celery_cluster.worker_processes(workers):
                supervisor.start(name, [sys.executable, "-m", "airflow", *arguments], signal.SIGTERM, 0, own)
        cluster.wait_healthy(ready_timeout)
        if celery:
            nodes = [celery_cluster.node_name(index) for index in range(1, workers + 1)]
            celery_cluster.wait_for_workers(supervisor, env["AIRFLOW__CELERY__BROKER_URL"], nodes, ready_timeout)
        yield cluster
    finally:
        cluster.client.close()
        supervisor.stop(grace)


EXECUTORS = ("local", "celery")


def check_executor(executor: str, workers: int, metadata_db: str | None = None) -> bool:
    """True for Celery; refuse what Airflow would refuse minutes later (Celery on SQLite, no worker).

    Raises:
        ConfigError: an unknown executor, fewer than one worker, or Celery on a metadata DB that is not PostgreSQL.
    """
    if executor not in EXECUTORS:
        raise ConfigError(f"--executor must be one of {', '.join(EXECUTORS)}, not {executor!r}")
    if executor != "celery":
        return False
    if workers < 1:
        raise ConfigError("the Celery cluster needs at least one worker")
    if metadata_db is not None and not metadata_db.startswith(("postgresql", "postgres:")):
        raise ConfigError("the Celery cluster runs on PostgreSQL: --metadata-db postgresql+psycopg://USER:PW@HOST/DB")
    return True


def _check_free(host: str, port: int) -> None:
    """Fail at once, and clearly, when the port is taken (the api-server would die on it a minute later)."""
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {host}:{port} ({exc.strerror}): pass another --port (0: a free one)"
            ) from exc
