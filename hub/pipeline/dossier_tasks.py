"""The one-stop dossiers' followups, named by their declaration (``config/systems/one_stop.yaml``, ``then:``).

``route`` hands cross-boundary dossiers to the competent commune (``hub.pipeline.routing``);
``deliver`` sends the portal outbox (``hub.sharing.delivery``). Both take what every
followup takes: the run id, the settings and an engine. The one-stop system's endpoint
and API key come from the declaration's connection and auth, as its feed's do.
"""

from __future__ import annotations

from sqlalchemy import Engine

from connectors.declared.auth import rest_auth
from connectors.one_stop import SYSTEM, OneStopSource
from connectors.rest import RestClient
from hub.pipeline.routing import RoutingSummary, route_dossiers
from hub.settings import Settings, declared_endpoint
from hub.sharing.delivery import DeliverySummary
from hub.store.engine import open_store
from hub.systems.loader import load_systems
from lgsp.errors import ConfigError


def connect_source(settings: Settings) -> OneStopSource:
    """The one-stop system's routing client: its declared connection and auth.

    Raises:
        ConfigError: no declaration of the system, or its connection is not configured.
    """
    declared = next((item.decl for item in load_systems() if item.decl.system == SYSTEM), None)
    if declared is None:
        raise ConfigError(f"routing needs the {SYSTEM} system declared in config/systems/{SYSTEM}.yaml")
    endpoint = declared_endpoint(settings, declared.connection, needs_login=False, needs_secret=True)
    auth = rest_auth(
        declared.auth,
        system=SYSTEM,
        base_url=endpoint.url,
        login=endpoint.username,
        password=endpoint.password,
        timeout=settings.operation_timeout,
    )
    client = RestClient(
        SYSTEM,
        endpoint.url,
        auth=auth,
        timeout=settings.operation_timeout,
        max_attempts=settings.max_attempts,
        backoff=settings.backoff_seconds,
        max_body_bytes=settings.max_response_bytes,
    )
    return OneStopSource(client, page_size=settings.page_size)


def route(run_id: str, settings: Settings, engine: Engine | None = None) -> RoutingSummary:
    """Route waiting cross-boundary dossiers, collect the communes' decisions, hand the results back."""
    engine = engine or open_store(settings.resolved_database_url())
    source = connect_source(settings)
    try:
        return route_dossiers(engine, source, run_id)
    finally:
        source.close()


def deliver(run_id: str, settings: Settings, engine: Engine | None = None) -> DeliverySummary:
    """Push the queued status changes to the national portal (every due message, not only this run's)."""
    from hub.sharing.delivery import deliver as deliver_outbox

    del run_id  # the outbox is shared by every run: delivery sends whatever is due
    return deliver_outbox(engine or open_store(settings.resolved_database_url()), settings)
