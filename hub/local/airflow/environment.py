"""One environment for every process of a local Airflow: ports, keys, the admin's login, the metadata DB.

Per home (``LGSP_HOME/airflow``): the JWT secret, the API's session key and the Fernet
key are made on first use and kept owner-only, so a restart keeps sessions, tokens and
encrypted fields; the admin's password is ``LGSP_AIRFLOW_PASSWORD`` or generated and kept.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hub.local.airflow.in_process import airflow_environment
from lgsp.errors import ConfigError

USERNAME = "admin"  # SimpleAuthManager's one user, role admin
PASSWORD_VARIABLE = "LGSP_AIRFLOW_PASSWORD"  # noqa: S105 - the variable's name, not a password
PASSWORDS_FILE = "simple_auth_manager_passwords.json.generated"  # SimpleAuthManager's default name
SECRETS_FILE = "lgsp-secrets.json"  # per-home keys: restarts keep sessions, tokens and encrypted fields


_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_WEAK = {"admin", "airflow", "password", "demo-only-password", "demo-only-key"}


def cluster_environment(
    home: Path,
    *,
    host: str = "127.0.0.1",
    port: int,
    metadata_db: str | None = None,
    env_extra: Mapping[str, str] | None = None,
) -> tuple[dict[str, str], str]:
    """The environment of every process and the admin's password (``LGSP_AIRFLOW_PASSWORD`` or generated).

    Raises:
        ConfigError: the metadata DB URL is not SQLite or PostgreSQL, or a weak password off loopback.
    """
    airflow_home = (home / "airflow").resolve()
    airflow_home.mkdir(parents=True, exist_ok=True)
    keys = _home_secrets(airflow_home)
    password = _admin_password(airflow_home, host)
    local = "[::1]" if host == "::1" else "127.0.0.1"  # tasks reach the execution API on loopback
    shown = local if host in ("0.0.0.0", "::") else f"[{host}]" if ":" in host else host  # noqa: S104
    env = airflow_environment(
        home,
        {
            "AIRFLOW__API__HOST": host,
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": os.environ.get("AIRFLOW__API__BASE_URL", f"http://{shown}:{port}"),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{local}:{port}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": keys["jwt_secret"],
            "AIRFLOW__API__SECRET_KEY": keys["api_secret_key"],
            "AIRFLOW__CORE__FERNET_KEY": keys["fernet_key"],
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USERNAME}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(airflow_home / PASSWORDS_FILE),
            # A demo wants a new or edited DAG file seen in seconds, not in Airflow's 5 minutes.
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "10",
            "AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL": "2",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL": "300",
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
            # The LocalExecutor forks this many workers at start (32 by default): four flows need four.
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO"),
            **_metadata_db_settings(metadata_db),
        },
    )
    env.update(env_extra or {})
    return env, password


# Four processes write to one SQLite file; Python's 5 s busy timeout is too short for their bursts (a
# scheduler resuming runs after a restart held the lock long enough to fail an api-server request).
# Airflow imports these by name ([database] sql_alchemy_connect_args and its async twin).
SQLITE_CONNECT_ARGS: dict[str, Any] = {"timeout": 30}
SQLITE_CONNECT_ARGS_ASYNC: dict[str, Any] = {"timeout": 30}


def _metadata_db_settings(url: str | None) -> dict[str, str]:
    """``sql_alchemy_conn`` (and its async twin) for a URL; None keeps the SQLite file under AIRFLOW_HOME."""
    sqlite = {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": f"{__name__}.SQLITE_CONNECT_ARGS",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC": f"{__name__}.SQLITE_CONNECT_ARGS_ASYNC",
    }
    if url is None:
        return sqlite
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception as exc:
        raise ConfigError("--metadata-db is not a database URL (e.g. postgresql+psycopg://USER:PW@HOST/DB)") from exc
    backend = parsed.drivername.split("+", 1)[0]
    if backend in ("postgresql", "postgres"):
        # psycopg 3 is what we install; Airflow would derive asyncpg (not installed) for its async engine,
        # while SQLAlchemy's psycopg dialect serves both the sync and the async engine.
        rendered = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        return {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": rendered, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": rendered}
    if backend == "sqlite" and parsed.database and Path(parsed.database).is_absolute():
        return {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url, **sqlite}
    raise ConfigError(
        "--metadata-db must be PostgreSQL (postgresql+psycopg://...) or SQLite with an absolute path "
        "(sqlite:////abs/path/airflow.db)"
    )


def _home_secrets(airflow_home: Path) -> dict[str, str]:
    """The JWT secret, the API's session key and the Fernet key of this home, made on first use."""
    from cryptography.fernet import Fernet

    path = airflow_home / SECRETS_FILE
    stored: dict[str, str] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    wanted: dict[str, Callable[[], str]] = {
        "jwt_secret": lambda: secrets.token_urlsafe(48),
        "api_secret_key": lambda: secrets.token_urlsafe(48),
        "fernet_key": lambda: Fernet.generate_key().decode(),
    }
    missing = {name: make() for name, make in wanted.items() if name not in stored}
    if missing:
        stored.update(missing)
        write_private(path, json.dumps(stored, indent=2) + "\n")
    return stored


def _admin_password(airflow_home: Path, host: str) -> str:
    """``LGSP_AIRFLOW_PASSWORD``, else the one generated for this home before, else a new random one.

    Raises:
        ConfigError: the given password is weak and the API would listen beyond loopback.
    """
    path = airflow_home / PASSWORDS_FILE
    given = os.environ.get(PASSWORD_VARIABLE)
    password = given or _stored_password(path) or secrets.token_urlsafe(12)
    if host not in _LOOPBACK and (len(password) < 12 or password.lower() in _WEAK):
        if given:
            raise ConfigError(
                f"{PASSWORD_VARIABLE} is too weak for an Airflow listening on {host}: use 12 or more "
                "characters that are not a published default, or unset it for a generated one"
            )
        password = secrets.token_urlsafe(12)  # a weak one kept from a loopback run does not leave loopback
    write_private(path, json.dumps({USERNAME: password}) + "\n")
    return password


def _stored_password(path: Path) -> str | None:
    try:
        return str(json.loads(path.read_text(encoding="utf-8"))[USERNAME])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (keys, passwords)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(text)
    path.chmod(0o600)
