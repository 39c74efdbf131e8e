"""The procedure catalogue (thủ tục hành chính): code, name, competent level, days allowed.

Read from ``catalogue.yaml`` next to this module. The competent level decides where
a dossier is processed: a commune-level dossier received at the provincial centre
must be routed to the applicant's commune (cross-boundary routing).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal, cast, get_args

import yaml

CATALOGUE_PATH = Path(__file__).parent / "catalogue.yaml"
Competent = Literal["commune", "province"]
_LEVELS: tuple[Competent, ...] = get_args(Competent)


@dataclass(frozen=True, slots=True)
class Procedure:
    """One procedure: its code, Vietnamese name, competent level and the days allowed to decide it."""

    code: str
    name: str
    competent: Competent
    days: int


def load_catalogue(path: Path = CATALOGUE_PATH) -> dict[str, Procedure]:
    """The catalogue by procedure code, in file order (a fresh dict; the file is parsed once).

    Raises:
        ValueError: the file is not a catalogue, or an entry is malformed or repeated.
    """
    return dict(_parse(path))


@cache
def _parse(path: Path) -> tuple[tuple[str, Procedure], ...]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    entries = document.get("procedures") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ValueError(f"{path.name}: expected a top-level 'procedures' list")
    procedures: dict[str, Procedure] = {}
    for number, entry in enumerate(entries, start=1):
        procedure = _procedure(entry, f"{path.name}: entry {number}")
        if procedure.code in procedures:
            raise ValueError(f"{path.name}: entry {number} repeats code {procedure.code}")
        procedures[procedure.code] = procedure
    return tuple(procedures.items())


def _procedure(entry: Any, where: str) -> Procedure:
    """One entry, checked field by field so the message says what to fix."""
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected a mapping with code, name, competent, days")
    code, name, competent, days = (entry.get(key) for key in ("code", "name", "competent", "days"))
    if not isinstance(code, str) or not code or not isinstance(name, str) or not name:
        raise ValueError(f"{where}: code and name must be non-empty strings")
    if competent not in _LEVELS:
        raise ValueError(f"{where}: competent must be one of {', '.join(_LEVELS)}")
    if not isinstance(days, int) or isinstance(days, bool) or days < 1:
        raise ValueError(f"{where}: days must be a positive whole number")
    return Procedure(code=code, name=name, competent=cast(Competent, competent), days=days)
