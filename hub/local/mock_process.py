"""Start the mocks in a child process on loopback, for ``lgsp run`` and the benchmarks.

A separate process keeps the platform's own memory and CPU figures honest: the
simulated national systems are not part of the platform.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from lgsp.errors import ConfigError


@dataclass(frozen=True)
class RunningMocks:
    """Where the mocks answer."""

    base_url: str
    pid: int

    @property
    def population_url(self) -> str:
        """The population service's SOAP endpoint."""
        return f"{self.base_url}/population"


def free_port() -> int:
    """A TCP port nobody listens on right now, on loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def mocks_running(
    *, citizens: int, seed: int, defect_rate: float, port: int | None = None, timeout: float = 300.0
) -> Iterator[RunningMocks]:
    """Run ``lgsp mocks serve`` in a child process until the block ends.

    Raises:
        ConfigError: the mocks did not come up in time (the message carries their last output).
    """
    port = port or free_port()
    command = [
        sys.executable,
        "-m",
        "hub.cli",
        "mocks",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--citizens",
        str(citizens),
        "--seed",
        str(seed),
        "--defect-rate",
        str(defect_rate),
    ]
    child = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed arguments
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    )
    try:
        base_url = _wait_ready(child, timeout)
        yield RunningMocks(base_url=base_url, pid=child.pid)
    finally:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _wait_ready(child: subprocess.Popen[str], timeout: float) -> str:
    """Read the child's output until it prints READY; keep draining it afterwards."""
    assert child.stdout is not None
    deadline = time.monotonic() + timeout
    tail: list[str] = []
    for line in child.stdout:
        if line.startswith("READY "):
            # Keep reading so a chatty child never blocks on a full pipe.
            threading.Thread(target=_drain, args=(child,), daemon=True).start()
            return line.split(" ", 1)[1].strip().rstrip("/")
        tail = [*tail[-20:], line.rstrip()]
        if time.monotonic() > deadline:
            break
    raise ConfigError("the mocks did not start: " + " | ".join(tail[-5:]))


def _drain(child: subprocess.Popen[str]) -> None:
    assert child.stdout is not None
    for _line in child.stdout:
        pass
