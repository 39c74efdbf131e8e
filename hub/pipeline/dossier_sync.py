"""The dossier sync: one-stop system dossiers -> staging -> audit -> dossiers, their statuses and the portal outbox.

Then ``route`` hands cross-boundary dossiers to the competent commune (``hub.pipeline.routing``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from sqlalchemy import Engine

from connectors.auth import ApiKeyAuth
from connectors.one_stop import SYSTEM, DossierPage, OneStopSource
from connectors.rest import RestClient
from hub.pipeline import stages
from hub.pipeline.dossiers import merge_dossiers
from hub.pipeline.routing import RoutingSummary, route_dossiers
from hub.pipeline.stages import StreamSpec
from hub.settings import Settings, one_stop_endpoint
from hub.sharing.delivery import DeliverySummary
from hub.store.engine import open_store
from hub.store.tables import staging_dossier
from quality import dossier_suite

STREAM = "one_stop.dossiers"
API_KEY_HEADER = "X-API-Key"
# The feed lists updates strictly after a whole second, and several can share that second:
# one written after our last read (routing appends one at the system's "now") would be
# skipped for good. Re-reading the cursor's second costs a few rows counted unchanged.
CURSOR_OVERLAP = timedelta(seconds=1)


def connect_source(settings: Settings) -> OneStopSource:
    """A one-stop source: a static API key in ``X-API-Key``."""
    endpoint = one_stop_endpoint(settings)
    client = RestClient(
        SYSTEM,
        endpoint.url,
        auth=ApiKeyAuth(API_KEY_HEADER, endpoint.password),
        timeout=settings.operation_timeout,
        max_attempts=settings.max_attempts,
        backoff=settings.backoff_seconds,
        max_body_bytes=settings.max_response_bytes,
    )
    return OneStopSource(client, page_size=settings.page_size)


def _read_pages(settings: Settings, since: datetime) -> Iterator[DossierPage]:
    source = connect_source(settings)
    try:
        yield from source.changed_since(since - CURSOR_OVERLAP)
    finally:
        source.close()


SPEC = StreamSpec(
    stream=STREAM,
    system=SYSTEM,
    staging=staging_dossier,
    suite=dossier_suite.SUITE,
    cursor_column="source_updated_at",
    read_pages=_read_pages,
    merge=merge_dossiers,
)

_BOUND = stages.bind(SPEC)
extract, audit, publish, sync = _BOUND.extract, _BOUND.audit, _BOUND.publish, _BOUND.sync


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
