"""Hub settings pointing every connector at a running mock server, with the mocks' demo credentials."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hub.settings import Settings, load_settings


def settings_for(server: Any, database_url: str, home: Path, **overrides: Any) -> Settings:
    """Small pages, short backoffs; every system is declared (``mock_server`` points their connections at it)."""
    return load_settings(
        **{
            "home": home,
            "database_url": database_url,
            "page_size": 200,
            "backoff_seconds": 0.01,
            "operation_timeout": 5,
            **overrides,
        }
    )
