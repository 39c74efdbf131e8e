"""The supervisor behind ``lgsp airflow``, with trivial children, and the cluster's configuration: seconds."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from hub.local.airflow.celery_cluster import WORKER_ARGUMENTS, node_name, start_redis, worker_arguments
from hub.local.airflow.cluster import airflow_cluster, check_executor
from hub.local.airflow.environment import PASSWORDS_FILE, SECRETS_FILE, cluster_environment
from hub.local.airflow.supervisor import ProcessDied, Supervisor
from hub.local.mock_process import free_port
from lgsp.errors import ConfigError

SLEEP = "import time; time.sleep(60)"


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait_for_file(path: Path, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.05)
    raise AssertionError(f"{path} never written")


def test_a_child_that_dies_is_named_with_its_log_and_the_others_are_stopped(tmp_path: Path) -> None:
    grandchild_pid = tmp_path / "grandchild.pid"
    supervisor = Supervisor(tmp_path / "logs")
    sleeper = supervisor.start(
        "sleeper",
        _python(
            "import subprocess, sys, time\n"
            f"child = subprocess.Popen([sys.executable, '-c', {SLEEP!r}])\n"
            f"open({str(grandchild_pid)!r}, 'w').write(str(child.pid))\n"
            "time.sleep(60)\n"
        ),
    )
    supervisor.start("crasher", _python("import sys, time; time.sleep(0.5); print('boom: bad config'); sys.exit(3)"))
    helper = int(_wait_for_file(grandchild_pid))

    with pytest.raises(ProcessDied) as caught:
        supervisor.watch(threading.Event(), poll=0.1)
    died = caught.value
    assert (died.name, died.returncode, died.log) == ("crasher", 3, tmp_path / "logs" / "crasher.log")
    assert "crasher exited with status 3" in str(died) and "boom: bad config" in str(died)  # the log's tail
    assert not _gone(sleeper)

    started = time.monotonic()
    supervisor.stop(grace=5)
    assert time.monotonic() - started < 4  # the sleeper stops on its first signal
    assert _gone(sleeper) and _gone(helper)


def test_stop_kills_what_ignores_its_signals_and_what_left_the_group(tmp_path: Path) -> None:
    # Like an Airflow task: a descendant in a process group of its own, which no group signal reaches.
    escaped_pid = tmp_path / "escaped.pid"
    stubborn = (
        "import os, signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGINT, signal.SIG_IGN); signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        f"child = subprocess.Popen([sys.executable, '-c', {SLEEP!r}], start_new_session=True)\n"
        f"open({str(escaped_pid)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(60)\n"
    )
    supervisor = Supervisor(tmp_path / "logs")
    pid = supervisor.start("stubborn", _python(stubborn), stop_signal=signal.SIGINT)
    escaped = int(_wait_for_file(escaped_pid))
    supervisor.check()  # running: nothing to report

    started = time.monotonic()
    supervisor.stop(grace=1.0)
    assert 0.9 < time.monotonic() - started < 5
    assert _gone(pid) and _gone(escaped)
    supervisor.stop(grace=1.0)  # again (a context manager's exit after an explicit stop): nothing is signalled


def test_a_child_stopped_by_its_own_signal_ends_cleanly(tmp_path: Path) -> None:
    graceful = (
        "import signal, sys, time\n"
        "def bye(*_):\n"
        "    print('stopping cleanly', flush=True); sys.exit(0)\n"
        "signal.signal(signal.SIGINT, bye)\n"
        "print('up', flush=True)\n"
        "time.sleep(60)\n"
    )
    with Supervisor(tmp_path / "logs") as supervisor:
        supervisor.start("graceful", _python(graceful), stop_signal=signal.SIGINT)
        log = supervisor.logs["graceful"]
        deadline = time.monotonic() + 10
        while "up" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
    assert "stopping cleanly" in log.read_text()  # SIGINT, not SIGKILL
    assert log.read_text().startswith("--- ")  # each start is marked in the log


def test_the_environment_keeps_its_keys_and_password_per_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LGSP_AIRFLOW_PASSWORD", raising=False)
    env, password = cluster_environment(tmp_path, port=8181)
    again, same_password = cluster_environment(tmp_path, port=8282)

    assert password == same_password and len(password) >= 16  # generated once, kept for restarts
    for key in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API__SECRET_KEY"):
        assert env[key] == again[key] and len(env[key]) >= 32
    home = tmp_path / "airflow"
    for name in (SECRETS_FILE, PASSWORDS_FILE):
        assert stat.S_IMODE((home / name).stat().st_mode) == 0o600
    assert json.loads((home / PASSWORDS_FILE).read_text()) == {"admin": password}  # what SimpleAuthManager reads
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] == str(home / PASSWORDS_FILE)
    assert again["AIRFLOW__API__BASE_URL"] == "http://127.0.0.1:8282"
    assert again["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:8282/execution/"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{home / 'airflow.db'}"

    monkeypatch.setenv("LGSP_AIRFLOW_PASSWORD", "admin")
    assert cluster_environment(tmp_path, port=8181)[1] == "admin"  # on loopback, the operator's choice
    with pytest.raises(ConfigError, match="too weak"):
        cluster_environment(tmp_path, host="0.0.0.0", port=8181)
    monkeypatch.delenv("LGSP_AIRFLOW_PASSWORD")
    beyond = cluster_environment(tmp_path, host="0.0.0.0", port=8181)[1]
    assert beyond != "admin" and len(beyond) >= 16  # the weak one kept from loopback stays there


def test_a_postgresql_metadata_db_gets_psycopg_for_both_engines(tmp_path: Path) -> None:
    env, _ = cluster_environment(tmp_path, port=8080, metadata_db="postgresql://airflow:pw@db.example:5432/airflow")
    wanted = "postgresql+psycopg://airflow:pw@db.example:5432/airflow"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == wanted
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"] == wanted  # not asyncpg, which we do not install
    with pytest.raises(ConfigError, match="absolute path"):
        cluster_environment(tmp_path, port=8080, metadata_db="sqlite:///relative.db")
    with pytest.raises(ConfigError, match="PostgreSQL"):
        cluster_environment(tmp_path, port=8080, metadata_db="mysql://x@y/z")


def test_children_stop_in_their_order(tmp_path: Path) -> None:
    # The api-server stops after the scheduler: running tasks report to it until the end.
    recorder = (
        "import signal, sys, time\n"
        "def bye(*_):\n"
        "    print(f'signalled {time.time():.3f}', flush=True); time.sleep(0.3); sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, bye)\n"
        "print('up', flush=True)\n"
        "time.sleep(60)\n"
    )
    supervisor = Supervisor(tmp_path / "logs")
    supervisor.start("last", _python(recorder), stop_order=1)
    supervisor.start("first", _python(recorder), stop_order=0)
    for log in supervisor.logs.values():
        deadline = time.monotonic() + 10
        while "up" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
    supervisor.stop(grace=10)

    def signalled(name: str) -> float:
        line = next(line for line in supervisor.logs[name].read_text().splitlines() if line.startswith("signalled"))
        return float(line.split()[1])

    assert signalled("last") - signalled("first") >= 0.3  # only once the first had exited


def test_a_taken_port_is_refused_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match="another --port"), airflow_cluster(tmp_path, port=port):
            pass
    assert not (tmp_path / "airflow" / "logs").exists()  # nothing was started


def test_kill_ends_one_child_and_its_escaped_task_as_a_lost_machine_would(tmp_path: Path) -> None:
    # A Celery worker's task runs in a process group of its own: a group SIGKILL alone would leave it running.
    escaped_pid = tmp_path / "escaped.pid"
    worker = (
        "import subprocess, sys, time\n"
        f"child = subprocess.Popen([sys.executable, '-c', {SLEEP!r}], start_new_session=True)\n"
        f"open({str(escaped_pid)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(60)\n"
    )
    with Supervisor(tmp_path / "logs") as supervisor:
        victim = supervisor.start("worker1", _python(worker))
        survivor = supervisor.start("worker2", _python(SLEEP))
        escaped = int(_wait_for_file(escaped_pid))
        supervisor.kill("worker1")
        assert _gone(victim) and _gone(escaped) and not _gone(survivor)
        supervisor.check()  # a death asked for is no ProcessDied
        with pytest.raises(KeyError):
            supervisor.kill("worker1")  # its pid may be reused: never signalled again
    assert _gone(survivor)


def test_a_child_gets_its_own_variables_beside_the_shared_ones(tmp_path: Path) -> None:
    code = "import os; print(os.environ['SHARED'], os.environ.get('OWN', '-'), flush=True)"
    with Supervisor(tmp_path / "logs", {**os.environ, "SHARED": "s"}) as supervisor:
        supervisor.start("one", _python(code), env_extra={"OWN": "worker1@host"})
        supervisor.start("two", _python(code))
        for name, expected in (("one", "s worker1@host"), ("two", "s -")):
            deadline = time.monotonic() + 10
            while expected not in supervisor.logs[name].read_text() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert expected in supervisor.logs[name].read_text(), name


def test_the_workers_are_named_nodes_on_the_default_queue() -> None:
    assert worker_arguments(1) == WORKER_ARGUMENTS
    assert worker_arguments(2) == ("celery", "worker", "--celery-hostname", "worker2@%h", "--skip-serve-logs")
    assert "--queues" not in WORKER_ARGUMENTS  # Airflow's default queue, which every task goes to
    assert node_name(2) == f"worker2@{socket.gethostname()}"


@pytest.mark.parametrize(
    ("executor", "workers", "metadata_db", "message"),
    [
        ("kubernetes", 2, None, "must be one of local, celery"),
        ("celery", 0, "postgresql+psycopg://u@/db", "at least one worker"),
        ("celery", 2, "sqlite:////tmp/airflow.db", "runs on PostgreSQL"),
    ],
)
def test_a_cluster_airflow_would_refuse_is_refused_at_once(
    executor: str, workers: int, metadata_db: str | None, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        check_executor(executor, workers, metadata_db)
    assert check_executor("celery", 2, None) is True  # lgsp airflow starts a PostgreSQL of its own
    assert check_executor("local", 0, "sqlite:////tmp/airflow.db") is False


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server (apt-get install redis-server)")
def test_redis_listens_on_loopback_behind_its_password_and_stops_with_the_rest(tmp_path: Path) -> None:
    import redis

    port = free_port()
    with Supervisor(tmp_path / "logs") as supervisor:
        url = start_redis(supervisor, tmp_path / "redis", port)
        password = (tmp_path / "redis" / "password").read_text().strip()
        assert url == f"redis://:{password}@127.0.0.1:{port}/0" and len(password) >= 32
        assert stat.S_IMODE((tmp_path / "redis" / "redis.conf").stat().st_mode) == 0o600
        assert password not in " ".join(psutil.Process(supervisor.pids[0]).cmdline())  # not shown by ps
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=port).ping()
        assert redis.Redis.from_url(url).ping()
    assert _gone(supervisor.pids[0])
    with Supervisor(tmp_path / "again") as again:  # a restart keeps the home's password
        assert start_redis(again, tmp_path / "redis", free_port()).startswith(f"redis://:{password}@")


def test_a_celery_cluster_runs_a_delivery_lane_per_task_slot(monkeypatch: pytest.MonkeyPatch) -> None:
    from hub.local.airflow.celery_cluster import WORKER_CONCURRENCY, celery_environment

    # One worker holds at most WORKER_CONCURRENCY lanes, so with a lane per slot they spread over all workers.
    monkeypatch.delenv("LGSP_PUSH_LANES", raising=False)
    env = celery_environment("redis://:pw@127.0.0.1:1/0", workers=3)
    assert env["LGSP_PUSH_LANES"] == str(3 * WORKER_CONCURRENCY) == env["AIRFLOW__CORE__PARALLELISM"]
    assert celery_environment("redis://:pw@127.0.0.1:1/0", workers=40)["LGSP_PUSH_LANES"] == "64"  # the bound
    monkeypatch.setenv("LGSP_PUSH_LANES", "5")  # the operator's word wins
    assert celery_environment("redis://:pw@127.0.0.1:1/0", workers=3)["LGSP_PUSH_LANES"] == "5"
