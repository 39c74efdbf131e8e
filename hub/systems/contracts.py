"""A declaration held to its system's contract file, offline: the WSDL (and its XSD) or the OpenAPI document.

``lgsp systems check`` runs this before anything calls the system. For SOAP: the
operation exists, each declared input (and the paging parameter) is a part or a child
of the input element, and the records, the paging elements and every field's wire
name exist in the output. For REST: the path has the method, each declared parameter
(and the paging parameter) is one of the operation's, and the records, the paging
paths and the fields exist in the JSON response's schema. Files are read from disk
only (no network, no DTDs, no entities): the declared file is resolved next to the
declaration first, then from the project's root.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.systems.loader import PROJECT, Declared, Problem
from lgsp.declaration import CursorPaging, LinkPaging, Loc, OffsetPaging, PagePaging, Stream

_XS = "http://www.w3.org/2001/XMLSchema"
_WSDL = "http://schemas.xmlsoap.org/wsdl/"
_JSON = ("application/json", "application/problem+json")


@dataclass(frozen=True)
class Findings:
    """What a contract check found: errors (the declaration is wrong) and warnings (nothing checked)."""

    errors: list[Problem]
    warnings: list[Problem]


def contract_findings(declared: Declared) -> Findings:
    """Every disagreement between ``declared`` and the contract file it names."""
    decl = declared.decl
    found = Findings([], [])
    if decl.soap is not None:
        name, key = decl.soap.wsdl, ("soap", "wsdl")
    else:
        assert decl.rest is not None  # exactly one protocol: the model says so
        name, key = decl.rest.openapi, ("rest", "openapi")
    if name is None:
        what = "the endpoint's ?wsdl at run time" if decl.soap is not None else "nothing: no OpenAPI document"
        hint = "soap: {wsdl: FILE}" if decl.soap is not None else "rest: {openapi: FILE}"
        found.warnings.append(_at(declared, key[:1], f"the contract is checked against {what}; declare {hint}"))
        return found
    path = resolve(declared, name)
    if path is None:
        found.errors.append(
            _at(
                declared,
                key,
                f"{name!r} is neither next to the declaration ({declared.path.parent}) nor under the project "
                f"({PROJECT}): give the file's path relative to one of them",
            )
        )
        return found
    try:
        checker: _Contract = _Wsdl(path) if decl.soap is not None else _OpenApi(path)
    except ContractFileError as exc:
        found.errors.append(_at(declared, key, f"{name}: {exc}"))
        return found
    for stream_name, stream in decl.streams.items():
        for loc, message in checker.problems(stream):
            found.errors.append(_at(declared, ("streams", stream_name, *loc), message))
    return found


def resolve(declared: Declared, name: str) -> Path | None:
    """A contract file named in a declaration: next to it, else under the project; None if neither exists."""
    for base in (declared.path.parent, PROJECT):
        candidate = (base / name).resolve()
        if candidate.is_file():
            return candidate
    return None


class ContractFileError(Exception):
    """The contract file cannot be read as a WSDL or an OpenAPI document."""


def _at(declared: Declared, loc: Loc, message: str) -> Problem:
    return Problem(declared.path, declared.locate(loc), message)


class _Contract:
    def problems(self, stream: Stream) -> list[tuple[Loc, str]]:
        raise NotImplementedError


def _paging_names(stream: Stream) -> tuple[list[tuple[Loc, str]], list[tuple[Loc, str]]]:
    """(inputs, outputs) the paging style names: what is sent, and the paths read back."""
    paging = stream.next
    if isinstance(paging, PagePaging):
        return [(("next", "page"), paging.page)], [(("next", "total"), paging.total)] if paging.total else []
    if isinstance(paging, OffsetPaging):
        return [(("next", "offset"), paging.offset)], [(("next", "total"), paging.total)] if paging.total else []
    if isinstance(paging, CursorPaging):
        return [(("next", "param"), paging.param)], [(("next", "cursor"), paging.cursor)]
    if isinstance(paging, LinkPaging):
        return [], [(("next", "link"), paging.link)]
    return [], []


def _missing(what: str, name: str, known: Iterator[str] | list[str], where: str) -> str:
    names = sorted(set(known))
    return f"{what} {name!r} is not in {where}; it has: {', '.join(names) or 'nothing'}. Write one of them"


# --- SOAP -----------------------------------------------------------------------------


class _Wsdl(_Contract):
    """A WSDL 1.1 document and the schemas it carries or imports (local files only)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.root = _parse_xml(path)
        if self.root.tag != f"{{{_WSDL}}}definitions":
            raise ContractFileError("not a WSDL 1.1 document (no wsdl:definitions)")
        self.elements: dict[str, Any] = {}
        self.types: dict[str, Any] = {}
        seen: set[Path] = set()
        for schema in self.root.iterfind(f"{{{_WSDL}}}types/{{{_XS}}}schema"):
            self._index(schema, path, seen)

    def _index(self, schema: Any, base: Path, seen: set[Path]) -> None:
        for item in schema:
            local = _local(item.tag)
            if local == "element" and item.get("name"):
                self.elements.setdefault(item.get("name"), item)
            elif local in ("complexType", "simpleType") and item.get("name"):
                self.types.setdefault(item.get("name"), item)
            elif local in ("import", "include") and item.get("schemaLocation"):
                location = item.get("schemaLocation")
                if "://" in location:
                    raise ContractFileError(f"imports {location} over the network: keep the schema as a local file")
                # A WSDL as served imports "?xsd=NAME"; the file beside it is NAME.
                target = (base.parent / location.split("?xsd=")[-1]).resolve()
                if target in seen:
                    continue
                seen.add(target)
                if not target.is_file():
                    raise ContractFileError(f"imports the schema {location}, which is not at {target}")
                self._index(_parse_xml(target), target, seen)

    def problems(self, stream: Stream) -> list[tuple[Loc, str]]:
        operation = stream.operation
        if operation is None:
            return []  # the loader already said a SOAP stream names its operation
        operations = {op.get("name"): op for op in self.root.iterfind(f"{{{_WSDL}}}portType/{{{_WSDL}}}operation")}
        if operation not in operations:
            return [(("operation",), _missing("operation", operation, list(operations), self.path.name))]
        found: list[tuple[Loc, str]] = []
        op = operations[operation]
        inputs = self._message_names(op, "input")
        outputs = self._message_children(op, "output")
        sent, read = _paging_names(stream)
        for loc, name in [*((("input", name), name) for name in stream.input), *sent]:
            if name not in inputs:
                found.append((loc, _missing("input", name, list(inputs), f"the input of {operation}")))
        for loc, path in [(("records",), stream.records), *read]:
            if path is not None and self._walk(outputs, path) is None:
                found.append((loc, _missing("element", path, list(outputs), f"the output of {operation}")))
        record = self._walk(outputs, stream.records)
        if record is not None:
            children = self._children(record)
            if children:  # a record typed xs:anyType says nothing about its fields
                for name, spec in stream.fields.items():
                    if self._walk(children, spec.from_) is None:
                        where = f"a {stream.records.split('/')[-1]} record of {operation}"
                        found.append((("fields", name), _missing("wire name", spec.from_, list(children), where)))
        return found

    def _parts(self, op: Any, direction: str) -> list[Any]:
        reference = op.find(f"{{{_WSDL}}}{direction}")
        name = _local(reference.get("message", "")) if reference is not None else ""
        for message in self.root.iterfind(f"{{{_WSDL}}}message"):
            if message.get("name") == name:
                return list(message.iterfind(f"{{{_WSDL}}}part"))
        return []

    def _message_names(self, op: Any, direction: str) -> dict[str, Any]:
        """The names a request may carry: each part (RPC style) and each child of a part's element."""
        names: dict[str, Any] = {}
        for part in self._parts(op, direction):
            names[part.get("name")] = part
            names.update(self._message_children(None, direction, [part]))
        return names

    def _message_children(self, op: Any, direction: str, parts: list[Any] | None = None) -> dict[str, Any]:
        children: dict[str, Any] = {}
        for part in parts if parts is not None else self._parts(op, direction):
            element = self.elements.get(_local(part.get("element", "")))
            if element is not None:
                children.update(self._children(element))
            elif part.get("type"):
                children.update(self._type_children(self.types.get(_local(part.get("type")))))
        return children

    def _children(self, element: Any) -> dict[str, Any]:
        """Child elements by local name: through ``ref``, a named or inline complex type, and extensions."""
        if element.get("ref"):
            element = self.elements.get(_local(element.get("ref")), element)
        if element.get("type"):
            return self._type_children(self.types.get(_local(element.get("type"))))
        return self._type_children(element.find(f"{{{_XS}}}complexType"))

    def _type_children(self, node: Any, depth: int = 0) -> dict[str, Any]:
        found: dict[str, Any] = {}
        if node is None or depth > 20:  # a recursive type: deep enough for any path a declaration names
            return found
        for item in node:
            local = _local(item.tag)
            if local == "element":
                name = item.get("name") or _local(item.get("ref", ""))
                found.setdefault(name, item)
            elif local in ("sequence", "choice", "all", "complexContent"):
                found.update(self._type_children(item, depth + 1))
            elif local == "extension":
                found.update(self._type_children(self.types.get(_local(item.get("base", ""))), depth + 1))
                found.update(self._type_children(item, depth + 1))
        return found

    def _walk(self, children: dict[str, Any], path: str) -> Any:
        node = None
        for step in path.split("/"):
            node = children.get(step)
            if node is None:
                return None
            children = self._children(node)
        return node


def _parse_xml(path: Path) -> Any:
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        return etree.parse(str(path), parser).getroot()
    except (OSError, etree.XMLSyntaxError) as exc:
        raise ContractFileError(f"cannot be read as XML ({exc})") from None


def _local(name: object) -> str:
    """The local part of a tag or a QName; "" for a comment or a processing instruction (their tag is not text)."""
    return name.rsplit("}", 1)[-1].rsplit(":", 1)[-1] if isinstance(name, str) else ""


# --- REST -----------------------------------------------------------------------------


class _OpenApi(_Contract):
    """An OpenAPI 3 document (YAML or JSON) with local ``#/...`` references."""

    def __init__(self, path: Path) -> None:
        import yaml

        self.path = path
        try:
            self.doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise ContractFileError(f"cannot be read as YAML or JSON ({type(exc).__name__})") from None
        if not isinstance(self.doc, dict) or not isinstance(self.doc.get("paths"), dict):
            raise ContractFileError("not an OpenAPI document (no paths)")

    def problems(self, stream: Stream) -> list[tuple[Loc, str]]:
        path, method = stream.path, stream.method.lower()
        if path is None:
            return []  # the loader already said a REST stream declares get or post
        key = (method,)
        item = self._deref(self.doc["paths"].get(path))
        if not isinstance(item, dict) or method not in item:
            offered = [f"{verb.upper()} {p}" for p, ops in self.doc["paths"].items() for verb in (ops or {})]
            offered = [entry for entry in offered if entry.split()[0] in ("GET", "POST")]
            return [(key, _missing("operation", f"{method.upper()} {path}", offered, self.path.name))]
        operation = self._deref(item[method])
        names = {
            self._deref(param).get("name")
            for param in [*item.get("parameters", []), *operation.get("parameters", [])]
            if isinstance(self._deref(param), dict)
        }
        names |= set(self._properties(self._body_schema(operation)))  # a POST's JSON body
        found: list[tuple[Loc, str]] = []
        sent, read = _paging_names(stream)
        for loc, name in [*((("params", name), name) for name in stream.params), *sent]:
            if name not in names:
                found.append(
                    (loc, _missing("parameter", name, sorted(n for n in names if n), f"{method.upper()} {path}"))
                )
        response = self._response_schema(operation)
        if response is None:
            return found
        where = f"the response of {method.upper()} {path}"
        for loc, dotted in [(("records",), stream.records), *read]:
            if dotted is not None and self._walk(response, dotted) is None:
                found.append((loc, _missing("path", dotted, list(self._properties(response)), where)))
        records = self._walk(response, stream.records)
        item_schema = self._deref(records.get("items")) if isinstance(records, dict) else None
        fields = self._properties(item_schema)
        if fields:
            for name, spec in stream.fields.items():
                if self._walk(item_schema, spec.from_) is None:
                    found.append(
                        (("fields", name), _missing("wire name", spec.from_, list(fields), f"a record of {where}"))
                    )
        return found

    def _deref(self, node: Any, depth: int = 0) -> Any:
        while isinstance(node, dict) and isinstance(node.get("$ref"), str) and depth < 20:
            ref = node["$ref"]
            if not ref.startswith("#/"):
                raise ContractFileError(f"refers to {ref} outside the document: keep the contract in one file")
            node = self.doc
            for part in ref[2:].split("/"):
                node = node.get(part.replace("~1", "/").replace("~0", "~")) if isinstance(node, dict) else None
            depth += 1
        return node

    def _body_schema(self, operation: dict[str, Any]) -> Any:
        body = self._deref(operation.get("requestBody")) or {}
        content = body.get("content", {}) if isinstance(body, dict) else {}
        return next((self._deref(content[kind].get("schema")) for kind in _JSON if kind in content), None)

    def _response_schema(self, operation: dict[str, Any]) -> Any:
        responses = operation.get("responses", {}) or {}
        for status in ("200", 200, "2XX", "default"):
            response = self._deref(responses.get(status))
            content = response.get("content", {}) if isinstance(response, dict) else {}
            for kind in _JSON:
                if kind in content:
                    return self._deref(content[kind].get("schema"))
        return None

    def _properties(self, schema: Any) -> dict[str, Any]:
        schema = self._deref(schema)
        if not isinstance(schema, dict):
            return {}
        found = dict(schema.get("properties") or {})
        for part in schema.get("allOf", []) or []:
            found.update(self._properties(part))
        return found

    def _walk(self, schema: Any, dotted: str) -> Any:
        node = self._deref(schema)
        if dotted == ".":
            return node
        for step in dotted.split("."):
            node = self._deref(self._properties(node).get(step))
            if node is None:
                return None
        return node
