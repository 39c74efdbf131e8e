"""The civil-status sync: Ministry of Justice events -> staging -> audit -> events and golden citizens."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from sqlalchemy import Engine

from connectors.auth import OAuth2ClientCredentials
from connectors.civil_status import SYSTEM, CivilStatusSource, EventPage
from connectors.rest import RestClient
from hub.pipeline import runs, stages
from hub.pipeline.civil_events import merge_events
from hub.pipeline.stages import StreamSpec
from hub.settings import Settings, civil_status_endpoint
from hub.store.tables import staging_civil_event
from quality import civil_event_suite

STREAM = "civil_status.events"


def connect_source(settings: Settings) -> CivilStatusSource:
    """A civil-status source: OAuth2 client credentials against the API's own token endpoint."""
    endpoint = civil_status_endpoint(settings)
    auth = OAuth2ClientCredentials(
        f"{endpoint.url}/oauth/token", endpoint.username, endpoint.password,
        timeout=settings.operation_timeout, system=SYSTEM,
    )
    client = RestClient(
        SYSTEM, endpoint.url, auth=auth, timeout=settings.operation_timeout,
        max_attempts=settings.max_attempts, backoff=settings.backoff_seconds,
    )
    return CivilStatusSource(client, page_size=settings.page_size)


def _read_pages(settings: Settings, since: datetime) -> Iterable[EventPage]:
    return connect_source(settings).changed_since(since)


SPEC = StreamSpec(
    stream=STREAM, system=SYSTEM, staging=staging_civil_event, suite=civil_event_suite.SUITE,
    cursor_column="recorded_at", read_pages=_read_pages, merge=merge_events,
)


def extract(run_id: str, settings: Settings, engine: Engine | None = None) -> runs.RunSummary:
    """Stage every event recorded since the stream's cursor, page by page."""
    return stages.extract(SPEC, run_id, settings, engine)


def audit(run_id: str, settings: Settings, engine: Engine | None = None, as_of: date | None = None) -> runs.RunSummary:
    """Run the civil-event expectation suite once over the run's staging rows."""
    return stages.audit(SPEC, run_id, settings, engine, as_of)


def publish(run_id: str, settings: Settings, engine: Engine | None = None) -> runs.RunSummary:
    """In one transaction: accept and apply passing events, quarantine failing ones, advance the cursor."""
    return stages.publish(SPEC, run_id, settings, engine)


def sync(run_id: str, settings: Settings, engine: Engine | None = None) -> runs.RunSummary:
    """All three stages in a row, for the CLI and tests."""
    return stages.sync(SPEC, run_id, settings, engine)
