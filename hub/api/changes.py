"""``GET /v1/changes``: what was published since a time, page by page, only the granted fields.

The feed is ordered by ``(published_at, key)`` and paged by keyset: each page ends with
an opaque ``next_cursor`` (``hub.api.cursor``) that starts the next one after the last
row served, so pages neither skip nor repeat rows however large the dataset. A record
published again later (it changed) comes again, in its new place. ``next_cursor`` is
given even on the last page: keep it and ask again later for what comes next.

Citizens come from ``citizen`` (indexed on ``published_at``), civil-status events from
``civil_event``, a declared dataset from its generated table (``hub.sharing.datasets``),
its values stamped with their source as the generic merge recorded it. A dataset whose
agreement asks for each record's consent has no feed: its records are read one by one
(``hub.api.records``). Each page is one entry in the audit ledger with the keys it served.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy import ColumnElement, Connection, Table, and_, or_, select

from hub.api.calls import AGENCY, Call, call_for
from hub.api.citizens import SourcedValue
from hub.api.cursor import BadCursor, Position, decode_cursor, encode_cursor
from hub.api.params import CURSOR_PATTERN, PurposeQuery, annotate, dataset_type
from hub.api.problems import ApiProblem, InvalidParam, problem_content, problem_example, problem_responses
from hub.sharing.datasets import golden_table, key_value
from hub.sharing.policy import Grant, require_grant
from hub.sharing.provenance import SourcedValue as ProvenancedValue
from hub.sharing.provenance import authoritative_systems, declared_fields, open_conflicts, sourced_fields
from hub.systems.catalogue import Catalogue, DatasetEntry
from lgsp.errors import AccessDenied
from schemas.datasets import CITIZEN, CIVIL_EVENT

DEFAULT_LIMIT, MAX_LIMIT = 100, 1000


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


def router_for(known: Catalogue) -> APIRouter:
    """The feed's route, its ``dataset`` parameter listing ``known``'s datasets."""
    router = APIRouter(tags=["changes"])
    dataset_param: Any = Annotated[
        dataset_type(tuple(known.datasets)), Query(description="A dataset of the catalogue (GET /v1/catalogue)")
    ]

    def read_changes(
        dataset: str,
        purpose: PurposeQuery,
        call: Annotated[
            Call, Depends(call_for("change_feed", query=("dataset", "purpose", "since", "limit", "cursor")))
        ],
        since: Annotated[
            datetime | None,
            Query(description=f"For the first page: ISO 8601, naive times are UTC. {_ONE_OF}"),
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        cursor: Annotated[
            str | None,
            Query(
                pattern=CURSOR_PATTERN, description=f"For the next pages: `next_cursor` of the page before. {_ONE_OF}"
            ),
        ] = None,
    ) -> dict[str, Any]:
        """One page of ``dataset``'s changes, only the fields the caller's agreements grant for ``purpose``.

        Raises:
            AccessDenied: wrong role or scope, no valid agreement for the dataset and purpose, or one that
                asks for each record's consent (read those one by one under a consent).
            ApiProblem: 422, neither or both of ``since`` and ``cursor``, or a cursor not for this feed.
        """
        return _read(call, dataset, purpose, since, limit, cursor)

    router.add_api_route(
        "/v1/changes",
        annotate(read_changes, dataset=dataset_param),
        methods=["GET"],
        response_model=ChangePage,
        summary="Read what was published since a time",
        description="One page of a dataset's changes, with the fields the caller's agreements grant for `purpose`. "
        f"The first page starts at `since`; each next one at the `cursor` the page before gave. {_ONE_OF}",
        responses={**problem_responses(401, 403), 422: _REFUSED_422},
    )
    return router


def _read(
    call: Call, dataset: str, purpose: str, since: datetime | None, limit: int, cursor: str | None
) -> dict[str, Any]:
    call.dataset = dataset
    call.note(purpose=purpose)
    call.require(roles={AGENCY}, scope=dataset)
    feed = _Feed(call.context.catalogue.dataset(dataset))
    with call.reading() as conn:
        grant = require_grant(conn, call.agency, dataset, purpose, call.today)
        call.note(legal_basis=grant.legal_basis)
        if grant.consent_required:
            raise AccessDenied(
                f"agency {call.agency}'s agreement for {dataset} ({purpose}) asks for the citizen's consent to "
                f"each read: read records one by one at /v1/datasets/{dataset}/records/{{key}} with a consent_id",
                rule="consent_required",
            )
        start = _start(call, dataset, purpose, since, cursor)
        rows = feed.page(conn, start, limit + 1)
        page, has_more = rows[:limit], len(rows) > limit
        key = feed.entry.key
        items = feed.share(conn, page, sorted(grant.fields))
    call.record(
        fields=grant.fields,
        record_keys=[str(row[key]) for row in page],
        detail=f"page of {len(page)}; agreements {','.join(grant.agreement_ids)}",
    )
    last = Position(page[-1]["published_at"], _key_text(page[-1][key])) if page else start
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
    """How one dataset's golden table is paged and shared."""

    entry: DatasetEntry

    @property
    def table(self) -> Table:
        """The dataset's golden table."""
        return golden_table(self.entry)

    def page(self, conn: Connection, after: Position, size: int) -> Sequence[Any]:
        """Up to ``size`` rows after ``after`` in (published_at, key) order."""
        table = self.table
        at, key = table.c.published_at, table.c[self.entry.key]
        after_row: ColumnElement[bool] = at >= after.published_at  # the first page: all of that instant
        if after.key:
            later_key = key > key_value(self.entry, after.key)
            after_row = or_(at > after.published_at, and_(at == after.published_at, later_key))
        # at >= ...: the index range; the OR only trims the first instant
        query = select(table).where(at >= after.published_at, after_row).order_by(at, key).limit(size)
        return conn.execute(query).mappings().all()

    def share(self, conn: Connection, rows: Sequence[Any], fields: Sequence[str]) -> list[dict[str, Any]]:
        """The granted fields of each row, each with its source, last update and verified flag."""
        if self.entry.name == CITIZEN:
            conflicts = open_conflicts(conn, [row["personal_id"] for row in rows])
            return [_item(row, sourced_fields(row, fields, conflicts)) for row in rows]
        if self.entry.name == CIVIL_EVENT:
            return [_item(row, _event_fields(row, fields, self.entry.source or self.entry.system)) for row in rows]
        return [_item(row, declared_fields(row, fields, self.entry.key, self.entry.source)) for row in rows]


def _item(row: Any, shared: dict[str, ProvenancedValue]) -> dict[str, Any]:
    return {"published_at": _utc(row["published_at"]), "fields": {name: v.as_json() for name, v in shared.items()}}


def _event_fields(row: Any, fields: Sequence[str], source: str) -> dict[str, ProvenancedValue]:
    # An event is the civil-status register's own record: its source is the register (the declared system).
    verified = source in authoritative_systems()
    return {
        name: ProvenancedValue(
            _json_ready(row[name]),
            source,
            row["recorded_at"].isoformat(),
            verified,
        )
        for name in fields
    }


def _key_text(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC)  # the store keeps naive UTC; say so on the wire


def _json_ready(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value
