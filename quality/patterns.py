"""The portable subset of regular expressions a declared ``pattern`` rule may use, compiled to SQL.

SQLite has no REGEXP and PostgreSQL's ``~`` is not SQLite's, so a pattern is compiled
to plain ``length``/``substr``/``trim`` over the staged text, which both run alike.
The subset, always matched against the whole value (``^`` and ``$`` are implied and
may be written):

- literal characters, and ``\\`` before a metacharacter for the character itself
  (``\\.``, ``\\-``, ``\\(``);
- classes: ``\\d`` (ASCII digits only, unlike Python's ``\\d``), and brackets of single
  characters and ranges within digits, upper- or lower-case ASCII letters:
  ``[0-9]``, ``[A-Z]``, ``[a-z]``, ``[A-Za-z0-9]``, ``[A-F0-9_]``;
- after a literal or a class: ``{n}``, ``{m,n}`` (n at most 255) and ``?``.

Nothing else: no ``.``, ``*``, ``+``, ``{n,}``, groups, ``|``, negated classes, ``\\w``,
``\\s``, lookarounds. The characters ``%``, ``{``, ``}`` cannot be matched at all (the
verdict SQL may hold none of them: see ``quality.verdicts``). Each refusal says what
to write instead. A pattern with variable-length parts becomes one alternative per
combination of lengths (at most 64), each a fixed-position check.
"""

from __future__ import annotations

import math
import re
import string
from dataclasses import dataclass
from itertools import product

from quality.verdicts import DIGITS, quote

MAX_REPEAT = 255
MAX_ALTERNATIVES = 64
_FORBIDDEN = {"%": "a percent sign", "{": "a brace", "}": "a brace", "\x00": "NUL"}
_ESCAPABLE = set(".^$*+?()[]{}|\\-/ #&~'\":,;<>=!@")
_RANGES = (DIGITS, string.ascii_uppercase, string.ascii_lowercase)
_INSTEAD = "write a class such as [0-9], [A-Z], [a-z] or [A-Za-z0-9]"


class PatternError(ValueError):
    """A pattern outside the portable subset: the message says what and what to write instead."""


@dataclass(frozen=True)
class _Piece:
    """A class (or one literal character) repeated ``low`` to ``high`` times."""

    chars: str
    low: int
    high: int


def pattern_problem(regex: str) -> str | None:
    """Why ``regex`` cannot be compiled to a portable verdict, or None if it can."""
    try:
        _parse(regex)
    except PatternError as exc:
        return str(exc)
    return None


def pattern_sql(regex: str, col: str) -> str:
    """A SQL predicate: ``col`` is not NULL and matches ``regex`` as a whole.

    Raises:
        PatternError: the pattern is outside the subset (the message says what to write).
    """
    pieces = _parse(regex)
    alternatives = [_fixed(pieces, counts, col) for counts in product(*(range(p.low, p.high + 1) for p in pieces))]
    return f"({col} IS NOT NULL AND ({' OR '.join(alternatives)}))"


def shown(regex: str) -> str:
    """The pattern as a report shows it: without the implied anchors."""
    return regex.removeprefix("^").removesuffix("$") if not regex.endswith("\\$") else regex.removeprefix("^")


def _fixed(pieces: list[_Piece], counts: tuple[int, ...], col: str) -> str:
    """One combination of lengths: the total length, then each run of characters at its place."""
    checks = [f"length({col}) = {sum(counts)}"]
    position, literal, literal_at = 1, "", 1
    for piece, count in zip(pieces, counts, strict=True):
        if count and len(piece.chars) == 1:  # consecutive literal characters: one comparison
            if not literal:
                literal_at = position
            literal += piece.chars * count
        elif count:
            if literal:
                checks.append(f"substr({col}, {literal_at}, {len(literal)}) = {quote(literal)}")
                literal = ""
            # Trimming the allowed characters from a run leaves nothing iff every one is allowed.
            checks.append(f"trim(substr({col}, {position}, {count}), {quote(piece.chars)}) = ''")
        position += count
    if literal:
        checks.append(f"substr({col}, {literal_at}, {len(literal)}) = {quote(literal)}")
    return "(" + " AND ".join(checks) + ")"


def _parse(regex: str) -> list[_Piece]:
    try:
        re.compile(regex)
    except re.error as exc:
        raise PatternError(f"{regex!r} is not a regular expression ({exc.msg} at position {exc.pos})") from None
    body = regex.removeprefix("^")
    if body.endswith("$") and not body.endswith("\\$"):
        body = body[:-1]
    if not body:
        raise PatternError("an empty pattern matches nothing present: write the characters, e.g. [0-9]{10}")
    pieces: list[_Piece] = []
    i = 0
    while i < len(body):
        chars, i = _atom(body, i)
        low, high, i = _quantifier(body, i)
        pieces.append(_Piece(chars, low, high))
    variants = math.prod(p.high - p.low + 1 for p in pieces)
    if variants > MAX_ALTERNATIVES:
        raise PatternError(
            f"{shown(regex)!r} has {variants} combinations of lengths (at most {MAX_ALTERNATIVES}): "
            "fix more of the counts, e.g. {4} instead of {1,6}"
        )
    return pieces


def _atom(body: str, i: int) -> tuple[str, int]:
    """One literal character or class at ``body[i]``: its allowed characters and where it ends."""
    char = body[i]
    if char == "\\":
        return _escaped(body, i + 1)
    if char == "[":
        return _bracket(body, i + 1)
    if char == ".":
        raise PatternError(f"'.' (any character) is not supported: {_INSTEAD}")
    if char in "*+":
        raise PatternError(f"{char!r} (unbounded repetition) is not supported: write a bounded count such as {{1,20}}")
    if char == "?" or char == "{":
        raise PatternError(f"{char!r} at position {i} repeats nothing: put it after a character or a class")
    if char in "()|":
        raise PatternError(
            "groups and alternatives ( ( ) | ) are not supported: use one_of for a list of whole values, "
            "or a class such as [AB] for one character"
        )
    if char in "^$":
        raise PatternError(f"{char!r} is only an anchor at the very start or end (and is implied there)")
    return _allowed(char), i + 1


def _escaped(body: str, i: int) -> tuple[str, int]:
    if i >= len(body):
        raise PatternError("the pattern ends with a lone backslash: write \\\\ for a backslash")
    char = body[i]
    if char == "d":
        return DIGITS, i + 1
    if char in _ESCAPABLE:
        return _allowed(char), i + 1
    raise PatternError(f"\\{char} is not supported: {_INSTEAD}, or escape only punctuation")


def _bracket(body: str, i: int) -> tuple[str, int]:
    if body.startswith("^", i):
        raise PatternError("negated classes [^...] are not supported: list the characters that are allowed instead")
    chars: list[str] = []
    while i < len(body) and body[i] != "]":
        if body[i] == "\\":
            escaped, i = _escaped(body, i + 1)
            chars.extend(escaped)
        elif i + 2 < len(body) and body[i + 1] == "-" and body[i + 2] != "]":
            chars.extend(_range(body[i], body[i + 2]))
            i += 3
        else:
            chars.append(_allowed(body[i]))
            i += 1
    if i >= len(body):
        raise PatternError("a class is not closed: end it with ]")
    if not chars:
        raise PatternError("an empty class [] matches nothing: list the allowed characters")
    return "".join(dict.fromkeys(chars)), i + 1


def _range(first: str, last: str) -> str:
    for alphabet in _RANGES:
        if first in alphabet and last in alphabet and first <= last:
            return alphabet[alphabet.index(first) : alphabet.index(last) + 1]
    raise PatternError(
        f"the range {first}-{last} is not supported: ranges stay within 0-9, A-Z or a-z, e.g. [A-Za-z0-9]"
    )


def _allowed(char: str) -> str:
    if char in _FORBIDDEN:
        raise PatternError(
            f"{_FORBIDDEN[char]} ({char!r}) cannot be matched portably: check that character with another rule"
        )
    return char


def _quantifier(body: str, i: int) -> tuple[int, int, int]:
    """The repetition after an atom (1, 1 if none) and where it ends."""
    low, high = 1, 1
    if i < len(body) and body[i] in "*+":
        raise PatternError(
            f"{body[i]!r} (unbounded repetition) is not supported: write a bounded count such as {{1,20}}"
        )
    if i < len(body) and body[i] == "?":
        low, high, i = 0, 1, i + 1
    elif i < len(body) and body[i] == "{":
        end = body.find("}", i)
        match = re.fullmatch(r"(\d+)(,(\d*))?", body[i + 1 : end]) if end > 0 else None
        if match is None:
            raise PatternError(f"a count is written {{n}} or {{m,n}}, not {body[i : end + 1] or body[i:]!r}")
        if match.group(2) and not match.group(3):
            raise PatternError("{n,} (unbounded repetition) is not supported: give the most too, e.g. {1,20}")
        low = int(match.group(1))
        high = int(match.group(3)) if match.group(3) else low
        if low > high or high > MAX_REPEAT:
            raise PatternError(f"the count {{{low},{high}}} must have m <= n <= {MAX_REPEAT}")
        i = end + 1
    if i < len(body) and body[i] in "?*+{":
        raise PatternError(f"{body[i]!r} after a count is not supported: give one count per character or class")
    return low, high, i
