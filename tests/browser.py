"""A real headless browser for the report's tests: Debian's chromium, driven by its own command line.

``--dump-dom`` prints the DOM after the page loaded (what a reader sees, not the file),
``--screenshot`` writes a PNG. No Playwright needed: chromium's flags are enough for
static pages. Locally a missing chromium skips the browser tests; in CI (``CI`` set)
it fails them, since .ci/run installs chromium.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-extensions",
    "--mute-audio",
)


def chromium() -> str:
    """The chromium binary (LGSP_CHROMIUM, or chromium on PATH)."""
    for candidate in (os.environ.get("LGSP_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if candidate and (found := shutil.which(candidate)):
            return found
    if os.environ.get("CI"):
        pytest.fail("chromium is not installed: .ci/run installs it with apt-get (apt-get install chromium)")
    pytest.skip("chromium is not installed (apt-get install chromium)")


def _run(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    home.mkdir(parents=True, exist_ok=True)
    # A profile of its own per call: parallel or repeated runs must not share chromium's lock.
    return subprocess.run(
        [chromium(), *_FLAGS, f"--user-data-dir={home}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={**os.environ, "HOME": str(home)},
    )


def dump_dom(url: str, profile: Path) -> str:
    """The page's DOM as chromium serialises it after loading."""
    return _run(["--virtual-time-budget=5000", "--dump-dom", url], profile).stdout


def screenshot(url: str, path: Path, profile: Path, size: tuple[int, int] = (1280, 1600)) -> Path:
    """A PNG of the page's top ``size``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _run([f"--window-size={size[0]},{size[1]}", f"--screenshot={path}", url], profile)
    return path
