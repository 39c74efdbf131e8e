"""``lgsp airflow``: the mocks, the store with config/sharing in force and a real Airflow, until a signal."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager

from hub.local.airflow.cluster import airflow_cluster
from hub.local.airflow.environment import PASSWORD_VARIABLE, PASSWORDS_FILE
from hub.local.airflow.rest import Cluster
from hub.local.airflow.supervisor import ProcessDied
from hub.settings import Settings
from lgsp.errors import ConfigError


def serve_demo(
    settings: Settings,
    *,
    port: int = 8080,
    host: str = "127.0.0.1",
    metadata_db: str | None = None,
    citizens: int = 20_000,
    seed: int = 42,
    defect_rate: float = 0.02,
    executor: str = "local",
    workers: int = 2,
    say: Callable[[str], None] = print,
    on_ready: Callable[[Cluster], None] | None = None,
) -> None:
    """``lgsp airflow``: the mocks, the store with config/sharing in force, a real Airflow; until SIGINT or SIGTERM.

    Every DAG is unpaused once parsed, so the scheduler starts each flow on its schedule
    (the clock flows at once, for the interval that has just ended).

    ``executor="celery"`` adds Redis and ``workers`` Celery workers; without ``metadata_db``
    Airflow's metadata then lives in a PostgreSQL of its own (`hub.local.postgres`, in a
    temp dir, gone when it stops): Celery does not run on SQLite.

    Raises:
        ProcessDied: a process (or the mocks) exited; the others were stopped.
        ClusterError, ConfigError, StoreError: it could not start.
    """
    from hub.local.demo_connections import demo_connections
    from hub.local.mock_process import free_port, mocks_running
    from hub.orchestration.schedules import SCHEDULES
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
        with (
            _stop_signals() as stop,
            ExitStack() as mocks_stack,
            ExitStack() as postgres,  # not mocks_stack: the mocks enter that one from another thread
            ThreadPoolExecutor(1) as background,
        ):
            # The mocks generate their data while Airflow migrates and starts; they are stopped last.
            starting = background.submit(
                mocks_stack.enter_context,
                mocks_running(citizens=citizens, seed=seed, defect_rate=defect_rate, port=mocks_port),
            )
            if executor == "celery" and metadata_db is None:
                say("starting a PostgreSQL for Airflow's metadata (Celery does not run on SQLite) ...")
                metadata_db = postgres.enter_context(_own_postgres())
            with airflow_cluster(
                settings.home,
                env_extra=extra,
                port=port,
                host=host,
                metadata_db=metadata_db,
                executor=executor,
                workers=workers,
            ) as cluster:
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
def _own_postgres() -> Iterator[str]:
    """A PostgreSQL in a temp dir for as long as the cluster runs.

    Raises:
        ConfigError: PostgreSQL's server is not installed.
    """
    from hub.local.postgres import find_postgres_bindir, throwaway_postgres

    bindir = find_postgres_bindir()
    if bindir is None:
        raise ConfigError(
            "the Celery cluster needs PostgreSQL: install it (Debian: apt-get install postgresql) "
            "or pass --metadata-db postgresql+psycopg://USER:PW@HOST/DB"
        )
    with throwaway_postgres(bindir) as url:
        yield url


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
    names = sorted(cluster.logs)  # the four services, and Redis and the workers on Celery
    say(f"logs:        {log_dir}/{{{','.join(names)}}}.log; task logs under {log_dir}/dag_id=*")
    say("Ctrl-C stops everything")
