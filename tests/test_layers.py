"""The layers are a contract (DESIGN.md §2): ``lint-imports`` keeps it on the tree, and breaks on a breach."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


def lint_imports(cwd: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on the packages and pyproject.toml under ``cwd`` (they shadow the installed ones)."""
    selected = [option for contract in contracts for option in ("--contract", contract)]
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", *selected],
        cwd=cwd,
        env={"PATH": str(LINT_IMPORTS.parent), "PYTHONPATH": str(cwd)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_tree_keeps_every_contract() -> None:
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    for contract in CONFIG["contracts"]:
        assert re.search(re.escape(contract["name"][:40]) + r".*?KEPT", done.stdout, re.DOTALL), contract["name"]
    assert f"Contracts: {len(CONFIG['contracts'])} kept, 0 broken." in done.stdout


def test_every_root_package_is_under_a_contract() -> None:
    sources = {module for contract in CONFIG["contracts"] for module in contract.get("source_modules", [])}
    sources |= {container for contract in CONFIG["contracts"] for container in contract.get("containers", [])}
    assert sources == set(CONFIG["root_packages"])


@pytest.mark.parametrize(
    ("contract", "module", "line"),
    [
        pytest.param("foundation", "lgsp/_breach.py", "from schemas import citizen", id="foundation imports schemas"),
        pytest.param("no-hub-below", "connectors/_breach.py", "from hub import settings", id="connector imports hub"),
        pytest.param("no-hub-below", "schemas/_breach.py", "import quality.runner", id="schema imports quality"),
        pytest.param("schemas-below-connectors", "schemas/_breach.py", "import connectors.paging", id="schema->conn"),
        pytest.param(
            "other-side",
            "mocks/_breach.py",
            "from lgsp.errors import LgspError\nimport connectors.rest",
            id="mock->conn",
        ),
        pytest.param(
            "other-side", "mocks/population/_breach.py", "def f():\n    import hub.store.tables", id="mock->hub, late"
        ),
        # What this contract was written against: the dossier suite read the one-stop connector's constants.
        pytest.param(
            "store-not-wire", "quality/_breach.py", "from connectors.one_stop import CHANNELS", id="quality->wire"
        ),
        # A chain counts: hub.pipeline.declared reads the declared connector's pages.
        pytest.param(
            "store-not-wire", "quality/_breach.py", "from hub.pipeline.declared import find_stream", id="indirect"
        ),
        pytest.param("hub-roles", "hub/store/_breach.py", "from hub.pipeline import runs", id="store->pipeline"),
        pytest.param("hub-roles", "hub/pipeline/_breach.py", "from hub.api import app", id="pipeline->api"),
    ],
)
def test_a_breach_breaks_its_contract(contract: str, module: str, line: str, tmp_path: Path) -> None:
    for package in CONFIG["root_packages"]:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    assert lint_imports(tmp_path, contract).returncode == 0  # the copy keeps it, as the tree does
    (tmp_path / module).write_text(f'"""A breach of {contract}."""\n\n{line}\n')
    done = lint_imports(tmp_path, contract)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "BROKEN" in done.stdout and "Contracts: 0 kept, 1 broken." in done.stdout
    assert module.removesuffix(".py").replace("/", ".") in done.stdout  # the report names the breach
