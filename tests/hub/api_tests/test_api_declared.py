"""Declared datasets through the API: the catalogue, one record under the agreements (and consent), the feed.

The datasets, their keys and the agreements are read from the declarations and from
config/sharing, as the hub reads them: no system is named here but through them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from api_support import APPLICANT, FATHER, SHARING_CONFIG, Api, family, seed, sharing_config
from openapi_contract import validate_response
from sqlalchemy import insert

from hub import ledger
from hub.keys import LEDGER_KEY, hub_key
from hub.settings import load_settings
from hub.store.declared import declared_tables, ensure_declared_tables
from hub.store.tables import sync_run, sync_state
from hub.systems.catalogue import DatasetEntry, catalogue

PUBLISHED = datetime(2026, 2, 20, 7, 0)
RECORD = "/v1/datasets/{dataset}/records/{key}"


def agreement(agreement_id: str) -> dict[str, Any]:
    document = yaml.safe_load((SHARING_CONFIG / "agreements.yaml").read_text(encoding="utf-8"))
    found: dict[str, Any] = next(entry for entry in document["agreements"] if entry["id"] == agreement_id)
    return found


TAX, CARE = agreement("TTDL-2026-008"), agreement("TTDL-2026-007")  # no consent asked / consent asked
CLIENT = {"THUE-TINH": "thue-tinh-app", "SO-Y-TE": "so-y-te-app"}


def golden(entry: DatasetEntry, number: int, subject: str = APPLICANT, **values: Any) -> dict[str, Any]:
    """A golden row as the generic merge writes it: every field stamped by the dataset's own system."""
    typed = {"date": date(2020, 1, 1 + number % 28), "datetime": datetime(2026, 2, 1, 8, number % 60)}
    record: dict[str, Any] = {f.name: typed.get(f.type, f"V{number}") for f in entry.fields}
    record.update({entry.key: key_of(number), entry.subject: subject, **values})
    stamp = {"system": entry.system, "stream": entry.stream, "fetched_at": "2026-02-01T08:00:00", "run_id": "r"}
    stamps = {name: {**stamp, "source_updated_at": f"2026-02-01T08:{number % 60:02d}:00"} for name in entry.field_names}
    return {
        **record,
        "content_hash": f"h{number}",
        "provenance": json.dumps(stamps),
        "published_run_id": "r",
        "published_at": PUBLISHED + timedelta(minutes=number // 3),
    }


def key_of(number: int) -> str:
    return f"EX{number:08d}"


@pytest.fixture
def declared(api: Api) -> Api:
    """The API over a store holding both declared datasets: 10 records each, all about the applicant's family."""
    return hold_records(api)


def hold_records(api: Api) -> Api:
    """Create the declared datasets' tables in the API's store and seed them (and the applicant's family)."""
    ensure_declared_tables(api.engine)
    seed(api.engine, family())
    with api.engine.begin() as conn:
        for dataset in (TAX["dataset"], CARE["dataset"]):
            entry = catalogue().dataset(dataset)
            rows = [golden(entry, n, APPLICANT if n % 2 else FATHER) for n in range(10)]
            conn.execute(insert(declared_tables()[dataset]), rows)
    return api


def read(api: Api, client_id: str, dataset: str, key: str, purpose: str, **extra: str) -> Any:
    query = "&".join(f"{name}={value}" for name, value in {"purpose": purpose, **extra}.items())
    return api.get(f"/v1/datasets/{dataset}/records/{key}?{query}", client_id)


def test_the_catalogue_shows_systems_datasets_freshness_and_what_the_caller_is_granted(
    declared: Api, tmp_path: Path
) -> None:
    assert declared.get("/v1/catalogue", None).status_code == 401
    before = len(declared.ledger())
    tax = declared.get("/v1/catalogue", CLIENT["THUE-TINH"])
    assert tax.status_code == 200, tax.text
    known = catalogue()
    datasets = {item["dataset"]: item for item in tax.json()["datasets"]}
    assert list(datasets) == list(known.datasets) and {"citizen", TAX["dataset"], CARE["dataset"]} <= set(datasets)
    assert {item["system"] for item in tax.json()["systems"]} == set(known.systems)
    shown = datasets[TAX["dataset"]]
    entry = known.dataset(TAX["dataset"])
    assert (shown["system"], shown["stream"], shown["owner"], shown["key"]) == (
        entry.system,
        entry.stream,
        entry.owner,
        entry.key,
    )
    assert [(f["name"], f["type"], f["personal"]) for f in shown["fields"]] == [
        (f.name, f.type, f.personal) for f in entry.fields
    ]
    assert shown["granted"] == [
        {
            "purpose": TAX["purpose"],
            "fields": sorted(TAX["fields"]),
            "agreement_ids": [TAX["id"]],
            "legal_basis": TAX["legal_basis"],
            "consent_required": False,
        }
    ]
    assert datasets[CARE["dataset"]]["granted"] == [] and datasets["citizen"]["granted"] == []
    assert shown["freshness"] == {
        "schedule": entry.schedule,
        "last_published_run_id": None,
        "last_published_at": None,
        "cursor": None,
    }
    care = {item["dataset"]: item for item in declared.get("/v1/catalogue", CLIENT["SO-Y-TE"]).json()["datasets"]}
    assert [(g["purpose"], g["consent_required"]) for g in care[CARE["dataset"]]["granted"]] == [
        (CARE["purpose"], True)
    ]
    assert [g["purpose"] for g in care["citizen"]["granted"]] == []  # its citizen agreement expired in 2025
    registrar = declared.get("/v1/catalogue", "cong-dvc-consent")  # any valid token reads the catalogue
    assert registrar.status_code == 200 and all(not item["granted"] for item in registrar.json()["datasets"])
    assert len(declared.ledger()) == before  # no record moved: nothing to record
    document = tmp_path / "openapi.json"
    document.write_text(declared.http.get("/openapi.json").text, encoding="utf-8")
    validate_response(document, "/v1/catalogue", "get", 200, tax.json())
    assert declared.get("/v1/catalogue?dataset=citizen", CLIENT["THUE-TINH"]).status_code == 422


def test_freshness_is_the_streams_last_published_run_and_its_cursor(declared: Api) -> None:
    entry = catalogue().dataset(TAX["dataset"])
    run = {"stream": entry.stream, "pages": 1, "read": 10, "published": 10, "quarantined": 0, "unchanged": 0}
    with declared.engine.begin() as conn:
        conn.execute(
            insert(sync_run),
            [
                {**run, "run_id": "a", "status": "published", "started_at": PUBLISHED, "finished_at": PUBLISHED},
                {
                    **run,
                    "run_id": "b",
                    "status": "published",
                    "started_at": PUBLISHED + timedelta(hours=1),
                    "finished_at": PUBLISHED + timedelta(hours=1),
                },
                {
                    **run,
                    "run_id": "c",
                    "status": "failed",
                    "started_at": PUBLISHED + timedelta(hours=2),
                    "finished_at": None,
                },
                {
                    **run,
                    "stream": "other.stream",
                    "run_id": "d",
                    "status": "published",
                    "started_at": PUBLISHED,
                    "finished_at": PUBLISHED + timedelta(days=1),
                },
            ],
        )
        conn.execute(
            insert(sync_state).values(
                stream=entry.stream, cursor="2026-02-20T07:59:00", run_id="b", updated_at=PUBLISHED
            )
        )
    datasets = {item["dataset"]: item for item in declared.get("/v1/catalogue", CLIENT["THUE-TINH"]).json()["datasets"]}
    assert datasets[TAX["dataset"]]["freshness"] == {
        "schedule": entry.schedule,
        "last_published_run_id": "b",
        "last_published_at": (PUBLISHED + timedelta(hours=1)).replace(tzinfo=UTC).isoformat().replace("+00:00", "Z"),
        "cursor": "2026-02-20T07:59:00",
    }
    assert datasets[CARE["dataset"]]["freshness"]["last_published_run_id"] is None


def test_a_record_is_read_with_only_the_granted_fields_and_the_read_is_in_the_ledger(
    declared: Api, tmp_path: Path
) -> None:
    entry = catalogue().dataset(TAX["dataset"])
    response = read(declared, CLIENT["THUE-TINH"], entry.name, key_of(3), TAX["purpose"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["dataset"], body["purpose"], body["agreement_ids"]) == (entry.name, TAX["purpose"], [TAX["id"]])
    assert set(body["fields"]) == set(TAX["fields"]) and body["fields"][entry.key]["value"] == key_of(3)
    assert body["fields"][entry.subject]["value"] == APPLICANT
    assert all(value["source"] == entry.system and value["verified"] for value in body["fields"].values())
    assert body["fields"][entry.key]["last_updated"] == "2026-02-01T08:03:00"
    last = declared.ledger()[-1]
    settings = load_settings(home=tmp_path / "home")
    assert (last["action"], last["outcome"], last["agency_code"], last["dataset"], last["purpose"]) == (
        "api_read",
        "ok",
        "THUE-TINH",
        entry.name,
        TAX["purpose"],
    )
    assert last["record_keys"] == ledger.hash_key(hub_key(settings, LEDGER_KEY), key_of(3))
    assert key_of(3) not in json.dumps(last, default=str) and APPLICANT not in json.dumps(last, default=str)
    assert last["fields"].split(",") == sorted(TAX["fields"])
    document = tmp_path / "openapi.json"
    document.write_text(declared.http.get("/openapi.json").text, encoding="utf-8")
    validate_response(document, RECORD, "get", 200, body)
    missing = read(declared, CLIENT["THUE-TINH"], entry.name, key_of(99), TAX["purpose"])
    assert missing.status_code == 404 and declared.ledger()[-1]["outcome"] == "not_found"
    validate_response(document, RECORD, "get", 404, missing.json(), media_type="application/problem+json")


def test_without_a_grant_nothing_tells_whether_a_record_exists(make_api: Callable[..., Api], tmp_path: Path) -> None:
    def scope_only(agencies: dict[str, Any], agreements: dict[str, Any]) -> None:
        thue = next(item for item in agencies["agencies"] if item["code"] == "THUE-TINH")
        thue["clients"][0]["scopes"] = [TAX["dataset"], CARE["dataset"]]  # a scope, but no agreement for CARE

    api = hold_records(make_api(sharing_config(tmp_path / "sharing", scope_only)))
    care = CARE["dataset"]
    for client, rule in ((CLIENT["THUE-TINH"], "no_agreement"), ("tu-phap-app", "scope_missing")):
        held = read(api, client, care, key_of(1), CARE["purpose"])
        absent = read(api, client, care, key_of(99), CARE["purpose"])
        assert held.status_code == absent.status_code == 403
        assert held.json()["rule"] == absent.json()["rule"] == rule
        assert held.json()["detail"] == absent.json()["detail"]
        assert [entry["detail"] for entry in api.ledger()[-2:]] == [rule, rule]
    wrong_purpose = read(api, CLIENT["THUE-TINH"], TAX["dataset"], key_of(1), "marketing")
    assert wrong_purpose.status_code == 403 and wrong_purpose.json()["rule"] == "purpose_not_agreed"


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/v1/datasets/citizen/records/EX00000001?purpose=tax_management", "path.dataset"),  # not a declared one
        ("/v1/datasets/nowhere/records/EX00000001?purpose=tax_management", "path.dataset"),
        ("/v1/datasets/{dataset}/records/EX%20..1?purpose=tax_management", "path.key"),
        ("/v1/datasets/{dataset}/records/{long}?purpose=tax_management", "path.key"),
        ("/v1/datasets/{dataset}/records/EX00000001?purpose=tax_management&fields=all", None),
        ("/v1/datasets/{dataset}/records/EX00000001?purpose=tax_management&consent_id=short", "query.consent_id"),
    ],
)
def test_malformed_reads_are_refused_before_anything_is_read(declared: Api, path: str, name: str | None) -> None:
    url = path.format(dataset=TAX["dataset"], long="E" * 65)
    response = declared.get(url, CLIENT["THUE-TINH"])
    assert response.status_code == 422, response.text
    if name is not None:
        assert name in [param["name"] for param in response.json()["invalid_params"]]
    assert "EX00000001" not in response.text and "E" * 65 not in response.text


def test_consent_is_asked_where_the_agreement_asks_for_it(declared: Api) -> None:
    entry, client = catalogue().dataset(CARE["dataset"]), CLIENT[CARE["agency"]]
    for key in (key_of(1), key_of(99)):  # asked before the record is looked up: nothing leaks
        refused = read(declared, client, entry.name, key, CARE["purpose"])
        assert refused.status_code == 403 and refused.json()["rule"] == "consent_required"
    consent_id = declared.consent(agency=CARE["agency"], purpose=CARE["purpose"])  # for the applicant
    granted = read(declared, client, entry.name, key_of(1), CARE["purpose"], consent_id=consent_id)
    assert granted.status_code == 200, granted.text
    assert set(granted.json()["fields"]) == set(CARE["fields"]) and "commune" not in granted.json()["fields"]
    assert declared.ledger()[-1]["detail"].endswith("under the citizen's consent")
    other = read(declared, client, entry.name, key_of(2), CARE["purpose"], consent_id=consent_id)  # the father's
    assert other.status_code == 403 and other.json()["rule"] == "consent_mismatch"
    assert FATHER not in other.text and APPLICANT not in other.text
    unknown = read(declared, client, entry.name, key_of(1), CARE["purpose"], consent_id="x" * 32)
    assert unknown.status_code == 403 and unknown.json()["rule"] == "no_consent"
    declared.clock.advance(days=31)
    declared._tokens.clear()  # the tokens expired too
    expired = read(declared, client, entry.name, key_of(1), CARE["purpose"], consent_id=consent_id)
    assert expired.status_code == 403 and expired.json()["rule"] == "consent_expired"
    fresh = declared.consent(agency=CARE["agency"], purpose=CARE["purpose"])
    assert declared.delete(f"/v1/consents/{fresh}", "cong-dvc-consent").status_code == 200
    revoked = read(declared, client, entry.name, key_of(1), CARE["purpose"], consent_id=fresh)
    assert revoked.status_code == 403 and revoked.json()["rule"] == "consent_revoked"
    # A consent for a purpose no consent-asking agreement of the agency covers is not recorded.
    refused = declared.post(
        "/v1/consents",
        "cong-dvc-consent",
        json={
            "citizen_id": APPLICANT,
            "agency": CARE["agency"],
            "procedure": "TT-TR-01",
            "purpose": "marketing",
            "expires_at": (declared.clock() + timedelta(days=5)).isoformat(),
        },
    )
    assert refused.status_code == 403 and refused.json()["rule"] == "purpose_not_agreed"


def test_the_change_feed_of_a_declared_dataset_pages_every_record_once(declared: Api) -> None:
    entry = catalogue().dataset(TAX["dataset"])
    feed = f"/v1/changes?dataset={entry.name}&purpose={TAX['purpose']}"
    keys, response = [], declared.get(f"{feed}&since=2026-02-20T07:00:00Z&limit=4", CLIENT["THUE-TINH"])
    while True:
        assert response.status_code == 200, response.text
        page = response.json()
        assert all(set(item["fields"]) == set(TAX["fields"]) for item in page["items"])
        keys += [item["fields"][entry.key]["value"] for item in page["items"]]
        if not page["has_more"]:
            break
        response = declared.get(f"{feed}&limit=4&cursor={page['next_cursor']}", CLIENT["THUE-TINH"])
    expected = sorted((PUBLISHED + timedelta(minutes=n // 3), key_of(n)) for n in range(10))
    assert keys == [key for _, key in expected]
    later = declared.get(f"{feed}&since=2026-02-20T07:02:00Z", CLIENT["THUE-TINH"]).json()
    assert [item["fields"][entry.key]["value"] for item in later["items"]] == [key_of(n) for n in range(6, 10)]
    care = declared.get(
        f"/v1/changes?dataset={CARE['dataset']}&purpose={CARE['purpose']}&since=2026-01-01T00:00:00Z",
        CLIENT[CARE["agency"]],
    )
    assert care.status_code == 403 and care.json()["rule"] == "consent_required"  # no bulk read under consent


def test_subscriptions_take_declared_datasets_but_never_under_consent(declared: Api) -> None:
    tax = declared.post(
        "/v1/subscriptions", CLIENT["THUE-TINH"], json={"dataset": TAX["dataset"], "purpose": TAX["purpose"]}
    )
    assert tax.status_code == 200 and tax.json()["active"]  # agencies.yaml subscribed it already
    care = declared.post(
        "/v1/subscriptions", CLIENT[CARE["agency"]], json={"dataset": CARE["dataset"], "purpose": CARE["purpose"]}
    )
    assert care.status_code == 403 and care.json()["rule"] == "consent_required"
    unknown = declared.post("/v1/subscriptions", CLIENT["THUE-TINH"], json={"dataset": "nowhere", "purpose": "x"})
    assert unknown.status_code == 422


def test_the_document_lists_the_declared_datasets_and_their_scopes(declared: Api) -> None:
    document = declared.http.get("/openapi.json").json()
    known = catalogue()
    declared_names = [entry.name for entry in known.declared]
    (dataset_param,) = [p for p in document["paths"][RECORD]["get"]["parameters"] if p["name"] == "dataset"]
    assert dataset_param["schema"]["enum"] == declared_names
    (feed_param,) = [p for p in document["paths"]["/v1/changes"]["get"]["parameters"] if p["name"] == "dataset"]
    assert feed_param["schema"]["enum"] == list(known.datasets)
    body = document["components"]["schemas"]["SubscriptionRequest"]
    assert body["properties"]["dataset"]["enum"] == list(known.datasets) and body["additionalProperties"] is False
    scopes = document["components"]["securitySchemes"]["clientCredentials"]["flows"]["clientCredentials"]["scopes"]
    assert set(scopes) == {*known.datasets, "consent"}
    token = declared.http.post(
        "/v1/token",
        data={"grant_type": "client_credentials", "client_id": CLIENT["SO-Y-TE"], "client_secret": "demo-only-secret"},
    ).json()
    assert set(token["scope"].split()) == {"citizen", CARE["dataset"]}


LAND: dict[str, Any] = {
    "system": "land",
    "title": {"vi": "Cơ sở dữ liệu đất đai tỉnh", "en": "Provincial land database"},
    "owner": "Sở Nông nghiệp và Môi trường",
    "legal_basis": "Luật Đất đai 2024",
    "connection": "land",
    "rest": {"auth": {"api_key": {"header": "X-Api-Key"}}},
    "streams": {
        "parcels": {
            "get": "/parcels",
            "records": "items",
            "dataset": "land_parcel",
            "key": "parcel_no",
            "fields": {
                "parcel_no": {"from": "SoThua", "type": "integer"},
                "holder_id": {"from": "SoDinhDanh", "type": "personal_id"},
                "area": {"from": "DienTich", "type": "decimal"},
            },
        }
    },
}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_new_declared_system_is_shared_with_no_code_on_either_store(
    make_api: Callable[..., Api],
    backend: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    from hub.store.engine import open_store
    from hub.systems.loader import DEFAULT_DIR

    folder = tmp_path / "systems"
    folder.mkdir()
    for path in DEFAULT_DIR.glob("*.yaml"):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        for protocol, key in (("rest", "openapi"), ("soap", "wsdl")):
            if document.get(protocol, {}).get(key):
                document[protocol][key] = str((DEFAULT_DIR / document[protocol][key]).resolve())
        (folder / path.name).write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), "utf-8")
    (folder / "land.yaml").write_text(yaml.safe_dump(LAND, allow_unicode=True, sort_keys=False), encoding="utf-8")
    monkeypatch.setenv("LGSP_SYSTEMS_DIR", str(folder))

    def land_agreement(agencies: dict[str, Any], agreements: dict[str, Any]) -> None:
        thue = next(item for item in agencies["agencies"] if item["code"] == "THUE-TINH")
        thue["clients"][0]["scopes"].append("land_parcel")
        agreements["agreements"].append(
            {
                "id": "TTDL-2026-900",
                "agency": "THUE-TINH",
                "dataset": "land_parcel",
                "purpose": "land_tax",
                "legal_basis": "Luật Thuế sử dụng đất phi nông nghiệp 2010",
                "fields": ["parcel_no", "area"],
                "valid_from": date(2026, 1, 1),
                "valid_until": None,
            }
        )

    # A store of its own (make_api's default one is made without Alembic); upgrade-db creates the new
    # dataset's tables from its declaration.
    url = f"sqlite:///{tmp_path / 'land.sqlite'}" if backend == "sqlite" else request.getfixturevalue("fresh_pg_url")
    engine = open_store(url)
    api = make_api(sharing_config(tmp_path / "sharing", land_agreement), engine)
    entry = catalogue().dataset("land_parcel")
    rows = [golden(entry, n, APPLICANT, parcel_no=n, area=f"{n}.25") for n in (3, 11, 12, 25, 100, 101, 102)]
    with engine.begin() as conn:
        conn.execute(insert(declared_tables()["land_parcel"]), rows)
    one = read(api, "thue-tinh-app", "land_parcel", "12", "land_tax")
    assert one.status_code == 200, one.text
    assert one.json()["fields"] == {
        "parcel_no": {"value": 12, "source": "land", "last_updated": "2026-02-01T08:12:00", "verified": True},
        "area": {"value": "12.25", "source": "land", "last_updated": "2026-02-01T08:12:00", "verified": True},
    }
    assert read(api, "thue-tinh-app", "land_parcel", "twelve", "land_tax").status_code == 404  # not an integer
    feed = "/v1/changes?dataset=land_parcel&purpose=land_tax"
    numbers, response = [], api.get(f"{feed}&since=2026-02-20T00:00:00Z&limit=2", "thue-tinh-app")
    while True:
        page = response.json()
        numbers += [item["fields"]["parcel_no"]["value"] for item in page["items"]]
        if not page["has_more"]:
            break
        response = api.get(f"{feed}&limit=2&cursor={page['next_cursor']}", "thue-tinh-app")
    # (published_at, key) order, keys compared as integers (a text order would put 100 before 11)
    assert numbers == [
        n for _, n in sorted((PUBLISHED + timedelta(minutes=n // 3), n) for n in (3, 11, 12, 25, 100, 101, 102))
    ]
    finished = datetime(2026, 2, 20, 7, 0, 0, 123456)
    with engine.begin() as conn:
        conn.execute(
            insert(sync_run).values(
                run_id="land_sync:1",
                stream="land.parcels",
                status="published",
                started_at=finished - timedelta(seconds=3),
                finished_at=finished,
                pages=1,
                read=7,
                published=7,
                quarantined=0,
                unchanged=0,
            )
        )
    listed = {item["dataset"]: item for item in api.get("/v1/catalogue", "thue-tinh-app").json()["datasets"]}
    assert listed["land_parcel"]["freshness"]["last_published_run_id"] == "land_sync:1"
    assert datetime.fromisoformat(listed["land_parcel"]["freshness"]["last_published_at"]) == finished.replace(
        tzinfo=UTC
    )
    assert listed["land_parcel"]["granted"][0]["fields"] == ["area", "parcel_no"]
    assert listed["land_parcel"]["owner"] == LAND["owner"]
    engine.dispose()
