"""The agencies' push receivers over real HTTP: signatures checked as documented, idempotent, faults on demand."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from hub.sharing.signing import signature, verify
from mocks.server import MockServer
from mocks.settings import MockSettings

SECRET = b"demo-only-push-secret"
INBOX = "/agency/v1/TU-PHAP/inbox"


def push(key: str = "push-1", name: str = "Nguyễn Văn An") -> bytes:
    payload = {
        "dataset": "citizen",
        "key": "001099000001",
        "purpose": "civil_status_registration",
        "fields": {
            "full_name": {"value": name, "source": "national_population", "last_updated": None, "verified": True}
        },
    }
    return json.dumps(payload, ensure_ascii=False).encode()


def signed(body: bytes, key: str = "push-1", secret: bytes = SECRET, at: int | None = None) -> dict[str, str]:
    stamp = int(time.time()) if at is None else at
    return {
        "Idempotency-Key": key,
        "X-Lgsp-Timestamp": str(stamp),
        "Content-Type": "application/json",
        "X-Lgsp-Signature": signature(secret, stamp, key, body),
    }


@pytest.fixture
def agencies(client: httpx.Client) -> Iterator[httpx.Client]:
    """The shared client, with every inbox emptied afterwards."""
    yield client
    client.delete("/agency/v1/_admin/state").raise_for_status()


def received(client: httpx.Client, code: str = "TU-PHAP") -> list[dict[str, Any]]:
    listing = client.get(f"/agency/v1/{code}/_received").json()
    return listing["items"]  # type: ignore[no-any-return]


def test_a_signed_push_is_acknowledged_once_and_recorded_as_sent(agencies: httpx.Client) -> None:
    body = push()
    first = agencies.post(INBOX, content=body, headers=signed(body))
    assert first.status_code == 202 and first.json()["MaXacNhan"].startswith("TU-PHAP.")

    again = agencies.post(INBOX, content=body, headers=signed(body))  # a retry after a lost answer
    assert again.status_code == 200 and again.json() == first.json()

    other = push(name="Nguyễn Văn Bình")
    reused = agencies.post(INBOX, content=other, headers=signed(other))  # the same key for another push
    assert reused.status_code == 422 and reused.json()["type"].endswith("idempotency-key-reused")
    assert [item["payload"] for item in received(agencies)] == [json.loads(body)]
    stats = agencies.get("/agency/v1/TU-PHAP/_admin/stats").json()
    assert (stats["accepted"], stats["replays"], stats["rejected_4xx"], stats["held"]) == (1, 1, 1, 1)
    assert received(agencies, "BHXH") == []  # inboxes are per agency


@pytest.mark.parametrize(
    "forge", ["wrong_secret", "tampered_body", "other_key", "stale", "future", "missing", "garbled"]
)
def test_a_forged_or_stale_signature_is_refused_and_nothing_recorded(agencies: httpx.Client, forge: str) -> None:
    body = push()
    headers = {
        "wrong_secret": signed(body, secret=b"not-the-secret"),
        "tampered_body": signed(push(name="Kẻ Mạo Danh")),
        "other_key": {**signed(body, key="push-2"), "Idempotency-Key": "push-1"},
        "stale": signed(body, at=int(time.time()) - 301),
        "future": signed(body, at=int(time.time()) + 301),
        "missing": {"Idempotency-Key": "push-1", "Content-Type": "application/json"},
        "garbled": {**signed(body), "X-Lgsp-Signature": "v1=zz,v2=" + "0" * 64},
    }[forge]

    answer = agencies.post(INBOX, content=body, headers=headers)

    assert answer.status_code == 401
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["type"].startswith("urn:lgsp:mock:agency:problem:")
    assert "Nguyễn" not in answer.text  # a refusal never echoes the record
    assert received(agencies) == []
    assert agencies.get("/agency/v1/TU-PHAP/_admin/stats").json()["rejected_401"] == 1


def test_a_rotation_header_with_several_values_passes_if_one_matches(agencies: httpx.Client) -> None:
    body, stamp = push(), int(time.time())
    headers = signed(body, at=stamp)
    headers["X-Lgsp-Signature"] = f"{signature(b'old-secret', stamp, 'push-1', body)}, {headers['X-Lgsp-Signature']}"
    assert agencies.post(INBOX, content=body, headers=headers).status_code == 202
    assert verify(SECRET, headers, body)  # the hub's reference verifier agrees with the mock


def test_each_agency_checks_its_own_secret(population: Any, mock_settings: MockSettings) -> None:
    settings = MockSettings(**{**mock_settings.model_dump(), "agency_push_secrets": {"BHXH": "bhxh-own-secret"}})
    body = push()
    with MockServer(settings, population=population) as server, httpx.Client(base_url=server.base_url) as http:
        assert http.post("/agency/v1/BHXH/inbox", content=body, headers=signed(body)).status_code == 401
        own = signed(body, secret=b"bhxh-own-secret")
        assert http.post("/agency/v1/BHXH/inbox", content=body, headers=own).status_code == 202
        assert http.post(INBOX, content=body, headers=signed(body)).status_code == 202  # the others: the default
        assert len(server.agencies.page("BHXH", 0, 10)[0]) == 1


def test_faults_and_refusals_on_demand(agencies: httpx.Client) -> None:
    body = push()
    rule = {"fault": "http_503", "count": 1, "system": "agency", "operation": "receive.TU-PHAP"}
    agencies.post("/_admin/faults", json=rule).raise_for_status()
    assert agencies.post("/agency/v1/BHXH/inbox", content=body, headers=signed(body)).status_code == 202
    assert agencies.post(INBOX, content=body, headers=signed(body)).status_code == 503
    agencies.post("/_admin/faults", json={"fault": "http_429", "system": "agency", "seconds": 2}).raise_for_status()
    throttled = agencies.post(INBOX, content=body, headers=signed(body))
    assert throttled.status_code == 429 and throttled.headers["retry-after"] == "2"

    assert agencies.put("/agency/v1/TU-PHAP/_admin/refusal", json={"status": 422}).status_code == 200
    refused = agencies.post(INBOX, content=body, headers=signed(body))
    assert refused.status_code == 422 and refused.json()["type"].endswith(":refused")
    assert agencies.put("/agency/v1/TU-PHAP/_admin/refusal", json={"status": 401}).status_code == 422
    agencies.delete("/agency/v1/TU-PHAP/_admin/refusal").raise_for_status()
    assert agencies.post(INBOX, content=body, headers=signed(body)).status_code == 202
    assert len(received(agencies)) == 1


def test_bad_requests_are_refused_with_problems(agencies: httpx.Client, mock_settings: MockSettings) -> None:
    big = b'{"dataset": "citizen", "key": "x", "fields": {}, "pad": "' + b"a" * mock_settings.max_request_bytes + b'"}'
    assert agencies.post(INBOX, content=big, headers=signed(big)).status_code == 413
    for body, status in ((b"not json", 400), (b'{"dataset": "citizen"}', 422), (b"[1, 2]", 422)):
        assert agencies.post(INBOX, content=body, headers=signed(body)).status_code == status
    body = push()
    assert agencies.post("/agency/v1/bhxh/inbox", content=body, headers=signed(body)).status_code == 404
    assert agencies.get("/agency/v1/TU-PHAP/_received?limit=0").status_code == 422
    assert received(agencies) == []
