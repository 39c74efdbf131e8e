"""The declaration format: one YAML file per external system, as typed models.

A declaration (``config/systems/<system>.yaml``) says how to reach a system, how to
page its streams, how to map each wire record to canonical fields, which dataset the
records feed, its key, its quality rules, its schedule and its pool. Everything the
platform used to register by hand per system is derived from these models; the
JSON Schema editors read (``schemas/declaration.schema.json``) is generated from them
too (``declaration_schema``).

The models only describe; they import nothing of ours. ``hub.systems`` loads the
files (with line numbers for errors) and checks what a model alone cannot know (the
WSDL's operations, the OpenAPI document's paths, the configured connections);
``connectors.declared`` reads a stream; ``quality.rules`` compiles the rules.

Templates: a REST stream's ``params`` and a SOAP stream's ``input`` may hold
``{cursor}`` (where the incremental cursor goes, rendered in the wire's format) and
``{page_size}``. Paths into a response (``records``, ``next``) are dotted JSON paths
for REST (``data`` or ``result.items``; ``.`` for a body that is itself the list) and
child element names for SOAP (``HoKinhDoanh``, or ``KetQua/HoKinhDoanh``).
"""

from lgsp.declaration.base import FIELD_TYPES, IDENTIFIER, PYTHON_REF, FieldType, Identifier, Titles, python_function
from lgsp.declaration.rules import (
    RULE_KINDS,
    KnownArgs,
    RangeArgs,
    RuleDecl,
    UniqueArgs,
    ValuesFrom,
    own_fields,
    rule_fields,
    rule_kind,
)
from lgsp.declaration.system import (
    Auth,
    CursorPaging,
    FieldSpec,
    Followup,
    LinkPaging,
    Loc,
    OffsetPaging,
    PagePaging,
    Paging,
    Stream,
    SystemDecl,
    declaration_schema,
    problems,
    templates_in,
)

__all__ = [
    "FIELD_TYPES",
    "IDENTIFIER",
    "PYTHON_REF",
    "RULE_KINDS",
    "Auth",
    "CursorPaging",
    "FieldSpec",
    "FieldType",
    "Followup",
    "Identifier",
    "KnownArgs",
    "LinkPaging",
    "Loc",
    "OffsetPaging",
    "PagePaging",
    "Paging",
    "RangeArgs",
    "RuleDecl",
    "Stream",
    "SystemDecl",
    "Titles",
    "UniqueArgs",
    "ValuesFrom",
    "declaration_schema",
    "own_fields",
    "problems",
    "python_function",
    "rule_fields",
    "rule_kind",
    "templates_in",
]
