"""The API's contract: a valid OpenAPI document that real responses keep, and X-Request-Id on every response."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from api_support import APPLICANT, Api, family, seed
from openapi_contract import validate_response
from openapi_spec_validator import validate

GENERATED = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def contract(api: Api, tmp_path: Path) -> Path:
    document = api.http.get("/openapi.json")
    assert document.status_code == 200
    path = tmp_path / "openapi.json"  # JSON is YAML: the contract helper reads it as it reads the mocks'
    path.write_text(document.text, encoding="utf-8")
    return path


def test_the_openapi_document_is_valid_and_everything_is_under_v1(api: Api, contract: Path) -> None:
    document = json.loads(contract.read_text(encoding="utf-8"))
    validate(document)
    assert document["openapi"].startswith("3.1") and all(path.startswith("/v1/") for path in document["paths"])
    scheme = document["components"]["securitySchemes"]["clientCredentials"]
    assert scheme["flows"]["clientCredentials"]["tokenUrl"] == "/v1/token"
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")) and path != "/v1/token":
                    assert list(response["content"]) == ["application/problem+json"], (path, method, status)
    assert "HTTPValidationError" not in document["components"]["schemas"]  # FastAPI's echoing 422 is gone


def test_real_responses_keep_the_contract(api: Api, contract: Path) -> None:
    seed(api.engine, family())
    consent_id = api.consent()
    checks: list[tuple[str, str, Any]] = [
        (
            "/v1/citizens/{personal_id}",
            "get",
            api.get(f"/v1/citizens/{APPLICANT}?purpose=health_insurance", "bhxh-app"),
        ),
        ("/v1/citizens/{personal_id}", "get", api.get(f"/v1/citizens/{APPLICANT}?purpose=vaccination", "bhxh-app")),
        ("/v1/citizens/{personal_id}", "get", api.get("/v1/citizens/bad?purpose=health_insurance", "bhxh-app")),
        ("/v1/citizens/{personal_id}", "get", api.get(f"/v1/citizens/{APPLICANT}?purpose=health_insurance", None)),
        (
            "/v1/changes",
            "get",
            api.get("/v1/changes?dataset=citizen&purpose=health_insurance&since=2026-01-01T00:00:00", "bhxh-app"),
        ),
        (
            "/v1/prefill",
            "post",
            api.post(
                "/v1/prefill",
                "cong-an-app",
                json={"procedure": "TT-TR-01", "citizen_id": APPLICANT, "consent_id": consent_id},
            ),
        ),
        ("/v1/consents/{consent_id}/preview", "get", api.get(f"/v1/consents/{consent_id}/preview", "cong-an-app")),
        ("/v1/consents/{consent_id}", "delete", api.delete(f"/v1/consents/{consent_id}", "cong-dvc-consent")),
        (
            "/v1/subscriptions",
            "post",
            api.post(
                "/v1/subscriptions", "cong-an-app", json={"dataset": "citizen", "purpose": "residence_registration"}
            ),
        ),
        ("/v1/subscriptions", "get", api.get("/v1/subscriptions", "cong-an-app")),
        (
            "/v1/token",
            "post",
            api.http.post(
                "/v1/token", data={"grant_type": "client_credentials", "client_id": "bhxh-app", "client_secret": "x"}
            ),
        ),
    ]
    for template, method, response in checks:
        media = response.headers["content-type"].split(";")[0]
        validate_response(contract, template, method, response.status_code, response.json(), media_type=media)
    assert {response.status_code for _, _, response in checks} >= {200, 201, 401, 403, 422}


def test_the_request_id_is_echoed_or_made(api: Api) -> None:
    seed(api.engine, family())
    path = f"/v1/citizens/{APPLICANT}?purpose=health_insurance"
    given = api.get(path, "bhxh-app", headers={"X-Request-Id": "dvc:2026-03-02.abc_1"})
    assert given.headers["x-request-id"] == "dvc:2026-03-02.abc_1"
    assert api.ledger()[-1]["correlation_id"] == "dvc:2026-03-02.abc_1"
    for hostile in ("x" * 65, "has space", "semi;colon", "ümlaut", "a\tb", "", "<script>"):
        response = api.get(path, "bhxh-app", headers={"X-Request-Id": hostile.encode()})
        made = response.headers["x-request-id"]
        assert GENERATED.fullmatch(made) and api.ledger()[-1]["correlation_id"] == made
        assert hostile not in response.text or not hostile
    assert GENERATED.fullmatch(api.get(path, "bhxh-app").headers["x-request-id"])
    for response in (
        api.get(path, None),
        api.get("/nowhere", None),
        api.get("/v1/citizens/x?purpose=a", "bhxh-app"),
        api.http.post("/v1/token", data={}),
        api.http.get("/openapi.json"),
    ):
        assert GENERATED.fullmatch(response.headers["x-request-id"]), response.status_code
        if response.status_code >= 400 and response.headers["content-type"] == "application/problem+json":
            assert response.json()["request_id"] == response.headers["x-request-id"]


def test_an_unexpected_failure_is_a_problem_with_the_request_id(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from hub.api import citizens

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError(f"boom with {APPLICANT}")

    monkeypatch.setattr(citizens, "sourced_fields", broken)  # a bug, not a condition the API expects
    seed(api.engine, family())
    response = api.get(
        f"/v1/citizens/{APPLICANT}?purpose=health_insurance", "bhxh-app", headers={"X-Request-Id": "bug-1"}
    )
    assert response.status_code == 500 and response.headers["x-request-id"] == "bug-1"
    assert response.json()["request_id"] == "bug-1" and APPLICANT not in response.text and "boom" not in response.text
    assert all(entry["outcome"] != "ok" or entry["correlation_id"] != "bug-1" for entry in api.ledger())
