"""The report's flows, titles and guidance of declared streams are derived from the declarations, not kept by hand."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Any

import pytest
import yaml

from hub.store.declared import staging_table
from hub.systems.loader import HUB_DATASETS, Declared, load_systems, streams
from lgsp.declaration import SystemDecl
from quality.report.declared import report_scope
from quality.report.guidance import GUIDANCE_PATH, load_guidance
from quality.rules import compile_suite

_VIETNAMESE = set("àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ")
LAND: dict[str, Any] = {
    "system": "land",
    "title": {"vi": "Cơ sở dữ liệu đất đai tỉnh", "en": "Provincial land database"},
    "owner": "Sở Nông nghiệp và Môi trường",
    "connection": "land",
    "rest": {"auth": {"api_key": {"header": "X-Api-Key"}}},
    "streams": {
        "parcels": {
            "title": {"vi": "Thửa đất", "en": "Land parcels"},
            "get": "/parcels",
            "params": {"since": "{cursor}"},
            "records": "items",
            "cursor": {"field": "updated_at"},
            "dataset": "land_parcel",
            "key": "parcel_id",
            "fields": {
                "parcel_id": "MaThua",
                "holder_id": {
                    "from": "SoDinhDanh",
                    "type": "personal_id",
                    "title": {"vi": "Chủ sử dụng", "en": "Holder"},
                },
                "area": {"from": "DienTich", "type": "decimal"},
                "updated_at": {"from": "CapNhat", "type": "datetime"},
            },
            "rules": [
                {"not_empty": ["parcel_id", "holder_id"]},
                {"range": {"field": "area", "min": 0}},
                {"references": {"holder_id": "citizen"}},
            ],
            "schedule": "@weekly",
        }
    },
}


def with_land() -> tuple[Declared, ...]:
    return (*load_systems(), Declared(SystemDecl.model_validate(LAND), Path("land.yaml")))


def suite_rules(systems: tuple[Declared, ...]) -> dict[str, list[str]]:
    """dataset -> its compiled suite's rule names, in order: what the pipeline audits."""
    return {
        item.stream.dataset: list(
            compile_suite(item.stream, staging=staging_table(item.stream), datasets=HUB_DATASETS).rule_names()
        )
        for item in streams(systems)
    }


def test_every_declared_stream_is_a_flow_with_its_schedule_title_and_guidance() -> None:
    systems = with_land()
    scope = report_scope(load_guidance(), systems)
    for item in streams(systems):
        assert scope.flows[item.dag_id] == (item.qualified, item.stream.dataset)
        assert scope.schedules[item.dag_id] == item.stream.schedule
        title = item.stream.title or item.system.title
        assert (scope.title(item.stream.dataset, "vi"), scope.title(item.stream.dataset, "en")) == (title.vi, title.en)
        stream = scope.guidance.stream(item.qualified)
        if item.qualified in load_guidance().streams:  # written by hand (civil status): the file's text wins
            assert stream == load_guidance().streams[item.qualified] and stream.dataset == item.stream.dataset
            continue
        assert (stream.dataset, stream.system.en, stream.operator.vi) == (
            item.stream.dataset,
            item.system.title.en,
            item.system.owner,
        )
    assert scope.flows["land_sync"] == ("land.parcels", "land_parcel") and scope.schedules["land_sync"] == "@weekly"
    assert scope.datasets[:3] == ["citizen", "civil_event", "dossier"] and scope.datasets[-1] == "land_parcel"


def test_every_compiled_rule_has_generated_guidance_in_both_languages_in_suite_order() -> None:
    systems = with_land()
    scope = report_scope(load_guidance(), systems)
    compiled = suite_rules(systems)
    for item in streams(systems):
        dataset = item.stream.dataset
        in_order = [rule for suite, rule in scope.guidance.rules if suite == dataset]
        assert in_order == compiled[dataset]
        for rule in in_order:
            found = scope.guidance.rule(rule, dataset)
            if (dataset, rule) in load_guidance().rules:  # written by hand: the file's text wins
                assert found == load_guidance().rules[(dataset, rule)]
                continue
            for text in (found.title, found.meaning, found.action):
                assert text.vi.strip() and text.en.strip() and text.vi != text.en, (dataset, rule)
                assert _VIETNAMESE & set(text.vi.lower()) and unicodedata.is_normalized("NFC", text.vi)
            assert rule in found.meaning.en and item.system.title.en in found.meaning.en
            assert item.system.owner in found.action.vi and f"`lgsp quarantine --rule {rule}`" in found.action.en
            assert f"`lgsp sync {item.system.system}`" in found.action.en
            spec = item.stream.fields.get(rule.split(".")[0])
            if spec is not None:  # the wire element a data engineer looks for in the held payload
                assert spec.from_ in found.meaning.vi and spec.from_ in found.meaning.en
                assert (spec.title.en if spec.title else rule.split(".")[0]) in found.title.en
    land = scope.guidance.rule("holder_id.references", "land_parcel")
    assert land.title.vi == "Trường Chủ sử dụng không khớp bản ghi nào đã được công bố"
    assert "CapNhat" in land.action.vi  # a correction at the source moves the cursor field: the next sync reads it
    assert scope.guidance.rule("contract.valid", "land_parcel").title.en == "The record breaks the interface contract"


def test_a_text_written_in_the_guidance_file_wins_over_the_generated_one(tmp_path: Path) -> None:
    document = yaml.safe_load(GUIDANCE_PATH.read_text(encoding="utf-8"))
    (stream,) = [item for item in streams(with_land()) if item.system.system == "land"]
    written = {
        "rule": "area.range",
        "dataset": "land_parcel",
        "title": {"vi": "Diện tích âm", "en": "Negative area"},
        "meaning": {"vi": "Diện tích thửa đất nhỏ hơn 0.", "en": "The parcel's area is below zero."},
        "action": {"vi": "Đề nghị Văn phòng đăng ký đất đai đo lại.", "en": "Ask the land registration office."},
    }
    document["rules"].append(written)
    path = tmp_path / "guidance.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    scope = report_scope(load_guidance(path), with_land())
    assert scope.guidance.rule("area.range", "land_parcel").title.en == "Negative area"
    generated = scope.guidance.rule("parcel_id.not_empty", "land_parcel")
    assert generated.title.en == "Field parcel_id is missing or blank" and stream.qualified in generated.meaning.en
    # The hub's own guidance is untouched.
    assert scope.guidance.rule("contract.valid", "citizen") == load_guidance().rule("contract.valid", "citizen")


def test_generated_texts_name_fields_and_systems_never_values() -> None:
    scope = report_scope(load_guidance(), with_land())
    declared = {item.stream.dataset for item in streams(with_land())}
    for (dataset, _), entry in scope.guidance.rules.items():
        if dataset not in declared:
            continue
        for text in (entry.title, entry.meaning, entry.action):
            for words in (text.vi, text.en):
                assert not re.search(r"\d{6,}", words), words  # no id, no number of a record


@pytest.mark.parametrize("stream", list(streams(load_systems())), ids=lambda item: item.qualified)
def test_the_commands_the_guidance_names_exist(stream: Any) -> None:
    from typer.testing import CliRunner

    from hub.cli.app import app

    result = CliRunner().invoke(app, ["sync", stream.system.system, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, f"`lgsp sync {stream.system.system}` is not an lgsp command:\n{result.output}"
