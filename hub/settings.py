"""Typed settings for the hub, built by a function (never at import: Airflow imports DAGs constantly).

Precedence: explicit argument > environment (``LGSP_*``) > Airflow connection > default.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from lgsp.errors import ConfigError

PORTAL_CONN_ID = "national_portal"
DEMO_PASSWORD = "demo-only-password"  # noqa: S105 - the mocks' published default, refused off loopback
DEMO_SECRETS = frozenset({DEMO_PASSWORD, "demo-only-key", "demo-only-push-secret"})
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


DEFAULT_PUSH_LANES = 2  # the agency_push pool gets a slot per lane (hub.orchestration.schedules.hub_pools)
MAX_PUSH_LANES = 64


class Settings(BaseSettings):
    """Everything the hub reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="LGSP_", extra="ignore")

    home: Path = Path(".lgsp")
    database_url: str | None = None
    portal_url: str | None = None  # the National Public Service Portal API base, e.g. http://host:port/portal/v1
    portal_api_key: SecretStr | None = None
    page_size: int = 1000
    operation_timeout: float = 30.0
    max_attempts: int = 5
    backoff_seconds: float = 1.0
    # The largest response body a connector reads from a peer (after decompression); larger is refused.
    max_response_bytes: int = 32 * 1024 * 1024
    # The most pages one run reads of a declared stream: a peer that hands out a fresh cursor (or
    # link, or keeps saying there is more) for ever is stopped there, with an error naming this setting.
    max_pages: int = Field(default=100_000, ge=1)
    demo: bool = False
    sharing_config: Path | None = None  # the folder of agencies.yaml and agreements.yaml; default config/sharing
    api_token_seconds: int = 300  # lifetime of an agency's access token
    # Pushes per request to an agency (its receiver answers per item); and how many lanes (Airflow mapped
    # tasks, each a share of the citizens by a hash of their key) deliver at once. The pool agency_push
    # gets as many slots as lanes, from this setting (hub.orchestration.schedules.hub_pools).
    push_batch_size: int = Field(default=500, ge=1, le=5000)
    push_lanes: int = Field(default=DEFAULT_PUSH_LANES, ge=1, le=MAX_PUSH_LANES)

    def resolved_database_url(self) -> str:
        """The store's URL: LGSP_DATABASE_URL, else SQLite under LGSP_HOME."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'hub.sqlite').resolve()}"


def load_settings(**overrides: Any) -> Settings:
    """Build the settings; keyword arguments win over the environment."""
    explicit = {key: value for key, value in overrides.items() if value is not None}
    try:
        settings = Settings(**explicit)
    except ValueError as exc:
        raise ConfigError(f"invalid LGSP_* setting: {exc}. Fix the environment variable it names.") from exc
    if not 1 <= settings.page_size <= 1000:
        raise ConfigError("LGSP_PAGE_SIZE must be between 1 and 1000 (the population contract's limit)")
    if not 30 <= settings.api_token_seconds <= 3600:
        raise ConfigError("LGSP_API_TOKEN_SECONDS must be between 30 and 3600 (tokens are meant to be short-lived)")
    if settings.operation_timeout <= 0:
        raise ConfigError("LGSP_OPERATION_TIMEOUT must be a positive number of seconds")
    if settings.max_response_bytes < 1024:
        raise ConfigError("LGSP_MAX_RESPONSE_BYTES must be at least 1024 (bytes); the default is 33554432 (32 MiB)")
    return settings


@dataclass(frozen=True)
class Endpoint:
    """Where an external system answers and how we authenticate to it."""

    url: str
    username: str
    password: SecretStr
    extras: Mapping[str, str] = field(default_factory=dict)  # the connection's extra (declared systems read it)


def declared_endpoint(
    settings: Settings, connection_id: str, *, needs_login: bool = False, needs_secret: bool = True
) -> Endpoint:
    """A declared system's endpoint from its Airflow connection ``connection_id`` (AIRFLOW_CONN_<ID>, URI or JSON).

    The login and the secret are the connection's (the declaration's auth says how they travel);
    the connection's extra (a URI's query, a JSON connection's ``extra``) comes as ``extras``.

    Raises:
        ConfigError: the connection is missing, has no host, lacks the login or secret the system's auth
            needs, or carries a demo secret for a non-loopback host without LGSP_DEMO.
    """
    conn = _airflow_connection(connection_id)
    variable = f"AIRFLOW_CONN_{connection_id.upper()}"
    example = f"{variable}=http://LOGIN:SECRET@HOST:PORT/base/path"
    if conn is None:
        raise ConfigError(
            f"the {connection_id} endpoint is not configured: set the Airflow connection '{connection_id}' ({example})"
        )
    if not urlsplit(conn["url"]).hostname:
        raise ConfigError(f"the Airflow connection '{connection_id}' has no host: {example}")
    lacking = [
        what
        for what, need, value in (
            ("a login", needs_login, conn.get("username")),
            ("a secret (its password)", needs_secret, conn.get("password")),
        )
        if need and not value
    ]
    if lacking:
        raise ConfigError(f"the Airflow connection '{connection_id}' needs {' and '.join(lacking)}: {example}")
    password = conn.get("password") or ""
    host = urlsplit(conn["url"]).hostname or ""
    if password in DEMO_SECRETS and host not in _LOOPBACK and not settings.demo:
        raise ConfigError(
            f"the demo secret is configured for a non-loopback host ({host}) in {connection_id}; "
            "set a real secret, or LGSP_DEMO=true for a demonstration"
        )
    extras = {name.removeprefix(_EXTRA): value for name, value in conn.items() if name.startswith(_EXTRA)}
    return Endpoint(
        url=conn["url"].rstrip("/"), username=conn.get("username") or "", password=SecretStr(password), extras=extras
    )


def portal_endpoint(settings: Settings) -> Endpoint:
    """The National Public Service Portal's API base and key: LGSP_PORTAL_* > Airflow connection (key = password).

    The endpoint's username is empty: the portal knows us by the key alone.

    Raises:
        ConfigError: nothing configures it, or the demo key points outside loopback.
    """
    conn = _airflow_connection(PORTAL_CONN_ID) or {}
    url = settings.portal_url or conn.get("url")
    key = settings.portal_api_key or (SecretStr(conn["password"]) if conn.get("password") else None)
    if not url or key is None or not key.get_secret_value():
        raise ConfigError(
            f"the {PORTAL_CONN_ID} endpoint is not configured: set the Airflow connection '{PORTAL_CONN_ID}' "
            f"(AIRFLOW_CONN_{PORTAL_CONN_ID.upper()}=http://:API_KEY@HOST:PORT/portal/v1, the key as its password) "
            "or LGSP_PORTAL_URL and LGSP_PORTAL_API_KEY"
        )
    host = urlsplit(url).hostname or ""
    if key.get_secret_value() in DEMO_SECRETS and host not in _LOOPBACK and not settings.demo:
        raise ConfigError(
            f"the demo API key is configured for a non-loopback host ({host}) in {PORTAL_CONN_ID}; "
            "set a real key, or LGSP_DEMO=true for a demonstration"
        )
    return Endpoint(url=url.rstrip("/"), username="", password=key)


def agency_push_endpoint(settings: Settings, agency_code: str, declared_url: str | None) -> Endpoint | None:
    """Where an agency's pushes go and the secret(s) signing them (Standard Webhooks); None while unconfigured.

    The Airflow connection ``agency_push_<code>`` (the code lowercased, ``-`` as ``_``; e.g.
    ``AIRFLOW_CONN_AGENCY_PUSH_BHXH=http://:SECRET@HOST:PORT/agency/v1/BHXH/inbox``) gives both
    the URL and, as its password, the secret. A connection without a host (JSON form) lends
    its secret to ``declared_url``, the registry's ``push_url``. A declared URL alone is not
    enough: nothing can be signed without the secret, so the pushes wait.

    Raises:
        ConfigError: the connection has no secret, or the demo secret is configured for a
            non-loopback host without LGSP_DEMO.
    """
    conn_id = "agency_push_" + agency_code.lower().replace("-", "_")
    conn = _airflow_connection(conn_id)
    if conn is None:
        return None
    url = conn["url"] if urlsplit(conn["url"]).hostname else declared_url
    secret = conn.get("password") or ""
    if not url or not secret:
        raise ConfigError(
            f"the {conn_id} connection needs a URL (or push_url in agencies.yaml) and the push secret as its "
            f"password: AIRFLOW_CONN_{conn_id.upper()}=http://:SECRET@HOST:PORT/path/to/inbox"
        )
    host = urlsplit(url).hostname or ""
    if secret in DEMO_SECRETS and host not in _LOOPBACK and not settings.demo:
        raise ConfigError(
            f"the demo push secret is configured for a non-loopback host ({host}) in {conn_id}; "
            "set the secret agreed with the agency, or LGSP_DEMO=true for a demonstration"
        )
    return Endpoint(url=url.rstrip("/"), username="", password=SecretStr(secret))


def _endpoint(
    settings: Settings,
    conn_id: str,
    variables: str,
    example: str,
    url: str | None,
    username: str | None,
    password: SecretStr | None,
) -> Endpoint:
    conn = _airflow_connection(conn_id)
    url = url or (conn or {}).get("url")
    username = username or (conn or {}).get("username")
    password = password or (SecretStr(conn["password"]) if conn and conn.get("password") else None)
    if not url or not username or password is None:
        raise ConfigError(
            f"the {conn_id} endpoint is not configured: set the Airflow connection '{conn_id}' "
            f"(AIRFLOW_CONN_{conn_id.upper()}={example}) or {variables}"
        )
    host = urlsplit(url).hostname or ""
    if password.get_secret_value() in DEMO_SECRETS and host not in _LOOPBACK and not settings.demo:
        raise ConfigError(
            f"the demo password is configured for a non-loopback host ({host}) in {conn_id}; "
            "set a real secret, or LGSP_DEMO=true for a demonstration"
        )
    return Endpoint(url=url.rstrip("/"), username=username, password=password)


_EXTRA = "extra."  # a connection's extra, flattened into its dict as extra.<name>


def _airflow_connection(conn_id: str) -> dict[str, str] | None:
    """Read an Airflow connection: inside a task through Airflow, else from AIRFLOW_CONN_<ID>."""
    if os.environ.get("AIRFLOW_CTX_DAG_ID"):  # set by Airflow inside a running task
        from airflow.sdk import Connection

        try:
            airflow_conn = Connection.get(conn_id)
        except Exception:  # noqa: BLE001 - Airflow raises its own not-found type; fall through to env
            airflow_conn = None
        if airflow_conn is not None:
            scheme = airflow_conn.conn_type if airflow_conn.conn_type in ("http", "https") else "http"
            port = f":{airflow_conn.port}" if airflow_conn.port else ""
            schema = airflow_conn.schema or ""
            path = schema if schema.startswith("/") else f"/{schema}" if schema else ""
            return {
                "url": f"{scheme}://{airflow_conn.host}{port}{path}",
                "username": airflow_conn.login or "",
                "password": airflow_conn.password or "",
                **_flat_extra(airflow_conn.extra_dejson),
            }
    raw = os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}")
    return _parse_connection(raw, conn_id) if raw else None


def _parse_connection(raw: str, conn_id: str) -> dict[str, str]:
    """Parse an Airflow connection given as a URI or as JSON."""
    if raw.lstrip().startswith("{"):
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"AIRFLOW_CONN_{conn_id.upper()} is not valid JSON") from exc
        scheme = data.get("conn_type", "http")
        port = f":{data['port']}" if data.get("port") else ""
        schema = data.get("schema", "")
        extra = data.get("extra") or {}
        try:
            extra = json.loads(extra) if isinstance(extra, str) else extra  # Airflow writes it either way
        except json.JSONDecodeError as exc:
            raise ConfigError(f"the extra of AIRFLOW_CONN_{conn_id.upper()} is not valid JSON") from exc
        extra = extra if isinstance(extra, dict) else {}
        return {
            "url": f"{scheme}://{data.get('host', '')}{port}/{schema.lstrip('/')}",
            "username": data.get("login", ""),
            "password": data.get("password", ""),
            **_flat_extra(extra),
        }
    parts = urlsplit(raw)
    if not parts.hostname:
        raise ConfigError(f"AIRFLOW_CONN_{conn_id.upper()} has no host; expected http://USER:PASSWORD@HOST:PORT/path")
    port = f":{parts.port}" if parts.port else ""
    return {
        "url": f"{parts.scheme}://{parts.hostname}{port}{parts.path}",
        "username": unquote(parts.username or ""),
        "password": unquote(parts.password or ""),
        **_flat_extra({name: values[-1] for name, values in parse_qs(parts.query).items()}),
    }


def _flat_extra(extra: Mapping[str, Any]) -> dict[str, str]:
    return {f"{_EXTRA}{name}": value if isinstance(value, str) else json.dumps(value) for name, value in extra.items()}
