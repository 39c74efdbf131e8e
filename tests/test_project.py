"""The project's own files: the README documents the two commands (compose: tests/test_compose.py)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_opens_with_the_two_commands() -> None:
    head = (ROOT / "README.md").read_text().split("\n## ", 1)[0]
    assert "make run" in head and "make test" in head
