"""What each quality rule means and what to do about a failure, in Vietnamese and English.

The texts live in ``guidance.yaml`` next to this module, as data the auditors' report
shows beside every rule and every quarantine reason. ``load_guidance`` reads and
checks the file once; a missing language or an empty text is a ``ValueError`` that
names the entry, so a bad edit fails the build instead of printing a blank.

Rules are keyed by (dataset, rule): several suites share a rule name
(``contract.valid``, ``personal_id.format``) but not its source or who to call. A
quarantine row names its stream, and ``stream(name).dataset`` gives the suite to
look its rules up in.

Lookups never raise: a rule or stream added before its guidance gets a generic
text naming it, so the report still builds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

GUIDANCE_PATH = Path(__file__).parent / "guidance.yaml"
LANGUAGES = ("vi", "en")
_TEXTS = ("title", "meaning", "action")
_RULE_KEYS = frozenset({"rule", "dataset", *_TEXTS})
_STREAM_KEYS = frozenset({"stream", "dataset", "system", "operator"})


@dataclass(frozen=True, slots=True)
class Text:
    """One text in both languages."""

    vi: str
    en: str

    def in_(self, lang: str) -> str:
        """The text in ``lang`` ("vi" or "en").

        Raises:
            ValueError: another language (a template bug: fail the build rather than guess).
        """
        if lang == "vi":
            return self.vi
        if lang == "en":
            return self.en
        raise ValueError(f"no guidance in language {lang!r}: expected one of {', '.join(LANGUAGES)}")


@dataclass(frozen=True, slots=True)
class RuleGuidance:
    """What a rule means and what to do when a record breaks it."""

    rule: str
    dataset: str  # the suite's name ("citizen", "civil_event", "dossier"); "" for an unplaced fallback
    title: Text
    meaning: Text
    action: Text


@dataclass(frozen=True, slots=True)
class StreamGuidance:
    """Which system an inbound stream comes from, and who runs it."""

    stream: str
    system: Text
    operator: Text
    dataset: str | None = None  # the suite its records are audited by; None for an unknown stream


@dataclass(frozen=True, eq=False)  # identity equality: the mappings are not hashable
class Guidance:
    """Every rule's and every stream's guidance, with a generic fallback for the ones not written yet."""

    rules: Mapping[tuple[str, str], RuleGuidance]  # (dataset, rule) -> guidance, in file order
    streams: Mapping[str, StreamGuidance]

    def rule(self, name: str, dataset: str | None = None) -> RuleGuidance:
        """The guidance of rule ``name`` in ``dataset``; a generic one if there is none.

        Without ``dataset`` a name only one suite has is found; a shared name
        (``contract.valid``...) gets the generic text, since its source is unknown.
        """
        if dataset is not None:
            found = self.rules.get((dataset, name))
            return found if found is not None else _generic_rule(name, dataset)
        matches = [guidance for (_, rule), guidance in self.rules.items() if rule == name]
        return matches[0] if len(matches) == 1 else _generic_rule(name, "")

    def stream(self, name: str) -> StreamGuidance:
        """The guidance of stream ``name``; a generic one if there is none."""
        found = self.streams.get(name)
        return found if found is not None else _generic_stream(name)


def load_guidance(path: Path | None = None) -> Guidance:
    """The guidance in ``path`` (default: the packaged ``guidance.yaml``, parsed once and cached).

    Raises:
        ValueError: the file is not guidance, or an entry lacks a field, a language or a text.
    """
    if path is None:
        return _packaged()
    return _parse(path)


@cache
def _packaged() -> Guidance:
    # Only the packaged file is cached: a test's file in tmp_path must be read afresh.
    return _parse(GUIDANCE_PATH)


def _parse(path: Path) -> Guidance:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict):
        raise ValueError(f"{path.name}: expected a mapping with 'rules' and 'streams' lists")
    rules: dict[tuple[str, str], RuleGuidance] = {}
    for number, entry in enumerate(_entries(document, "rules", path), start=1):
        rule = _rule(entry, f"{path.name}: rules entry {number}")
        key = (rule.dataset, rule.rule)
        if key in rules:
            raise ValueError(f"{path.name}: rule {rule.dataset}/{rule.rule} is given twice")
        rules[key] = rule
    datasets = {dataset for dataset, _ in rules}
    streams: dict[str, StreamGuidance] = {}
    for number, entry in enumerate(_entries(document, "streams", path), start=1):
        stream = _stream(entry, f"{path.name}: streams entry {number}")
        if stream.stream in streams:
            raise ValueError(f"{path.name}: stream {stream.stream} is given twice")
        if stream.dataset not in datasets:
            # A stream pointing at a dataset without guidance would send every lookup to the fallback.
            raise ValueError(f"{path.name}: stream {stream.stream}: dataset {stream.dataset!r} has no rules")
        streams[stream.stream] = stream
    return Guidance(rules=MappingProxyType(rules), streams=MappingProxyType(streams))


def _entries(document: dict[str, Any], section: str, path: Path) -> list[Any]:
    entries = document.get(section)
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{path.name}: expected a non-empty top-level '{section}' list")
    return entries


def _rule(entry: Any, where: str) -> RuleGuidance:
    """One rule entry, checked field by field so that the message says what to fix."""
    fields = _mapping(entry, where, _RULE_KEYS)
    rule = _name(fields, "rule", where)
    dataset = _name(fields, "dataset", f"{where} ({rule})")
    where = f"{where} ({dataset}/{rule})"
    title, meaning, action = (_text(fields, key, where) for key in _TEXTS)
    return RuleGuidance(rule=rule, dataset=dataset, title=title, meaning=meaning, action=action)


def _stream(entry: Any, where: str) -> StreamGuidance:
    """One stream entry, checked like a rule entry."""
    fields = _mapping(entry, where, _STREAM_KEYS)
    stream = _name(fields, "stream", where)
    where = f"{where} ({stream})"
    dataset = _name(fields, "dataset", where)
    return StreamGuidance(
        stream=stream, system=_text(fields, "system", where), operator=_text(fields, "operator", where), dataset=dataset
    )


def _mapping(entry: Any, where: str, keys: frozenset[str]) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected a mapping with {', '.join(sorted(keys))}")
    unknown = sorted(str(key) for key in entry if key not in keys)
    if unknown:  # a misspelt key ("meanig") would otherwise read as a missing one
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}; expected {', '.join(sorted(keys))}")
    return entry


def _name(fields: dict[str, Any], key: str, where: str) -> str:
    value = fields.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: '{key}' is missing or empty")
    return value.strip()


def _text(fields: dict[str, Any], key: str, where: str) -> Text:
    value = fields.get(key)
    if not isinstance(value, dict):
        raise ValueError(f"{where}: '{key}' is missing or not a mapping of {' and '.join(LANGUAGES)}")
    unknown = sorted(str(lang) for lang in value if lang not in LANGUAGES)
    if unknown:
        raise ValueError(f"{where}: '{key}' has unknown language(s) {', '.join(unknown)}")
    texts: dict[str, str] = {}
    for lang in LANGUAGES:
        text = value.get(lang)
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{where}: '{key}.{lang}' is missing or empty")
        texts[lang] = text.strip()
    return Text(vi=texts["vi"], en=texts["en"])


def _generic_rule(name: str, dataset: str) -> RuleGuidance:
    """Guidance for a rule nobody has written any for yet: it names the rule and says where to look."""
    return RuleGuidance(
        rule=name,
        dataset=dataset,
        title=Text(vi=f"Quy tắc {name}", en=f"Rule {name}"),
        meaning=Text(
            vi=f"Bản ghi không đạt quy tắc {name}. Quy tắc này chưa có hướng dẫn; mô tả kỹ thuật của nó nằm"
            " trong bộ quy tắc của tập dữ liệu (thư mục quality/).",
            en=f"The record breaks rule {name}. No guidance has been written for it yet; its technical"
            " description is in the dataset's suite (the quality/ folder).",
        ),
        action=Text(
            vi=f"Liên hệ kỹ sư dữ liệu của nền tảng để xác định nguyên nhân và đơn vị cần liên hệ; xem các"
            f" bản ghi đang cách ly bằng `lgsp quarantine --rule {name}`.",
            en=f"Ask the platform's data engineers for the cause and who to contact; list the held records"
            f" with `lgsp quarantine --rule {name}`.",
        ),
    )


def _generic_stream(name: str) -> StreamGuidance:
    """Guidance for a stream nobody has written any for yet."""
    return StreamGuidance(
        stream=name,
        system=Text(vi=f"Hệ thống nguồn của luồng {name}", en=f"The source system of stream {name}"),
        operator=Text(
            vi="Đơn vị vận hành hệ thống nguồn (chưa có hướng dẫn cho luồng này: hỏi kỹ sư dữ liệu của nền tảng)",
            en="The source system's operator (no guidance for this stream yet: ask the platform's data engineers)",
        ),
    )
