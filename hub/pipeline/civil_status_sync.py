"""The civil-status sync: Ministry of Justice events -> staging -> audit -> events and golden citizens."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from connectors.auth import OAuth2ClientCredentials
from connectors.civil_status import SYSTEM, CivilStatusSource, EventPage
from connectors.rest import RestClient
from hub.pipeline import stages
from hub.pipeline.civil_events import merge_events
from hub.pipeline.stages import StreamSpec
from hub.settings import Settings, civil_status_endpoint
from hub.store.tables import staging_civil_event
from quality import civil_event_suite
from schemas.datasets import CITIZEN

STREAM = "civil_status.events"


def connect_source(settings: Settings) -> CivilStatusSource:
    """A civil-status source: OAuth2 client credentials against the API's own token endpoint."""
    endpoint = civil_status_endpoint(settings)
    auth = OAuth2ClientCredentials(
        f"{endpoint.url}/oauth/token",
        endpoint.username,
        endpoint.password,
        timeout=settings.operation_timeout,
        system=SYSTEM,
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
    return CivilStatusSource(client, page_size=settings.page_size)


def _read_pages(settings: Settings, since: datetime) -> Iterable[EventPage]:
    return connect_source(settings).changed_since(since)


SPEC = StreamSpec(
    stream=STREAM,
    system=SYSTEM,
    staging=staging_civil_event,
    suite=civil_event_suite.SUITE,
    cursor_column="recorded_at",
    read_pages=_read_pages,
    merge=merge_events,
    shares=CITIZEN,
)

_BOUND = stages.bind(SPEC)
extract, audit, publish, sync = _BOUND.extract, _BOUND.audit, _BOUND.publish, _BOUND.sync
