"""Telling a DTD in a peer's document, whatever the parser made of it.

Entities can only be declared in a DTD, and a DTD can only sit in the prolog (before
the root element). A billion-laughs document or an external entity is therefore a
DOCTYPE in the prolog, even when the parser gave up on it with a syntax error that
would otherwise read as "cut in transit". Both checks here work on what the peer
sent, not on what the parser kept: ``declared_doctype`` scans the prolog, and
``is_entity_error`` reads libxml2's error code.
"""

from __future__ import annotations

import codecs
import re

from lxml import etree

# Byte-order marks, longest first (a UTF-32-LE BOM begins with the UTF-16-LE one).
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Without a BOM, how "<?" or "<" is spelled says the width of a code unit (XML 1.0, Appendix F).
_UNMARKED = (
    (b"<\0\0\0", "utf-32-le"),
    (b"\0\0\0<", "utf-32-be"),
    (b"<\0", "utf-16-le"),
    (b"\0<", "utf-16-be"),
)
_DECLARED = re.compile(rb"""\A<\?xml[^>]{0,200}?encoding\s*=\s*["']([A-Za-z][A-Za-z0-9._-]{0,40})["']""")
_NAME = re.compile(r"[^\s\[>]+")
# libxml2 errors that only a DTD can cause: entity loops and amplification, parameter entities,
# references to external or unparsed entities, a DOCTYPE left open. Not "undeclared entity" or
# "missing ;": a body cut in the middle of "&amp;" produces those without any DTD.
_DTD_ONLY = frozenset(
    getattr(etree.ErrorTypes, name)
    for name in (
        "ERR_DOCTYPE_NOT_FINISHED",
        "ERR_ENTITY_LOOP",
        "ERR_ENTITY_BOUNDARY",
        "ERR_ENTITY_PE_INTERNAL",
        "ERR_ENTITY_IS_EXTERNAL",
        "ERR_ENTITY_IS_PARAMETER",
        "ERR_UNPARSED_ENTITY",
        "ERR_EXT_ENTITY_STANDALONE",
        "ERR_ENTITYREF_IN_DTD",
        "ERR_CHARREF_IN_DTD",
        "ERR_PEREF_AT_EOF",
        "ERR_PEREF_IN_PROLOG",
        "ERR_PEREF_IN_EPILOG",
        "ERR_PEREF_IN_INT_SUBSET",
        "ERR_PEREF_NO_NAME",
        "ERR_PEREF_SEMICOL_MISSING",
        "ERR_REDECL_PREDEF_ENTITY",
        "WAR_ENTITY_REDEFINED",
    )
)

_ERROR_NAMES = {
    getattr(etree.ErrorTypes, name): name for name in dir(etree.ErrorTypes) if name.startswith(("ERR_", "WAR_"))
}


def declared_doctype(content: bytes) -> str | None:
    """The name a DOCTYPE in the prolog gives the root ("" when it gives none), or None without one."""
    text = _decode(content)
    position = 0
    while True:
        while position < len(text) and text[position] in " \t\r\n":
            position += 1
        for opener, closer in (("<?", "?>"), ("<!--", "-->")):
            if text.startswith(opener, position):
                end = text.find(closer, position + len(opener))
                if end < 0:
                    return None  # the prolog never ends: no DOCTYPE reached
                position = end + len(closer)
                break
        else:
            break
    head = text[position : position + 9].upper()
    if head == "<!DOCTYPE":
        name = _NAME.match(text[position + 9 : position + 300].lstrip())
        return name.group() if name else ""
    # An entity declaration outside a DOCTYPE is no XML at all, but it says what the peer meant.
    return "" if head.startswith("<!ENTITY") else None


def is_entity_error(error: etree.XMLSyntaxError) -> bool:
    """Whether libxml2 refused the document because of what a DTD declared (entity loops, amplification...)."""
    code = _code(error)
    if code in _DTD_ONLY:
        return True
    # Amplification is reported as a generic resource limit; its text names the entities.
    return code == etree.ErrorTypes.ERR_RESOURCE_LIMIT and "entity" in (error.msg or "").lower()


def error_name(error: etree.XMLSyntaxError) -> str:
    """libxml2's name for the error (e.g. ERR_TAG_NAME_MISMATCH): says what broke without quoting the document."""
    code = _code(error)
    return _ERROR_NAMES.get(code, f"error {code}")


def _code(error: etree.XMLSyntaxError) -> int:
    return int(getattr(error, "code", -1))  # lxml-stubs lack XMLSyntaxError.code


def _decode(content: bytes) -> str:
    """The document as text, well enough to read its prolog (undecodable bytes replaced)."""
    for bom, encoding in _BOMS:
        if content.startswith(bom):
            return content[len(bom) :].decode(encoding, "replace")
    for start, encoding in _UNMARKED:
        if content.startswith(start):
            return content.decode(encoding, "replace")
    declared = _DECLARED.match(content)
    if declared:
        try:
            return content.decode(codecs.lookup(declared.group(1).decode("ascii")).name, "replace")
        except LookupError:
            pass  # an encoding Python does not know: the ASCII markers still read as Latin-1
    return content.decode("latin-1")
