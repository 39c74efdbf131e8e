"""Which source wins a field of the golden record, as declared in schemas/precedence.yaml.

A decision never overwrites silently: when two sources ranked by precedence hold
different values, the ranked one wins and the caller records a ``field_conflict``
row with both values and their provenance; it is resolved when they agree again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml

from lgsp.errors import ConfigError

POLICY_FILE = Path(__file__).resolve().parents[2] / "schemas" / "precedence.yaml"
DEFAULT_SOURCE = "national_population"


@dataclass(frozen=True)
class FieldPolicy:
    """How one field's sources are ranked."""

    rule: Literal["precedence", "recency"]
    sources: tuple[str, ...]


@dataclass(frozen=True)
class Stamp:
    """Who said a value, as of when."""

    system: str
    source_updated_at: datetime


@dataclass(frozen=True)
class Decision:
    """Take the incoming value or keep the held one; and whether the two sources conflict."""

    take_incoming: bool
    conflict: bool


@lru_cache(maxsize=1)
def policies() -> dict[str, FieldPolicy]:
    """The declared policies, by field.

    Raises:
        ConfigError: the policy file is missing or malformed.
    """
    try:
        document: Any = yaml.safe_load(POLICY_FILE.read_text())
        return {
            name: FieldPolicy(rule=spec["rule"], sources=tuple(spec["sources"]))
            for name, spec in document["fields"].items()
            if spec["rule"] in ("precedence", "recency")
        }
    except (OSError, KeyError, TypeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{POLICY_FILE} is missing or malformed: {type(exc).__name__}") from exc


def decide(field: str, held: Stamp | None, incoming: Stamp, *, differs: bool) -> Decision:
    """Whether ``incoming`` replaces the held value of ``field``, and whether they conflict."""
    if held is None:
        return Decision(take_incoming=True, conflict=False)
    if not differs:
        # Same value: the stamp keeps saying when and from whom the value first came.
        return Decision(take_incoming=False, conflict=False)
    newer = incoming.source_updated_at >= held.source_updated_at
    policy = policies().get(field, FieldPolicy(rule="precedence", sources=(DEFAULT_SOURCE,)))
    if incoming.system == held.system or policy.rule == "recency":
        return Decision(take_incoming=newer, conflict=False)
    rank_in, rank_held = _rank(policy, incoming.system), _rank(policy, held.system)
    if rank_in == rank_held:
        return Decision(take_incoming=newer, conflict=False)
    # Two authorities hold different values: the ranked one wins, and the disagreement is
    # kept (whichever is newer) until a later delivery shows them agreeing again.
    return Decision(take_incoming=rank_in < rank_held, conflict=True)


def _rank(policy: FieldPolicy, system: str) -> int:
    return policy.sources.index(system) if system in policy.sources else len(policy.sources)
