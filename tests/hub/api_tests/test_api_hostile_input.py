"""Bad input and abuse: hostile ids, purposes and bodies get a 422 or 404, never a 500, and are never echoed."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from api_support import APPLICANT, Api, family, seed

HOSTILE = {
    "sql injection": "' OR '1'='1",
    "sql injection on an id": "001090000011' OR 1=1 --",
    "union select": "1 UNION SELECT personal_id FROM citizen",
    "10,000 characters": "9" * 10_000,
    "fullwidth digits": "００１０９００００００１１",
    "devanagari digits": "००१०९००००००११",
    "arabic-indic digits after a real province": "001" + "٠" * 9,
    "vietnamese text": "Nguyễn_Văn_Hiểm",
    "path traversal": "../../../etc/passwd",
    "null byte": "001090000011\x00",
    "bare null byte": "\x00",
    "script": "<script>alert('x')</script>",
    "template": "{{7*7}}${7*7}",
    "crlf": "x\r\nSet-Cookie: pwned=1",
    "shell": "$(cat /etc/passwd)",
    "json": '{"$ne": null}',
    "emoji": "🙂" * 30,
}
MARKERS = (
    "OR '1'",
    "UNION SELECT",
    "9" * 100,
    "００１",
    "००१",
    "٠٠٠",
    "Hiểm",
    "etc/passwd",
    "<script",
    "{{7*7}}",
    "pwned",
    "$(cat",
    "$ne",
    "🙂",
)


def assert_refused_quietly(response: Any, allowed: tuple[int, ...] = (404, 422)) -> None:
    assert response.status_code in allowed, (response.status_code, response.text[:300])
    assert response.headers["content-type"] == "application/problem+json"
    body = response.text
    for marker in MARKERS:
        assert marker not in body and quote(marker) not in body


@pytest.fixture(scope="module")
def hostile_api(shared_api: Api) -> Api:
    api = shared_api
    seed(api.engine, family())
    for client_id in ("bhxh-app", "cong-an-app", "cong-dvc-consent"):
        api.token(client_id)
    return api


@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_path_ids(hostile_api: Api, value: str) -> None:
    api, encoded = hostile_api, quote(value, safe="")
    before = len(api.ledger())
    assert_refused_quietly(api.get(f"/v1/citizens/{encoded}?purpose=health_insurance", "bhxh-app"))
    assert_refused_quietly(api.get(f"/v1/consents/{encoded}/preview", "cong-dvc-consent"))
    assert_refused_quietly(api.delete(f"/v1/consents/{encoded}", "cong-dvc-consent"))
    assert_refused_quietly(api.delete(f"/v1/subscriptions/{encoded}", "bhxh-app"))
    assert all(entry["outcome"] != "ok" for entry in api.ledger()[before:])


@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_query_values(hostile_api: Api, value: str) -> None:
    api, encoded = hostile_api, quote(value, safe="")
    before = len(api.ledger())
    assert_refused_quietly(api.get(f"/v1/citizens/{APPLICANT}?purpose={encoded}", "bhxh-app"), (422,))
    since = "since=2026-01-01T00:00:00"
    for query in (
        f"dataset=citizen&purpose={encoded}&{since}",
        f"dataset={encoded}&purpose=health_insurance&{since}",
        f"dataset=citizen&purpose=health_insurance&since={encoded}",
        f"dataset=citizen&purpose=health_insurance&cursor={encoded}",
        f"dataset=citizen&purpose=health_insurance&{since}&limit={encoded}",
        f"dataset=citizen&purpose=health_insurance&{since}&{encoded}=1",
    ):
        assert_refused_quietly(api.get(f"/v1/changes?{query}", "bhxh-app"), (422,))
    assert all(entry["outcome"] != "ok" for entry in api.ledger()[before:])


BODIES: list[tuple[str, str, dict[str, Any]]] = [
    ("/v1/prefill", "cong-an-app", {"procedure": "TT-TR-01", "citizen_id": APPLICANT, "consent_id": "c" * 32}),
    (
        "/v1/consents",
        "cong-dvc-consent",
        {
            "citizen_id": APPLICANT,
            "agency": "CONG-AN",
            "procedure": "TT-TR-01",
            "purpose": "residence_registration",
            "expires_at": "2026-03-20T00:00:00Z",
        },
    ),
    ("/v1/subscriptions", "bhxh-app", {"dataset": "citizen", "purpose": "health_insurance"}),
]


@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
@pytest.mark.parametrize(("path", "client_id", "body"), BODIES, ids=[path for path, _, _ in BODIES])
def test_hostile_body_members(hostile_api: Api, path: str, client_id: str, body: dict[str, Any], value: str) -> None:
    api = hostile_api
    before = len(api.ledger())
    for name in body:
        assert_refused_quietly(api.post(path, client_id, json={**body, name: value}), (422,))
    assert_refused_quietly(api.post(path, client_id, json={**body, value: "x"}), (422,))  # a hostile member name
    assert_refused_quietly(api.post(path, client_id, json={**body, "fields": ["religion"]}), (422,))
    assert all(entry["outcome"] != "ok" for entry in api.ledger()[before:])


@pytest.mark.parametrize("raw", [b"{", b"\xff\xfe", b"[]", b"null", b'"' + b"a" * 5000 + b'"', b"{" * 5000])
def test_broken_json_is_a_422(hostile_api: Api, raw: bytes) -> None:
    response = hostile_api.post(
        "/v1/subscriptions", "bhxh-app", content=raw, headers={"Content-Type": "application/json"}
    )
    assert_refused_quietly(response, (422,))
    assert "a" * 100 not in response.text


def test_a_huge_body_is_a_413_and_never_read_whole(hostile_api: Api) -> None:
    response = hostile_api.post(
        "/v1/subscriptions",
        "bhxh-app",
        content=b"{" + b" " * 200_000 + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413 and response.headers["content-type"] == "application/problem+json"

    def chunks() -> Any:  # no Content-Length: the cap counts as the body streams
        for _ in range(100):
            yield b" " * 1000

    streamed = hostile_api.post(
        "/v1/subscriptions", "bhxh-app", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert streamed.status_code == 413


@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_token_requests(hostile_api: Api, value: str) -> None:
    grant = {"grant_type": "client_credentials"}
    for form in (
        {"grant_type": value},
        {**grant, "client_id": value, "client_secret": value},
        {**grant, "client_id": "bhxh-app", "client_secret": "demo-only-secret", "scope": value},
    ):
        response = hostile_api.http.post("/v1/token", data=form)
        assert response.status_code in (400, 401)
        assert all(marker not in response.text for marker in MARKERS)
        assert "access_token" not in response.text


def test_unknown_routes_and_methods_are_problems(hostile_api: Api) -> None:
    for path in (
        "/v1/citizens",
        "/v1/../etc/passwd",
        "/v1/Citizens/001090000011",
        "/v2/citizens/001090000011",
        "/v1/citizens/001090000011/..%2F..%2Fagreement",
    ):
        assert_refused_quietly(hostile_api.get(path, "bhxh-app"))
    response = hostile_api.http.put(f"/v1/citizens/{APPLICANT}")
    assert response.status_code == 405 and response.headers["content-type"] == "application/problem+json"
    assert APPLICANT not in response.text
