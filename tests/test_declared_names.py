"""Systems as data: no declared system is named in the platform's Python, only in its declaration.

Everything a system needs (DAGs, schedules, pools, connections, CLI targets, storage,
rules, the catalogue) is derived from ``config/systems/*.yaml``. The mocks (the other
side) and the tests may name them; nothing else may. A system whose stream names a domain
``merge`` keeps that Python (the civil-status events applied to citizens; the one-stop dossiers'
merge, history reader and check, routing and portal delivery), which names its dataset and
system by nature: of such a system only the flow (its DAG id) and its qualified streams must
not be written in Python.
"""

from __future__ import annotations

import re
from pathlib import Path

from hub.systems.loader import DEFAULT_DIR, load_systems

ROOT = Path(__file__).resolve().parents[1]
ALLOWED = ("mocks", "tests")  # the other side, and what checks both sides
# A migration says what the store held when it was written (e.g. the stream a declaration renamed): history.
HISTORY = ("hub", "store", "migrations")
SKIPPED = {".venv", ".git", "build", "dist", "node_modules", ".lgsp", ".mypy_cache", ".ruff_cache", ".pytest_cache"}


def declared_names() -> set[str]:
    """What names a declared system: its name, titles, connection, datasets, qualified streams and demo path."""
    names: set[str] = set()
    for declared in load_systems(DEFAULT_DIR):
        decl = declared.decl
        if any(stream.merge is not None for stream in decl.streams.values()):
            single = len(decl.streams) == 1
            names |= {f"{decl.system}_sync" if single else f"{decl.system}_{name}" for name in decl.streams}
            names |= {f"{decl.system}.{name}" for name in decl.streams}
            continue
        names |= {decl.system, decl.title.vi, decl.title.en, decl.connection}
        if decl.demo is not None:
            names.add(decl.demo.path.strip("/").split("/")[0])  # e.g. "social-insurance" of /social-insurance/v1
        for name, stream in decl.streams.items():
            names |= {stream.dataset, f"{decl.system}.{name}"}
            if stream.title is not None:
                names |= {stream.title.vi, stream.title.en}
    return {name for name in names if len(name) > 6}  # a short title ("Test") would match by accident


def python_files(root: Path) -> list[Path]:
    """Every Python file under ``root`` outside the mocks and the tests."""
    found = []
    for path in root.rglob("*.py"):
        parts = path.relative_to(root).parts
        if parts[0] in ALLOWED or parts[:3] == HISTORY or SKIPPED.intersection(parts):
            continue
        if any(part.endswith(".egg-info") for part in parts):
            continue
        found.append(path)
    return found


def leaks(root: Path, names: set[str]) -> list[str]:
    """``file:line: name`` for each line of a Python file under ``root`` that names a declared system."""
    pattern = re.compile("|".join(re.escape(name) for name in sorted(names, key=len, reverse=True)), re.IGNORECASE)
    return [
        f"{path.relative_to(root)}:{number}: {found.group()}"
        for path in python_files(root)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        for found in [pattern.search(line)]
        if found
    ]


def test_no_declared_system_is_named_in_python_outside_mocks_and_tests() -> None:
    names = declared_names()
    assert len(names) >= 10, names
    # Systems with domain Python (merge, read, check, then) keep it, which names them; their flows do not.
    assert {"civil_status_sync", "civil_status.events", "one_stop_sync", "one_stop.dossiers"} <= names
    assert any(path.parts[-2:] == ("orchestration", "declared.py") for path in python_files(ROOT))  # the walk reaches
    found = leaks(ROOT, names)
    assert found == [], "derive these from config/systems instead:\n" + "\n".join(found)


def test_the_check_finds_a_name_in_any_case_and_spares_the_mocks(tmp_path: Path) -> None:
    names = declared_names()
    sample = sorted(names)[0]
    for folder in ("hub", "mocks", "tests", ".venv/lib"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "x.py").write_text(f'FLOWS = ["{sample.upper()}"]\n', encoding="utf-8")
    assert leaks(tmp_path, names) == [f"hub/x.py:1: {sample.upper()}"]
