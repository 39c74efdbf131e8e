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
from pydantic import BaseModel, ConfigDict, create_model
from sqlalchemy import Connection, insert, select, update

from hub.api.calls import AGENCY, Call, call_for
from hub.api.params import PurposeText, SubscriptionIdPath, annotate, dataset_type
from hub.api.problems import ApiProblem, problem_responses
from hub.sharing.policy import require_grant
from hub.store.tables import subscription
from hub.systems.catalogue import Catalogue
from lgsp.errors import AccessDenied


def request_model(known: Catalogue) -> type[BaseModel]:
    """The body of a subscription, its ``dataset`` one of ``known``'s datasets."""
    return create_model(
        "SubscriptionRequest",
        __config__=ConfigDict(extra="forbid"),
        __doc__="What to be pushed: one dataset's changes, under one purpose's agreement.",
        dataset=(dataset_type(tuple(known.datasets)), ...),
        purpose=(PurposeText, ...),
    )


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


def router_for(known: Catalogue) -> APIRouter:
    """The subscription routes, the body's ``dataset`` listing ``known``'s datasets."""
    router = APIRouter(tags=["subscriptions"])
    body_model = request_model(known)

    def subscribe(
        body: BaseModel,
        response: Response,
        call: Annotated[Call, Depends(call_for("subscription_create"))],
    ) -> dict[str, Any]:
        """Subscribe (201), or find the subscription already active (200).

        Raises:
            AccessDenied: wrong role or scope, no valid agreement for the dataset and purpose, or one
                that asks for each record's consent (pushes carry no consent).
        """
        asked = body.model_dump()
        return _subscribe(asked["dataset"], asked["purpose"], response, call)

    router.add_api_route(
        "/v1/subscriptions",
        annotate(subscribe, body=body_model),
        methods=["POST"],
        status_code=201,
        response_model=SubscriptionRecord,
        summary="Subscribe to pushes",
        responses={
            200: {"model": SubscriptionRecord, "description": "Already subscribed"},
            **problem_responses(401, 403, 422),
        },
    )

    router.add_api_route(
        "/v1/subscriptions",
        list_subscriptions,
        methods=["GET"],
        response_model=SubscriptionList,
        summary="List your subscriptions",
        responses=problem_responses(401, 403, 422),
    )
    router.add_api_route(
        "/v1/subscriptions/{subscription_id}",
        unsubscribe,
        methods=["DELETE"],
        response_model=SubscriptionRecord,
        summary="End a subscription",
        responses=problem_responses(401, 403, 404, 422),
    )
    return router


def _subscribe(dataset: str, purpose: str, response: Response, call: Call) -> dict[str, Any]:
    call.dataset = dataset
    call.note(purpose=purpose)
    call.require(roles={AGENCY}, scope=dataset)
    with call.transaction() as conn:
        grant = require_grant(conn, call.agency, dataset, purpose, call.today)
        call.note(legal_basis=grant.legal_basis)
        if grant.consent_required:
            raise AccessDenied(
                f"agency {call.agency}'s agreement for {dataset} ({purpose}) asks for the citizen's consent to "
                "each read, and a push carries none: read the records through the API with a consent_id",
                rule="consent_required",
            )
        found = _find(conn, call.agency, dataset, purpose)
        if found is not None and found["active"]:
            response.status_code = 200
            return _record(found)
        if found is None:
            conn.execute(
                insert(subscription).values(
                    agency_code=call.agency,
                    dataset=dataset,
                    purpose=purpose,
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
        created = _find(conn, call.agency, dataset, purpose)
        assert created is not None
        call.append(conn, fields=grant.fields, detail=f"subscription {created['subscription_id']}")
    return _record(created)


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
