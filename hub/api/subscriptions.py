"""``/v1/subscriptions``: an agency's standing requests for pushes, its own only.

A subscription names a dataset and a purpose the agency holds a valid agreement for;
the push delivery (``hub.sharing.push``) reads the same ``subscription`` table.
Deleting one deactivates it (the row stays, so the history of who received what can
be explained); subscribing again reactivates it. Another agency's subscription is
answered as if it did not exist.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, insert, select, update

from hub.api.calls import AGENCY, Call, call_for
from hub.api.params import Dataset, PurposeText, SubscriptionIdPath
from hub.api.problems import ApiProblem, problem_responses
from hub.sharing.policy import require_grant
from hub.store.tables import subscription

router = APIRouter(tags=["subscriptions"])


class SubscriptionRequest(BaseModel):
    """What to be pushed: one dataset's changes, under one purpose's agreement."""

    model_config = ConfigDict(extra="forbid")
    dataset: Dataset
    purpose: PurposeText


class SubscriptionRecord(BaseModel):
    """One of the caller's subscriptions."""

    subscription_id: int
    dataset: str
    purpose: str
    active: bool
    created_at: datetime


class SubscriptionList(BaseModel):
    """The caller's subscriptions, active and ended."""

    subscriptions: list[SubscriptionRecord]


@router.post(
    "/v1/subscriptions",
    status_code=201,
    response_model=SubscriptionRecord,
    summary="Subscribe to pushes",
    responses={
        200: {"model": SubscriptionRecord, "description": "Already subscribed"},
        **problem_responses(401, 403, 422),
    },
)
def subscribe(
    body: SubscriptionRequest, response: Response, call: Annotated[Call, Depends(call_for("subscription_create"))]
) -> dict[str, Any]:
    """Subscribe (201), or find the subscription already active (200).

    Raises:
        AccessDenied: wrong role or scope, no valid agreement for the dataset and purpose.
    """
    call.dataset = body.dataset
    call.note(purpose=body.purpose)
    call.require(roles={AGENCY}, scope=body.dataset)
    with call.transaction() as conn:
        grant = require_grant(conn, call.agency, body.dataset, body.purpose, call.today)
        call.note(legal_basis=grant.legal_basis)
        found = _find(conn, call.agency, body.dataset, body.purpose)
        if found is not None and found["active"]:
            response.status_code = 200
            return _record(found)
        if found is None:
            conn.execute(
                insert(subscription).values(
                    agency_code=call.agency,
                    dataset=body.dataset,
                    purpose=body.purpose,
                    active=True,
                    created_at=call.context.now().replace(tzinfo=None),
                )
            )
        else:
            conn.execute(
                update(subscription)
                .where(subscription.c.subscription_id == found["subscription_id"])
                .values(active=True)
            )
        created = _find(conn, call.agency, body.dataset, body.purpose)
        assert created is not None
        call.append(conn, fields=grant.fields, detail=f"subscription {created['subscription_id']}")
    return _record(created)


@router.get(
    "/v1/subscriptions",
    response_model=SubscriptionList,
    summary="List your subscriptions",
    responses=problem_responses(401, 403, 422),
)
def list_subscriptions(call: Annotated[Call, Depends(call_for("subscription_list"))]) -> dict[str, Any]:
    """The caller's agency's subscriptions (not recorded in the ledger: no personal data moves).

    Raises:
        AccessDenied: not an agency client.
    """
    call.require(roles={AGENCY})
    with call.transaction() as conn:
        rows = (
            conn.execute(
                select(subscription)
                .where(subscription.c.agency_code == call.agency)
                .order_by(subscription.c.subscription_id)
            )
            .mappings()
            .all()
        )
    return {"subscriptions": [_record(row) for row in rows]}


@router.delete(
    "/v1/subscriptions/{subscription_id}",
    response_model=SubscriptionRecord,
    summary="End a subscription",
    responses=problem_responses(401, 403, 404, 422),
)
def unsubscribe(
    subscription_id: SubscriptionIdPath, call: Annotated[Call, Depends(call_for("subscription_delete"))]
) -> dict[str, Any]:
    """Deactivate one of the caller's subscriptions.

    Raises:
        AccessDenied: not an agency client.
        ApiProblem: 404, no such subscription of the caller's agency.
    """
    call.require(roles={AGENCY})
    with call.transaction() as conn:
        owned = (subscription.c.subscription_id == subscription_id) & (subscription.c.agency_code == call.agency)
        row = conn.execute(select(subscription).where(owned)).mappings().first()
        if row is None:
            raise ApiProblem(404, "your agency has no subscription with this id", audit="not_found")
        call.dataset = row["dataset"]
        call.note(purpose=row["purpose"])
        conn.execute(update(subscription).where(owned).values(active=False))
        call.append(conn, detail=f"subscription {subscription_id}")
        ended = {**row, "active": False}
    return _record(ended)


def _find(conn: Connection, agency_code: str, dataset: str, purpose: str) -> Any:
    return (
        conn.execute(
            select(subscription).where(
                subscription.c.agency_code == agency_code,
                subscription.c.dataset == dataset,
                subscription.c.purpose == purpose,
            )
        )
        .mappings()
        .first()
    )


def _record(row: Any) -> dict[str, Any]:
    return {
        "subscription_id": row["subscription_id"],
        "dataset": row["dataset"],
        "purpose": row["purpose"],
        "active": bool(row["active"]),
        "created_at": row["created_at"].replace(tzinfo=UTC),
    }
