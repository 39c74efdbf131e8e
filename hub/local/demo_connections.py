"""Airflow connections to the mocks, as ``AIRFLOW_CONN_*`` variables: ``lgsp run`` and ``lgsp airflow`` share them.

Each URI carries the demo credential the mock was started with (``mocks.settings``),
so a connection always matches the mock it points to. A declared system with ``demo: {path}``
gets its connection derived: the mocks' base URL, its path, and the credentials
``MockSettings.demo_credentials()`` holds for its connection id. The hub refuses those demo
secrets for any host but loopback (``hub.settings``), so these URIs cannot leak into
a real deployment unnoticed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from sqlalchemy import Engine, select

from hub.store.tables import subscription

if TYPE_CHECKING:
    from hub.systems.loader import Declared


def demo_connections(base_url: str, engine: Engine) -> dict[str, str]:
    """Every ``AIRFLOW_CONN_*`` the DAGs need to reach the mocks at ``base_url`` (the store names the agencies)."""
    return {
        **api_key_connections(base_url),
        **declared_connections(base_url),
        **push_receiver_connections(base_url, engine),
    }


def declared_connections(base_url: str, systems: tuple[Declared, ...] | None = None) -> dict[str, str]:
    """``AIRFLOW_CONN_<CONNECTION>`` of each declared system the mocks serve (``demo: {path}``), with its demo login.

    A connection the mocks hold no credentials for gets none (the system's own sync then says
    what is missing).

    Raises:
        DeclarationError: a declaration is wrong.
    """
    from hub.systems.loader import load_systems
    from mocks.settings import load_settings as load_mock_settings

    credentials = load_mock_settings().demo_credentials()
    scheme, rest = base_url.split("://", 1)
    connections = {}
    for declared in systems if systems is not None else load_systems():
        decl = declared.decl
        if decl.demo is None:
            continue
        login, secret = credentials.get(decl.connection, ("", None))
        userinfo = f"{quote(login, safe='')}:{quote(secret.get_secret_value(), safe='')}@" if secret else ""
        connections[f"AIRFLOW_CONN_{decl.connection.upper()}"] = f"{scheme}://{userinfo}{rest}{decl.demo.path}"
    return connections


def api_key_connections(base_url: str) -> dict[str, str]:
    """The Airflow connection of the portal: the mock's demo API key (the declared systems' are derived)."""
    from mocks.settings import load_settings as load_mock_settings

    mock = load_mock_settings()
    scheme, rest = base_url.split("://", 1)
    portal = quote(mock.portal_api_key.get_secret_value(), safe="")
    return {
        "AIRFLOW_CONN_NATIONAL_PORTAL": f"{scheme}://:{portal}@{rest}/portal/v1",
    }


def push_receiver_connections(base_url: str, engine: Engine) -> dict[str, str]:
    """Airflow connections ``agency_push_<code>`` for every subscribing agency: the mock receiver and its secret."""
    from mocks.settings import load_settings as load_mock_settings

    mock = load_mock_settings()
    scheme, rest = base_url.split("://", 1)
    with engine.connect() as conn:
        codes = conn.execute(select(subscription.c.agency_code).where(subscription.c.active).distinct()).scalars()
        connections = {}
        for code in codes:
            secret = quote(mock.agency_push_secrets.get(code, mock.agency_push_secret).get_secret_value(), safe="")
            name = "AIRFLOW_CONN_AGENCY_PUSH_" + code.upper().replace("-", "_")
            connections[name] = f"{scheme}://:{secret}@{rest}/agency/v1/{code}/inbox"
    return connections
