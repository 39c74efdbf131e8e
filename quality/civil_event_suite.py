"""The civil-status event suite: what a good staged birth, marriage or death event is.

Rules are SQL verdicts validated by GX (see ``quality.verdicts``).
"""

from __future__ import annotations

from typing import get_args

from hub.store.tables import staging_civil_event
from quality.verdicts import (
    Rule,
    Suite,
    commune_known,
    contract_rule,
    iso_date_ok,
    personal_id_ok,
    sql_in,
    unique_in_run,
    verdict,
)
from schemas.civil_event import EventType

SUITE_NAME = "civil_event"
EARLIEST_EVENT = "1900-01-01"
_TYPES = sql_in(get_args(EventType))
_RECORDED_DAY = "substr(s.recorded_at, 1, 10)"  # ISO datetime text: its date part


def _after_subject_birth() -> str:
    """The event is not dated before the subject's birth, as the golden record has it."""
    # CAST(date AS TEXT) is 'YYYY-MM-DD' on SQLite and PostgreSQL alike.
    return (
        "NOT EXISTS (SELECT 1 FROM citizen g WHERE g.personal_id = s.personal_id"
        " AND CAST(g.birth_date AS TEXT) > s.event_date)"
    )


RULES: tuple[Rule, ...] = (
    contract_rule(),
    Rule(
        "event_id.present",
        "the event has an id (MaSuKien)",
        lambda as_of: verdict("s.event_id IS NOT NULL AND trim(s.event_id) <> ''"),
    ),
    Rule(
        "event_type.known",
        "the event is a birth, a marriage or a death",
        lambda as_of: verdict(f"s.event_type IN {_TYPES}"),
    ),
    Rule(
        "personal_id.format",
        "the subject's personal id is 12 digits starting with a birth-registration province code",
        lambda as_of: verdict(personal_id_ok("s.personal_id")),
    ),
    Rule(
        "spouse.valid_for_marriage",
        "a marriage names the other spouse by a well-formed id that is not the subject's own",
        lambda as_of: verdict(
            f"{personal_id_ok('s.spouse_id')} AND s.spouse_id <> s.personal_id",
            applies="s.event_type = 'marriage'",
        ),
    ),
    Rule(
        "event_date.plausible",
        f"the event date is a real date, not before {EARLIEST_EVENT}, not after it was recorded"
        " and not after the run's as-of date",
        lambda as_of: verdict(
            f"{iso_date_ok('s.event_date')} AND s.event_date >= '{EARLIEST_EVENT}'"
            f" AND s.event_date <= {_RECORDED_DAY} AND s.event_date <= {as_of}"
        ),
    ),
    Rule(
        "commune.known",
        "the commune of registration is one of today's communes",
        lambda as_of: verdict(commune_known("s.commune")),
    ),
    Rule(
        "event_id.unique_in_run",
        "no other row of the run carries the same event id with different content",
        lambda as_of: verdict(unique_in_run("event_id", "staging_civil_event"), applies="s.event_id IS NOT NULL"),
    ),
    Rule(
        "event.after_subject_birth",
        "a marriage or death is not dated before the subject's birth (checked where the subject is known)",
        lambda as_of: verdict(
            _after_subject_birth(),
            applies=f"s.event_type IN ('marriage', 'death') AND {iso_date_ok('s.event_date')}",
        ),
    ),
)

SUITE = Suite(name=SUITE_NAME, staging=staging_civil_event, rules=RULES)
