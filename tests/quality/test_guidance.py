"""The auditors' guidance covers every rule and every stream, in both languages, and fails loudly when broken.

Suites and streams are discovered from the code (every ``SUITE`` in ``quality``, every
``StreamSpec`` in ``hub.pipeline``), so a new rule or stream without guidance fails here
before it reaches a report as the generic fallback. A declared stream's rules get generated
guidance (quality.report.declared); what the file writes by hand for them must still name
rules their compiled suites have, in suite order.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import shlex
import unicodedata
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from hub.pipeline import declared, stages
from hub.pipeline.stages import StreamSpec
from hub.systems.loader import load_systems, streams
from quality import verdicts
from quality.report.guidance import Guidance, RuleGuidance, StreamGuidance, Text, load_guidance
from quality.verdicts import Suite

# Letters only Vietnamese writes (tone marks, ă â ê ô ơ ư, đ): a text in vi without one was not written in Vietnamese.
_VIETNAMESE = set("àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ")
_COMMAND = re.compile(r"`(lgsp [^`]+)`")
# `lgsp sync <flow>` -> the stream that flow reads (hub/cli.py's sync commands).
_SYNC_STREAM = {
    "population": "national_population.citizens",
    "civil-status": "civil_status.events",
    "one_stop": "one_stop.dossiers",
}


def _modules(package: str, beside: Any) -> list[Any]:
    """Every plain module of ``package``, imported; found next to module ``beside``.

    Not ``package.__path__``: pytest puts tests/ on sys.path, and tests/quality and
    tests/hub can then shadow the real packages as namespace portions.
    """
    folder = Path(beside.__file__).parent
    return [
        importlib.import_module(f"{package}.{info.name}")
        for info in pkgutil.iter_modules([str(folder)])
        if not info.ispkg
    ]


def _suites() -> list[Suite]:
    suites = {
        id(value): value
        for module in _modules("quality", verdicts)
        for value in vars(module).values()
        if isinstance(value, Suite)
    }
    return list(suites.values())


def _specs() -> list[StreamSpec]:
    specs = {
        id(value): value
        for module in _modules("hub.pipeline", stages)
        for value in vars(module).values()
        if isinstance(value, StreamSpec)
    }
    return list(specs.values())


def _declared_specs() -> list[StreamSpec]:
    systems = load_systems()
    return [declared.spec_for(item, systems) for item in streams(systems)]


DECLARED_SPECS = _declared_specs()
ALL_SUITES = [spec.suite for spec in DECLARED_SPECS]
ALL_RULES = {(suite.name, rule.name) for suite in ALL_SUITES for rule in suite.rules}
WRITTEN_RULES = sorted(load_guidance().rules)


def _texts(guidance: Guidance) -> list[tuple[str, Text]]:
    """Every text with where it sits, rules then streams."""
    found = [
        (f"{key[0]}/{key[1]}.{field}", getattr(rule, field))
        for key, rule in guidance.rules.items()
        for field in ("title", "meaning", "action")
    ]
    found += [
        (f"stream {name}.{field}", getattr(stream, field))
        for name, stream in guidance.streams.items()
        for field in ("system", "operator")
    ]
    return found


def test_every_suite_and_stream_is_declared() -> None:
    # Guard for the tests below: an empty discovery would make every coverage check pass.
    assert _suites() == [] and _specs() == []  # no hand-written suite or stream is left in Python
    assert {"national_population.citizens", "civil_status.events", "one_stop.dossiers"} <= {
        spec.stream for spec in DECLARED_SPECS
    }
    assert {"citizen", "civil_event", "dossier"} <= {dataset for dataset, _ in WRITTEN_RULES}


@pytest.mark.parametrize(("dataset", "rule"), WRITTEN_RULES)
def test_every_written_rule_text_is_in_both_languages_for_a_rule_its_suite_has(dataset: str, rule: str) -> None:
    assert (dataset, rule) in ALL_RULES, f"guidance for {dataset}/{rule}, which no declared suite has"
    found = load_guidance().rule(rule, dataset)
    assert (found.rule, found.dataset) == (rule, dataset)
    for text in (found.title, found.meaning, found.action):
        assert text.vi.strip() and text.en.strip()
        assert text.vi != text.en


def test_no_guidance_for_a_rule_no_suite_has() -> None:
    assert set(load_guidance().rules) - ALL_RULES == set()


def test_guidance_follows_suite_order() -> None:
    # The report lists rules as the file does: keep the file in the suites' order.
    guidance = load_guidance()
    for suite in ALL_SUITES:
        in_file = [rule for dataset, rule in guidance.rules if dataset == suite.name]
        assert in_file == [rule for rule in suite.rule_names() if (suite.name, rule) in guidance.rules]
    written = {dataset for dataset, _ in guidance.rules}
    assert "civil_event" in written  # the check above is not empty for a declared suite


@pytest.mark.parametrize(
    "spec", [spec for spec in DECLARED_SPECS if spec.stream in load_guidance().streams], ids=lambda spec: spec.stream
)
def test_every_written_stream_guidance_points_at_its_suite(spec: StreamSpec) -> None:
    stream = load_guidance().stream(spec.stream)  # the others' is generated from the declaration (the report's)
    assert stream.dataset == spec.suite.name
    # What a quarantine row needs: its stream finds the rule texts of the right suite.
    assert load_guidance().rule("contract.valid", stream.dataset).dataset == spec.suite.name


def test_no_guidance_for_a_stream_no_declaration_has() -> None:
    written = set(load_guidance().streams)
    assert written <= {spec.stream for spec in DECLARED_SPECS}
    assert {"national_population.citizens", "civil_status.events", "one_stop.dossiers"} <= written


def test_vietnamese_texts_are_vietnamese_and_composed() -> None:
    for where, text in _texts(load_guidance()):
        assert _VIETNAMESE & set(text.vi.lower()), f"{where}: the vi text has no Vietnamese letter"
        # Decomposed (NFD) diacritics look the same but break search and sorting in the report.
        assert unicodedata.is_normalized("NFC", text.vi), f"{where}: the vi text is not NFC"


def test_shared_rule_names_differ_per_dataset() -> None:
    guidance = load_guidance()
    event = guidance.rule("personal_id.personal_id", "civil_event")
    dossier = guidance.rule("personal_id.personal_id", "dossier")
    assert event.action.vi != dossier.action.vi
    # Without a dataset, a name several suites share cannot be placed: generic, not another suite's text.
    assert guidance.rule("personal_id.personal_id").dataset == ""
    # A name only one suite has is found without one.
    assert guidance.rule("history.consistent").dataset == "dossier"


def test_commands_in_the_guidance_exist_and_fit_their_entry() -> None:
    from hub.cli.app import app

    guidance = load_guidance()
    runner = CliRunner()
    checked: set[tuple[str, ...]] = set()
    for (dataset, rule), entry in guidance.rules.items():
        for text in (entry.action.vi, entry.action.en):
            for command in _COMMAND.findall(text):
                words = shlex.split(command)[1:]
                path = tuple(word for word in words if not word.startswith(("-", "<")))
                options = [word for word in words if word.startswith("--")]
                if words[:1] == ["quarantine"]:
                    assert words == ["quarantine", "--rule", rule], f"{dataset}/{rule}: {command}"
                    path = ("quarantine",)
                if words[:1] == ["sync"]:
                    stream = _SYNC_STREAM[words[1]]
                    assert guidance.stream(stream).dataset == dataset, f"{dataset}/{rule}: {command}"
                if path in checked:
                    continue
                result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
                assert result.exit_code == 0, f"{dataset}/{rule}: `{command}` is not an lgsp command"
                for option in options:
                    assert option in result.output, f"{dataset}/{rule}: `{command}` has no {option}"
                checked.add(path)
    assert ("quarantine",) in checked and ("sync", "population") in checked


def test_an_unknown_rule_gets_a_generic_guidance_naming_it() -> None:
    guidance = load_guidance()
    found = guidance.rule("address.geocoded", "citizen")
    assert isinstance(found, RuleGuidance)
    assert (found.rule, found.dataset) == ("address.geocoded", "citizen")
    for text in (found.title, found.meaning, found.action):
        assert "address.geocoded" in text.vi and "address.geocoded" in text.en
    assert guidance.rule("address.geocoded").dataset == ""


def test_an_unknown_stream_gets_a_generic_guidance_naming_it() -> None:
    found = load_guidance().stream("land.parcels")
    assert isinstance(found, StreamGuidance)
    assert found.stream == "land.parcels" and found.dataset is None
    assert "land.parcels" in found.system.vi and "land.parcels" in found.system.en
    assert found.operator.vi and found.operator.en


def test_text_in_a_language() -> None:
    text = Text(vi="Thiếu họ và tên", en="Missing full name")
    assert (text.in_("vi"), text.in_("en")) == ("Thiếu họ và tên", "Missing full name")
    with pytest.raises(ValueError, match="'fr'"):
        text.in_("fr")


def test_the_packaged_guidance_is_parsed_once() -> None:
    assert load_guidance() is load_guidance()


# --- malformed files --------------------------------------------------------------


def _both(vi: str, en: str) -> dict[str, str]:
    return {"vi": vi, "en": en}


def _document() -> dict[str, Any]:
    """A minimal valid guidance document."""
    return {
        "streams": [
            {
                "stream": "national_population.citizens",
                "dataset": "citizen",
                "system": _both("Cơ sở dữ liệu quốc gia về dân cư", "National Population Database"),
                "operator": _both("Công an tỉnh", "The provincial police"),
            }
        ],
        "rules": [
            {
                "rule": "full_name.not_empty",
                "dataset": "citizen",
                "title": _both("Thiếu họ và tên", "Missing full name"),
                "meaning": _both("Họ và tên để trống.", "The name is empty."),
                "action": _both("Chuyển Công an tỉnh.", "Refer it to the police."),
            }
        ],
    }


def _write(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "guidance.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


def test_a_minimal_file_loads_without_touching_the_cache(tmp_path: Path) -> None:
    guidance = load_guidance(_write(tmp_path, _document()))
    assert list(guidance.rules) == [("citizen", "full_name.not_empty")]
    assert guidance.stream("national_population.citizens").operator.in_("en") == "The provincial police"
    assert load_guidance() is not guidance and len(load_guidance().rules) > 1


def _without_meaning_vi(document: dict[str, Any]) -> None:
    del document["rules"][0]["meaning"]["vi"]


def _blank_title_en(document: dict[str, Any]) -> None:
    document["rules"][0]["title"]["en"] = "   "


def _no_action(document: dict[str, Any]) -> None:
    del document["rules"][0]["action"]


def _misspelt_key(document: dict[str, Any]) -> None:
    document["rules"][0]["meanig"] = document["rules"][0].pop("meaning")


def _third_language(document: dict[str, Any]) -> None:
    document["rules"][0]["title"]["fr"] = "Nom manquant"


def _twice(document: dict[str, Any]) -> None:
    document["rules"].append(document["rules"][0])


@pytest.mark.parametrize(
    ("break_it", "message"),
    [
        (_without_meaning_vi, r"citizen/full_name\.not_empty.*'meaning\.vi' is missing or empty"),
        (_blank_title_en, r"citizen/full_name\.not_empty.*'title\.en' is missing or empty"),
        (_no_action, r"citizen/full_name\.not_empty.*'action' is missing"),
        (_misspelt_key, r"rules entry 1.*unknown key\(s\) meanig"),
        (_third_language, r"citizen/full_name\.not_empty.*unknown language\(s\) fr"),
        (_twice, r"rule citizen/full_name\.not_empty is given twice"),
    ],
    ids=lambda value: getattr(value, "__name__", "")[1:] or None,
)
def test_a_malformed_rule_entry_is_refused_by_name(tmp_path: Path, break_it: Any, message: str) -> None:
    document = _document()
    break_it(document)
    with pytest.raises(ValueError, match=message):
        load_guidance(_write(tmp_path, document))


def test_a_malformed_stream_entry_is_refused_by_name(tmp_path: Path) -> None:
    document = _document()
    document["streams"][0]["operator"]["vi"] = ""
    with pytest.raises(ValueError, match=r"population\.citizens.*'operator\.vi' is missing or empty"):
        load_guidance(_write(tmp_path, document))


def test_a_stream_of_a_dataset_without_rules_is_refused(tmp_path: Path) -> None:
    document = _document()
    document["streams"][0]["dataset"] = "citizens"
    with pytest.raises(ValueError, match=r"population\.citizens: dataset 'citizens' has no rules"):
        load_guidance(_write(tmp_path, document))


@pytest.mark.parametrize("document", [[], {"rules": []}, {"streams": [], "rules": [{}]}, "rules"])
def test_a_file_that_is_not_guidance_is_refused(tmp_path: Path, document: object) -> None:
    with pytest.raises(ValueError, match=r"guidance\.yaml"):
        load_guidance(_write(tmp_path, document))
