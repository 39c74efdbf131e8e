"""``GET /v1/catalogue``: what the hub shares, where it comes from, how fresh it is, and what the caller may read.

Any valid token may read it: systems (titles, owner, protocol, legal basis, streams)
and datasets (titles, source system and stream, owner, legal basis, key, typed fields
with their personal flag), each with its freshness (the stream's last published run,
from ``sync_run``, and its cursor, from ``sync_state``) and, for the caller's agency,
the fields each valid agreement grants and for which purpose. It holds no record, so
reading it is not an entry in the audit ledger (as listing one's subscriptions is not).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel
from sqlalchemy import Connection, func, select

from hub.api.calls import Call, call_for
from hub.api.problems import problem_responses
from hub.sharing.policy import Grant, require_grant
from hub.store.tables import agreement, sync_run, sync_state
from hub.systems.catalogue import DatasetEntry, SystemEntry
from lgsp.errors import AccessDenied

router = APIRouter(tags=["catalogue"])


class TitleInfo(BaseModel):
    """A name in Vietnamese and in English."""

    vi: str
    en: str


class FieldInfo(BaseModel):
    """One field: canonical name, type, titles, and whether it is personal data."""

    name: str
    type: str
    title: TitleInfo
    personal: bool


class GrantInfo(BaseModel):
    """What the caller's valid agreements grant of a dataset for one purpose."""

    purpose: str
    fields: list[str]
    agreement_ids: list[str]
    legal_basis: str
    consent_required: bool


class Freshness(BaseModel):
    """How fresh a dataset is: its stream's last published run, and how far the stream has read."""

    schedule: str | None
    last_published_run_id: str | None
    last_published_at: datetime | None
    cursor: str | None


class DatasetInfo(BaseModel):
    """One shared dataset."""

    dataset: str
    title: TitleInfo
    system: str
    stream: str
    owner: str
    legal_basis: str | None
    key: str
    fields: list[FieldInfo]
    freshness: Freshness
    granted: list[GrantInfo]


class SystemInfo(BaseModel):
    """One connected system."""

    system: str
    title: TitleInfo
    owner: str
    legal_basis: str | None
    protocol: str
    streams: list[str]
    datasets: list[str]


class CatalogueDocument(BaseModel):
    """Every connected system and every shared dataset."""

    systems: list[SystemInfo]
    datasets: list[DatasetInfo]


@router.get(
    "/v1/catalogue",
    response_model=CatalogueDocument,
    summary="The catalogue: systems, datasets, fields, freshness, and what you are granted",
    responses=problem_responses(401, 422),
)
def read_catalogue(call: Annotated[Call, Depends(call_for("catalogue_read"))]) -> dict[str, Any]:
    """The catalogue as the caller's agency sees it today."""
    known = call.context.catalogue
    with call.transaction() as conn:
        fresh = _freshness(conn, [entry.stream for entry in known.datasets.values()])
        grants = _grants(conn, call.agency, call.today)
    return {
        "systems": [_system(entry) for entry in known.systems.values()],
        "datasets": [
            {
                **_dataset(entry),
                "freshness": {"schedule": entry.schedule, **fresh.get(entry.stream, _NEVER)},
                "granted": [_grant(grant) for grant in grants.get(entry.name, [])],
            }
            for entry in known.datasets.values()
        ],
    }


_NEVER: dict[str, Any] = {"last_published_run_id": None, "last_published_at": None, "cursor": None}


def _freshness(conn: Connection, streams: list[str]) -> dict[str, dict[str, Any]]:
    """stream -> its last published run (id, finish time) and cursor; streams that never ran are absent."""
    found: dict[str, dict[str, Any]] = defaultdict(lambda: dict(_NEVER))
    newest = (
        select(sync_run.c.stream, func.max(sync_run.c.finished_at).label("at"))
        .where(sync_run.c.stream.in_(streams), sync_run.c.status == "published")
        .group_by(sync_run.c.stream)
        .subquery()
    )
    for stream, run_id, at in conn.execute(
        select(sync_run.c.stream, sync_run.c.run_id, sync_run.c.finished_at)
        .join(newest, (newest.c.stream == sync_run.c.stream) & (newest.c.at == sync_run.c.finished_at))
        .where(sync_run.c.status == "published")
        .order_by(sync_run.c.run_id)
    ).tuples():
        found[stream].update(last_published_run_id=run_id, last_published_at=at.replace(tzinfo=UTC))
    for stream, cursor in conn.execute(
        select(sync_state.c.stream, sync_state.c.cursor).where(sync_state.c.stream.in_(streams))
    ).tuples():
        found[stream]["cursor"] = cursor
    return dict(found)


def _grants(conn: Connection, agency_code: str, on: date) -> dict[str, list[Grant]]:
    """dataset -> the agency's grants valid on ``on``, one per purpose."""
    pairs = conn.execute(
        select(agreement.c.dataset, agreement.c.purpose)
        .where(
            agreement.c.agency_code == agency_code,
            agreement.c.valid_from <= on,
            agreement.c.valid_until.is_(None) | (agreement.c.valid_until >= on),
        )
        .distinct()
        .order_by(agreement.c.dataset, agreement.c.purpose)
    ).tuples()
    found: dict[str, list[Grant]] = defaultdict(list)
    for dataset, purpose in pairs:
        try:
            found[dataset].append(require_grant(conn, agency_code, dataset, purpose, on))
        except AccessDenied:  # pragma: no cover - the query above asked for valid ones only
            continue
    return found


def _grant(grant: Grant) -> dict[str, Any]:
    return {
        "purpose": grant.purpose,
        "fields": sorted(grant.fields),
        "agreement_ids": list(grant.agreement_ids),
        "legal_basis": grant.legal_basis,
        "consent_required": grant.consent_required,
    }


def _dataset(entry: DatasetEntry) -> dict[str, Any]:
    return {
        "dataset": entry.name,
        "title": entry.title.model_dump(),
        "system": entry.system,
        "stream": entry.stream,
        "owner": entry.owner,
        "legal_basis": entry.legal_basis,
        "key": entry.key,
        "fields": [
            {"name": item.name, "type": item.type, "title": item.title.model_dump(), "personal": item.personal}
            for item in entry.fields
        ],
    }


def _system(entry: SystemEntry) -> dict[str, Any]:
    return {
        "system": entry.name,
        "title": entry.title.model_dump(),
        "owner": entry.owner,
        "legal_basis": entry.legal_basis,
        "protocol": entry.protocol,
        "streams": list(entry.streams),
        "datasets": list(entry.datasets),
    }
