"""``/docs`` on a network without internet: a real chromium that can reach nothing but loopback renders it.

The browser resolves no host name but 127.0.0.1 and sends everything else to a dead
proxy, as a government network without internet would. FastAPI's own page (Swagger
UI from a CDN) stays blank there; ours shows the operations.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from api_support import Clock
from browser import chromium
from sqlalchemy import Engine

from hub.api.app import build_app
from hub.api.server import ApiServer
from hub.settings import load_settings

_OFFLINE = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-extensions",
    "--disable-background-networking",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",  # no DNS beyond this machine
    "--proxy-server=http://127.0.0.1:9",  # and anything else goes to a port where nothing listens
    "--enable-logging=stderr",
    "--v=0",
)
_URL = re.compile(r"""(?:src|href|action|xlink:href)\s*=\s*["']([^"']+)["']|url\(\s*["']?([^"')]+)""", re.IGNORECASE)


@pytest.fixture
def docs_url(store_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The API served by uvicorn on a free loopback port; the URL of its /docs."""
    for name in ("LGSP_API_SIGNING_KEY", "LGSP_LEDGER_KEY", "LGSP_SHARING_CONFIG", "LGSP_DEMO"):
        monkeypatch.delenv(name, raising=False)
    with ApiServer(build_app(load_settings(home=tmp_path / "home"), store_engine, clock=Clock())) as server:
        yield f"{server.base_url}/docs"


def offline_dom(url: str, profile: Path) -> tuple[str, str]:
    """The DOM chromium shows for ``url`` once loaded, with no network but loopback; and its log."""
    profile.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [chromium(), *_OFFLINE, f"--user-data-dir={profile}", "--virtual-time-budget=10000", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={"HOME": str(profile), "PATH": "/usr/bin:/bin"},
    )
    return done.stdout, done.stderr


def test_docs_render_every_operation_without_internet(docs_url: str, tmp_path: Path) -> None:
    dom, log = offline_dom(docs_url, tmp_path / "chromium")
    assert "/v1/citizens/{personal_id}" in dom, dom[-2000:]
    operations = set(re.findall(r'class="opblock opblock-(get|post|delete)', dom))
    assert operations == {"get", "post", "delete"}
    assert len(re.findall(r'class="opblock opblock-', dom)) >= 10  # every operation of hub.api.app's table
    assert "Content Security Policy" not in log, log[-2000:]  # the policy lets the page do all it needs


def test_no_url_in_the_docs_points_off_this_host(docs_url: str, tmp_path: Path) -> None:
    origin = docs_url.rsplit("/docs", 1)[0]
    page = httpx.get(docs_url)
    dom, _log = offline_dom(docs_url, tmp_path / "chromium")
    urls = [a or b for text in (page.text, dom) for a, b in _URL.findall(text)]
    assert any(url.endswith("swagger-ui-bundle.js") for url in urls)
    for url in urls:
        assert url.startswith((origin + "/", "/", "#", "data:")) or "://" not in url, url
    assert not re.search(r"https?://(?!127\.0\.0\.1)", page.text)  # nor in the inline script that starts it
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"):
        assert httpx.get(f"{origin}/docs/assets/{asset}").status_code == 200, asset
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self' 'sha256-" in policy
    assert "unsafe-inline" not in policy.split("script-src", 1)[1].split(";", 1)[0]
    assert "http" not in policy  # no other origin is allowed anything
