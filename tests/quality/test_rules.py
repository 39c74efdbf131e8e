"""quality.rules: a declared stream's rules compiled to SQL verdicts, judged on both backends.

The semantic tests stage many values into a table of the staging contract's shape and
read the verdicts the compiled suite's own query gives, against what Python says
(``re.fullmatch``, ``Decimal``, ``date``/``datetime``). The audit test runs a suite
holding every word of the vocabulary through GX (``quality.runner.audit_run``) and
checks the exact failing rows of every rule, the rows out of each rule's scope, and
that no staged value reaches what the audit stores.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Column, DateTime, Engine, Index, Integer, MetaData, String, Table, Text, insert, select, text
from staged_citizens import publish

from hub.store.reference import current_communes
from hub.store.tables import audit_finding, quality_result, validation_result
from hub.systems.loader import HUB_DATASETS
from lgsp.declaration import Stream, rule_kind
from lgsp.errors import ConfigError
from quality.patterns import pattern_problem
from quality.rules import RuleError, compile_suite, rule_problems
from quality.runner import audit_run
from quality.verdicts import Suite
from schemas.personal_id import build

RUN = "manual__2026-01-15T00:00:00+00:00"
AS_OF = date(2026, 1, 15)
PROJECT = Path(__file__).resolve().parents[2]


def declared(fields: dict[str, Any], rules: list[Any], dataset: str = "probe") -> Stream:
    """A stream declaration as a YAML file would give it (paging and wire details do not matter here)."""
    key = next(iter(fields))
    return Stream.model_validate(
        {"get": "/items", "records": "data", "dataset": dataset, "key": key, "fields": fields, "rules": rules}
    )


def staging_for(stream: Stream) -> Table:
    """The staging table of the contract: bookkeeping columns plus one Text column per declared field."""
    table = Table(
        f"staging_{stream.dataset}",
        MetaData(),
        Column("row_id", Integer, primary_key=True, autoincrement=True),
        Column("run_id", String(250), index=True),
        Column("page_no", Integer),
        *(Column(name, Text) for name in stream.fields),
        Column("contract_error", Text),
        Column("content_hash", String(64)),
        Column("payload", Text),
        Column("fetched_at", DateTime),
    )
    Index(f"ix_{table.name}_run_key", table.c.run_id, table.c[stream.key])  # as the store declares it
    return table


def stage(engine: Engine, table: Table, rows: list[dict[str, Any]]) -> list[int]:
    """Insert rows of one run (content hash from the fields, as the mapper does); their row ids, in order."""
    ids = []
    with engine.begin() as conn:
        for fields in rows:
            content = json.dumps(fields, ensure_ascii=False, sort_keys=True)
            row = {
                "run_id": RUN,
                "page_no": 1,
                "content_hash": hashlib.sha256(content.encode()).hexdigest(),
                "payload": content,
                "fetched_at": datetime(2026, 1, 15),
                **fields,
            }
            ids.append(conn.execute(insert(table).returning(table.c.row_id), row).scalar_one())
    return ids


def verdicts(engine: Engine, suite: Suite) -> dict[int, dict[str, int | None]]:
    """row id -> rule -> the verdict (None: not applicable), as the suite's own query gives them."""
    columns = {rule.column: rule.name for rule in suite.rules}
    with engine.connect() as conn:
        result = conn.execute(text(suite.verdict_query(RUN, AS_OF))).mappings()
        return {row["row_id"]: {columns[c]: row[c] for c in columns} for row in result}


def judged(
    engine: Engine, stream: Stream, rows: list[dict[str, Any]], datasets: Any = HUB_DATASETS
) -> list[dict[str, Any]]:
    """Stage ``rows`` into a fresh staging table and return each row's verdicts, in order."""
    table = staging_for(stream)
    table.metadata.create_all(engine)
    suite = compile_suite(stream, staging=table, datasets=datasets)
    ids = stage(engine, table, rows)
    found = verdicts(engine, suite)
    return [found[i] for i in ids]


def expected(value: str | None, passes: bool) -> int | None:
    """The verdict a rule scoped to a present value should give."""
    if value is None or value == "":
        return None
    return 0 if passes else 1


def both(*values: str | None) -> str | None:
    """Present (for ``expected``) when every value is: a two-field rule's scope."""
    return "present" if all(values) else None


# --- the pattern subset ------------------------------------------------------------------

PATTERNS = {
    "a": "[0-9]{10}",
    "b": "[0-9]{2}[A-Z][0-9]{7}",
    "c": "[A-Z]{2}-[0-9]{4,6}",
    "d": r"^\d{3}\.[a-z]?x{2}$",
    "e": "[A-Za-z0-9_]{1,3}:[A-F]'",
}
SEEDS = {
    "a": ["0123456789", "9999999999"],
    "b": ["01A2345678", "99Z0000000"],
    "c": ["AB-1234", "XY-12345", "QQ-123456"],
    "d": ["123.axx", "000.xx", "999.zxx"],
    "e": ["a:A'", "Z_9:F'", "_:C'"],
}
_NOISE = "0123456789AZaz-_.:'x١０ é"


def candidates(seeds: list[str], rng: random.Random) -> list[str | None]:
    """The seeds, every one-character edit of them (near misses and a few new matches), random text."""
    found: list[str | None] = [None, "", *seeds]
    for seed in seeds:
        for i in range(len(seed) + 1):
            found.append(seed[:i] + seed[i + 1 :])  # deletion
            found.append(seed[:i] + rng.choice(_NOISE) + seed[i:])  # insertion
            found.append(seed[:i] + rng.choice(_NOISE) + seed[i + 1 :])  # substitution
    found += ["".join(rng.choices(_NOISE, k=rng.randint(1, 12))) for _ in range(40)]
    return found


def test_pattern_verdicts_agree_with_python_re(engine: Engine) -> None:
    rng = random.Random(14)
    stream = declared(
        {name: f"W{name}" for name in PATTERNS},
        [{"pattern": {"field": name, "regex": regex}} for name, regex in PATTERNS.items()],
    )
    values = {name: candidates(SEEDS[name], rng) for name in PATTERNS}
    rows = [
        {name: values[name][i] if i < len(values[name]) else None for name in PATTERNS}
        for i in range(max(map(len, values.values())))
    ]
    got = judged(engine, stream, rows)
    matched = 0
    for row, verdict in zip(rows, got, strict=True):
        for name, regex in PATTERNS.items():
            value = row[name]
            passes = value is not None and re.fullmatch(regex, value, re.ASCII) is not None
            matched += passes
            assert verdict[f"{name}.pattern"] == expected(value, passes), (regex, value)
    assert matched > 25  # the edits made matches too, not only misses


@pytest.mark.parametrize(
    "regex",
    ["[0-9]{10}", "[0-9]{2}[A-Z][0-9]{7}", "[A-Z]{2}-[0-9]{4,6}", r"\d{3}", "^[A-Za-z0-9]{1,8}$", r"VN\-[A-F0-9]?"],
)
def test_the_subset_is_accepted(regex: str) -> None:
    assert pattern_problem(regex) is None


@pytest.mark.parametrize(
    ("regex", "says"),
    [
        ("[0-9]+", "bounded count"),
        ("[0-9]*", "bounded count"),
        ("[0-9]{3,}", "give the most too"),
        ("A.B", "class such as [0-9]"),
        (r"\w{4}", "class such as [0-9]"),
        ("(AB|CD)", "one_of"),
        ("[^0-9]", "allowed instead"),
        ("[A-z]", "ranges stay within"),
        ("100%", "cannot be matched portably"),
        (r"\{x\}", "cannot be matched portably"),
        ("[0-9]{1,9}[A-Z]{1,9}", "combinations of lengths"),
        ("[0-9", "not a regular expression"),
        ("", "empty pattern"),
        ("[0-9]{2}?", "one count per character"),
    ],
)
def test_outside_the_subset_says_what_to_write(regex: str, says: str) -> None:
    problem = pattern_problem(regex)
    assert problem is not None and says in problem


# --- numbers, dates and datetimes as text -----------------------------------------------------

_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_INTEGER = re.compile(r"-?[0-9]+")


def number_texts(rng: random.Random) -> list[str | None]:
    """Edges of the bounds, zeros in every spelling, random magnitudes, and malformed text."""
    edges = ["-10.5", "-10.50", "-10.51", "-10.49", "1000", "1000.0", "1000.0001", "999.9999", "0", "-0", "0.0"]
    edges += ["-0.000", "0.5", "-0.5", "007", "12345678901234567890", "-3", "-4", "250", "251", "1"]
    malformed = ["1e3", "abc", "1.2.3", " 1", "+1", ".5", "5.", "-", "--1", "1,5", "١٢", None, ""]
    randoms = []
    for _ in range(60):
        digits = rng.randint(1, 6)
        whole = str(rng.randint(0, 10**digits))
        fraction = "".join(rng.choices("0123456789", k=rng.randint(0, 4)))
        randoms.append(("-" if rng.random() < 0.4 else "") + whole + (f".{fraction}" if fraction else ""))
    return [*edges, *malformed, *randoms]


def test_numbers_compare_like_decimals(engine: Engine) -> None:
    rng = random.Random(7)
    stream = declared(
        {
            "n": {"from": "N", "type": "decimal"},
            "k": {"from": "K", "type": "integer"},
            "m": {"from": "M", "type": "decimal"},
        },
        [
            {"range": {"field": "n", "min": -10.5, "max": 1000}},
            {"range": {"field": "k", "min": "-3", "max": 250}},
            {"before": {"field": "n", "than": "m"}},
            {"before": {"field": "k", "than": "m", "strictly": True}},
        ],
    )
    texts = number_texts(rng)
    rows = [{"n": a, "k": rng.choice(texts), "m": rng.choice(texts)} for a in texts for _ in range(3)]
    got = judged(engine, stream, rows)

    def number(value: str | None, integer: bool = False) -> Decimal | None:
        shape = _INTEGER if integer else _NUMBER
        return Decimal(value) if value is not None and shape.fullmatch(value) else None

    for row, verdict in zip(rows, got, strict=True):
        n, k, m = number(row["n"]), number(row["k"], integer=True), number(row["m"])
        assert verdict["n.range"] == expected(row["n"], n is not None and Decimal("-10.5") <= n <= 1000), row
        assert verdict["k.range"] == expected(row["k"], k is not None and -3 <= k <= 250), row
        assert verdict["n.before"] == expected(both(row["n"], row["m"]), n is not None and m is not None and n <= m)
        assert verdict["k.before"] == expected(both(row["k"], row["m"]), k is not None and m is not None and k < m)


_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATETIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{6})?")
DATES: list[str | None] = [
    "2024-02-29",
    "2023-02-29",
    "1990-02-28",
    "1990-02-27",
    "1990-13-01",
    "1990-1-01",
    "19900101",
    "2000-02-29",
]
DATES += ["1900-02-29", "2024-04-31", "2024-12-31", "2024-03-01", "2026-01-15", "2026-01-16", "2O24-01-01", None, ""]
TIMES: list[str | None] = [
    "2020-01-01T05:00:00",
    "2020-01-01T04:59:59.999999",
    "2020-01-01T05:00:00.000001",
    "2025-12-31T23:59:59",
]
TIMES += ["2026-01-01T00:00:00", "2026-01-15T23:59:59", "2026-01-16T00:00:00", "2020-01-01 05:00:00"]
TIMES += ["2020-01-01T24:00:00", "2020-01-01T05:60:00", "2020-01-01T05:00:00Z", "2020-01-01T05:00:00.5", None, ""]
TIMES += ["2024-02-29T12:00:00", "2023-02-29T12:00:00", "1990-02-28T00:00:00", "2024-02-29T00:00:00"]


def test_dates_and_datetimes_compare_as_iso_text(engine: Engine) -> None:
    stream = declared(
        {"d": {"from": "D", "type": "date"}, "t": {"from": "T", "type": "datetime"}},
        [
            {"range": {"field": "d", "min": "1990-02-28", "max": "2024-02-29"}},
            {"not_in_future": ["t", "d"]},
            {"range": {"field": "t", "min": "2020-01-01T12:00:00+07:00", "max": "2025-12-31"}},
            {"before": {"field": "d", "than": "t"}},
        ],
    )
    rows = [{"d": d, "t": t} for d in DATES for t in TIMES]
    got = judged(engine, stream, rows)

    def day(value: str | None) -> date | None:
        try:
            return date.fromisoformat(value) if value and _DATE.fullmatch(value) else None
        except ValueError:
            return None

    def moment(value: str | None) -> datetime | None:
        try:
            return datetime.fromisoformat(value) if value and _DATETIME.fullmatch(value) else None
        except ValueError:
            return None

    for row, verdict in zip(rows, got, strict=True):
        d, t = day(row["d"]), moment(row["t"])
        assert verdict["d.range"] == expected(row["d"], d is not None and date(1990, 2, 28) <= d <= date(2024, 2, 29))
        assert verdict["d.not_in_future"] == expected(row["d"], d is not None and d <= AS_OF), row
        assert verdict["t.not_in_future"] == expected(row["t"], t is not None and t.date() <= AS_OF), row
        in_range = t is not None and datetime(2020, 1, 1, 5) <= t and t.date() <= date(2025, 12, 31)
        assert verdict["t.range"] == expected(row["t"], in_range), row
        assert verdict["d.before"] == expected(
            both(row["d"], row["t"]), d is not None and t is not None and d <= t.date()
        )


# --- the vocabulary, through GX -------------------------------------------------------------

PERMIT = """
fields:
  ref_no: SoHieu
  holder_name: TenChuGiayPhep
  pid: {from: SoDinhDanh, type: personal_id}
  birth_date: {from: NgaySinh, type: date}
  gender: {from: GioiTinh, map: {Nam: male, Nu: female}}
  status: TrangThai
  code: MaGiayPhep
  amount: {from: LePhi, type: decimal}
  province: {from: MaTinh, type: province}
  birth_province: {from: MaTinhKhaiSinh, type: province}
  commune: {from: MaXa, type: commune}
  old_commune: {from: MaXaCu, type: commune}
  opened_on: {from: NgayCap, type: date}
  closed_on: {from: NgayHetHan, type: date}
  owner_id: {from: SoDinhDanhChu, type: personal_id}
  parent_ref: SoHieuGoc
rules:
  - not_empty: [ref_no, holder_name]
  - pattern: {field: code, regex: "[A-Z]{2}-[0-9]{4,6}"}
  - one_of: {field: status, values: [active, closed]}
  - range: {field: amount, min: 0, max: 1000000}
  - not_in_future: opened_on
  - unique_in_run: ref_no
  - personal_id: [pid, owner_id]
  - personal_id_consistent: {field: pid, birth_date: birth_date, gender: gender}
  - known: province
  - known: {field: birth_province, units: either}
  - known: commune
  - known: {field: old_commune, units: pre_2025}
  - known: {field: commune, dated_by: opened_on}
  - before: {field: opened_on, than: closed_on}
  - references: {owner_id: citizen, parent_ref: registry}
"""
RULES = (
    "contract.valid",
    "ref_no.not_empty",
    "holder_name.not_empty",
    "code.pattern",
    "status.one_of",
    "amount.range",
    "opened_on.not_in_future",
    "ref_no.unique_in_run",
    "pid.personal_id",
    "owner_id.personal_id",
    "pid.personal_id_consistent",
    "province.known",
    "birth_province.known",
    "commune.known",
    "old_commune.known",
    "commune.known.2",
    "opened_on.before",
    "owner_id.references",
    "parent_ref.references",
)
PID_CONSISTENT = "pid.personal_id_consistent"
OWNER = build("001", date(1970, 3, 9), "female", 424242)
REGISTRY = Table("registry", MetaData(), Column("reg_no", String(32), primary_key=True))
DATASETS = {**HUB_DATASETS, "registry": ("registry", "reg_no")}


def permit_stream() -> Stream:
    """The test's declaration: every rule of the vocabulary over one stream."""
    body = yaml.safe_load(PERMIT)
    return Stream.model_validate({"get": "/permits", "records": "data", "dataset": "permit", "key": "ref_no", **body})


def permit(serial: int, **changes: str | None) -> dict[str, Any]:
    """A clean row breaking no rule; keyword arguments change single fields."""
    unit = current_communes()[0]
    birth, gender = changes.get("birth_date", "1988-11-23"), changes.get("gender", "female")
    if "pid" not in changes:  # an id that agrees with the row's birth date and gender
        assert birth is not None
        changes["pid"] = build("036", date.fromisoformat(birth), "male" if gender == "male" else "female", serial)
    row: dict[str, Any] = {
        "ref_no": f"GP-{serial:05d}",
        "holder_name": f"Phạm Thị Hồng Nhung {serial}",
        "birth_date": birth,
        "gender": gender,
        "status": "active",
        "code": f"HN-{1000 + serial}",
        "amount": "250000.50",
        "province": unit["province_code"],
        "birth_province": "02",  # Hà Giang: a pre-2025 province, merged since
        "commune": unit["commune_code"],
        "old_commune": "00013",
        "opened_on": "2024-05-01",
        "closed_on": "2029-05-01",
        "owner_id": OWNER,
        "parent_ref": "R-1",
        "contract_error": None,
    }
    row.update(changes)
    return row


# (row, rules it breaks, rules it is out of scope of): each row breaks what it says and nothing else.
CASES: list[tuple[dict[str, Any], set[str], set[str]]] = [
    (permit(1), set(), set()),
    (permit(1), set(), set()),  # an identical re-delivery is not a conflict
    (permit(2, birth_date="2004-02-29", gender="male", opened_on="2026-01-15", closed_on="2026-01-15"), set(), set()),
    (
        permit(3, amount="0", code="XY-123456", status=None, closed_on=None),
        set(),
        {"status.one_of", "opened_on.before"},
    ),
    (permit(4, amount="1000000.000", birth_province="01", province=None), set(), {"province.known"}),
    (
        permit(5, **dict.fromkeys(("amount", "code", "old_commune", "owner_id", "parent_ref", "pid"), "")),
        set(),
        {
            "amount.range",
            "code.pattern",
            "old_commune.known",
            "owner_id.personal_id",
            "owner_id.references",
            "parent_ref.references",
            "pid.personal_id",
            "pid.personal_id_consistent",
        },
    ),
    (
        permit(6, opened_on=None, commune=None, birth_province=None),
        set(),
        {"opened_on.not_in_future", "opened_on.before", "commune.known", "commune.known.2", "birth_province.known"},
    ),
    (
        permit(7, pid="03618800007X", ref_no=None, holder_name=None, contract_error="SoDinhDanh is not a personal_id"),
        {"contract.valid"},
        set(RULES) - {"contract.valid"},
    ),
    (permit(8, ref_no=" "), {"ref_no.not_empty"}, set()),
    (permit(9, ref_no=None), {"ref_no.not_empty"}, {"ref_no.unique_in_run"}),
    (permit(10, holder_name=" \u3000"), {"holder_name.not_empty"}, set()),
    (permit(11, code="HN-123"), {"code.pattern"}, set()),
    (permit(12, code="hn-1234"), {"code.pattern"}, set()),
    (permit(13, status="Active"), {"status.one_of"}, set()),
    (permit(14, amount="1000000.01"), {"amount.range"}, set()),
    (permit(15, amount="-0.5"), {"amount.range"}, set()),
    (permit(16, amount="1e3"), {"amount.range"}, set()),
    (permit(17, opened_on="2026-01-16", closed_on=None), {"opened_on.not_in_future"}, {"opened_on.before"}),
    (permit(18, ref_no="GP-99999", amount="1"), {"ref_no.unique_in_run"}, set()),
    (permit(18, ref_no="GP-99999", amount="2"), {"ref_no.unique_in_run"}, set()),
    (permit(19, pid="003088000019"), {"pid.personal_id"}, {"pid.personal_id_consistent"}),
    (permit(20, owner_id="12345"), {"owner_id.personal_id", "owner_id.references"}, set()),
    (
        permit(21, gender="male", pid=build("036", date(1988, 11, 23), "female", 21)),
        {"pid.personal_id_consistent"},
        set(),
    ),
    (permit(22, pid=build("036", date(1987, 11, 23), "female", 22)), {PID_CONSISTENT}, set()),
    (permit(23, pid=build("036", date(2088, 11, 23), "female", 23)), {PID_CONSISTENT}, set()),
    (permit(24, gender=None, pid=build("036", date(1988, 1, 1), "male", 24)), set(), {"pid.personal_id_consistent"}),
    (permit(25, birth_date="1988-02-30", pid="036188000025"), set(), {"pid.personal_id_consistent"}),
    (permit(26, birth_date="1899-12-31", pid="036199000026"), set(), {"pid.personal_id_consistent"}),
    (permit(27, province="99"), {"province.known"}, set()),
    (permit(28, province="001"), {"province.known"}, set()),
    (permit(29, birth_province="03"), {"birth_province.known"}, set()),
    (permit(30, birth_province="002"), {"birth_province.known"}, set()),
    (permit(31, commune="99999", opened_on="2025-06-30"), {"commune.known"}, set()),  # pre-reform: 5 digits will do
    (permit(32, commune="99999", opened_on="2025-07-01"), {"commune.known", "commune.known.2"}, set()),
    (permit(33, commune="1234"), {"commune.known", "commune.known.2"}, set()),
    (permit(34, old_commune="1234"), {"old_commune.known"}, set()),
    (permit(35, old_commune="12a45"), {"old_commune.known"}, set()),
    (permit(36, closed_on="2024-04-30"), {"opened_on.before"}, set()),
    (permit(37, owner_id=build("001", date(1970, 3, 9), "female", 424243)), {"owner_id.references"}, set()),
    (permit(38, parent_ref="R-404"), {"parent_ref.references"}, set()),
]


@pytest.fixture
def permits(engine: Engine) -> Iterator[tuple[Suite, list[int]]]:
    """The permit suite compiled and its rows staged, with the citizen and register rows they refer to."""
    stream = permit_stream()
    table = staging_for(stream)
    table.metadata.create_all(engine)
    REGISTRY.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(REGISTRY), [{"reg_no": "R-1"}])
    publish(engine, OWNER, "1970-03-09", "female")
    suite = compile_suite(stream, staging=table, datasets=DATASETS)
    yield suite, stage(engine, table, [row for row, _, _ in CASES])


def test_every_rule_of_the_vocabulary_is_compiled_in_order(permits: tuple[Suite, list[int]]) -> None:
    suite, _ = permits
    assert suite.name == "permit"
    assert suite.rule_names() == RULES
    descriptions = {rule.name: rule.description for rule in suite.rules}
    assert "5 digits" in descriptions["old_commune.known"] and "2025-07-01" in descriptions["commune.known.2"]
    assert "5 digits" not in descriptions["commune.known"]


def test_each_verdict_fails_its_rows_and_skips_the_rest(engine: Engine, permits: tuple[Suite, list[int]]) -> None:
    suite, ids = permits
    found = verdicts(engine, suite)
    for row_id, (row, breaks, skips) in zip(ids, CASES, strict=True):
        want = {rule: 1 if rule in breaks else None if rule in skips else 0 for rule in RULES}
        assert found[row_id] == want, row


def test_audit_records_every_failing_row_and_no_staged_value(engine: Engine, permits: tuple[Suite, list[int]]) -> None:
    suite, ids = permits
    outcome = audit_run(engine, RUN, AS_OF, suite)

    with engine.connect() as conn:
        stored = set(conn.execute(select(audit_finding.c.row_id, audit_finding.c.rule)))
        summary = {row.rule: row for row in conn.execute(select(quality_result))}
        document = conn.execute(select(validation_result.c.document)).scalar_one()
    assert stored == {(row_id, rule) for row_id, (_, breaks, _) in zip(ids, CASES, strict=True) for rule in breaks}
    assert outcome.evaluated == len(CASES)
    assert outcome.rule_counts == {rule: sum(rule in breaks for _, breaks, _ in CASES) for rule in RULES}
    for rule in RULES:
        in_scope = sum(rule not in skips for _, _, skips in CASES)
        assert (summary[rule].evaluated, summary[rule].failed) == (in_scope, outcome.rule_counts[rule]), rule

    # Keys and counts only: no personal value of any staged row in GX's result or the summary.
    personal = {str(row[f]) for row, _, _ in CASES for f in ("pid", "owner_id", "holder_name", "birth_date") if row[f]}
    personal |= {row["ref_no"] for row, _, _ in CASES if row["ref_no"] and row["ref_no"].strip()}
    stored_text = document + json.dumps([list(map(str, row)) for row in summary.values()], ensure_ascii=False)
    assert json.loads(document)["results"]  # the document is GX's result, not an empty shell
    assert not [value for value in personal if value in stored_text]


# --- what the checker hears --------------------------------------------------------------------


def test_rule_problems_name_each_bad_rule_and_what_to_write() -> None:
    stream = declared(
        {"ref": "SoHieu", "d": {"from": "D", "type": "date"}, "n": {"from": "N", "type": "decimal"}, "t": "T"},
        [
            {"not_empty": "ref"},
            {"pattern": {"field": "ref", "regex": "[0-9]+"}},
            {"range": {"field": "d", "min": 1990}},
            {"range": {"field": "n"}},
            {"range": {"field": "n", "max": "lots"}},
            {"personal_id_consistent": {"field": "ref"}},
            {"references": {"ref": "nowhere"}},
            {"known": "t"},
            {"before": {"field": "d", "than": "n"}},
            {"one_of": {"field": "t", "values": ["100%"]}},
            {"range": {"field": "n", "min": 1, "not_in_future": True}},
        ],
    )
    problems = dict(rule_problems(stream, DATASETS))
    assert sorted(problems) == list(range(1, 11))
    for index, says in {
        1: "bounded count",
        2: "not an ISO date",
        3: "needs min, max",
        4: "not a number",
        5: "birth_date: FIELD",
        6: "none of: citizen, civil_event",
        7: "province or commune",
        8: "two numbers or two dates",
        9: "portable verdict",
        10: "write max instead",
    }.items():
        assert says in problems[index], (index, problems[index])
    assert 6 not in dict(rule_problems(stream))  # without the datasets, references are left for later

    with pytest.raises(RuleError, match=r"rule 2 of stream 'probe' \(pattern\)") as caught:
        compile_suite(stream, staging=staging_for(stream), datasets=DATASETS)
    assert isinstance(caught.value, ConfigError) and isinstance(caught.value, ValueError)


def test_a_repeated_rule_gets_a_numbered_name_and_a_column_of_its_own() -> None:
    stream = declared(
        {"d": {"from": "D", "type": "date"}},
        [{"not_in_future": "d"}, {"range": {"field": "d", "max": "2030-01-01"}}, {"not_in_future": ["d"]}],
    )
    suite = compile_suite(stream, staging=staging_for(stream), datasets={})
    assert suite.rule_names() == ("contract.valid", "d.not_in_future", "d.range", "d.not_in_future.2")
    assert len({rule.column for rule in suite.rules}) == 4


def test_importing_the_rules_costs_no_great_expectations_nor_pandas() -> None:
    probe = (
        "import sys, quality.rules; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'great_expectations', 'pandas'}))"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=PROJECT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_the_declared_systems_compile_one_rule_per_rule_and_field() -> None:
    from hub.systems.loader import load_systems, streams

    declared_streams = list(streams(load_systems()))
    assert declared_streams
    for item in declared_streams:
        suite = compile_suite(item.stream, staging=staging_for(item.stream), datasets=HUB_DATASETS)
        pairs = sum(_pairs(rule) for rule in item.stream.rules)
        assert suite.name == item.stream.dataset and len(suite.rules) == 1 + pairs
        assert len(set(suite.rule_names())) == len(suite.rules)


def _pairs(rule: Any) -> int:
    """How many (rule, field) pairs a declared rule stands for: one per field it lists, else one (or its name)."""
    if rule.name is not None:
        return 1
    args = getattr(rule, rule_kind(rule))
    return len(args) if isinstance(args, list | dict) else 1


def test_a_known_rule_may_be_dated_by_a_date_field_and_by_nothing_else() -> None:
    from lgsp.declaration import SystemDecl, problems

    def declared_with(dated_by: str) -> list[str]:
        stream = declared(
            {"ref": "SoHieu", "commune": {"from": "MaXa", "type": "commune"}, "on": {"from": "Ngay", "type": "date"}},
            [{"known": {"field": "commune", "dated_by": dated_by}}],
        )
        system = SystemDecl.model_validate(
            {"system": "probe", "title": {"vi": "Thử", "en": "Probe"}, "owner": "Sở", "connection": "probe"}
            | {"rest": {}, "streams": {"s": stream}}
        )
        return [message for _, message in problems(system)]

    assert declared_with("on") == []
    assert declared_with("ref") == [
        "known applies to date or datetime fields; 'ref' is text: declare its type, or name another field"
    ]


# --- when, differs, after_referenced ---------------------------------------------------------

EVENTS = {
    "event_id": "MaSuKien",
    "kind": "Loai",
    "subject": {"from": "SoDinhDanh", "type": "personal_id"},
    "spouse": {"from": "SoDinhDanhVoChong", "type": "personal_id"},
    "dated": {"from": "Ngay", "type": "date"},
}
EVENT_RULES: list[Any] = [
    {"not_empty": "spouse", "when": {"kind": "marriage"}},
    {"differs": {"field": "spouse", "from": "subject"}, "when": {"kind": ["marriage"]}},
    {
        "after_referenced": {"field": "dated", "dataset": "citizen", "via": "subject", "column": "birth_date"},
        "when": {"kind": ["marriage", "death"]},
    },
    {"differs": {"field": "spouse", "from": "subject"}},  # no when: wherever both are present
]


def test_when_differs_and_after_referenced_judge_as_declared(engine: Engine) -> None:
    publish(engine, OWNER, "1970-03-09", "female")
    other = build("001", date(1972, 5, 1), "male", 4343)
    stranger = build("001", date(1980, 1, 1), "male", 4444)  # not published: nothing to be after
    stream = declared(EVENTS, EVENT_RULES)
    rows = [
        # (row, verdicts of spouse.not_empty, spouse.differs, dated.after_referenced, spouse.differs.2)
        ({"kind": "marriage", "subject": OWNER, "spouse": other, "dated": "1995-06-01"}, (0, 0, 0, 0)),
        ({"kind": "marriage", "subject": OWNER, "spouse": None, "dated": "1995-06-01"}, (1, None, 0, None)),
        ({"kind": "marriage", "subject": OWNER, "spouse": OWNER, "dated": "1995-06-01"}, (0, 1, 0, 1)),
        ({"kind": "marriage", "subject": OWNER, "spouse": other, "dated": "1970-03-08"}, (0, 0, 1, 0)),
        ({"kind": "marriage", "subject": OWNER, "spouse": other, "dated": "1970-03-09"}, (0, 0, 0, 0)),  # same day
        ({"kind": "death", "subject": OWNER, "spouse": None, "dated": "1969-12-31"}, (None, None, 1, None)),
        ({"kind": "death", "subject": stranger, "spouse": None, "dated": "1900-01-01"}, (None, None, 0, None)),
        ({"kind": "birth", "subject": OWNER, "spouse": OWNER, "dated": "1960-01-01"}, (None, None, None, 1)),
        ({"kind": None, "subject": OWNER, "spouse": None, "dated": "1960-01-01"}, (None, None, None, None)),
        ({"kind": "death", "subject": OWNER, "spouse": None, "dated": "1969-02-30"}, (None, None, None, None)),
    ]
    staged = [{"event_id": f"E{n}", **row} for n, (row, _) in enumerate(rows)]
    found = judged(engine, stream, staged)
    names = ("spouse.not_empty", "spouse.differs", "dated.after_referenced", "spouse.differs.2")
    for verdict, (row, want) in zip(found, rows, strict=True):
        assert tuple(verdict[name] for name in names) == want, row


def test_when_differs_and_after_referenced_say_what_they_check() -> None:
    suite = compile_suite(declared(EVENTS, EVENT_RULES), staging=staging_for(declared(EVENTS, [])), datasets=DATASETS)
    said = {rule.name: rule.description for rule in suite.rules}
    assert said["spouse.not_empty"] == "spouse is present and not blank (only where kind is 'marriage')"
    assert said["spouse.differs"].endswith("(checked where both are present; only where kind is 'marriage')")
    assert "birth_date of the citizen record whose personal_id is subject" in said["dated.after_referenced"]
    assert said["dated.after_referenced"].endswith("only where kind is 'marriage' or 'death')")


def test_when_differs_and_after_referenced_refuse_what_they_cannot_judge() -> None:
    from lgsp.declaration import SystemDecl, problems

    stream = declared(
        {**EVENTS, "n": {"from": "N", "type": "decimal"}},
        [
            {"not_empty": "spouse", "when": {"nowhere": "x"}},
            {"differs": {"field": "spouse", "from": "spouse"}},
            {"after_referenced": {"field": "subject", "dataset": "citizen", "via": "subject", "column": "birth_date"}},
            {"after_referenced": {"field": "dated", "dataset": "nowhere", "via": "subject", "column": "birth_date"}},
            {"after_referenced": {"field": "dated", "dataset": "citizen", "via": "n", "column": "birth_date"}},
            {"not_empty": "spouse", "when": {"kind": "100%"}},
        ],
    )
    found = dict(rule_problems(stream, DATASETS))
    for index, says in {
        0: "when names 'nowhere'",
        1: "both are 'spouse'",
        2: "date or datetime fields",
        3: "none of: citizen",
        4: "compares keys as text",
        5: "portable verdict",
    }.items():
        assert says in found[index], (index, found)
    system = SystemDecl.model_validate(
        {"system": "probe", "title": {"vi": "Thử", "en": "Probe"}, "owner": "Sở", "connection": "probe"}
        | {"rest": {}, "streams": {"s": stream}}
    )
    told = [message for _, message in problems(system)]
    assert any("'nowhere', which the stream does not map" in message for message in told)
    assert any("after_referenced applies to date or datetime fields; 'subject'" in message for message in told)
    with pytest.raises(ValueError, match="when"):
        Stream.model_validate({**stream.model_dump(by_alias=True), "rules": [{"not_empty": "spouse", "when": {}}]})


# --- name, empty, known within, after_referenced on the stream's own dataset ---------------------

KIN = {
    "person": {"from": "SoDinhDanh", "type": "personal_id"},
    "parent": {"from": "SoDinhDanhCha", "type": "personal_id"},
    "born": {"from": "NgaySinh", "type": "date"},
    "province": {"from": "MaTinh", "type": "province"},
    "commune": {"from": "MaXa", "type": "commune"},
    "status": "TinhTrang",
    "partner": {"from": "SoDinhDanhVoChong", "type": "personal_id"},
}
KIN_RULES: list[Any] = [
    {"personal_id": ["person", "parent"], "name": "people.id_format"},
    {"empty": "partner", "when": {"status": "single"}},
    {"known": {"field": "commune", "within": "province"}},
    {
        "after_referenced": {"field": "born", "dataset": "kin", "via": ["parent"], "column": "born", "strictly": True},
        "name": "parents.older",
    },
]


def test_named_empty_within_and_own_dataset_rules_judge_as_declared(engine: Engine) -> None:
    golden = Table("kin", MetaData(), Column("person", Text, primary_key=True), Column("born", Text))
    golden.create(engine)
    here, elsewhere = (
        current_communes()[0],
        next(unit for unit in current_communes() if unit["province_code"] != current_communes()[0]["province_code"]),
    )
    people = {
        name: build("001", date(year, 1, 1), "male", n)
        for n, (name, year) in enumerate(
            [("elder", 1950), ("young", 2001), ("corrected", 1960), ("staged", 1970), ("child", 2000)]
        )
    }
    with engine.begin() as conn:  # published earlier: an elder, a parent younger than the child, one corrected now
        conn.execute(
            insert(golden),
            [
                {"person": people[k], "born": f"{y}-01-01"}
                for k, y in (("elder", 1950), ("young", 2001), ("corrected", 1960))
            ],
        )
    base = {"province": here["province_code"], "commune": here["commune_code"], "status": "married", "partner": None}
    rows = [
        # (row, verdicts of people.id_format, partner.empty, commune.known, parents.older)
        ({"person": people["child"], "parent": people["elder"], "born": "2000-01-01"}, (0, None, 0, 0)),
        ({"person": people["staged"], "parent": None, "born": "1970-01-01"}, (0, None, 0, None)),
        ({"person": people["child"], "parent": people["staged"], "born": "1999-06-01"}, (0, None, 0, 0)),
        ({"person": people["child"], "parent": people["young"], "born": "2000-01-01"}, (0, None, 0, 1)),
        ({"person": people["child"], "parent": people["elder"], "born": "1950-01-01"}, (0, None, 0, 1)),  # same day
        ({"person": people["corrected"], "parent": None, "born": "2005-01-01"}, (0, None, 0, None)),
        ({"person": people["child"], "parent": people["corrected"], "born": "2000-01-01"}, (0, None, 0, 1)),
        ({"person": "12345", "parent": people["elder"], "born": "2000-01-01"}, (1, None, 0, 0)),
        ({"person": people["child"], "parent": "003090123456", "born": "2000-01-01"}, (1, None, 0, 0)),
        ({"person": people["child"], "parent": None, "born": "2000-01-01", "status": "single"}, (0, 0, 0, None)),
        (
            {
                "person": people["child"],
                "parent": None,
                "born": "2000-01-01",
                "status": "single",
                "partner": people["elder"],
            },
            (0, 1, 0, None),
        ),
        (
            {"person": people["child"], "parent": None, "born": "2000-01-01", "commune": elsewhere["commune_code"]},
            (0, None, 1, None),
        ),
        ({"person": people["child"], "parent": None, "born": "2000-01-01", "province": None}, (0, None, None, None)),
    ]
    stream = declared(KIN, KIN_RULES, dataset="kin")
    found = judged(engine, stream, [{**base, **row} for row, _ in rows], {**HUB_DATASETS, "kin": ("kin", "person")})
    names = ("people.id_format", "partner.empty", "commune.known", "parents.older")
    for verdict, (row, want) in zip(found, rows, strict=True):
        assert tuple(verdict[name] for name in names) == want, row


# --- known also:, one_of values_from:, unique_in_run over several fields, check ----------------------

DOSSIERS = {
    "dossier_id": "MaHoSo",
    "updated": {"from": "NgayCapNhat", "type": "datetime"},
    "procedure": "MaThuTuc",
    "unit": {"from": "MaDonVi", "type": "commune"},
    "history": "LichSu",
}
DOSSIER_RULES: list[Any] = [
    {"known": {"field": "unit", "also": ["TINH"]}},
    {
        "one_of": {
            "field": "procedure",
            "values_from": {"file": "schemas/procedures/catalogue.yaml", "at": "procedures", "key": "code"},
        }
    },
    {"unique_in_run": {"fields": ["dossier_id", "updated"]}},
    {"check": {"field": "history", "name": "consistent", "run": "schemas.one_stop:history_consistent"}},
]


def test_known_also_values_from_unique_together_and_check_judge_as_declared(engine: Engine) -> None:
    from schemas.procedures import load_catalogue

    commune = current_communes()[0]["commune_code"]
    procedure = next(iter(load_catalogue()))
    marked = '[["!inconsistent",null],["TiepNhan","2026-01-01T01:00:00"]]'
    rows = [
        # (row, verdicts of unit.known, procedure.one_of, dossier_id.unique_in_run, history.consistent)
        (
            {
                "dossier_id": "A",
                "updated": "2026-01-01T01:00:00",
                "unit": "TINH",
                "procedure": procedure,
                "history": '[["TiepNhan","2026-01-01T01:00:00"]]',
            },
            (0, 0, 0, 0),
        ),
        (
            {
                "dossier_id": "A",
                "updated": "2026-01-02T01:00:00",
                "unit": commune,
                "procedure": procedure,
                "history": "[]",
            },
            (0, 0, 0, 0),
        ),  # A again, later: history, not a conflict
        (
            {
                "dossier_id": "B",
                "updated": "2026-01-01T01:00:00",
                "unit": "tinh",
                "procedure": "TT-ZZ-99",
                "history": marked,
            },
            (1, 1, 1, 1),
        ),
        (
            {
                "dossier_id": "B",
                "updated": "2026-01-01T01:00:00",
                "unit": "99999",
                "procedure": procedure,
                "history": None,
            },
            (1, 0, 1, None),
        ),  # B twice at one time, different content: both fail
        (
            {"dossier_id": "C", "updated": None, "unit": None, "procedure": None, "history": ""},
            (None, None, None, None),
        ),
    ]
    staged = [row for row, _ in rows]
    found = judged(engine, declared(DOSSIERS, DOSSIER_RULES), staged)
    names = ("unit.known", "procedure.one_of", "dossier_id.unique_in_run", "history.consistent")
    for verdict, (row, want) in zip(found, rows, strict=True):
        assert tuple(verdict[name] for name in names) == want, row


def test_a_named_rule_is_one_verdict_and_says_every_field() -> None:
    suite = compile_suite(
        declared(KIN, KIN_RULES, "kin"),
        staging=staging_for(declared(KIN, [], "kin")),
        datasets={**HUB_DATASETS, "kin": ("kin", "person")},
    )
    said = {rule.name: rule.description for rule in suite.rules}
    assert list(said) == ["contract.valid", "people.id_format", "partner.empty", "commune.known", "parents.older"]
    assert "person is a well-formed personal id" in said["people.id_format"]
    assert "parent is a well-formed personal id" in said["people.id_format"]
    assert "this run's copy of it, else the published one" in said["parents.older"]
    assert said["commune.known"].startswith("commune is one of today's communes and lies in the province province")


def test_within_needs_a_commune_of_todays_units_and_a_province_field() -> None:
    from lgsp.declaration import SystemDecl, problems

    stream = declared(
        {**KIN, "code": "Ma"},
        [{"known": {"field": "province", "within": "province"}}, {"known": {"field": "commune", "within": "code"}}],
    )
    found = dict(rule_problems(stream, HUB_DATASETS))
    assert "within says which province a commune lies in" in found[0]
    system = SystemDecl.model_validate(
        {"system": "probe", "title": {"vi": "Thử", "en": "Probe"}, "owner": "Sở", "connection": "probe"}
        | {"rest": {}, "streams": {"s": stream}}
    )
    assert any("known applies to province fields; 'code' is text" in message for _, message in problems(system))
    with pytest.raises(ValueError, match="name"):
        Stream.model_validate({**stream.model_dump(by_alias=True), "rules": [{"empty": "code", "name": "NoDots"}]})


def test_known_also_values_from_unique_together_and_check_say_what_they_check() -> None:
    stream = declared(DOSSIERS, DOSSIER_RULES)
    said = {
        rule.name: rule.description
        for rule in compile_suite(stream, staging=staging_for(stream), datasets=DATASETS).rules
    }
    assert said["unit.known"].startswith("unit is 'TINH' or one of today's communes")
    assert "values schemas/procedures/catalogue.yaml at procedures, their code lists" in said["procedure.one_of"]
    assert said["dossier_id.unique_in_run"].startswith(
        "no other row of the run has the same dossier_id and updated with different content"
    )
    assert said["history.consistent"].startswith("the status history is in time order")
    from hub.orchestration.declared import rule_lines

    assert (
        [name for name, _ in rule_lines(stream)][1:]
        == [  # the key's not_empty first: the pipeline adds it
            rule.name for rule in compile_suite(stream, staging=staging_for(stream), datasets=DATASETS).rules[1:]
        ]
    )


def test_known_also_values_from_unique_together_and_check_refuse_what_they_cannot_judge() -> None:
    stream = declared(
        DOSSIERS,
        [
            {"known": {"field": "unit", "also": ["100%"]}},
            {"one_of": {"field": "procedure", "values_from": {"file": "schemas/nowhere.yaml"}}},
            {
                "one_of": {
                    "field": "procedure",
                    "values_from": {"file": "schemas/procedures/catalogue.yaml", "at": "nope"},
                }
            },
            {
                "one_of": {
                    "field": "procedure",
                    "values_from": {"file": "schemas/procedures/catalogue.yaml", "at": "procedures"},
                }
            },
            {"check": {"field": "history", "name": "consistent", "run": "schemas.nowhere:check"}},
            {"check": {"field": "history", "name": "odd", "run": "schemas.one_stop:may_follow"}},
            {"unique_in_run": {"fields": ["dossier_id", "nowhere"]}},
        ],
    )
    found = dict(rule_problems(stream, DATASETS))
    for index, says in {
        0: "portable verdict",
        1: "not a readable YAML or JSON file",
        2: "has no list at nope",
        3: "name its member with key",
        4: "is no function of an installed module",
        5: "must take the staged column",
        6: "'nowhere' is not one of the stream's fields",
    }.items():
        assert says in found[index], (index, found)
    with pytest.raises(ValueError, match="exactly one of values"):
        declared(DOSSIERS, [{"one_of": {"field": "procedure"}}])
