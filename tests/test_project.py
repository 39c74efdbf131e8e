"""The project's own files: the README documents the two commands, .ci/run reaches them
(compose: tests/test_compose.py)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CI_SCRIPT = ROOT / ".ci" / "run"


def test_readme_opens_with_the_two_commands() -> None:
    head = (ROOT / "README.md").read_text().split("\n## ", 1)[0]
    assert "make run" in head and "make test" in head


def test_ci_script_is_valid_bash_and_executable() -> None:
    # A broken edit once left .ci/run unparsable: CI failed after 0 s without running a test.
    parsed = subprocess.run(["bash", "-n", str(CI_SCRIPT)], capture_output=True, text=True)
    assert parsed.returncode == 0, parsed.stderr
    assert os.access(CI_SCRIPT, os.X_OK), ".ci/run must be executable (git update-index --chmod=+x)"


def test_ci_script_ends_in_make_test(tmp_path: Path) -> None:
    # Shims stand in for make and the system packages so the script's own flow is what runs:
    # with PostgreSQL and chromium present it installs nothing and hands over to `make test`.
    calls = tmp_path / "calls"
    for tool in ("make", "pg_ctl", "chromium", "apt-get"):
        shim = tmp_path / tool
        shim.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{calls}"\n')
        shim.chmod(0o755)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run(["bash", str(CI_SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert calls.read_text().splitlines() == ["make test"]
