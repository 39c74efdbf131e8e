"""Wire record -> staged canonical text, as a stream's declaration says: one mapper for JSON and XML alike.

The staged normal forms (the contract staging, quality and publish share):

    text, personal_id, province, commune   as sent
    integer                                canonical digits ("007" -> "7")
    decimal                                plain, no exponent, no trailing zeros ("1.50E+2" -> "150")
    date                                   YYYY-MM-DD (a zone suffix is dropped)
    datetime                               naive UTC YYYY-MM-DDTHH:MM:SS[.ffffff]; no zone on the wire is an error
    boolean                                true / false (from true/false/1/0, any case)

A field with ``read: package.module:function`` is domain Python's: the function gets the
wire value as parsed (a JSON list or object too; absent: None) and the record's other
fields in their staged forms, after them, and returns the staged text; its ValueError
is the record's contract error (``<WireName> is not readable as declared``).

A field's ``map`` applies to the value as sent, before its type is read (so a map may
turn ``Co``/``Khong`` into ``true``/``false``); an unmapped value is kept. Absent, null
(``xsi:nil``) and, for the typed kinds (integer to boolean), empty values are NULL. A
value that does not read as its type rejects the record with ``<WireName> is not a
<type>``: the wire name, never the value, which may be personal.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from lxml import etree

from connectors.digest import content_hash_of
from lgsp.declaration import Stream, python_function
from lgsp.errors import ConfigError, RejectedRecord

CONTRACT_RULE = "contract.valid"
NOT_AN_OBJECT = "a record is not an object"
_XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})(?:Z|[+-]\d{2}:\d{2})?")
_INTEGER = re.compile(r"[+-]?\d{1,19}")
_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d{1,4})?")
# What the golden tables hold (BigInteger; Numeric(38, 10): 28 digits before the point). A value beyond
# them would fail the whole publish transaction, so it is this record's contract error instead.
_INTEGER_RANGE = range(-(2**63), 2**63)
_DECIMAL_DIGITS = 28
# json.dumps(item, ensure_ascii=False, sort_keys=True), without building an encoder per record.
_PAYLOAD = json.JSONEncoder(ensure_ascii=False, sort_keys=True, check_circular=False).encode  # parsed JSON: no cycles
_MEMO = 4096  # entries per tag memo: a hostile peer's endless new tags must not grow one for ever
_UNSEEN: Any = object()  # not in a memo yet (None there means "not wanted")
_BOOLEANS = {"true": "true", "1": "true", "false": "false", "0": "false"}
_ARTICLE = {
    "integer": "an integer",
    "personal_id": "a personal id (at most 32 characters)",
    "province": "a province code (at most 8 characters)",
    "commune": "a commune code (at most 8 characters)",
}


def _integer(text: str) -> str:
    if not _INTEGER.fullmatch(text) or (value := int(text)) not in _INTEGER_RANGE:
        raise ValueError
    return str(value)


def _decimal(text: str) -> str:
    # The pattern first: Decimal() also takes NaN, Infinity, underscores and spaces, and an exponent
    # of a billion would make format() write a billion digits.
    if not _DECIMAL.fullmatch(text):
        raise ValueError
    value = Decimal(text)
    if value and (value.adjusted() >= _DECIMAL_DIGITS or value.adjusted() < -100):
        raise ValueError
    plain = format(value, "f")
    if "." in plain:
        plain = plain.rstrip("0").rstrip(".")
    return "0" if plain in ("-0", "") else plain


def _date(text: str) -> str:
    if len(text) == 10 and text[4] == "-" and text[7] == "-":  # the usual form: no regex
        date.fromisoformat(text)  # a real day: 2025-02-30 raises ValueError (and only ASCII digits pass)
        return text  # which is its own isoformat()
    match = _DATE.fullmatch(text)
    if match is None:
        raise ValueError
    day = match.group(1)
    date.fromisoformat(day)
    return day


def _datetime(text: str) -> str:
    if len(text) == 20 and text[19] == "Z" and text[10] == "T" and text[13] == ":" and text[16] == ":":
        datetime.fromisoformat(text)  # the usual form, already UTC: checked, then written as isoformat() would
        return text[:19]
    value = datetime.fromisoformat(text)  # 3.11: Z and any number of fraction digits
    if value.tzinfo is None:
        raise ValueError  # a moment without a zone is ambiguous: the contract says which zone
    try:
        return value.astimezone(UTC).replace(tzinfo=None).isoformat()
    except OverflowError:  # 0001-01-01T00:00+01:00 has no UTC year
        raise ValueError from None


def _boolean(text: str) -> str:
    value = _BOOLEANS.get(text.lower())
    if value is None:
        raise ValueError
    return value


def _code(longest: int) -> Callable[[str], str]:
    """Codes pass as sent (the rules judge them), unless longer than the golden column (String(n)) holds."""

    def read(text: str) -> str:
        if len(text) > longest:
            raise ValueError
        return text

    return read


_READERS: dict[str, Callable[[str], str]] = {
    "personal_id": _code(32),
    "province": _code(8),
    "commune": _code(8),
    "integer": _integer,
    "decimal": _decimal,
    "date": _date,
    "datetime": _datetime,
    "boolean": _boolean,
}


def _json_text(value: Any) -> str | None:
    """A JSON scalar as text (its JSON spelling for numbers and booleans); None for an object or a list."""
    if isinstance(value, str):
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    return None


class DeclaredRecord:
    """One wire record: the payload as received, its staged text fields, or why it breaks the contract."""

    __slots__ = ("content_hash", "fields", "payload", "rejection")

    def __init__(
        self,
        payload: str,
        fields: dict[str, str | None],
        rejection: RejectedRecord | None,
        names: tuple[str, ...],
    ) -> None:
        """``names``: the content fields, which the hash covers (a rejected record's hash covers its payload)."""
        self.payload = payload
        self.fields = fields
        self.rejection = rejection
        # Computed here, where the record is mapped (the source's reader thread), not where it is staged.
        self.content_hash: str = (
            content_hash_of(fields, names) if rejection is None else content_hash_of({"payload": payload}, ("payload",))
        )

    def __repr__(self) -> str:  # the fields are personal: show the shape only
        state = "rejected" if self.rejection is not None else "ok"
        return f"DeclaredRecord({state}, {len(self.fields)} fields)"


# One declared field, compiled: (name, wire name, path, value map, type reader, what a failure says).
# Tuples and locals rather than objects and methods: this runs for every field of every record.
_Plan = tuple[str, str, "tuple[str, ...] | None", "dict[str, str] | None", "Callable[[str], str] | None", str]


def _plan(name: str, wire: str, field_type: str, value_map: Mapping[str, str] | None, sep: str) -> _Plan:
    path = tuple(wire.split(sep))
    return (
        name,
        wire,
        path if len(path) > 1 else None,
        dict(value_map) if value_map else None,
        _READERS.get(field_type),
        f"{wire} is not {_ARTICLE.get(field_type, 'a ' + field_type)}",
    )


Reader = Callable[[Any, Mapping[str, str | None]], str | None]


def domain_reader(reference: str) -> Reader:
    """The function a field's ``read:`` names (``package.module:function``).

    Raises:
        ConfigError: it does not import, or is not callable.
    """
    function = python_function(reference)
    if function is None:
        raise ConfigError(f"read: {reference!r} is no function of an installed module; write package.module:function")
    return function


class RecordMapper:
    """Maps one stream's wire records (JSON objects or XML elements) to staged records."""

    def __init__(self, stream: Stream) -> None:
        """Compile the stream's fields; REST paths are dotted (``a.b``), SOAP paths ``/``-separated.

        Raises:
            ConfigError: a field's ``read:`` names a function that does not import.
        """
        self.names: tuple[str, ...] = tuple(stream.fields)
        # What the record says, not which record or as of when: a re-delivery with a newer time and the
        # same content is unchanged (nothing to publish, nothing to push).
        cursor = stream.cursor.field if stream.cursor is not None else None
        self.content: tuple[str, ...] = tuple(name for name in stream.fields if name not in (stream.key, cursor))
        plain = {n: f for n, f in stream.fields.items() if f.read is None}
        # Domain readers run after the plain fields, which they may read: (name, wire, path, reader, failure).
        self._read = [
            (n, f.from_, tuple(f.from_.split(".")), domain_reader(f.read), f"{f.from_} is not readable as declared")
            for n, f in stream.fields.items()
            if f.read is not None
        ]
        self._json = [_plan(n, f.from_, f.type, f.map, ".") for n, f in plain.items()]
        # XML: fields keyed by their /-joined local-name path; one pass collects the texts of those keys.
        self._xml = [
            _plan(n, "/".join(p for p in f.from_.split("/") if p), f.type, f.map, "/") for n, f in plain.items()
        ]
        self._wanted = {plan[1] for plan in self._xml} | {
            "/".join(p for p in w.split("/") if p) for _, w, *_ in self._read
        }
        self._nested = {plan[1].split("/", 1)[0] for plan in self._xml if plan[2] is not None}
        self._deep = [plan for plan in self._xml if plan[2] is not None and len(plan[2]) > 2]
        self._locals: dict[Any, str] = {}  # Clark tag -> local name, memoised
        self._top: dict[Any, tuple[str | None, str | None]] = {}  # child tag -> _top_plan, memoised
        self._grand: dict[tuple[str, Any], str | None] = {}  # (parent, grandchild tag) -> _grand_plan, memoised

    def from_json(self, item: Any) -> DeclaredRecord:
        """Map one JSON record (anything ``json.loads`` gives)."""
        payload = _PAYLOAD(item)
        if not isinstance(item, dict):
            return self._rejected(payload, dict.fromkeys(self.names), NOT_AN_OBJECT)
        fields: dict[str, str | None] = {}
        error: str | None = None
        get = item.get
        for name, wire, path, value_map, reader, failure in self._json:
            value = get(wire)
            if value is None and path is not None and wire not in item:
                value = _dig(item, path)
            if value is None:
                fields[name] = None
                continue
            text = value if value.__class__ is str else _json_text(value)
            if text is None:  # an object or a list where a value belongs
                fields[name] = None
                error = error or failure
                continue
            if value_map is not None:
                text = value_map.get(text, text)
            if reader is None:
                fields[name] = text
                continue
            try:
                fields[name] = reader(text) if text and not text.isspace() else None  # empty: no value
            except ValueError:
                fields[name] = None
                error = error or failure
        if self._read:
            error = self._domain(fields, error, lambda wire, path: item[wire] if wire in item else _dig(item, path))
        return self._finish(payload, fields, error)

    def _domain(
        self, fields: dict[str, str | None], error: str | None, value_of: Callable[[str, Any], Any]
    ) -> str | None:
        """Run the domain readers after the plain fields; returns the record's first contract error."""
        for name, wire, path, read, failure in self._read:
            try:
                fields[name] = read(value_of(wire, path), dict(fields))
            except ValueError:
                fields[name] = None
                error = error or failure
        return error

    def _finish(self, payload: str, fields: dict[str, str | None], error: str | None) -> DeclaredRecord:
        if error:
            return self._rejected(payload, fields, error)
        if self._read:  # the declared order, as the plain fields alone keep it
            fields = {name: fields.get(name) for name in self.names}
        return DeclaredRecord(payload, fields, None, self.content)

    def from_xml(self, element: etree._Element) -> DeclaredRecord:
        """Map one XML record element; fields are its children by local name, whatever their namespace."""
        payload = etree.tostring(element, encoding="unicode")
        texts = self._xml_texts(element)
        fields: dict[str, str | None] = {}
        error: str | None = None
        for name, wire, _path, value_map, reader, failure in self._xml:
            text = texts.get(wire)
            if text is None:
                fields[name] = None
                continue
            if value_map is not None:
                text = value_map.get(text, text)
            if reader is None:
                fields[name] = text
                continue
            try:
                fields[name] = reader(text) if text and not text.isspace() else None  # empty: no value
            except ValueError:
                fields[name] = None
                error = error or failure
        if self._read:
            error = self._domain(fields, error, lambda wire, path: texts.get("/".join(p for p in wire.split("/") if p)))
        return self._finish(payload, fields, error)

    def _xml_texts(self, element: etree._Element) -> dict[str, str | None]:
        """One pass over the children (and the grandchildren of nested paths): local-name path -> text.

        What a tag means (wanted under which key, nested or not) is worked out once per tag and
        remembered: this runs for every child of every record.
        """
        texts: dict[str, str | None] = {}
        top, grand = self._top, self._grand
        for child in element:
            tag = child.tag
            known = top.get(tag)
            key, below = known if known is not None else self._top_plan(tag)
            if key is not None and key not in texts:
                text = child.text
                texts[key] = text if text is not None else _empty(child)
            if below is not None:
                for grandchild in child:
                    seen = grand.get((below, grandchild.tag), _UNSEEN)
                    inner = self._grand_plan(below, grandchild.tag) if seen is _UNSEEN else seen
                    if inner is not None and inner not in texts:
                        text = grandchild.text
                        texts[inner] = text if text is not None else _empty(grandchild)
        for plan in self._deep:  # rare: three levels or more
            texts[plan[1]] = self._find(element, plan[2] or ())
        return texts

    def _top_plan(self, tag: Any) -> tuple[str | None, str | None]:
        """A child's tag -> (its key when a field reads it, its local name when fields read below it)."""
        local = self._local(tag)
        plan = (local if local in self._wanted else None, local if local in self._nested else None)
        if len(self._top) < _MEMO:
            self._top[tag] = plan
        return plan

    def _grand_plan(self, parent: str, tag: Any) -> str | None:
        """A grandchild's tag under ``parent`` -> its key when a field reads it."""
        local = self._local(tag)
        key = f"{parent}/{local}" if local is not None else None
        wanted = key if key in self._wanted else None
        if len(self._grand) < _MEMO:
            self._grand[(parent, tag)] = wanted
        return wanted

    def _find(self, element: etree._Element, path: tuple[str, ...]) -> str | None:
        node: etree._Element | None = element
        for part in path:
            node = next((c for c in node if self._local(c.tag) == part), None) if node is not None else None
        return None if node is None else _xml_text(node)

    def _local(self, tag: Any) -> str | None:
        if not isinstance(tag, str):
            return None
        local = self._locals.get(tag)
        if local is None:
            local = tag.rpartition("}")[2]
            if len(self._locals) < _MEMO:
                self._locals[tag] = local
        return local

    def _rejected(self, payload: str, fields: dict[str, str | None], why: str) -> DeclaredRecord:
        return DeclaredRecord(payload, fields, RejectedRecord(CONTRACT_RULE, why), self.content)


def _dig(item: dict[str, Any], path: tuple[str, ...]) -> Any:
    """A dotted path into nested objects; None when a step is missing or not an object."""
    node: Any = item
    for part in path:
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _xml_text(element: etree._Element) -> str | None:
    text = element.text
    return text if text is not None else _empty(element)


def _empty(element: etree._Element) -> str | None:
    """An element without text: null when it says xsi:nil, else the empty string."""
    return None if element.get(_XSI_NIL) in ("true", "1") else ""


def page_digest(records: list[DeclaredRecord]) -> str:
    """A digest of a page's records as received: two pages with the same one are the same page."""
    digest = hashlib.sha256()
    for record in records:
        digest.update(record.payload.encode())
        digest.update(b"\x1e")
    return digest.hexdigest()
