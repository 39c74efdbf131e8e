"""The agencies' push receivers over real HTTP: batches verified per Standard Webhooks, answered per item."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from mocks.server import MockServer
from mocks.settings import MockSettings

SECRET = b"demo-only-push-secret"
INBOX = "/agency/v1/TU-PHAP/inbox"


def push(key: str = "001099000001", name: str = "Nguyễn Văn An") -> dict[str, Any]:
    return {
        "dataset": "citizen",
        "key": key,
        "purpose": "civil_status_registration",
        "fields": {
            "full_name": {"value": name, "source": "national_population", "last_updated": None, "verified": True}
        },
    }


def batch(*items: tuple[str, Any]) -> bytes:
    return json.dumps({"items": [{"id": key, "payload": payload} for key, payload in items]}).encode()


def signed(body: bytes, msg_id: str = "batch-1", *secrets: bytes, at: int | None = None) -> dict[str, str]:
    """Headers as any Standard Webhooks sender writes them (the package's own signer, not the hub's)."""
    stamp = datetime.fromtimestamp(int(time.time()) if at is None else at, UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(stamp.timestamp())),
        "webhook-signature": " ".join(Webhook(secret).sign(msg_id, stamp, body) for secret in secrets or (SECRET,)),
        "Content-Type": "application/json",
    }


@pytest.fixture
def agencies(client: httpx.Client) -> Iterator[httpx.Client]:
    """The shared client, with every inbox emptied afterwards."""
    yield client
    client.delete("/agency/v1/_admin/state").raise_for_status()


def received(client: httpx.Client, code: str = "TU-PHAP") -> list[dict[str, Any]]:
    listing = client.get(f"/agency/v1/{code}/_received").json()
    return listing["items"]  # type: ignore[no-any-return]


def results(answer: httpx.Response) -> list[tuple[str, int]]:
    assert answer.status_code == 200
    return [(item["id"], item["status"]) for item in answer.json()["results"]]


def test_a_signed_batch_is_answered_per_item_and_each_push_acknowledged_once(agencies: httpx.Client) -> None:
    body = batch(("push-1", push()), ("push-2", push("001099000002")))
    first = agencies.post(INBOX, content=body, headers=signed(body))
    assert results(first) == [("push-1", 202), ("push-2", 202)]
    assert all(item["ack"].startswith("TU-PHAP.") for item in first.json()["results"])

    again = agencies.post(INBOX, content=body, headers=signed(body))  # a retry after a lost answer
    assert results(again) == [("push-1", 200), ("push-2", 200)]
    assert [item["ack"] for item in again.json()["results"]] == [item["ack"] for item in first.json()["results"]]

    other = batch(("push-1", push(name="Nguyễn Văn Bình")), ("push-3", push("001099000003")))
    mixed = agencies.post(INBOX, content=other, headers=signed(other, "batch-2"))  # push-1 reused for another push
    assert results(mixed) == [("push-1", 422), ("push-3", 202)]
    assert mixed.json()["results"][0]["type"].endswith("idempotency-key-reused")
    assert "Nguyễn" not in mixed.text  # an answer never echoes the record
    assert [item["idempotency_key"] for item in received(agencies)] == ["push-1", "push-2", "push-3"]
    stats = agencies.get("/agency/v1/TU-PHAP/_admin/stats").json()
    assert (stats["batches"], stats["accepted"], stats["replays"], stats["rejected_4xx"], stats["held"]) == (
        3,
        3,
        2,
        1,
        3,
    )
    assert received(agencies, "BHXH") == []  # inboxes are per agency


@pytest.mark.parametrize(
    "forge", ["wrong_secret", "tampered_body", "other_id", "stale", "future", "missing", "garbled"]
)
def test_a_forged_or_stale_signature_is_refused_and_nothing_recorded(agencies: httpx.Client, forge: str) -> None:
    body = batch(("push-1", push()))
    headers = {
        "wrong_secret": signed(body, "batch-1", b"not-the-secret"),
        "tampered_body": signed(batch(("push-1", push(name="Kẻ Mạo Danh")))),
        "other_id": {**signed(body, "batch-2"), "webhook-id": "batch-1"},
        "stale": signed(body, at=int(time.time()) - 301),
        "future": signed(body, at=int(time.time()) + 301),
        "missing": {"webhook-id": "batch-1", "Content-Type": "application/json"},
        "garbled": {**signed(body), "webhook-signature": "v1,zz v2," + "0" * 44},
    }[forge]

    answer = agencies.post(INBOX, content=body, headers=headers)

    assert answer.status_code == 401
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["type"].startswith("urn:lgsp:mock:agency:problem:")
    assert "Nguyễn" not in answer.text  # a refusal never echoes the record
    assert received(agencies) == []
    assert agencies.get("/agency/v1/TU-PHAP/_admin/stats").json()["rejected_401"] == 1


def test_rotation_either_secret_passes_and_several_signatures_pass_if_one_matches(
    population: Any, mock_settings: MockSettings
) -> None:
    # The receiver holds the new and the old secret while the agency rotates; the sender may sign with both.
    settings = MockSettings(
        **{**mock_settings.model_dump(), "agency_push_secrets": {"BHXH": "whsec_bmV3LXNlY3JldA== old-secret"}}
    )
    new, old = b"new-secret", b"old-secret"
    with MockServer(settings, population=population) as server, httpx.Client(base_url=server.base_url) as http:
        for n, secrets in enumerate(((new,), (old,), (b"unknown", new), (old, new))):
            body = batch((f"push-{n}", push(f"00109900000{n}")))
            answer = http.post("/agency/v1/BHXH/inbox", content=body, headers=signed(body, f"b{n}", *secrets))
            assert results(answer) == [(f"push-{n}", 202)]
        body = batch(("push-9", push()))
        assert http.post("/agency/v1/BHXH/inbox", content=body, headers=signed(body)).status_code == 401
        assert http.post(INBOX, content=body, headers=signed(body)).status_code == 200  # the others: the default
        assert len(server.agencies.page("BHXH", 0, 10)[0]) == 4


def test_faults_and_refusals_on_demand(agencies: httpx.Client) -> None:
    body = batch(("push-1", push()), ("push-2", push("001099000002")))
    rule = {"fault": "http_503", "count": 1, "system": "agency", "operation": "receive.TU-PHAP"}
    agencies.post("/_admin/faults", json=rule).raise_for_status()
    assert agencies.post("/agency/v1/BHXH/inbox", content=body, headers=signed(body)).status_code == 200
    assert agencies.post(INBOX, content=body, headers=signed(body)).status_code == 503
    agencies.post("/_admin/faults", json={"fault": "http_429", "system": "agency", "seconds": 2}).raise_for_status()
    throttled = agencies.post(INBOX, content=body, headers=signed(body))
    assert throttled.status_code == 429 and throttled.headers["retry-after"] == "2"

    refusal = {"status": 409, "ids": ["push-2"]}
    assert agencies.put("/agency/v1/TU-PHAP/_admin/refusal", json=refusal).status_code == 200
    refused = agencies.post(INBOX, content=body, headers=signed(body))
    assert results(refused) == [("push-1", 202), ("push-2", 409)]  # refused alone
    assert refused.json()["results"][1]["type"].endswith(":refused")
    assert agencies.put("/agency/v1/TU-PHAP/_admin/refusal", json={"status": 401}).status_code == 422
    agencies.delete("/agency/v1/TU-PHAP/_admin/refusal").raise_for_status()
    assert results(agencies.post(INBOX, content=body, headers=signed(body))) == [("push-1", 200), ("push-2", 202)]
    assert len(received(agencies)) == 2


def test_bad_requests_are_refused_with_problems(agencies: httpx.Client, mock_settings: MockSettings) -> None:
    big = batch(("push-1", {**push(), "pad": "a" * mock_settings.agency_max_batch_bytes}))
    assert agencies.post(INBOX, content=big, headers=signed(big)).status_code == 413
    twice = batch(("push-1", push()), ("push-1", push()))
    for body, status in ((b"not json", 400), (b'{"items": []}', 422), (b"[1, 2]", 422), (twice, 422)):
        assert agencies.post(INBOX, content=body, headers=signed(body)).status_code == status
    invalid = batch(("push-1", {"dataset": "citizen"}), ("push-2", push()))
    assert results(agencies.post(INBOX, content=invalid, headers=signed(invalid))) == [("push-1", 422), ("push-2", 202)]
    body = batch(("push-1", push()))
    assert agencies.post("/agency/v1/bhxh/inbox", content=body, headers=signed(body)).status_code == 404
    assert agencies.get("/agency/v1/TU-PHAP/_received?limit=0").status_code == 422
    assert [item["idempotency_key"] for item in received(agencies)] == ["push-2"]
