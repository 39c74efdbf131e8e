"""/v1/subscriptions: an agency subscribes under a valid grant, and sees and ends only its own."""

from __future__ import annotations

from api_support import Api
from sqlalchemy import select

from hub.store.tables import subscription

SUBSCRIBE = {"dataset": "citizen", "purpose": "residence_registration"}


def test_subscribe_list_and_end(api: Api) -> None:
    created = api.post("/v1/subscriptions", "cong-an-app", json=SUBSCRIBE)
    assert created.status_code == 201, created.text
    record = created.json()
    assert record["dataset"] == "citizen" and record["active"] is True
    again = api.post("/v1/subscriptions", "cong-an-app", json=SUBSCRIBE)
    assert again.status_code == 200 and again.json()["subscription_id"] == record["subscription_id"]
    listed = api.get("/v1/subscriptions", "cong-an-app").json()["subscriptions"]
    assert [item["subscription_id"] for item in listed] == [record["subscription_id"]]

    ended = api.delete(f"/v1/subscriptions/{record['subscription_id']}", "cong-an-app")
    assert ended.status_code == 200 and ended.json()["active"] is False
    with api.engine.connect() as conn:  # the push delivery reads the same table
        active = conn.execute(
            select(subscription.c.active).where(subscription.c.subscription_id == record["subscription_id"])
        ).scalar_one()
    assert active is False
    revived = api.post("/v1/subscriptions", "cong-an-app", json=SUBSCRIBE)
    assert revived.status_code == 201 and revived.json()["subscription_id"] == record["subscription_id"]
    actions = [(entry["action"], entry["outcome"]) for entry in api.ledger()[-3:]]
    assert actions == [("subscription_create", "ok"), ("subscription_delete", "ok"), ("subscription_create", "ok")]


def test_an_agency_sees_and_ends_only_its_own(api: Api) -> None:
    mine = api.post("/v1/subscriptions", "cong-an-app", json=SUBSCRIBE).json()["subscription_id"]
    bhxh = api.get("/v1/subscriptions", "bhxh-app").json()["subscriptions"]
    assert mine not in {item["subscription_id"] for item in bhxh}
    assert {(item["dataset"], item["purpose"]) for item in bhxh} == {("citizen", "health_insurance")}  # declared
    refused = api.delete(f"/v1/subscriptions/{mine}", "bhxh-app")
    assert refused.status_code == 404 and api.ledger()[-1]["outcome"] == "not_found"
    assert api.get("/v1/subscriptions", "cong-an-app").json()["subscriptions"][0]["active"] is True


def test_a_subscription_needs_a_grant_and_an_agency(api: Api) -> None:
    denied = api.post("/v1/subscriptions", "bhxh-app", json=SUBSCRIBE)
    assert denied.status_code == 403 and denied.json()["rule"] == "purpose_not_agreed"
    assert (api.ledger()[-1]["action"], api.ledger()[-1]["detail"]) == ("subscription_create", "purpose_not_agreed")
    expired = api.post("/v1/subscriptions", "so-y-te-app", json={"dataset": "citizen", "purpose": "vaccination"})
    assert expired.status_code == 403 and expired.json()["rule"] == "agreement_expired"
    registrar = api.post("/v1/subscriptions", "cong-dvc-consent", json=SUBSCRIBE)
    assert registrar.status_code == 403 and registrar.json()["rule"] == "wrong_role"
    scope = api.post(
        "/v1/subscriptions", "cong-an-app", json={"dataset": "civil_event", "purpose": "residence_registration"}
    )
    assert scope.status_code == 403 and scope.json()["rule"] == "scope_missing"
