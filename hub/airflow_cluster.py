"""A real Airflow on this machine: api-server, scheduler, dag-processor and triggerer, each its own process.

``lgsp run`` runs every DAG in-process (``dag.test()``); this runs Airflow the way a
deployment does, so the scheduler, the LocalExecutor, the execution API the tasks
report to, the REST API and the UI are the real ones::

    with airflow_cluster(home, env_extra=connections, port=0) as cluster:
        cluster.wait_for_dags(["population_sync"], timeout=120)
        cluster.unpause("population_sync")
        run_id = cluster.trigger("population_sync")
        assert cluster.wait_for_run("population_sync", run_id, timeout=300) == "success"

On entry: ``airflow db migrate``, then the four processes in their own process groups
(so a Ctrl-C in the terminal reaches us, not them), each logging to
``LGSP_HOME/airflow/logs/<process>.log``, until the health endpoint reports every one
alive (the scheduler last, once the API answers and the pools of
``hub.schedules.POOLS`` exist: tasks report to the API). On exit, however the block ends:
each group gets the signal its component stops on, a second signal, then SIGKILL after
a grace period, task processes (Airflow puts those in groups of their own) included.
Every wait checks the processes first, so a component that dies surfaces at once as
`ProcessDied`, naming it and its log, instead of as a timeout.

Errors (both `LgspError`, raised at start-up or while waiting)::

    ClusterError     Airflow did not start, or did not answer as expected; says what and where to look
      ProcessDied    one of the processes exited while it should have been running

``serve_demo`` is ``lgsp airflow``: the mocks, the store and that cluster, until a signal.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from connectors.errors import ConfigError, LgspError
from hub.airflow_local import airflow_environment, migrate_metadata_db
from hub.schedules import POOLS
from hub.settings import Settings

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
COMPONENTS = ("metadatabase", "scheduler", "dag_processor", "triggerer")  # as /api/v2/monitor/health names them
USERNAME = "admin"  # SimpleAuthManager's one user, role admin
PASSWORD_VARIABLE = "LGSP_AIRFLOW_PASSWORD"  # noqa: S105 - the variable's name, not a password
PASSWORDS_FILE = "simple_auth_manager_passwords.json.generated"  # SimpleAuthManager's default name
SECRETS_FILE = "lgsp-secrets.json"  # per-home keys: restarts keep sessions, tokens and encrypted fields
TERMINAL = ("success", "failed")
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_WEAK = {"admin", "airflow", "password", "demo-only-password", "demo-only-key"}


class ClusterError(LgspError):
    """The local Airflow did not start, or did not answer as expected."""


class ProcessDied(ClusterError):
    """One of the supervised processes exited while it should have been running."""

    def __init__(self, name: str, returncode: int | None, log: Path | None) -> None:
        """Name the process, its exit status and its log (with the log's last lines)."""
        if returncode is None:
            status = "is gone"
        elif returncode < 0:
            status = f"was killed by {signal.Signals(-returncode).name}"
        else:
            status = f"exited with status {returncode}"
        where = f"; its log: {log}{_tail(log)}" if log is not None else ""
        super().__init__(f"{name} {status}{where}")
        self.name, self.returncode, self.log = name, returncode, log


def _tail(log: Path, lines: int = 12, width: int = 200) -> str:
    """The log's last lines, each cut to ``width``: usually the error that ended the process."""
    try:
        text = log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    return "".join(f"\n  | {line[:width]}" for line in text)


@dataclass
class _Child:
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    stop_signal: signal.Signals
    stop_order: int
    stopped: bool = False  # its group was killed: never signal that number again (it may be reused)


class Supervisor:
    """Named child processes, each in its own process group with its output in ``<log_dir>/<name>.log``."""

    def __init__(self, log_dir: Path, env: Mapping[str, str] | None = None) -> None:
        """Start nothing yet; children get ``env`` (default: ours)."""
        self.log_dir, self.env = log_dir, dict(env if env is not None else os.environ)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._children: list[_Child] = []

    @property
    def logs(self) -> dict[str, Path]:
        """Each child's log file, by name."""
        return {child.name: child.log for child in self._children}

    @property
    def pids(self) -> list[int]:
        """Each child's process id (also its process group's)."""
        return [child.process.pid for child in self._children]

    def start(
        self, name: str, argv: Sequence[str], stop_signal: signal.Signals = signal.SIGTERM, stop_order: int = 0
    ) -> int:
        """Start ``argv`` as ``name``, in a session of its own (our terminal's signals do not reach it); its pid.

        When stopping, ``stop_signal`` goes to its process group first; children stop in
        ascending ``stop_order``, those of equal order together.
        """
        log = self.log_dir / f"{name}.log"
        with log.open("ab") as out:
            out.write(f"--- {datetime.now(UTC).isoformat(timespec='seconds')} lgsp started {name}\n".encode())
            out.flush()
            process = subprocess.Popen(  # noqa: S603 - our own commands, no shell
                list(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=self.env,
                start_new_session=True,
            )
        self._children.append(_Child(name, process, log, stop_signal, stop_order))
        return process.pid

    def check(self) -> None:
        """Return quietly while every child runs.

        Raises:
            ProcessDied: the first child found exited (name, status, log).
        """
        for child in self._children:
            returncode = child.process.poll()
            if returncode is not None:
                raise ProcessDied(child.name, returncode, child.log)

    def watch(self, stop: threading.Event, *, also: Callable[[], None] | None = None, poll: float = 0.5) -> None:
        """Block until ``stop`` is set; ``also`` is called each round for more checks.

        Raises:
            ProcessDied: a child exited first.
        """
        while not stop.wait(poll):
            self.check()
            if also is not None:
                also()

    def stop(self, grace: float = 20.0) -> None:
        """Stop every child within ``grace`` seconds, in ascending stop order.

        Each order gets an equal share of ``grace``: the stop signal to each child's group,
        SIGTERM after a quarter of the share (3 s at most) to those still running, which is
        how Airflow's components are told not to wait (the api-server lingers after its
        first signal, the triggerer gives its trigger runner 10 s). At the end of the share,
        SIGKILL to the groups and to every descendant noted before the first signal:
        Airflow runs each task in a process group of its own, which no group signal reaches,
        and its scheduler waits for running tasks however often it is told to stop.
        """
        with _signals_deferred():
            trees = {id(child): _descendants(child.process.pid) for child in self._children}
            started = time.monotonic()
            orders = sorted({child.stop_order for child in self._children})
            share = grace / max(len(orders), 1)
            for index, order in enumerate(orders):
                children = [child for child in self._children if child.stop_order == order and not child.stopped]
                tree = [proc for child in children for proc in trees[id(child)]]
                end = started + share * (index + 1)
                for sig, until in ((None, time.monotonic() + min(share / 4, 3.0)), (signal.SIGTERM, end)):
                    for child in children:
                        if child.process.poll() is None:
                            _signal_group(child.process.pid, sig or child.stop_signal)
                    _wait_exit(children, until)
                while _alive(tree) and time.monotonic() < end:  # helpers finishing after their parent
                    time.sleep(0.1)
                _kill(children, tree)

    def __enter__(self) -> Supervisor:
        """Use as a context manager: the children stop when the block ends."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Stop every child."""
        self.stop()


def _kill(children: Iterable[_Child], tree: list[Any]) -> None:
    """SIGKILL to the children's groups and to what is left of their descendants; wait until all are gone."""
    for child in children:
        _signal_group(child.process.pid, signal.SIGKILL)
        child.process.wait()
        child.stopped = True
    leftovers = _alive(tree)
    for proc in leftovers:
        with contextlib.suppress(Exception):
            proc.kill()
    _wait_gone(leftovers, timeout=5.0)


def _wait_exit(children: Iterable[_Child], deadline: float) -> None:
    for child in children:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.process.wait(timeout=max(deadline - time.monotonic(), 0.0))


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _descendants(pid: int) -> list[Any]:
    """psutil processes below ``pid`` (empty if it is gone); psutil comes with Airflow."""
    import psutil

    try:
        return list(psutil.Process(pid).children(recursive=True))
    except psutil.Error:
        return []


def _alive(procs: Iterable[Any]) -> list[Any]:
    import psutil

    living = []
    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                living.append(proc)
        except psutil.Error:
            continue
    return living


def _wait_gone(procs: list[Any], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _alive(procs) and time.monotonic() < deadline:
        time.sleep(0.05)


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """While stopping, a second Ctrl-C must not leave half the processes running: hold SIGINT/SIGTERM."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, _frame: caught.append(signum))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if caught:
        raise KeyboardInterrupt


# --- configuration: one environment for every process ---


def cluster_environment(
    home: Path,
    *,
    host: str = "127.0.0.1",
    port: int,
    metadata_db: str | None = None,
    env_extra: Mapping[str, str] | None = None,
) -> tuple[dict[str, str], str]:
    """The environment of every process and the admin's password (``LGSP_AIRFLOW_PASSWORD`` or generated).

    Raises:
        ConfigError: the metadata DB URL is not SQLite or PostgreSQL, or a weak password off loopback.
    """
    airflow_home = (home / "airflow").resolve()
    airflow_home.mkdir(parents=True, exist_ok=True)
    keys = _home_secrets(airflow_home)
    password = _admin_password(airflow_home, host)
    local = "[::1]" if host == "::1" else "127.0.0.1"  # tasks reach the execution API on loopback
    shown = local if host in ("0.0.0.0", "::") else f"[{host}]" if ":" in host else host  # noqa: S104
    env = airflow_environment(home, {
        "AIRFLOW__API__HOST": host,
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": os.environ.get("AIRFLOW__API__BASE_URL", f"http://{shown}:{port}"),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{local}:{port}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": keys["jwt_secret"],
        "AIRFLOW__API__SECRET_KEY": keys["api_secret_key"],
        "AIRFLOW__CORE__FERNET_KEY": keys["fernet_key"],
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USERNAME}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(airflow_home / PASSWORDS_FILE),
        # A demo wants a new or edited DAG file seen in seconds, not in Airflow's 5 minutes.
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "10",
        "AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL": "2",
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        "AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL": "300",
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
        # The LocalExecutor forks this many workers at start (32 by default): four flows need four.
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO"),
        **_metadata_db_settings(metadata_db),
    })
    env.update(env_extra or {})
    return env, password


# Four processes write to one SQLite file; Python's 5 s busy timeout is too short for their bursts (a
# scheduler resuming runs after a restart held the lock long enough to fail an api-server request).
# Airflow imports these by name ([database] sql_alchemy_connect_args and its async twin).
SQLITE_CONNECT_ARGS: dict[str, Any] = {"timeout": 30}
SQLITE_CONNECT_ARGS_ASYNC: dict[str, Any] = {"timeout": 30}


def _metadata_db_settings(url: str | None) -> dict[str, str]:
    """``sql_alchemy_conn`` (and its async twin) for a URL; None keeps the SQLite file under AIRFLOW_HOME."""
    sqlite = {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": f"{__name__}.SQLITE_CONNECT_ARGS",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC": f"{__name__}.SQLITE_CONNECT_ARGS_ASYNC",
    }
    if url is None:
        return sqlite
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception as exc:
        raise ConfigError("--metadata-db is not a database URL (e.g. postgresql+psycopg://USER:PW@HOST/DB)") from exc
    backend = parsed.drivername.split("+", 1)[0]
    if backend in ("postgresql", "postgres"):
        # psycopg 3 is what we install; Airflow would derive asyncpg (not installed) for its async engine,
        # while SQLAlchemy's psycopg dialect serves both the sync and the async engine.
        rendered = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        return {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": rendered, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": rendered}
    if backend == "sqlite" and parsed.database and Path(parsed.database).is_absolute():
        return {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url, **sqlite}
    raise ConfigError("--metadata-db must be PostgreSQL (postgresql+psycopg://...) or SQLite with an absolute path "
                      "(sqlite:////abs/path/airflow.db)")


def _home_secrets(airflow_home: Path) -> dict[str, str]:
    """The JWT secret, the API's session key and the Fernet key of this home, made on first use."""
    from cryptography.fernet import Fernet

    path = airflow_home / SECRETS_FILE
    stored: dict[str, str] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    wanted: dict[str, Callable[[], str]] = {
        "jwt_secret": lambda: secrets.token_urlsafe(48),
        "api_secret_key": lambda: secrets.token_urlsafe(48),
        "fernet_key": lambda: Fernet.generate_key().decode(),
    }
    missing = {name: make() for name, make in wanted.items() if name not in stored}
    if missing:
        stored.update(missing)
        _write_private(path, json.dumps(stored, indent=2) + "\n")
    return stored


def _admin_password(airflow_home: Path, host: str) -> str:
    """``LGSP_AIRFLOW_PASSWORD``, else the one generated for this home before, else a new random one.

    Raises:
        ConfigError: the given password is weak and the API would listen beyond loopback.
    """
    path = airflow_home / PASSWORDS_FILE
    given = os.environ.get(PASSWORD_VARIABLE)
    password = given or _stored_password(path) or secrets.token_urlsafe(12)
    if host not in _LOOPBACK and (len(password) < 12 or password.lower() in _WEAK):
        if given:
            raise ConfigError(f"{PASSWORD_VARIABLE} is too weak for an Airflow listening on {host}: use 12 or more "
                              "characters that are not a published default, or unset it for a generated one")
        password = secrets.token_urlsafe(12)  # a weak one kept from a loopback run does not leave loopback
    _write_private(path, json.dumps({USERNAME: password}) + "\n")
    return password


def _stored_password(path: Path) -> str | None:
    try:
        return str(json.loads(path.read_text(encoding="utf-8"))[USERNAME])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (keys, passwords)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(text)
    path.chmod(0o600)


# --- the running cluster, through its REST API ---


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
                raise ClusterError(f"Airflow refused the login of {self.username}: {answer.status_code} "
                                   f"{answer.text[:200]}")
            self._token = str(answer.json()["access_token"])
        return self._token

    def api(self, method: str, path: str, *, json: Any = None, params: Mapping[str, Any] | None = None,
            expect: Iterable[int] = (200,)) -> Any:
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
                raise ClusterError(f"DAGs not parsed: {', '.join(sorted(missing))}"
                                   f"{'. Import errors: ' + quoted if quoted else ''}; "
                                   f"see {self.supervisor.log_dir / 'dag-processor.log'}")
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
        run = self.api("POST", f"/api/v2/dags/{quote(dag_id)}/dagRuns",
                       json={"logical_date": None, "conf": dict(conf or {})})
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
        raise ClusterError(f"{dag_id} run {run_id} unfinished after {timeout:.0f} s: "
                           f"{self.task_states(dag_id, run_id)}")

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        """Each task's state in the run, by task id."""
        listing = self.api("GET", f"/api/v2/dags/{quote(dag_id)}/dagRuns/{quote(run_id, safe='')}/taskInstances")
        return {ti["task_id"]: ti["state"] for ti in listing["task_instances"]}


@contextmanager
def airflow_cluster(
    home: Path,
    *,
    env_extra: Mapping[str, str] | None = None,
    port: int = 8080,
    host: str = "127.0.0.1",
    metadata_db: str | None = None,
    ready_timeout: float = 180.0,
    grace: float = 20.0,
) -> Iterator[Cluster]:
    """Migrate the metadata DB, run the four Airflow processes until the block ends, yield them healthy.

    The pools of ``hub.schedules.POOLS`` are created (or resized) before the scheduler starts.

    ``port`` 0 picks a free one. The processes stop however the block ends, and if starting
    fails: within ``grace`` seconds, then SIGKILL (`Supervisor.stop`).

    Raises:
        ConfigError: a setting is wrong, the port is taken, or ``airflow db migrate`` failed.
        ClusterError: Airflow was not healthy within ``ready_timeout`` seconds.
        ProcessDied: a process exited while starting.
    """
    from hub.mock_process import free_port

    port = port or free_port()
    _check_free(host, port)
    env, password = cluster_environment(home, host=host, port=port, metadata_db=metadata_db, env_extra=env_extra)
    migrate_metadata_db(env)  # every component refuses to start on an unmigrated database
    supervisor = Supervisor(Path(env["AIRFLOW_HOME"]) / "logs", env)
    cluster = Cluster(base_url=env["AIRFLOW__API__BASE_URL"].rstrip("/"), username=USERNAME, password=password,
                      supervisor=supervisor)
    try:
        for name, (arguments, stop_signal, stop_order) in PROCESSES.items():
            if name == "scheduler":
                # Tasks report to the api-server's execution API, and a task in a missing pool is never
                # scheduled; after a restart the scheduler resumes the runs it left at once.
                cluster.wait_healthy(ready_timeout, components=("metadatabase",))
                for pool, (slots, description) in POOLS.items():
                    cluster.set_pool(pool, slots, description)
            supervisor.start(name, [sys.executable, "-m", "airflow", *arguments], stop_signal, stop_order)
        cluster.wait_healthy(ready_timeout)
        yield cluster
    finally:
        cluster.client.close()
        supervisor.stop(grace)


def _check_free(host: str, port: int) -> None:
    """Fail at once, and clearly, when the port is taken (the api-server would die on it a minute later)."""
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror}): pass another --port "
                              "(0: a free one)") from exc


# --- lgsp airflow ---


def serve_demo(
    settings: Settings,
    *,
    port: int = 8080,
    host: str = "127.0.0.1",
    metadata_db: str | None = None,
    citizens: int = 20_000,
    seed: int = 42,
    defect_rate: float = 0.02,
    say: Callable[[str], None] = print,
    on_ready: Callable[[Cluster], None] | None = None,
) -> None:
    """``lgsp airflow``: the mocks, the store with config/sharing in force, a real Airflow; until SIGINT or SIGTERM.

    Every DAG is unpaused once parsed, so the scheduler starts each flow on its schedule
    (the clock flows at once, for the interval that has just ended).

    Raises:
        ProcessDied: a process (or the mocks) exited; the others were stopped.
        ClusterError, ConfigError, StoreError: it could not start.
    """
    from hub.demo_connections import demo_connections
    from hub.mock_process import free_port, mocks_running
    from hub.schedules import SCHEDULES
    from hub.sharing.registry import load_configured
    from hub.store.engine import open_store

    started = time.monotonic()
    database_url = settings.resolved_database_url()
    engine = open_store(database_url)  # migrated before any task opens it
    try:
        load_configured(engine, settings)  # agencies and agreements in force before anything is shared
        say(f"starting the mocks ({citizens:,} residents) and migrating Airflow's metadata DB ...")
        mocks_port = free_port()
        extra = {
            **demo_connections(f"http://127.0.0.1:{mocks_port}", engine),
            "LGSP_DATABASE_URL": database_url,
            "LGSP_TASK_RETRY_DELAY_SECONDS": "3",  # loopback mocks recover in seconds, not minutes
        }
        with _stop_signals() as stop, ExitStack() as mocks_stack, ThreadPoolExecutor(1) as background:
            # The mocks generate their data while Airflow migrates and starts; they are stopped last.
            starting = background.submit(mocks_stack.enter_context, mocks_running(
                citizens=citizens, seed=seed, defect_rate=defect_rate, port=mocks_port))
            with airflow_cluster(settings.home, env_extra=extra, port=port, host=host,
                                 metadata_db=metadata_db) as cluster:
                mocks = starting.result()
                cluster.wait_for_dags(SCHEDULES, timeout=180)  # every flow has a schedule
                for dag_id in cluster.dag_ids():
                    cluster.unpause(dag_id)
                _announce(cluster, say, time.monotonic() - started, mocks.base_url)
                if on_ready is not None:
                    on_ready(cluster)
                cluster.supervisor.watch(stop, also=lambda: _check_pid("mocks", mocks.pid))
    except KeyboardInterrupt:
        say("stopped: every process it started has ended")
    finally:
        engine.dispose()


@contextmanager
def _stop_signals() -> Iterator[threading.Event]:
    """SIGINT and SIGTERM unwind as KeyboardInterrupt, so either stops every process on the way out.

    SIGINT explicitly too: a shell starts a background job (``lgsp airflow &``) with SIGINT ignored.
    """

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield threading.Event()
        return
    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield threading.Event()  # nobody sets it: the watch ends by an exception
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _check_pid(name: str, pid: int) -> None:
    """Raise ProcessDied if ``pid`` is gone (or a zombie)."""
    import psutil

    try:
        if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
            return
    except psutil.NoSuchProcess:
        pass
    raise ProcessDied(name, None, None)


def _announce(cluster: Cluster, say: Callable[[str], None], seconds: float, mocks_url: str) -> None:
    """What a person needs: where the UI is, how to log in, where the logs are."""
    log_dir = cluster.supervisor.log_dir
    kept = log_dir.parent / PASSWORDS_FILE
    origin = f"from {PASSWORD_VARIABLE}" if os.environ.get(PASSWORD_VARIABLE) else f"generated, kept in {kept}"
    say(f"ready after {seconds:.0f} s: every DAG parsed and unpaused, the scheduler runs them on their schedules")
    say(f"Airflow UI:  {cluster.base_url}   login {cluster.username} / {cluster.password} ({origin})")
    say(f"REST API:    {cluster.base_url}/api/v2 (token: POST {cluster.base_url}/auth/token)")
    say(f"mocks:       {mocks_url}")
    say(f"logs:        {log_dir}/{{{','.join(PROCESSES)}}}.log; task logs under {log_dir}/dag_id=*")
    say("Ctrl-C stops everything")
