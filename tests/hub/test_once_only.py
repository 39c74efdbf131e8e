"""The once-only figure over a real sync, checked against a count made straight from the store."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import population_sync
import pytest
from declared_connections import sync_declared
from mock_settings import settings_for
from sqlalchemy import Engine, insert, select

import hub.reporting.once_only
from hub.cli.app import _print_report
from hub.local.main_job import MainJobReport
from hub.reporting.once_only import once_only_figures
from hub.store.engine import open_store
from hub.store.tables import citizen, dossier, field_conflict
from schemas.procedures.forms import Form, load_forms

REGISTERS = {"national_population", "civil_status"}


def expected_figures(engine: Engine, forms: dict[str, Form]) -> dict[str, tuple[int, int, int, int]]:
    """Per procedure: (dossiers, verified fields, complete dossiers, dossiers with every sourced field verified),
    one dossier and one field at a time."""
    with engine.connect() as conn:
        golden = {row.personal_id: row._mapping for row in conn.execute(select(citizen))}
        disputed = {
            (row.personal_id, row.field)
            for row in conn.execute(
                select(field_conflict.c.personal_id, field_conflict.c.field).where(field_conflict.c.status == "open")
            )
        }
        dossiers = conn.execute(select(dossier.c.procedure_code, dossier.c.applicant_id)).all()

    def vouched(person: Any, name: str) -> bool:
        if person is None or person[name] in (None, ""):
            return False
        system = json.loads(person["provenance"])[name]["system"]
        return system in REGISTERS and (person["personal_id"], name) not in disputed

    found = {code: (0, 0, 0, 0) for code in forms}
    for code, applicant_id in dossiers:
        if code not in forms:
            continue
        applicant = golden.get(applicant_id)
        verified = 0
        for spec in forms[code].fields:
            source = spec.source
            if source is None or applicant is None:
                continue
            if source.relation is None:
                verified += source.field == "personal_id" or vouched(applicant, source.field)
                continue
            link = f"{source.relation}_id"
            relative = golden.get(applicant[link] or "")
            verified += vouched(applicant, link) and (source.field == "personal_id" or vouched(relative, source.field))
        count, fields, complete, held = found[code]
        sourced = sum(spec.source is not None for spec in forms[code].fields)
        found[code] = (
            count + 1,
            fields + verified,
            complete + (verified == len(forms[code].fields)),
            held + (verified == sourced),
        )
    return found


def test_the_figure_matches_a_count_from_the_store(
    mock_server: Callable[..., Any], database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = mock_server(one_stop_dossiers=1500, one_stop_defect_rate=0.05)
    settings = settings_for(server, database_url, tmp_path)
    engine = open_store(database_url)
    population_sync.sync("p1", settings, engine)
    sync_declared(server, "civil_status.events", "c1", settings, engine)
    sync_declared(server, "one_stop.dossiers", "d1", settings, engine)
    with engine.connect() as conn:
        filers = (
            conn.execute(
                select(dossier.c.applicant_id)
                .where(dossier.c.procedure_code == "TT-LL-01")
                .distinct()
                .order_by(dossier.c.applicant_id)
            )
            .scalars()
            .all()
        )
    undisputed = once_only_figures(engine)
    # Two sources dispute some filers' names: those names no longer count as verified.
    now = datetime(2026, 1, 1)
    with engine.begin() as conn:
        conn.execute(
            insert(field_conflict),
            [
                {
                    "personal_id": pid,
                    "field": "full_name",
                    "kept_value": "a",
                    "kept_source": "national_population",
                    "kept_updated_at": now,
                    "other_value": "b",
                    "other_source": "civil_status",
                    "other_updated_at": now,
                    "run_id": "t",
                    "detected_at": now,
                    "status": "open",
                }
                for pid in filers[:10]
            ],
        )

    forms = load_forms()
    figures = once_only_figures(engine)
    expected = expected_figures(engine, forms)
    with engine.connect() as conn:
        per_code = Counter(conn.execute(select(dossier.c.procedure_code)).scalars())
    assert set(figures["procedures"]) == set(forms)
    for code, line in figures["procedures"].items():
        count, verified, complete, held = expected[code]
        size = len(forms[code].fields)
        assert count == per_code[code] > 0, code  # every form's procedure was filed
        assert line["dossiers"] == count and line["form_fields"] == size
        assert line["prefilled_share"] == round(verified / (size * count), 4)
        assert line["complete_share"] == round(complete / count, 4) == 0.0  # each form asks the citizen something
        assert 0 < line["prefilled_share"] < 1
        assert line["held_complete_share"] == round(held / count, 4)
    dossiers = sum(count for count, *_ in expected.values())
    fields = sum(count * len(forms[code].fields) for code, (count, *_) in expected.items())
    held = sum(line[3] for line in expected.values())
    assert figures["overall"] == {
        "dossiers": dossiers,
        "complete_share": 0.0,
        "held_complete_share": round(held / dossiers, 4),
        "prefilled_share": round(sum(line[1] for line in expected.values()) / fields, 4),
    }
    assert 0 < figures["overall"]["held_complete_share"] < 1  # some applicants lack a relative the form names
    judicial = figures["procedures"]["TT-LL-01"]["prefilled_share"]
    assert judicial < undisputed["procedures"]["TT-LL-01"]["prefilled_share"]  # the disputed names count

    monkeypatch.setattr(hub.reporting.once_only, "CHUNK", 37)  # many small chunks walk the same dossiers
    assert once_only_figures(engine) == figures
    engine.dispose()


def test_no_dossiers_gives_no_shares(store_engine: Engine) -> None:
    figures = once_only_figures(store_engine)
    assert figures["overall"] == {
        "dossiers": 0,
        "prefilled_share": None,
        "complete_share": None,
        "held_complete_share": None,
    }
    assert figures["procedures"]["TT-TR-01"]["name"] == "Đăng ký thường trú"
    assert all(line["prefilled_share"] is None for line in figures["procedures"].values())


def test_the_report_carries_the_figure_and_prints_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert MainJobReport().as_dict()["once_only"] is None  # until the dossiers' sync has succeeded
    once_only = {
        "procedures": {
            "TT-LL-01": {
                "name": "Cấp Phiếu lý lịch tư pháp",
                "form_fields": 11,
                "dossiers": 1234,
                "prefilled_share": 0.8182,
                "complete_share": 0.0,
                "held_complete_share": 0.6543,
            }
        },
        "overall": {"dossiers": 1234, "prefilled_share": 0.8182, "complete_share": 0.0, "held_complete_share": 0.6543},
    }
    report = MainJobReport(database="hub.sqlite", airflow_home="airflow", once_only=once_only)
    assert report.as_dict()["once_only"] == once_only
    monkeypatch.setenv("COLUMNS", "200")
    _print_report(report.as_dict())
    printed = capsys.readouterr().out
    assert "TT-LL-01" in printed and "Cấp Phiếu lý lịch tư pháp" in printed
    assert "1,234" in printed and "81.8%" in printed and "0.0%" in printed and "65.4%" in printed
