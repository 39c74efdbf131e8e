"""Named child processes, each in its own process group and logging to its own file; stopped together.

The ``lgsp airflow`` cluster's processes run under a `Supervisor`; nothing in it knows
Airflow. Stopping sends each group the signal its program stops on, a second signal,
then SIGKILL after a grace period, to the groups and to every descendant (Airflow runs
each task in a process group of its own, which no group signal reaches).

Errors (both `LgspError`)::

    ClusterError     a supervised program did not start or answer as expected (also `hub.local.airflow.rest`)
      ProcessDied    one of the processes exited while it should have been running
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lgsp.errors import LgspError


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
        self,
        name: str,
        argv: Sequence[str],
        stop_signal: signal.Signals = signal.SIGTERM,
        stop_order: int = 0,
        env_extra: Mapping[str, str] | None = None,
    ) -> int:
        """Start ``argv`` as ``name``, in a session of its own (our terminal's signals do not reach it); its pid.

        When stopping, ``stop_signal`` goes to its process group first; children stop in
        ascending ``stop_order``, those of equal order together. ``env_extra`` is added to
        the supervisor's environment for this child alone (a Celery worker's own name).
        """
        log = self.log_dir / f"{name}.log"
        with log.open("ab") as out:
            out.write(f"--- {datetime.now(UTC).isoformat(timespec='seconds')} lgsp started {name}\n".encode())
            out.flush()
            process = subprocess.Popen(  # noqa: S603 - our own commands, no shell
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**self.env, **(env_extra or {})},
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
            if returncode is not None and not child.stopped:
                raise ProcessDied(child.name, returncode, child.log)

    def kill(self, name: str) -> None:
        """SIGKILL ``name``'s process group and every descendant at once, as a machine lost would end it.

        The others run on; `check` no longer counts ``name`` (its death was asked for).

        Raises:
            KeyError: no child is called ``name``.
        """
        children = [child for child in self._children if child.name == name and not child.stopped]
        if not children:
            raise KeyError(name)
        _kill(children, [proc for child in children for proc in _descendants(child.process.pid)])

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
    previous = {
        sig: signal.signal(sig, lambda signum, _frame: caught.append(signum)) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if caught:
        raise KeyboardInterrupt
