"""``GET /v1/changes``: what was published since a time, page by page, only the granted fields.

The feed is ordered by ``(published_at, key)`` and paged by keyset: each page ends with
an opaque ``next_cursor`` (``hub.api.cursor``) that starts the next one after the last
row served, so pages neither skip nor repeat rows however large the dataset. A record
published again later (it changed) comes again, in its new place. ``next_cursor`` is
given even on the last page: keep it and ask again later for what comes next.

Citizens come from ``citizen`` (indexed on ``published_at``), civil-status events from
``civil_event``. Each page is one entry in the audit ledger with the keys it served.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy import Connection, Table, and_, or_, select

from hub.api.calls import AGENCY, Call, call_for
from hub.api.citizens import SourcedValue
from hub.api.cursor import BadCursor, Position, decode_cursor, encode_cursor
from hub.api.params import CURSOR_PATTERN, Dataset, PurposeQuery
from hub.api.problems import ApiProblem, InvalidParam, problem_content, problem_example, problem_responses
from hub.sharing.policy import Grant, require_grant
from hub.sharing.provenance import AUTHORITATIVE_SYSTEMS, open_conflicts, sourced_fields
from hub.store.tables import citizen, civil_event
from schemas.datasets import CITIZEN, CIVIL_EVENT, DATASET_KEYS

router = APIRouter(tags=["changes"])
DEFAULT_LIMIT, MAX_LIMIT = 100, 1000
_CIVIL_STATUS = "civil_status"


class ChangeItem(BaseModel):
    """One published record: when the hub published it, and its granted fields."""

    published_at: datetime
    fields: dict[str, SourcedValue]


class ChangePage(BaseModel):
    """One page of the feed, and where the next one starts."""

    dataset: str
    purpose: str
    agreement_ids: list[str]
    legal_basis: str
    items: list[ChangeItem]
    next_cursor: str
    has_more: bool


# Exactly one of since and cursor. OpenAPI 3.1 cannot say so in a schema: each query parameter has a
# schema of its own and none spans the query string. So both parameters say it, and the 422 is
# documented with the example of this very refusal.
ONE_OF_DETAIL = "give either since (the first page) or cursor (the next ones), not both or neither"
ONE_OF_PARAM = InvalidParam(name="query.since", reason="exactly one of since, cursor")
_ONE_OF = "Exactly one of `since` and `cursor`: both, or neither, is refused with 422."
_REFUSED_422 = {
    "description": "Invalid request: a parameter is malformed, since and cursor are both given (or neither), "
    "or the cursor is not one this hub issued for this feed",
    "content": problem_content(
        422,
        since_and_cursor={
            "summary": "since and cursor together (or neither)",
            "value": problem_example(422, ONE_OF_DETAIL, invalid_params=[ONE_OF_PARAM]),
        },
    ),
}


@router.get(
    "/v1/changes",
    response_model=ChangePage,
    summary="Read what was published since a time",
    description="One page of a dataset's changes, with the fields the caller's agreements grant for `purpose`. "
    f"The first page starts at `since`; each next one at the `cursor` the page before gave. {_ONE_OF}",
    responses={**problem_responses(401, 403), 422: _REFUSED_422},
)
def read_changes(
    dataset: Annotated[Dataset, Query(description="citizen or civil_event")],
    purpose: PurposeQuery,
    call: Annotated[Call, Depends(call_for("change_feed", query=("dataset", "purpose", "since", "limit", "cursor")))],
    since: Annotated[
        datetime | None,
        Query(description=f"For the first page: ISO 8601, naive times are UTC. {_ONE_OF}"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        Query(pattern=CURSOR_PATTERN, description=f"For the next pages: `next_cursor` of the page before. {_ONE_OF}"),
    ] = None,
) -> dict[str, Any]:
    """One page of ``dataset``'s changes, only the fields the caller's agreements grant for ``purpose``.

    Raises:
        AccessDenied: wrong role or scope, no valid agreement for the dataset and purpose.
        ApiProblem: 422, neither or both of ``since`` and ``cursor``, or a cursor not for this feed.
    """
    call.dataset = dataset
    call.note(purpose=purpose)
    call.require(roles={AGENCY}, scope=dataset)
    with call.transaction() as conn:
        grant = require_grant(conn, call.agency, dataset, purpose, call.today)
        call.note(legal_basis=grant.legal_basis)
        start = _start(call, dataset, purpose, since, cursor)
        rows = _FEEDS[dataset].page(conn, start, limit + 1)
        page, has_more = rows[:limit], len(rows) > limit
        key = DATASET_KEYS[dataset]
        items = _FEEDS[dataset].share(conn, page, sorted(grant.fields))
        call.append(
            conn,
            fields=grant.fields,
            record_keys=[str(row[key]) for row in page],
            detail=f"page of {len(page)}; agreements {','.join(grant.agreement_ids)}",
        )
    last = Position(page[-1]["published_at"], str(page[-1][key])) if page else start
    return {
        **_header(dataset, purpose, grant),
        "items": items,
        "has_more": has_more,
        "next_cursor": encode_cursor(
            call.context.cursor_key, agency=call.agency, dataset=dataset, purpose=purpose, position=last
        ),
    }


def _header(dataset: str, purpose: str, grant: Grant) -> dict[str, Any]:
    return {
        "dataset": dataset,
        "purpose": purpose,
        "agreement_ids": list(grant.agreement_ids),
        "legal_basis": grant.legal_basis,
    }


def _start(call: Call, dataset: str, purpose: str, since: datetime | None, cursor: str | None) -> Position:
    """Where the page starts: just before ``since``, or just after the cursor's row.

    Raises:
        ApiProblem: 422, neither or both given, or a cursor not for this feed.
    """
    if (since is None) == (cursor is None):
        raise ApiProblem(422, ONE_OF_DETAIL, invalid_params=[ONE_OF_PARAM])
    if cursor is not None:
        try:
            return decode_cursor(call.context.cursor_key, cursor, agency=call.agency, dataset=dataset, purpose=purpose)
        except BadCursor as exc:
            raise ApiProblem(
                422, str(exc), invalid_params=[InvalidParam(name="query.cursor", reason=str(exc))]
            ) from None
    assert since is not None
    at = since.astimezone(UTC).replace(tzinfo=None) if since.tzinfo is not None else since
    return Position(at, "")  # every key sorts after "": rows published at exactly `since` are included


@dataclass(frozen=True)
class _Feed:
    """How one dataset's table is paged and shared."""

    table: Table
    key: str

    def page(self, conn: Connection, after: Position, size: int) -> Sequence[Any]:
        """Up to ``size`` rows after ``after`` in (published_at, key) order."""
        at, key = self.table.c.published_at, self.table.c[self.key]
        query = (
            select(self.table)
            .where(
                at >= after.published_at,  # the index range; the OR below only trims the first instant
                or_(at > after.published_at, and_(at == after.published_at, key > after.key)),
            )
            .order_by(at, key)
            .limit(size)
        )
        return conn.execute(query).mappings().all()

    def share(self, conn: Connection, rows: Sequence[Any], fields: Sequence[str]) -> list[dict[str, Any]]:
        """The granted fields of each row, each with its source, last update and verified flag."""
        if self.table is citizen:
            conflicts = open_conflicts(conn, [row["personal_id"] for row in rows])
            return [
                {
                    "published_at": _utc(row["published_at"]),
                    "fields": {name: value.as_json() for name, value in sourced_fields(row, fields, conflicts).items()},
                }
                for row in rows
            ]
        # An event is the civil-status register's own record: its source is the register.
        return [
            {
                "published_at": _utc(row["published_at"]),
                "fields": {
                    name: {
                        "value": _json_ready(row[name]),
                        "source": _CIVIL_STATUS,
                        "last_updated": row["recorded_at"].isoformat(),
                        "verified": _CIVIL_STATUS in AUTHORITATIVE_SYSTEMS,
                    }
                    for name in fields
                },
            }
            for row in rows
        ]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC)  # the store keeps naive UTC; say so on the wire


def _json_ready(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


_FEEDS = {CITIZEN: _Feed(citizen, DATASET_KEYS[CITIZEN]), CIVIL_EVENT: _Feed(civil_event, DATASET_KEYS[CIVIL_EVENT])}
