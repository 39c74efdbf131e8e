"""The SOAP and REST connectors against a hostile peer (hostile_server.py, its own process).

Redirects are refused and nothing is re-sent; a call that drips is ended at its
deadline, whatever it drips; a body larger than the cap is refused while it streams,
with the memory of the process that reads it measured.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from population_source import population_source

from connectors.rest import RestClient
from connectors.soap import SoapClient
from lgsp.errors import FatalSourceError, SourceError, TransientSourceError

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
# Where the hostile peer redirects to: a path and query carrying a personal id, which no message may repeat.
SECRET_TARGET = "/catch/001085000123?SoDinhDanh=001085000123"
TIMEOUT = 2.0
MARGIN = 5.0  # generous: the tests share two cores with other work
SINCE = datetime(2000, 1, 1, tzinfo=UTC)
CAP = 4 * 1024 * 1024
MiB = 1024 * 1024


class Catcher:
    """A second loopback server that records whatever reaches it (nothing should)."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self.received: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(1.0)
                try:
                    data = conn.recv(65536)
                except OSError:
                    data = b""
                self.received.append(data or b"(a connection)")
                with contextlib.suppress(OSError):
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._listener.close()


@pytest.fixture(scope="module")
def catcher() -> Iterator[Catcher]:
    running = Catcher()
    yield running
    running.close()


@pytest.fixture(scope="module")
def hostile(catcher: Catcher) -> Iterator[str]:
    """The hostile peer's base URL; it redirects to the catcher."""
    target = f"http://127.0.0.1:{catcher.port}{SECRET_TARGET}"
    child = subprocess.Popen(
        [sys.executable, str(HERE / "hostile_server.py"), "--redirect-to", target], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    line = child.stdout.readline()
    assert line.startswith("READY "), line
    yield f"http://127.0.0.1:{int(line.split()[1])}"
    child.terminate()
    child.wait(timeout=10)


@pytest.fixture(autouse=True)
def nothing_caught_yet(catcher: Catcher) -> None:
    catcher.received.clear()


def soap(url: str, timeout: float = TIMEOUT) -> SoapClient:
    return SoapClient(system="hostile_peer", url=url, username="lgsp", password="s3cret-WS-Security", timeout=timeout)


def chain_text(error: BaseException) -> str:
    """The error's text and that of every exception chained to it."""
    texts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:  # `raise exc from exc` makes a cycle
        seen.add(id(current))
        texts.append(str(current))
        current = current.__cause__ or current.__context__
    return " | ".join(texts)


def assert_refused(error: SourceError, status: int, catcher: Catcher) -> None:
    assert f"HTTP {status}: the server redirects to http://127.0.0.1:{catcher.port} " in str(error)
    assert "001085000123" not in chain_text(error) and "/catch" not in chain_text(error)
    time.sleep(0.3)  # anything sent would have arrived by now
    assert catcher.received == []


def assert_no_watchdog_left() -> None:
    """One alarm thread serves every watchdog: no thread per call is left behind."""
    names = [thread.name for thread in threading.enumerate()]
    assert names.count("lgsp-watchdog") == 1, names


# --- redirects ----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirected_soap_call_is_fatal_names_only_the_origin_and_nothing_is_resent(
    hostile: str, catcher: Catcher, status: int
) -> None:
    client = soap(f"{hostile}/redirect{status}")
    with pytest.raises(FatalSourceError) as caught:
        client.call_raw("ListChangedCitizens", Since=SINCE, PageSize=10)
    assert caught.value.operation == "ListChangedCitizens"
    assert_refused(caught.value, status, catcher)


def test_a_redirected_wsdl_is_fatal(hostile: str, catcher: Catcher) -> None:
    with pytest.raises(FatalSourceError) as caught:
        soap(f"{hostile}/wsdl301")
    assert_refused(caught.value, 301, catcher)


def test_an_xsd_import_redirected_to_another_origin_is_refused(hostile: str, catcher: Catcher) -> None:
    with pytest.raises(FatalSourceError) as caught:
        soap(f"{hostile}/xsd302")
    assert_refused(caught.value, 302, catcher)


def test_an_xsd_import_redirected_within_its_origin_is_refused_too(hostile: str) -> None:
    with pytest.raises(FatalSourceError, match=r"HTTP 302: the server redirects to http://127\.0\.0\.1:"):
        soap(f"{hostile}/xsd302same")


def test_a_redirected_rest_call_gets_the_same_rule_and_wording(hostile: str, catcher: Catcher) -> None:
    rest = RestClient("hostile_api", f"{hostile}/rest", auth=None, timeout=TIMEOUT, max_attempts=1)
    with rest, pytest.raises(FatalSourceError) as caught:
        rest.post_json("/redirect307", {"SoDinhDanh": "001085000123"}, operation="Push")
    assert_refused(caught.value, 307, catcher)


def test_a_redirect_is_refused_on_its_headers_without_reading_its_body(hostile: str, catcher: Catcher) -> None:
    client = soap(f"{hostile}/redirect302_drip", timeout=10 * TIMEOUT)
    started = time.monotonic()
    with pytest.raises(FatalSourceError) as caught:
        client.call_raw("ListChangedCitizens", Since=SINCE, PageSize=10)
    assert time.monotonic() - started < TIMEOUT  # the body drips for 20 s: it was not waited for
    assert_refused(caught.value, 302, catcher)


# --- deadlines ----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["drip_headers", "drip_body"])
def test_a_dripping_soap_call_fails_within_its_timeout_per_attempt(hostile: str, mode: str) -> None:
    source = population_source(
        f"{hostile}/{mode}", login="lgsp", password="s3cret-WS-Security", timeout=TIMEOUT, attempts=2, page_size=10
    )
    started = time.monotonic()  # the declared source loads the WSDL on its first listing: inside the budget
    with pytest.raises(TransientSourceError, match="took longer than 2 s in total"):
        next(iter(source.changed_since(datetime(2000, 1, 1))))
    assert time.monotonic() - started < 2 * TIMEOUT + MARGIN
    assert_no_watchdog_left()


@pytest.mark.parametrize("mode", ["wsdl_drip", "xsd_drip"])
def test_a_dripping_wsdl_or_xsd_fails_the_load_within_its_timeout(hostile: str, mode: str) -> None:
    started = time.monotonic()
    with pytest.raises(TransientSourceError, match="took longer than 2 s in total"):
        soap(f"{hostile}/{mode}")
    assert time.monotonic() - started < TIMEOUT + MARGIN
    assert_no_watchdog_left()


@pytest.mark.parametrize("mode", ["drip_headers", "drip_body"])
def test_a_dripping_rest_call_fails_within_its_timeout_per_attempt(hostile: str, mode: str) -> None:
    with RestClient("hostile_api", f"{hostile}/rest", auth=None, timeout=TIMEOUT, max_attempts=2, backoff=0.01) as rest:
        started = time.monotonic()
        with pytest.raises(TransientSourceError, match="took longer than 2 s in total"):
            rest.get_json(f"/{mode}", operation="List")
    assert time.monotonic() - started < 2 * TIMEOUT + MARGIN
    assert_no_watchdog_left()


# --- body cap -----------------------------------------------------------------------------------

# Run in a child process so that its peak memory is its own: build the client, reset the
# peak (clear_refs 5) and read it, make the call, read the peak again.
_MEMORY_PROBE = """
import json, sys
from datetime import UTC, datetime
from connectors.soap import SoapClient

def kib(field):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))

url, cap = sys.argv[1], int(sys.argv[2])
client = SoapClient(system="hostile_peer", url=url, username="lgsp", password="s3cret", timeout=120,
                    max_response_bytes=cap)
try:
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # the peak starts again from here
except OSError:
    pass  # then the baseline is the peak so far: a weaker, still meaningful check
baseline = kib("VmHWM")
try:
    client.call_raw("ListChangedCitizens", Since=datetime(2000, 1, 1, tzinfo=UTC), PageSize=10)
    outcome = "returned"
except Exception as exc:
    outcome = f"{type(exc).__name__}: {exc}"
print(json.dumps({"baseline_kib": baseline, "peak_kib": kib("VmHWM"), "outcome": outcome}))
"""


@pytest.mark.parametrize("mode", ["flood", "gzip_bomb"])
def test_a_200_mb_soap_response_is_refused_while_it_streams(hostile: str, mode: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, f"{hostile}/{mode}", str(CAP)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    assert probe["outcome"].startswith("FatalSourceError"), probe["outcome"]
    assert "larger than LGSP_MAX_RESPONSE_BYTES (4,194,304 bytes" in probe["outcome"]
    growth = (probe["peak_kib"] - probe["baseline_kib"]) * 1024
    assert growth < 3 * CAP + 30 * MiB, f"the call's peak memory grew by {growth / MiB:.0f} MiB"


def test_the_cap_is_a_validated_hub_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from hub.settings import load_settings
    from lgsp.errors import ConfigError

    assert load_settings().max_response_bytes == 32 * MiB
    monkeypatch.setenv("LGSP_MAX_RESPONSE_BYTES", str(CAP))
    assert load_settings().max_response_bytes == CAP
    monkeypatch.setenv("LGSP_MAX_RESPONSE_BYTES", "512")
    with pytest.raises(ConfigError, match="LGSP_MAX_RESPONSE_BYTES"):
        load_settings()
