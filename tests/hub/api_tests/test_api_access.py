"""GET /v1/citizens/{id}: the agreement decides the fields, every refusal names its rule and is in the ledger."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from api_support import (
    ADDRESS,
    APPLICANT,
    BHXH_FIELDS,
    CONG_AN_FIELDS,
    SECRET_HOMETOWN,
    SECRET_RELIGION,
    SPOUSE,
    Api,
    family,
    seed,
    sharing_config,
)

from hub import ledger
from hub.api.citizens import SharedRecord
from hub.keys import LEDGER_KEY, hub_key
from hub.settings import load_settings

BHXH_READ = f"/v1/citizens/{APPLICANT}?purpose=health_insurance"


def test_each_agency_gets_its_agreements_fields_with_provenance(api: Api) -> None:
    seed(api.engine, family(), conflicts=[(APPLICANT, "birth_date")])
    bhxh = api.get(BHXH_READ, "bhxh-app")
    assert bhxh.status_code == 200, bhxh.text
    body = bhxh.json()
    assert set(body["fields"]) == BHXH_FIELDS
    assert body["agreement_ids"] == ["TTDL-2025-005"] and "Bảo hiểm y tế" in body["legal_basis"]
    assert body["fields"]["full_name"] == {
        "value": "Nguyễn Văn An",
        "source": "national_population",
        "last_updated": "2025-11-03T08:30:00",
        "verified": True,
    }
    assert body["fields"]["birth_date"]["verified"] is False  # an open conflict hangs over it
    for secret in (SECRET_RELIGION, SECRET_HOMETOWN, ADDRESS, SPOUSE):
        assert secret not in bhxh.text  # CONG-AN's fields, not BHXH's

    cong_an = api.get(f"/v1/citizens/{APPLICANT}?purpose=residence_registration", "cong-an-app")
    assert cong_an.status_code == 200
    assert set(cong_an.json()["fields"]) == CONG_AN_FIELDS
    assert cong_an.json()["fields"]["religion"]["value"] == SECRET_RELIGION


@pytest.mark.parametrize(
    ("client_id", "path", "rule"),
    [
        ("bhxh-app", f"/v1/citizens/{APPLICANT}?purpose=residence_registration", "purpose_not_agreed"),
        ("so-y-te-app", f"/v1/citizens/{APPLICANT}?purpose=vaccination", "agreement_expired"),
        ("cong-dvc-consent", f"/v1/citizens/{APPLICANT}?purpose=residence_registration", "wrong_role"),
        (
            "bhxh-app",
            "/v1/changes?dataset=civil_event&purpose=health_insurance&since=2026-01-01T00:00:00",
            "scope_missing",
        ),
    ],
)
def test_a_refusal_names_its_rule_and_is_in_the_ledger(api: Api, client_id: str, path: str, rule: str) -> None:
    seed(api.engine, family())
    before = len(api.ledger())
    response = api.get(path, client_id, headers={"X-Request-Id": "refusal-1"})
    assert response.status_code == 403, response.text
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert problem["rule"] == rule and problem["status"] == 403 and problem["request_id"] == "refusal-1"
    assert problem["type"] == f"urn:lgsp:problem:{rule.replace('_', '-')}"
    assert "value" not in problem and APPLICANT not in response.text
    entries = api.ledger()[before:]
    assert len(entries) == 1
    entry = entries[0]
    assert (entry["outcome"], entry["detail"], entry["correlation_id"], entry["client"]) == (
        "denied",
        rule,
        "refusal-1",
        client_id,
    )
    assert entry["fields"] == ""


@pytest.mark.parametrize(
    ("path", "client_id"),
    [(BHXH_READ, "bhxh-app"), (f"/v1/citizens/{APPLICANT}?purpose=residence_registration", "cong-an-app")],
)
def test_a_citizen_is_sent_exactly_as_its_model_would_send_it(api: Api, path: str, client_id: str) -> None:
    # The route sends its document without validating it against SharedRecord: the model must agree.
    seed(api.engine, family())
    response = api.get(path, client_id)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    model = SharedRecord.model_validate_json(response.content)
    assert model.model_dump_json().encode() == response.content
    assert len(response.json()["fields"]) > 3


def test_a_citizen_read_is_in_the_ledger_with_hashed_key(api: Api, tmp_path: Path) -> None:
    seed(api.engine, family())
    assert api.get(BHXH_READ, "bhxh-app", headers={"X-Request-Id": "read-1"}).status_code == 200
    entry = api.ledger()[-1]
    key = hub_key(load_settings(home=tmp_path / "home"), LEDGER_KEY)
    assert (entry["action"], entry["outcome"], entry["agency_code"], entry["purpose"]) == (
        "api_read",
        "ok",
        "BHXH",
        "health_insurance",
    )
    assert entry["dataset"] == "citizen" and set(entry["fields"].split(",")) == BHXH_FIELDS
    assert entry["record_keys"] == ledger.hash_key(key, APPLICANT) and entry["record_count"] == 1
    assert "Bảo hiểm y tế" in entry["legal_basis"] and entry["correlation_id"] == "read-1"


def test_an_unknown_citizen_is_a_404_after_the_grant_and_recorded(api: Api) -> None:
    other = "001090000099"
    response = api.get(f"/v1/citizens/{other}?purpose=health_insurance", "bhxh-app")
    assert response.status_code == 404 and other not in response.text
    assert api.ledger()[-1]["outcome"] == "not_found"
    # Without a grant, the agency cannot even learn whether the platform holds someone.
    denied = api.get(f"/v1/citizens/{other}?purpose=residence_registration", "bhxh-app")
    assert denied.status_code == 403


def test_no_agreement_for_a_dataset_is_its_own_rule(make_api: Any, tmp_path: Path) -> None:
    def cong_an_may_ask_for_events(agencies: dict[str, Any], _agreements: dict[str, Any]) -> None:
        for agency in agencies["agencies"]:
            if agency["code"] == "CONG-AN":
                agency["clients"][0]["scopes"] = ["citizen", "civil_event"]

    api = make_api(sharing_config(tmp_path / "config", cong_an_may_ask_for_events))
    response = api.get(
        "/v1/changes?dataset=civil_event&purpose=residence_registration&since=2026-01-01T00:00:00", "cong-an-app"
    )
    assert response.status_code == 403 and response.json()["rule"] == "no_agreement"
    assert api.ledger()[-1]["detail"] == "no_agreement"


# However the request is phrased, BHXH never sees a field outside its agreement.
PHRASINGS = [
    "?purpose=health_insurance&fields=religion",
    "?purpose=health_insurance&fields=religion,hometown,residence_detail",
    "?purpose=health_insurance&field=religion",
    "?purpose=health_insurance&purpose=residence_registration",
    "?purpose=residence_registration&purpose=health_insurance",
    "?purpose=health_insurance&Purpose=residence_registration",
    "?PURPOSE=residence_registration&purpose=health_insurance",
    "?purpose=HEALTH_INSURANCE",
    "?purpose=Residence_Registration",
    "?purpose=health_insurance,residence_registration",
    "?purpose=health_insurance%20residence_registration",
    "?purpose=health_insurance%00residence_registration",
    "?purpose[]=residence_registration&purpose=health_insurance",
    "?purpose=health_insurance&dataset=citizen&scope=citizen",
    "?purpose=health_insurance&agency=CONG-AN",
    "/religion?purpose=health_insurance",
    ";fields=religion?purpose=health_insurance",
    "/?purpose=health_insurance",
]


@pytest.fixture(scope="module")
def seeded_api(shared_api: Api) -> Api:
    seed(shared_api.engine, family())
    return shared_api


@pytest.mark.parametrize("phrasing", PHRASINGS)
def test_fields_outside_the_agreement_never_appear(seeded_api: Api, phrasing: str) -> None:
    api = seeded_api
    response = api.get(
        f"/v1/citizens/{APPLICANT}{phrasing}",
        "bhxh-app",
        headers={"X-Fields": "religion", "X-Purpose": "residence_registration"},
    )
    assert response.status_code in (200, 307, 404, 422), response.text
    for secret in (SECRET_RELIGION, SECRET_HOMETOWN, ADDRESS, SPOUSE):
        assert secret not in response.text
    if response.status_code == 200:
        assert set(response.json()["fields"]) <= BHXH_FIELDS
    if response.status_code != 200:
        assert response.headers["content-type"] == "application/problem+json"
    assert "residence_registration" not in {entry["purpose"] for entry in api.ledger() if entry["outcome"] == "ok"}
