"""Where the mocks of declared systems find their contract files (schemas/<system>/).

The hub derives everything about those systems from their declarations, so the
contract folders hold files only; the mocks, which may name the systems they play,
locate them here.
"""

from __future__ import annotations

from pathlib import Path

# Beside mocks/ in the project: under pytest, ``import schemas`` may find tests/schemas first.
SCHEMAS_DIR = Path(__file__).resolve().parents[1] / "schemas"
