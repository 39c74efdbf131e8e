"""The population sync: National Population Database -> staging -> audit -> golden citizens."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection

from connectors.population import SYSTEM, Page, PopulationSource
from connectors.soap import SoapClient
from hub.pipeline import stages
from hub.pipeline.citizen_merge import merge_citizens
from hub.pipeline.stages import MergeCounts, StreamSpec
from hub.settings import Settings, population_endpoint
from hub.store.tables import staging_citizen
from quality import citizen_suite
from schemas.datasets import CITIZEN

STREAM = "population.citizens"


def connect_source(settings: Settings) -> PopulationSource:
    """A population source built from the endpoint settings / Airflow connection."""
    endpoint = population_endpoint(settings)
    client = SoapClient(
        system=SYSTEM,
        url=endpoint.url,
        username=endpoint.username,
        password=endpoint.password.get_secret_value(),
        timeout=settings.operation_timeout,
        password_type=endpoint.password_type,
        max_response_bytes=settings.max_response_bytes,
    )
    return PopulationSource(
        client, page_size=settings.page_size, max_attempts=settings.max_attempts, backoff=settings.backoff_seconds
    )


def _read_pages(settings: Settings, since: datetime) -> Iterable[Page]:
    return connect_source(settings).changed_since(since)


def _merge(conn: Connection, run_id: str, now: datetime) -> MergeCounts:
    return merge_citizens(conn, run_id, now, SYSTEM)


SPEC = StreamSpec(
    stream=STREAM,
    system=SYSTEM,
    staging=staging_citizen,
    suite=citizen_suite.SUITE,
    cursor_column="source_updated_at",
    read_pages=_read_pages,
    merge=_merge,
    shares=CITIZEN,
)

_BOUND = stages.bind(SPEC)
extract, audit, publish, sync = _BOUND.extract, _BOUND.audit, _BOUND.publish, _BOUND.sync
