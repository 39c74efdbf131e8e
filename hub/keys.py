"""The hub's own secret keys: the API's token-signing key and the ledger's record-key pepper.

Each key comes from the environment (``LGSP_<NAME>``, e.g. ``LGSP_API_SIGNING_KEY``), so a
deployment with several API workers or machines sets the same value everywhere; on the
embedded defaults it is generated once and kept under ``LGSP_HOME/keys/`` (mode 0600), so
tokens and ledger hashes survive a restart.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from hub.settings import Settings
from lgsp.errors import ConfigError

API_SIGNING_KEY = "api_signing_key"
LEDGER_KEY = "ledger_key"
_MIN_BYTES = 32


def hub_key(settings: Settings, name: str) -> bytes:
    """The key called ``name``: ``LGSP_<NAME>`` if set, else the one kept under LGSP_HOME (made on first use).

    Raises:
        ConfigError: the environment's key is shorter than 32 bytes.
    """
    variable = f"LGSP_{name.upper()}"
    given = os.environ.get(variable)
    if given:
        if len(given.encode()) < _MIN_BYTES:
            raise ConfigError(
                f"{variable} must be at least {_MIN_BYTES} bytes long; generate one with "
                "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
            )
        return given.encode()
    return _kept_key(settings.home / "keys" / name)


def _kept_key(path: Path) -> bytes:
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    draft = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(secrets.token_urlsafe(48).encode())
    # A hard link appears whole or not at all: of two processes starting together, one key wins.
    try:
        os.link(draft, path)
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    return path.read_bytes().strip()
