"""The throwaway-PostgreSQL helper: skips without a server locally, never under CI."""

from __future__ import annotations

import pg
import pytest


def test_missing_postgres_skips_locally_but_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pg, "find_postgres_bindir", lambda: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="no PostgreSQL server binaries"):
        pg.postgres_or_skip()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="no PostgreSQL server binaries"):
        pg.postgres_or_skip()
