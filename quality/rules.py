"""The rule vocabulary of a declaration, compiled to SQL verdicts: a declared stream's suite.

``compile_suite`` turns a stream's ``rules`` (``lgsp.declaration``) into a
``quality.verdicts.Suite``: ``contract.valid`` first, then one rule per (rule, field)
in declaration order, named ``<field>.<kind>`` (``.2``, ``.3`` only when two rules
would otherwise share a name). GX validates it like any hand-written suite.

The verdicts read the staged text normal forms the connector writes (integer:
canonical digits; decimal: plain, no exponent; date ``YYYY-MM-DD``; datetime
``YYYY-MM-DDTHH:MM:SS[.ffffff]`` naive UTC) and obey ``quality.verdicts``' rules for
portable SQL: no casts of staged text, no ``%``, no ``:name``, no braces. Every rule
but ``not_empty`` applies only where its field is present (NULL or '' is out of
scope); a value present but not well formed for its type fails.

- numbers compare without casts: sign first, then the integer part's length and
  digits (leading zeros dropped), then the fraction (trailing zeros dropped);
- dates and datetimes compare as ISO text; a date bound on a datetime compares
  its day;
- ``known``: a province is a 2-digit code, a commune a 5-digit one (the store's
  ``admin_unit`` form). Today's units are the ``admin_unit`` table; the 63 pre-2025
  provinces are those of Circular 07/2016/TT-BCA (``schemas.personal_id``). No list of
  the pre-2025 communes is available offline (``vietnam-provinces`` carries today's
  only), so a pre-2025 commune is only checked to be 5 digits, and the rule's
  description says so. ``dated_by`` picks the era by a date field: pre-2025 units
  before 2025-07-01, today's from then, the declared ``units`` where it has no date.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from sqlalchemy import Table

from lgsp.declaration import KnownArgs, RangeArgs, Stream, UniqueArgs, ValuesFrom, python_function, rule_kind
from lgsp.errors import ConfigError
from quality.patterns import PatternError, pattern_problem, pattern_sql, shown
from quality.verdicts import (
    DIGITS,
    FAIL,
    PASS,
    Rule,
    Suite,
    commune_known,
    contract_rule,
    iso_date_ok,
    personal_id_ok,
    quote,
    sql_in,
    unique_in_run,
    verdict,
)
from schemas.personal_id import BIRTH_REGISTRATION_PROVINCES, Gender, century_gender_digit

__all__ = ["REFORM_DAY", "RuleError", "compile_suite", "pattern_problem", "rule_problems"]

PROJECT = Path(__file__).resolve().parents[1]  # values_from files are named relative to it
REFORM_DAY = "2025-07-01"  # the 34-province units took effect (Resolution 202/2025/QH15)
_BLANKS = " \t\r\n\u00a0\u3000"  # as the citizen suite: copy-pasted Vietnamese text carries these
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
_MAX_COLUMN = 63  # PostgreSQL truncates longer identifiers, and GX would miss the verdict column
_NUMBER_TYPES = ("integer", "decimal")
_TIME_TYPES = ("date", "datetime")
_PRE_2025_PROVINCES = sql_in(sorted(code[1:] for code in BIRTH_REGISTRATION_PROVINCES))  # "001" -> "01"
_CENTURIES = (19, 20, 21)  # the centuries the decree gives a century/gender digit
_SEXES: tuple[Gender, ...] = ("male", "female")

Datasets = Mapping[str, tuple[str, str]]
Verdict = Callable[[str], str]


class RuleError(ConfigError, ValueError):
    """A declared rule cannot be compiled; the message says which and what to write instead."""


def compile_suite(stream: Stream, *, staging: Table, datasets: Datasets) -> Suite:
    """The suite of a declared stream: ``contract.valid``, then each (rule, field) in declaration order.

    Raises:
        RuleError: a rule cannot be compiled (``rule_problems`` lists them all, for the checker).
    """
    rules = [contract_rule()]
    taken = {rules[0].name}
    for index, decl in enumerate(stream.rules):
        try:
            compiled = _compile(decl, stream, staging.name, datasets)
        except RuleError as exc:
            raise RuleError(f"rule {index + 1} of stream {stream.dataset!r} ({rule_kind(decl)}): {exc}") from None
        if decl.name is not None:
            compiled = [_named_rule(decl.name, compiled)]
        for name, description, judge in compiled:
            unique, n = name, 1
            while unique in taken:
                n += 1
                unique = f"{name}.{n}"
            taken.add(unique)
            rule = Rule(unique, description, judge)
            if len(rule.column) > _MAX_COLUMN:
                raise RuleError(f"rule {unique!r} makes too long a column name: shorten the field's name")
            rules.append(rule)
    return Suite(name=stream.dataset, staging=staging, rules=tuple(rules))


def rule_problems(stream: Stream, datasets: Datasets | None = None) -> list[tuple[int, str]]:
    """What stops each rule compiling: (index in ``stream.rules``, message); no ``datasets``: skip their check."""
    found: list[tuple[int, str]] = []
    for index, decl in enumerate(stream.rules):
        try:
            _compile(decl, stream, "staging", datasets)
        except RuleError as exc:
            found.append((index, str(exc)))
    return found


# --- one rule of the vocabulary -> (name, description, verdict) per field ------------------

Compiled = list[tuple[str, str, Verdict]]


def _compile(decl: BaseModel, stream: Stream, staging: str, datasets: Datasets | None) -> Compiled:
    compiled = _compile_kind(decl, stream, staging, datasets)
    when = getattr(decl, "when", None)
    if not when:
        return compiled
    scope, said = _when(when, stream)
    return [(name, _only_where(text, said), _scoped(scope, judge)) for name, text, judge in compiled]


def _named_rule(name: str, compiled: Compiled) -> tuple[str, str, Verdict]:
    """Several fields' verdicts as one rule: fails where any fails, passes where any applies and none fails."""
    if len(compiled) == 1:
        return name, compiled[0][1], compiled[0][2]
    judges = [judge for _, _, judge in compiled]

    def combined(as_of: str) -> str:
        each = [f"({judge(as_of)})" for judge in judges]
        failed = " OR ".join(f"{v} = {FAIL}" for v in each)
        passed = " OR ".join(f"{v} = {PASS}" for v in each)
        return f"CASE WHEN {failed} THEN {FAIL} WHEN {passed} THEN {PASS} END"

    return name, "; ".join(text for _, text, _ in compiled if text), combined


def _only_where(description: str, said: str) -> str:
    """A description limited by ``when``: inside its closing parenthesis, or in one of its own."""
    if description.endswith(")"):
        return f"{description[:-1]}; only where {said})"
    return f"{description} (only where {said})" if description else description


def _when(when: Mapping[str, str | list[str]], stream: Stream) -> tuple[str, str]:
    """A rule's ``when`` as a SQL condition on the staged row, and in words."""
    conditions, said = [], []
    for field, given in when.items():
        if field not in stream.fields:
            raise RuleError(
                f"when names {field!r}, which is not one of the stream's fields ({', '.join(stream.fields)})"
            )
        values = [given] if isinstance(given, str) else list(given)
        if not values:
            raise RuleError(f"when: {{{field}: []}} names no value: write a value or a list of them")
        for value in values:
            if any(char in value for char in "%{}\x00"):
                raise RuleError(
                    f"the when value {value!r} holds %, a brace or NUL, which a portable verdict cannot hold"
                )
        conditions.append(f"s.{field} IN {sql_in(values)}")
        said.append(f"{field} is {' or '.join(repr(v) for v in values)}")
    return " AND ".join(conditions), " and ".join(said)


def _scoped(scope: str, judge: Verdict) -> Verdict:
    """``judge`` limited to the rows ``scope`` holds for: NULL (not applicable) elsewhere."""
    return lambda as_of: f"CASE WHEN {scope} THEN {judge(as_of)} END"


def _compile_kind(decl: BaseModel, stream: Stream, staging: str, datasets: Datasets | None) -> Compiled:
    kind = rule_kind(decl)
    args = getattr(decl, kind)
    fields = [args] if isinstance(args, str) else args if isinstance(args, list) else None
    for name in [*(fields or []), *_named(args)]:
        if name not in stream.fields:
            raise RuleError(f"{name!r} is not one of the stream's fields ({', '.join(stream.fields)})")
    types: dict[str, str] = {name: spec.type for name, spec in stream.fields.items()}
    if kind == "not_empty":
        return [(f"{f}.not_empty", f"{f} is present and not blank", _not_empty(f)) for f in fields or []]
    if kind == "empty":
        return [(f"{f}.empty", f"{f} is absent or blank", _empty(f)) for f in fields or []]
    if kind == "not_in_future":
        return [_not_in_future(f, types[f]) for f in fields or []]
    if kind == "unique_in_run":
        if isinstance(args, UniqueArgs):
            return [_unique_together(list(dict.fromkeys(args.fields)), staging)]
        return [
            (
                f"{f}.unique_in_run",
                f"no other row of the run has the same {f} with different content (checked where {f} is present)",
                _applies(f, unique_in_run(f, staging)),
            )
            for f in fields or []
        ]
    if kind == "check":
        return [_check(args)]
    if kind == "personal_id":
        return [
            (
                f"{f}.personal_id",
                f"{f} is a well-formed personal id: 12 digits starting with one of the 63 birth-registration "
                f"province codes (checked where {f} is present)",
                _applies(f, personal_id_ok(f"s.{f}")),
            )
            for f in fields or []
        ]
    if kind == "references":
        return [_references(f, target, types[f], datasets) for f, target in args.items()]
    if kind == "after_referenced":
        own = staging if args.dataset == stream.dataset else None
        return [_after_referenced(args, types, datasets, own)]
    builders: dict[str, Callable[[Any, dict[str, str]], tuple[str, str, Verdict]]] = {
        "pattern": _pattern,
        "one_of": _one_of,
        "range": _range,
        "personal_id_consistent": _consistent,
        "known": _known,
        "before": _before,
        "differs": _differs,
    }
    return [builders[kind](args, types)]


def _unique_together(fields: list[str], staging: str) -> tuple[str, str, Verdict]:
    """One verdict over several fields: two rows differing in any of them are not a conflict (e.g. two versions)."""
    if len(fields) == 1:
        field = fields[0]
        said = f"the same {field}"
    else:
        field, said = fields[0], "the same " + " and ".join(fields)
    present = " AND ".join(_present(name) for name in fields)
    return (
        f"{field}.unique_in_run",
        f"no other row of the run has {said} with different content (checked where "
        + ("it is" if len(fields) == 1 else "all are")
        + " present)",
        lambda as_of: verdict(unique_in_run(fields, staging), applies=present),
    )


def _check(args: Any) -> tuple[str, str, Verdict]:
    """A domain check: the named function's description and passing condition over ``s.<field>``."""
    field, reference = args.field, args.run
    function = python_function(reference)
    if function is None:
        raise RuleError(
            f"check names {reference!r}, which is no function of an installed module; write package.module:function"
        )
    try:
        description, passes = function(f"s.{field}")
    except (TypeError, ValueError):
        raise RuleError(
            f"check {reference!r} must take the staged column and return (description, SQL condition)"
        ) from None
    if not isinstance(description, str) or not isinstance(passes, str) or not passes.strip():
        raise RuleError(f"check {reference!r} must return (description, SQL condition) as two texts")
    if any(char in passes for char in "%{}\x00"):
        raise RuleError(f"check {reference!r} returns SQL with %, a brace or NUL, which a portable verdict cannot hold")
    return f"{field}.{args.name}", f"{description} (checked where {field} is present)", _applies(field, passes)


def _named(args: object) -> list[str]:
    """The fields a rule's argument model names (for the up-front existence check)."""
    if isinstance(args, UniqueArgs):
        return list(args.fields)
    if isinstance(args, BaseModel):
        return [
            value
            for key in ("field", "than", "birth_date", "gender", "dated_by", "within", "from_", "via")
            for value in _names(getattr(args, key, None))
        ]
    if isinstance(args, dict):
        return list(args)
    return []


def _names(value: object) -> list[str]:
    return [value] if isinstance(value, str) else list(value) if isinstance(value, list) else []


def _present(field: str) -> str:
    return f"NULLIF(s.{field}, '') IS NOT NULL"


def _applies(field: str, passes: str, *, as_of_bound: str = "") -> Verdict:
    """A verdict that applies where ``field`` is present; ``as_of_bound``: ``field``'s day is not after the as-of."""
    if as_of_bound:
        return lambda as_of: verdict(f"{passes} AND substr({as_of_bound}, 1, 10) <= {as_of}", applies=_present(field))
    return lambda as_of: verdict(passes, applies=_present(field))


def _not_empty(field: str) -> Verdict:
    col = f"s.{field}"
    return lambda as_of: verdict(f"{col} IS NOT NULL AND trim({col}, {quote(_BLANKS)}) <> ''")


def _empty(field: str) -> Verdict:
    col = f"s.{field}"
    return lambda as_of: verdict(f"{col} IS NULL OR trim({col}, {quote(_BLANKS)}) = ''")


def _pattern(args: Any, types: dict[str, str]) -> tuple[str, str, Verdict]:
    field, regex = args.field, args.regex
    try:
        passes = pattern_sql(regex, f"s.{field}")
    except PatternError as exc:
        raise RuleError(str(exc)) from None
    return (
        f"{field}.pattern",
        f"{field} matches the pattern {shown(regex)} as a whole (checked where {field} is present)",
        _applies(field, passes),
    )


def _one_of(args: Any, types: dict[str, str]) -> tuple[str, str, Verdict]:
    field = args.field
    values = list(args.values) if args.values is not None else _values_from(args.values_from)
    for value in values:
        if any(char in value for char in "%{}\x00"):
            raise RuleError(f"the value {value!r} holds %, a brace or NUL, which a portable verdict cannot hold")
    if args.values_from is not None:
        source = args.values_from
        where = (
            f"{source.file}"
            + (f" at {source.at}" if source.at else "")
            + (f", their {source.key}" if source.key else "")
        )
        listed = f"the {len(values)} values {where} lists"
    else:
        listed = ", ".join(repr(v) for v in values)
    return (
        f"{field}.one_of",
        f"{field} is one of {listed} (checked where {field} is present)",
        _applies(field, f"s.{field} IN {sql_in(values)}"),
    )


def _values_from(source: ValuesFrom) -> list[str]:
    """The values a YAML or JSON file of the project lists (read when the suite is compiled).

    Raises:
        RuleError: no such file, no list or mapping at ``at``, or an entry without ``key`` (names the problem).
    """
    path = PROJECT / source.file
    try:
        node: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        raise RuleError(f"values_from: {source.file} is not a readable YAML or JSON file of the project") from None
    for part in (source.at or "").split(".") if source.at else ():
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node = list(node)
    if not isinstance(node, list) or not node:
        raise RuleError(f"values_from: {source.file} has no list at {source.at or 'its top'}: name one with at: PATH")
    values = []
    for entry in node:
        value = entry.get(source.key) if source.key is not None and isinstance(entry, dict) else entry
        if not isinstance(value, str | int) or isinstance(value, bool):
            what = f"an entry without a text {source.key}" if source.key else "an entry that is not a text"
            raise RuleError(f"values_from: {source.file} holds {what}: name its member with key: NAME")
        values.append(str(value))
    return values


def _not_in_future(field: str, field_type: str) -> tuple[str, str, Verdict]:
    if field_type not in _TIME_TYPES:
        raise RuleError(f"not_in_future applies to date or datetime fields; {field!r} is {field_type}")
    col = f"s.{field}"
    return (
        f"{field}.not_in_future",
        f"{field} is a real {field_type} not after the run's as-of date (checked where {field} is present)",
        _applies(field, _well_formed(col, field_type), as_of_bound=col),
    )


def _range(args: RangeArgs, types: dict[str, str]) -> tuple[str, str, Verdict]:
    field, field_type = args.field, types[args.field]
    col = f"s.{field}"
    if field_type not in (*_NUMBER_TYPES, *_TIME_TYPES):
        raise RuleError(f"range applies to integer, decimal, date or datetime fields; {field!r} is {field_type}")
    if args.min is None and args.max is None and not args.not_in_future:
        raise RuleError("range needs min, max or not_in_future: true")
    checks, said = [_well_formed(col, field_type)], [f"{field} is a well-formed {field_type}"]
    for bound, op, word in ((args.min, ">=", "not below"), (args.max, "<=", "not above")):
        if bound is not None:
            literal, text = _bound(bound, field, field_type)
            checks.append(_compare(col, field_type, op, literal, day_only=field_type == "datetime" and len(text) == 10))
            said.append(f"{word} {text}")
    if args.not_in_future:
        if field_type not in _TIME_TYPES:
            raise RuleError(f"not_in_future bounds dates; {field!r} is {field_type}: write max instead")
        said.append("not after the run's as-of date")
    judge = _applies(field, " AND ".join(checks), as_of_bound=col if args.not_in_future else "")
    return f"{field}.range", ", ".join(said) + f" (checked where {field} is present)", judge


def _bound(value: float | str, field: str, field_type: str) -> tuple[str, str]:
    """A range bound as a SQL literal in the field's normal form, and as the report shows it."""
    if field_type in _NUMBER_TYPES:
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            number = Decimal("NaN")
        if not number.is_finite():
            raise RuleError(f"range bound {value!r} of {field!r} is not a number: write e.g. min: 0")
        text = format(number, "f")
        return quote(text), text
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        if field_type == "date" or len(value) == 10:
            text = date.fromisoformat(value).isoformat()
        else:
            moment = datetime.fromisoformat(value)
            if moment.tzinfo is not None:
                moment = moment.astimezone(UTC).replace(tzinfo=None)
            text = moment.isoformat()
    except ValueError:
        example = "2000-01-01" if field_type == "date" else "2000-01-01T00:00:00Z"
        raise RuleError(
            f"range bound {value!r} of {field!r} is not an ISO {field_type}: write e.g. {example!r}"
        ) from None
    return quote(text), text


def _compare(a: str, field_type: str, op: str, b: str, day_only: bool = False) -> str:
    """``a op b`` for two well-formed values of ``field_type`` (a date bound on a datetime: its day)."""
    if field_type in _NUMBER_TYPES:
        return _number_compare(a, op, b)
    if day_only:
        a, b = f"substr({a}, 1, 10)", f"substr({b}, 1, 10)"
    return f"{a} {op} {b}"


def _consistent(args: Any, types: dict[str, str]) -> tuple[str, str, Verdict]:
    field, birth, gender = args.field, args.birth_date, args.gender
    if birth is None and gender is None:
        raise RuleError("personal_id_consistent needs birth_date: FIELD, gender: FIELD or both")
    pid = f"s.{field}"
    scope, where = [personal_id_ok(pid)], [f"{field} is well formed"]
    # One alternative per (century, gender) the row may have; an undeclared one allows each.
    options = []
    for centuries in [(c,) for c in _CENTURIES] if birth else [_CENTURIES]:
        for sexes in [(sex,) for sex in _SEXES] if gender else [_SEXES]:
            digits = sorted({century_gender_digit(c * 100, sex) for c in centuries for sex in sexes})
            conds = [f"substr({pid}, 4, 1) IN {sql_in(digits)}"]
            if birth:
                conds.append(f"substr(s.{birth}, 1, 2) = '{centuries[0]}'")
            if gender:
                conds.append(f"s.{gender} = '{sexes[0]}'")
            options.append("(" + " AND ".join(conds) + ")")
    passes = "(" + " OR ".join(options) + ")"
    encodes, said = [], []
    if birth:
        scope += [iso_date_ok(f"s.{birth}"), f"substr(s.{birth}, 1, 2) IN {sql_in(str(c) for c in _CENTURIES)}"]
        passes += f" AND substr({pid}, 5, 2) = substr(s.{birth}, 3, 2)"
        encodes.append(f"the century of {birth}")
        said.append(f"its 5th-6th digits are the last two of {birth}'s year")
        where.append(f"{birth} is a real date in 1900-2199")
    if gender:
        scope.append(f"s.{gender} IN {sql_in(_SEXES)}")
        encodes.append(gender)
        where.append(f"{gender} is 'male' or 'female'")
    said.insert(0, f"the 4th digit of {field} encodes {' and '.join(encodes)}")
    description = "; ".join(said) + f" (checked where {', '.join(where)})"
    applies = " AND ".join(scope)
    return f"{field}.personal_id_consistent", description, lambda as_of: verdict(passes, applies)


def _known(args: Any, types: dict[str, str]) -> tuple[str, str, Verdict]:
    spec = args if isinstance(args, KnownArgs) else KnownArgs(field=str(args))
    field, field_type = spec.field, types[spec.field]
    if field_type not in ("province", "commune"):
        raise RuleError(f"known applies to province or commune fields; {field!r} is {field_type}")
    col = f"s.{field}"
    today, old = _unit_ok(col, field_type, "2025"), _unit_ok(col, field_type, "pre_2025")
    by_units = {"2025": today, "pre_2025": old, "either": f"({today} OR {old})"}
    noun = f"{field_type} code"
    eras = {
        "2025": f"one of today's {field_type}s",
        "pre_2025": f"a pre-2025 {noun}",
        "either": f"one of today's {field_type}s or a pre-2025 {noun}",
    }
    passes, said = by_units[spec.units], f"{field} is {eras[spec.units]}"
    if spec.also:
        for code in spec.also:
            if any(char in code for char in "%{}\x00"):
                raise RuleError(f"the code {code!r} holds %, a brace or NUL, which a portable verdict cannot hold")
        passes = f"(s.{field} IN {sql_in(spec.also)} OR {passes})"
        said = f"{field} is {' or '.join(repr(code) for code in spec.also)} or {eras[spec.units]}"
    if spec.dated_by is not None:
        dated = spec.dated_by
        ok = _well_formed(f"s.{dated}", types[dated]) if types[dated] in _TIME_TYPES else None
        if ok is None:
            raise RuleError(f"dated_by names {dated!r}, which is {types[dated]}: name a date or datetime field")
        day = f"substr(s.{dated}, 1, 10)"
        passes = f"CASE WHEN {ok} THEN CASE WHEN {day} < '{REFORM_DAY}' THEN {old} ELSE {today} END ELSE {passes} END"
        said = (
            f"{field} is a pre-2025 {noun} where {dated} is before {REFORM_DAY}, one of today's {field_type}s"
            f" from then, and {eras[spec.units]} where {dated} is absent"
        )
    if spec.within is not None:
        if field_type != "commune" or types[spec.within] != "province" or spec.units != "2025" or spec.dated_by:
            raise RuleError(
                f"within says which province a commune lies in: {field!r} must be a commune of today's units "
                f"(no units, no dated_by) and {spec.within!r} a province field"
            )
        passes = commune_known(col, f"s.{spec.within}")
        said = f"{field} is one of today's communes and lies in the province {spec.within}"
        both = f"{_present(field)} AND {_present(spec.within)}"
        return f"{field}.known", f"{said} (checked where both are present)", lambda as_of: verdict(passes, both)
    if field_type == "commune" and (spec.units != "2025" or spec.dated_by is not None):
        said += " (no list of pre-2025 communes is available: a pre-2025 commune code is only checked to be 5 digits)"
    return f"{field}.known", f"{said} (checked where {field} is present)", _applies(field, passes)


def _unit_ok(col: str, field_type: str, era: str) -> str:
    if era == "2025":
        if field_type == "commune":
            return commune_known(col)
        return f"{col} IN (SELECT a.province_code FROM admin_unit a)"  # noqa: S608 - identifiers only
    if field_type == "province":
        return f"{col} IN {_PRE_2025_PROVINCES}"
    return f"(length({col}) = 5 AND trim({col}, '{DIGITS}') = '')"


def _before(args: Any, types: dict[str, str]) -> tuple[str, str, Verdict]:
    field, than, strictly = args.field, args.than, args.strictly
    a_type, b_type = types[field], types[than]
    kinds = {t in _NUMBER_TYPES for t in (a_type, b_type)}
    if a_type not in (*_NUMBER_TYPES, *_TIME_TYPES) or b_type not in (*_NUMBER_TYPES, *_TIME_TYPES) or len(kinds) > 1:
        raise RuleError(
            f"before compares two numbers or two dates/datetimes; {field!r} is {a_type} and {than!r} is {b_type}"
        )
    a, b = f"s.{field}", f"s.{than}"
    op = "<" if strictly else "<="
    compare = _compare(a, a_type, op, b, day_only=a_type != b_type)
    passes = f"{_well_formed(a, a_type)} AND {_well_formed(b, b_type)} AND {compare}"
    word = "before" if strictly else "not after"
    return (
        f"{field}.before",
        f"{field} is {word} {than} (checked where both are present)",
        lambda as_of: verdict(passes, applies=f"{_present(field)} AND {_present(than)}"),
    )


def _differs(args: Any, types: dict[str, str]) -> tuple[str, str, Verdict]:
    field, other = args.field, args.from_
    if field == other:
        raise RuleError(f"differs compares two fields; both are {field!r}: name another in from")
    return (
        f"{field}.differs",
        f"{field} is not the same as {other} (checked where both are present)",
        lambda as_of: verdict(f"s.{field} <> s.{other}", applies=f"{_present(field)} AND {_present(other)}"),
    )


def _referenced(
    kind: str, field: str, target: str, field_type: str, datasets: Datasets | None
) -> tuple[str, str] | None:
    """The golden table and key ``target`` names (None: no list of datasets to check against)."""
    if field_type in ("decimal", "datetime", "boolean"):
        raise RuleError(f"{kind} compares keys as text; {field!r} is {field_type}: reference by a text, id or date")
    if datasets is None:  # the checker without the store's list: the rest is checked when the suite is built
        return None
    if target not in datasets:
        raise RuleError(f"{kind} names dataset {target!r}, which is none of: {', '.join(sorted(datasets))}")
    table, key = datasets[target]
    if not (_IDENTIFIER.match(table) and _IDENTIFIER.match(key)):
        raise RuleError(f"dataset {target!r} maps to {table}.{key}, which is not a plain SQL table and column")
    return table, key


def _golden_key(key: str, field_type: str) -> str:
    # The golden side is typed: integers and dates are compared by their text (casting the
    # store's own typed column is safe; the staged text is never cast).
    return f"r.{key}" if field_type not in ("integer", "date") else f"CAST(r.{key} AS TEXT)"


def _after_referenced(
    args: Any, types: dict[str, str], datasets: Datasets | None, own_staging: str | None
) -> tuple[str, str, Verdict]:
    field, column, target, strictly = args.field, args.column, args.dataset, args.strictly
    vias = _names(args.via)
    if types[field] not in _TIME_TYPES:
        raise RuleError(f"after_referenced applies to date or datetime fields; {field!r} is {types[field]}")
    name = f"{field}.after_referenced"
    found = [_referenced("after_referenced", via, target, types[via], datasets) for via in vias]
    if any(one is None for one in found):
        return name, "", lambda as_of: ""
    table, key = found[0]  # type: ignore[misc]
    day = f"substr(s.{field}, 1, 10)"
    too_late = ">=" if strictly else ">"  # the referenced day that breaks the rule
    checks = []
    for via in vias:
        # Days compare as ISO text: the referenced column's own text form (date or timestamp) starts with its day.
        published = (
            f"NOT EXISTS (SELECT 1 FROM {table} r WHERE {_golden_key(key, types[via])} = s.{via}"  # noqa: S608
            f" AND substr(CAST(r.{column} AS TEXT), 1, 10) {too_late} {day})"
        )
        if own_staging is None:
            checks.append(f"(NULLIF(s.{via}, '') IS NULL OR {published})")
            continue
        # The stream's own dataset: this run's usable copy of the record is newer than the published one.
        staged = (
            f"FROM {own_staging} p WHERE p.run_id = s.run_id AND p.{key} = s.{via}"
            f" AND p.contract_error IS NULL AND {_well_formed(f'p.{column}', types.get(column, 'date'))}"
        )
        checks.append(
            f"(NULLIF(s.{via}, '') IS NULL OR CASE WHEN EXISTS (SELECT 1 {staged}) THEN NOT EXISTS"
            f" (SELECT 1 {staged} AND substr(p.{column}, 1, 10) {too_late} {day}) ELSE {published} END)"
        )
    scope = f"{_well_formed(f's.{field}', types[field])} AND ({' OR '.join(_present(via) for via in vias)})"
    word = "after" if strictly else "not before"
    copy = "this run's copy of it, else the published one" if own_staging else "the published one"
    return (
        name,
        f"{field} is {word} the {column} of the {target} record whose {key} is {' or '.join(vias)} (compared by "
        f"day, against {copy}; checked where {field} is a real {types[field]} and that record is found)",
        lambda as_of: verdict(" AND ".join(checks), applies=scope),
    )


def _references(field: str, target: str, field_type: str, datasets: Datasets | None) -> tuple[str, str, Verdict]:
    found = _referenced("references", field, target, field_type, datasets)
    if found is None:
        return f"{field}.references", "", lambda as_of: ""
    table, key = found
    exists = f"EXISTS (SELECT 1 FROM {table} r WHERE {_golden_key(key, field_type)} = s.{field})"  # noqa: S608
    return (
        f"{field}.references",
        f"{field} is the {key} of a published {target} record (checked where {field} is present)",
        _applies(field, exists),
    )


# --- well-formed values and numbers as text -------------------------------------------------


def _well_formed(col: str, field_type: str) -> str:
    """``col`` holds the normal form of ``field_type`` (dates, datetimes, numbers; else: present)."""
    if field_type == "date":
        return iso_date_ok(col)
    if field_type == "datetime":
        return _datetime_ok(col)
    if field_type in _NUMBER_TYPES:
        body = _unsigned(col)
        digits = f"replace({body}, '.', '')"
        dots = f"length({body}) - length({digits})"
        shape = f"{dots} = 0" if field_type == "integer" else f"{dots} <= 1"
        return (
            f"({col} IS NOT NULL AND length({digits}) > 0 AND trim({digits}, '{DIGITS}') = '' AND {shape}"
            f" AND substr({body}, 1, 1) <> '.' AND substr({body}, length({body}), 1) <> '.')"
        )
    return f"{col} IS NOT NULL"


def _datetime_ok(col: str) -> str:
    """``YYYY-MM-DDTHH:MM:SS`` with an optional ``.ffffff``, naming a real moment."""
    colon = quote(":")
    hh, mm, ss = f"substr({col}, 12, 2)", f"substr({col}, 15, 2)", f"substr({col}, 18, 2)"
    return (
        f"({col} IS NOT NULL AND (length({col}) = 19 OR (length({col}) = 26 AND substr({col}, 20, 1) = '.'"
        f" AND trim(substr({col}, 21, 6), '{DIGITS}') = ''))"
        f" AND {iso_date_ok(f'substr({col}, 1, 10)')} AND substr({col}, 11, 1) = 'T'"
        f" AND substr({col}, 14, 1) = {colon} AND substr({col}, 17, 1) = {colon}"
        f" AND trim({hh} || {mm} || {ss}, '{DIGITS}') = '' AND {hh} <= '23' AND {mm} <= '59' AND {ss} <= '59')"
    )


def _unsigned(col: str) -> str:
    return f"CASE WHEN substr({col}, 1, 1) = '-' THEN substr({col}, 2) ELSE {col} END"


def _number_parts(col: str) -> tuple[str, str, str]:
    """Negative (and not zero), integer digits without leading zeros, fraction without trailing zeros."""
    body = _unsigned(col)
    has_dot = f"{body} <> replace({body}, '.', '')"
    head = f"rtrim({body}, '{DIGITS}')"  # up to and including the dot (no substr length ever negative)
    whole = f"ltrim(CASE WHEN {has_dot} THEN replace(substr({body}, 1, length({head})), '.', '') ELSE {body} END, '0')"
    fraction = f"rtrim(CASE WHEN {has_dot} THEN substr({body}, length({head}) + 1) ELSE '' END, '0')"
    negative = f"(substr({col}, 1, 1) = '-' AND trim({col}, '-.0') <> '')"
    return negative, whole, fraction


def _number_compare(a: str, op: str, b: str) -> str:
    """``a op b`` (op one of < <= >= >) for two well-formed numbers, compared as text."""
    if op in (">", ">="):
        return _number_compare(b, op.replace(">", "<"), a)
    a_neg, a_int, a_frac = _number_parts(a)
    b_neg, b_int, b_frac = _number_parts(b)

    def smaller(x_int: str, x_frac: str, y_int: str, y_frac: str) -> str:
        # Magnitudes: a shorter integer part is smaller; equal lengths compare digit by digit.
        return (
            f"(length({x_int}) < length({y_int}) OR (length({x_int}) = length({y_int}) AND ({x_int} < {y_int}"
            f" OR ({x_int} = {y_int} AND {x_frac} < {y_frac}))))"
        )

    less = (
        f"(({a_neg} AND NOT {b_neg}) OR (NOT {a_neg} AND NOT {b_neg} AND {smaller(a_int, a_frac, b_int, b_frac)})"
        f" OR ({a_neg} AND {b_neg} AND {smaller(b_int, b_frac, a_int, a_frac)}))"
    )
    if op == "<":
        return less
    equal = f"({a_int} = {b_int} AND {a_frac} = {b_frac} AND (({a_neg} AND {b_neg}) OR (NOT {a_neg} AND NOT {b_neg})))"
    return f"({less} OR {equal})"
