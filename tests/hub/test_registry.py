"""Agencies and agreements declared as YAML, loaded into the store; deny by default."""

from __future__ import annotations

import shutil
from datetime import date, datetime
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from hub import ledger
from hub.cli.app import app
from hub.sharing.client_secrets import DEMO_CLIENT_SECRET, check_secret, hash_secret
from hub.sharing.policy import active_grants, require_grant
from hub.sharing.registry import DEFAULT_CONFIG, load_registry, read_registry
from hub.store.engine import open_store
from hub.store.tables import agency, agreement, api_client, subscription
from lgsp.errors import AccessDenied, ConfigError

KEY = b"k" * 32
NOW = datetime(2026, 12, 1, 9, 0)
TODAY = NOW.date()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    folder = tmp_path / "sharing"
    shutil.copytree(DEFAULT_CONFIG, folder)
    return folder


def edit(folder: Path, name: str, change: object) -> None:
    path = folder / name
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(document)  # type: ignore[operator]
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")


def count(engine: Engine, table: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_the_shipped_declaration_loads_and_is_recorded(database_url: str) -> None:
    engine = open_store(database_url)
    registry = load_registry(engine, ledger_key=KEY, now=NOW)
    assert registry.counts == {"agencies": 6, "clients": 6, "agreements": 8}
    assert count(engine, agency) == 6 and count(engine, agreement) == 8
    assert count(engine, subscription) == 3
    load_registry(engine, ledger_key=KEY, now=NOW)  # loading twice changes nothing
    assert count(engine, subscription) == 3 and count(engine, api_client) == 6
    result = ledger.verify(engine)
    assert result.intact and result.entries == 2
    with engine.connect() as conn:
        hashes = conn.execute(select(api_client.c.secret_hash)).scalars().all()
    assert all(DEMO_CLIENT_SECRET not in value and check_secret(DEMO_CLIENT_SECRET, value) for value in hashes)
    engine.dispose()


def test_deny_by_default_and_every_rule_named(store_engine: Engine) -> None:
    load_registry(store_engine, ledger_key=KEY, now=NOW)
    with store_engine.connect() as conn:
        grant = require_grant(conn, "BHXH", "citizen", "health_insurance", TODAY)
        assert "residence_detail" not in grant.fields and "death_date" in grant.fields
        assert grant.agreement_ids == ("TTDL-2025-005",) and "47/2020" in grant.legal_basis
        cases = [
            (("CONG-AN", "civil_event", "residence_registration", TODAY), "no_agreement"),
            (("UNKNOWN", "citizen", "health_insurance", TODAY), "no_agreement"),
            (("BHXH", "citizen", "residence_registration", TODAY), "purpose_not_agreed"),
            (("SO-Y-TE", "citizen", "vaccination", TODAY), "agreement_expired"),
            (("BHXH", "citizen", "health_insurance", date(2024, 1, 1)), "agreement_not_yet_valid"),
            (("BHXH", "citizen", "health_insurance", date(2028, 1, 1)), "agreement_expired"),
        ]
        for args, rule in cases:
            with pytest.raises(AccessDenied) as denied:
                require_grant(conn, *args)
            assert denied.value.rule == rule, args
        assert ("SO-Y-TE", "vaccination") not in {
            (g.agency_code, g.purpose) for g in active_grants(conn, "citizen", TODAY)
        }


def test_two_valid_agreements_for_one_purpose_add_up(store_engine: Engine, config: Path) -> None:
    def add(document: dict[str, list[dict[str, object]]]) -> None:
        document["agreements"].append(
            {
                "id": "TTDL-2026-900",
                "agency": "BHXH",
                "dataset": "citizen",
                "purpose": "health_insurance",
                "legal_basis": "Nghị định 47/2020/NĐ-CP",
                "fields": ["residence_detail"],
                "valid_from": date(2026, 1, 1),
                "valid_until": None,
            }
        )

    edit(config, "agreements.yaml", add)
    load_registry(store_engine, config, ledger_key=KEY, now=NOW)
    with store_engine.connect() as conn:
        grant = require_grant(conn, "BHXH", "citizen", "health_insurance", TODAY)
    assert "residence_detail" in grant.fields and len(grant.agreement_ids) == 2


def test_an_agency_removed_from_the_files_loses_access_at_the_next_load(store_engine: Engine, config: Path) -> None:
    load_registry(store_engine, config, ledger_key=KEY, now=NOW)

    def drop_bhxh(document: dict[str, list[dict[str, object]]]) -> None:
        document["agreements"] = [a for a in document["agreements"] if a["agency"] != "BHXH"]

    edit(config, "agreements.yaml", drop_bhxh)
    edit(config, "agencies.yaml", lambda d: d.update(agencies=[a for a in d["agencies"] if a["code"] != "BHXH"]))
    load_registry(store_engine, config, ledger_key=KEY, now=NOW)
    with store_engine.connect() as conn, pytest.raises(AccessDenied):
        require_grant(conn, "BHXH", "citizen", "health_insurance", TODAY)
    with store_engine.connect() as conn:
        assert conn.execute(select(api_client).where(api_client.c.agency_code == "BHXH")).first() is None


@pytest.mark.parametrize(
    ("file", "change", "message"),
    [
        (
            "agreements.yaml",
            lambda d: d["agreements"][0].update(fields=["full_name", "salary"]),
            "agreement 1 (TTDL-2025-001): citizen has no field(s) salary",
        ),
        (
            "agreements.yaml",
            lambda d: d["agreements"][1].update(agency="NOBODY"),
            "agreement 2 (TTDL-2025-002): agency NOBODY is not declared",
        ),
        ("agreements.yaml", lambda d: d["agreements"][0].update(valid_from="soon"), "'valid_from' must be a date"),
        (
            "agreements.yaml",
            lambda d: d["agreements"][0].update(valid_until=date(2020, 1, 1)),
            "valid_until is before valid_from",
        ),
        ("agreements.yaml", lambda d: d["agreements"][0].update(dataset="taxes"), "dataset must be one of"),
        (
            "agencies.yaml",
            lambda d: d["agencies"][0]["clients"][0].update(secret_hash="demo-only-secret"),
            "secret_hash is not a pbkdf2_sha256 hash",
        ),
        ("agencies.yaml", lambda d: d["agencies"][0]["clients"][0].update(scopes=["consent"]), "scopes must be"),
        ("agencies.yaml", lambda d: d["agencies"][1].update(code="TU-PHAP"), "agency 2 repeats code TU-PHAP"),
        # Declared datasets: their fields are the declaration's, their names scopes like citizen's.
        (
            "agreements.yaml",
            lambda d: _agreement(d, "TTDL-2026-008")["fields"].append("owner_name"),
            "agreement 8 (TTDL-2026-008): household_business has no field(s) owner_name; known: "
            "registration_number, business_name, owner_id, commune, registered_on, status, updated_at",
        ),
        (
            "agreements.yaml",
            lambda d: _agreement(d, "TTDL-2026-007").update(consent="maybe"),
            "agreement 7 (TTDL-2026-007): consent is 'required' or 'not_required'",
        ),
        (
            "agreements.yaml",
            lambda d: _agreement(d, "TTDL-2026-007").update(dataset="land_parcel"),
            "dataset must be one of citizen, civil_event, insurance_coverage, household_business",
        ),
        (
            "agencies.yaml",
            lambda d: d["agencies"][0]["clients"][0].update(scopes=["citizen", "land_parcel"]),
            "scopes must be a non-empty list of citizen, civil_event, household_business, insurance_coverage",
        ),
        (
            "agencies.yaml",
            lambda d: d["agencies"][0]["subscriptions"].append({"dataset": "citizen", "purpose": "marketing"}),
            "no agreement in agreements.yaml covers it",
        ),
    ],
)
def test_a_malformed_declaration_names_what_to_fix_and_changes_nothing(
    store_engine: Engine, config: Path, file: str, change: object, message: str
) -> None:
    load_registry(store_engine, config, ledger_key=KEY, now=NOW)
    edit(config, file, change)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_registry(store_engine, config, ledger_key=KEY, now=NOW)
    assert count(store_engine, agreement) == 8  # the previous declaration stays in force


def _agreement(document: dict[str, list[dict[str, object]]], agreement_id: str) -> dict[str, object]:
    return next(entry for entry in document["agreements"] if entry["id"] == agreement_id)


def test_declared_datasets_are_granted_like_the_hubs_own_and_consent_is_the_agreements_word(
    store_engine: Engine, config: Path
) -> None:
    def scope(document: dict[str, list[dict[str, object]]]) -> None:
        clients = next(a for a in document["agencies"] if a["code"] == "THUE-TINH")["clients"]
        clients[0]["scopes"] = ["household_business", "insurance_coverage"]  # type: ignore[index]

    edit(config, "agencies.yaml", scope)
    registry = load_registry(store_engine, config, ledger_key=KEY, now=NOW)
    (thue,) = [item for item in registry.agencies if item.code == "THUE-TINH"]
    assert thue.clients[0].scopes == ("household_business", "insurance_coverage")
    assert thue.subscriptions == (("household_business", "tax_management"),)
    with store_engine.connect() as conn:
        tax = require_grant(conn, "THUE-TINH", "household_business", "tax_management", TODAY)
        care = require_grant(conn, "SO-Y-TE", "insurance_coverage", "health_insurance_check", TODAY)
        assert not tax.consent_required and {"registration_number", "owner_id"} <= tax.fields
        assert care.consent_required and care.agreement_ids == ("TTDL-2026-007",)
        assert "commune" not in care.fields and "Bảo hiểm y tế" in care.legal_basis
        with pytest.raises(AccessDenied) as denied:  # deny by default: no agreement, whatever the scope
            require_grant(conn, "THUE-TINH", "insurance_coverage", "tax_management", TODAY)
        assert denied.value.rule == "no_agreement"
        with pytest.raises(AccessDenied) as denied:
            require_grant(conn, "SO-Y-TE", "insurance_coverage", "health_insurance_check", date(2029, 1, 1))
        assert denied.value.rule == "agreement_expired"
        consenting = conn.execute(select(agreement.c.agreement_id).where(agreement.c.consent_required)).scalars()
        assert list(consenting) == ["TTDL-2026-007"]


def test_broken_yaml_and_a_missing_folder_say_what_to_do(tmp_path: Path, config: Path) -> None:
    (config / "agencies.yaml").write_text("agencies: [unclosed", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"agencies\.yaml is not valid YAML"):
        read_registry(config)
    with pytest.raises(ConfigError, match="LGSP_SHARING_CONFIG"):
        read_registry(tmp_path / "nowhere")


def test_secrets_are_salted_and_checked() -> None:
    first, second = hash_secret("a-long-client-secret"), hash_secret("a-long-client-secret")
    assert first != second and check_secret("a-long-client-secret", first)
    assert not check_secret("a-long-client-secreT", first) and not check_secret("x", "not$a$hash")


def test_the_cli_lists_and_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LGSP_HOME", str(tmp_path))
    monkeypatch.delenv("LGSP_DATABASE_URL", raising=False)
    runner = CliRunner()
    missing = runner.invoke(app, ["agreements"])  # a read-only command makes no store
    assert missing.exit_code == 2 and "no store at" in missing.output and not (tmp_path / "hub.sqlite").exists()
    assert runner.invoke(app, ["upgrade-db"]).exit_code == 0
    empty = runner.invoke(app, ["agreements"])
    assert empty.exit_code == 0 and "deny by default" in empty.output
    loaded = runner.invoke(app, ["agencies", "load"])
    assert loaded.exit_code == 0 and "6 agencies" in loaded.output
    listing = runner.invoke(app, ["agencies"], env={"COLUMNS": "250"})
    assert listing.exit_code == 0 and "BHXH" in listing.output and "cong-dvc-consent" in listing.output
    agreements = runner.invoke(app, ["agreements", "--agency", "SO-Y-TE"], env={"COLUMNS": "250"})
    assert "TTDL-2024-006" in agreements.output and "no" in agreements.output and "BHXH" not in agreements.output
    hashed = runner.invoke(app, ["agencies", "hash-secret"], input="a-long-client-secret\n")
    assert hashed.exit_code == 0 and check_secret("a-long-client-secret", hashed.stdout.strip())
