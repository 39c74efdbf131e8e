"""The CeleryExecutor's parts on this machine: Redis as the broker and ``airflow celery worker`` processes.

`hub.local.airflow.cluster` starts them under its `Supervisor` when asked for
``executor="celery"``: Debian's ``redis-server`` on loopback, on a free port, with a
password and its own directory (``LGSP_HOME/airflow/redis``); then N workers, each a
Celery node of its own name (``worker<i>@<host>``) on Airflow's default queue. What makes a
worker lost mid-task lose nothing (see `celery_environment`):

* ``task_acks_late`` (the provider's default): a message leaves Redis only once its task
  has ended, so a killed worker's prefetched message is not lost;
* the broker's visibility timeout is as long as the longest task may run: Redis hands an
  unacknowledged message to another worker after it, and a shorter one would run a task
  that is still running a second time;
* so the recovery of a task that was *running* is Airflow's own: its supervisor stops
  heartbeating, the scheduler fails the try after ``task_instance_heartbeat_timeout`` and
  the retry (``LGSP_TASK_RETRIES``) is queued for whichever worker is alive.

What spreads agency_push's delivery lanes (mapped tasks) over every worker: a worker holds at
most ``--concurrency`` × prefetch multiplier (1) unacknowledged messages, and kombu's Redis
transport stops reading the queue while it holds that many (``QoS.can_consume``). With as many
lanes as the cluster has slots (``LGSP_PUSH_LANES`` defaults to workers × `WORKER_CONCURRENCY`,
the push pool is sized from it, parallelism is the same product), the lanes queued at once
cannot all fit on one worker: each lane's message waits in Redis for a worker with a free
slot, and the idle one takes it at once.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from hub.local.airflow.environment import write_private
from hub.local.airflow.supervisor import ClusterError, Supervisor

# The worker's command, as docker-compose.yml's airflow-worker runs it (tests/test_compose.py holds them
# equal). Celery expands %h to this host's name; the log server is not started: the api-server reads
# every task's log from the shared disk (LGSP_HOME here, the airflow-logs volume in Compose).
WORKER_ARGUMENTS: tuple[str, ...] = ("celery", "worker", "--celery-hostname", "worker1@%h", "--skip-serve-logs")
NODE_VARIABLE = "LGSP_CELERY_NODE"  # the task instances' `hostname` on this machine (see node_hostname)
HEARTBEAT_TIMEOUT_SECONDS = 60  # a lost worker's running task is failed, then retried, after this long
VISIBILITY_TIMEOUT_SECONDS = 24 * 3600  # = hub.orchestration.flows.MAX_TIMEOUT_MINUTES: no task outlives it
WORKER_CONCURRENCY = 2  # task slots per worker; two cores here


def worker_arguments(index: int) -> tuple[str, ...]:
    """``airflow`` arguments of worker ``index`` (1-based): `WORKER_ARGUMENTS` with its own node name."""
    arguments = list(WORKER_ARGUMENTS)
    arguments[arguments.index("--celery-hostname") + 1] = f"worker{index}@%h"
    return tuple(arguments)


def node_name(index: int) -> str:
    """Worker ``index``'s Celery node name, %h expanded as Celery expands it."""
    return f"worker{index}@{socket.gethostname()}"


def node_hostname() -> str:
    """``[core] hostname_callable`` of the local cluster: a task instance's ``hostname`` names its worker.

    Every worker here shares one host name; the Celery node name tells them apart. Elsewhere
    (scheduler, api-server, a container) it is Airflow's default, the host's FQDN.
    """
    return os.environ.get(NODE_VARIABLE) or socket.getfqdn()


def redis_binary() -> str:
    """Debian's ``redis-server``.

    Raises:
        ClusterError: it is not installed.
    """
    found = shutil.which("redis-server")
    if found is None:
        raise ClusterError(
            "redis-server not found: the Celery cluster needs Redis as its broker "
            "(Debian/Ubuntu: apt-get install redis-server; .ci/run installs it)"
        )
    return found


def start_redis(supervisor: Supervisor, directory: Path, port: int, timeout: float = 30.0) -> str:
    """Start ``redis-server`` on 127.0.0.1:``port`` under ``supervisor``; its broker URL once it answers.

    Its password and settings live in ``directory/redis.conf`` (owner-only), not on a command
    line that ``ps`` shows; the append-only file in ``directory`` keeps the queue over a restart.

    Raises:
        ClusterError: redis-server is missing or did not answer within ``timeout`` seconds.
        ProcessDied: it exited while starting.
    """
    binary = redis_binary()
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "redis.conf"
    password = _kept_password(directory / "password")
    lines = (
        f"bind 127.0.0.1\nport {port}\nprotected-mode yes\ndir {directory}\nrequirepass {password}\n"
        'save ""\nappendonly yes\ndaemonize no\nlogfile ""\n'
    )
    write_private(config, lines)
    supervisor.start("redis", [binary, str(config)], stop_order=2)  # after the workers and the api-server
    url = f"redis://:{password}@127.0.0.1:{port}/0"
    _wait_for_redis(supervisor, port, password, timeout)
    return url


def _wait_for_redis(supervisor: Supervisor, port: int, password: str, timeout: float) -> None:
    import redis

    client = redis.Redis(host="127.0.0.1", port=port, password=password, socket_timeout=2)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            supervisor.check()
            with contextlib.suppress(redis.RedisError):
                if client.ping():
                    return
            time.sleep(0.2)
    finally:
        client.close()
    raise ClusterError(f"Redis did not answer on 127.0.0.1:{port} within {timeout:.0f} s; log: {supervisor.log_dir}")


def wait_for_workers(supervisor: Supervisor, broker_url: str, names: Iterable[str], timeout: float) -> None:
    """Ping the workers through the broker (``celery inspect ping``) until each of ``names`` answers.

    Raises:
        ClusterError: some did not answer within ``timeout`` seconds.
        ProcessDied: a process exited meanwhile.
    """
    from celery import Celery

    wanted = set(names)
    answered: set[str] = set()
    app = Celery("lgsp-ping", broker=broker_url, set_as_current=False)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            supervisor.check()
            replies = app.control.ping(destination=sorted(wanted - answered), timeout=1.0)
            answered |= {name for reply in replies or [] for name in reply}
            if answered >= wanted:
                return
    finally:
        app.close()
    raise ClusterError(
        f"Celery workers did not answer within {timeout:.0f} s: {', '.join(sorted(wanted - answered))}; "
        f"logs in {supervisor.log_dir}"
    )


def celery_environment(broker_url: str, workers: int) -> dict[str, str]:
    """What every process of a Celery cluster adds to the cluster's environment (see the module's doc)."""
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": broker_url,
        # The result backend is left to the provider: the metadata DB's URL with db+ before it.
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
        "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",  # a lost worker holds no queue of others' tasks
        "AIRFLOW__CELERY__TASK_ACKS_LATE": "True",
        "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT_SECONDS),
        "AIRFLOW__CORE__PARALLELISM": str(max(workers, 1) * WORKER_CONCURRENCY),
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{__name__}.node_hostname",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT_SECONDS),
        # A message Redis holds for a lost worker is not handed on for a day: a task queued to it
        # (prefetched, not started) goes back to the queue after this, not after Airflow's 10 minutes.
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "120",
        # A lane per slot of the cluster, so the lanes spread over every worker (see the module's doc);
        # the pool agency_push is sized from this (hub.orchestration.schedules.hub_pools). Yours wins.
        "LGSP_PUSH_LANES": os.environ.get("LGSP_PUSH_LANES") or str(push_lanes(workers)),
    }


def push_lanes(workers: int) -> int:
    """The delivery lanes a cluster of ``workers`` runs unless told: one per task slot (within the setting's bound)."""
    from hub.settings import MAX_PUSH_LANES

    return min(max(workers, 1) * WORKER_CONCURRENCY, MAX_PUSH_LANES)


def worker_processes(workers: int) -> Sequence[tuple[str, tuple[str, ...], dict[str, str]]]:
    """Each worker's process name, ``airflow`` arguments and own environment."""
    return [
        (f"worker{index}", worker_arguments(index), {NODE_VARIABLE: node_name(index)})
        for index in range(1, workers + 1)
    ]


def _kept_password(path: Path) -> str:
    """The broker's password of this home, made on first use."""
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    password = secrets.token_hex(24)  # hex: safe in a URL and in redis.conf without quoting
    write_private(path, password + "\n")
    return password
