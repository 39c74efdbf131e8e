"""The dossier suite: what a good staged one-stop dossier is.

Rules are SQL verdicts validated by GX (see ``quality.verdicts``). Staged times are
naive-UTC ISO text written by one mapping (``connectors.one_stop``), so two of them
compare as text in time order. The status history is read by the mapping, which
puts a marker entry in front of a history it found inconsistent (SQL has no portable
way to walk a JSON array); ``history.consistent`` looks for that marker.
"""

from __future__ import annotations

from hub.store.tables import staging_dossier
from quality.verdicts import (
    DIGITS,
    Rule,
    Suite,
    commune_known,
    contract_rule,
    iso_date_ok,
    personal_id_ok,
    quote,
    sql_in,
    verdict,
)
from schemas.one_stop import CHANNELS, INCONSISTENT, PROVINCIAL_CENTRE, STATUS_ORDER
from schemas.procedures import load_catalogue

SUITE_NAME = "dossier"
MAX_ID_LENGTH = 64  # the golden table's key column
_STATUSES = sql_in(STATUS_ORDER)
_CHANNELS = sql_in(CHANNELS.values())
_MARKER = f'[["{INCONSISTENT}"'  # how a marked history's text begins (compact JSON)


def _procedures() -> str:
    """The catalogue's codes as a SQL list (read when the query is built, not at import)."""
    return sql_in(load_catalogue())


def datetime_ok(col: str) -> str:
    """``YYYY-MM-DDTHH:MM:SS`` (maybe with fractions) naming a real day and time of day."""
    clock = f"substr({col}, 12, 8)"
    return (
        f"({col} IS NOT NULL AND length({col}) >= 19 AND substr({col}, 11, 1) = 'T'"
        f" AND {iso_date_ok(f'substr({col}, 1, 10)')}"
        f" AND substr({clock}, 3, 1) = ':' AND substr({clock}, 6, 1) = ':'"
        f" AND trim(replace({clock}, ':', ''), '{DIGITS}') = '' AND length(replace({clock}, ':', '')) = 6"
        f" AND substr({clock}, 1, 2) <= '23' AND substr({clock}, 4, 2) <= '59' AND substr({clock}, 7, 2) <= '59')"
    )


def _unit_ok(col: str) -> str:
    return f"({col} = {quote(PROVINCIAL_CENTRE)} OR {commune_known(col)})"


def _unique_version() -> str:
    """No other usable row of the run is the same dossier at the same update time with other content.

    Two versions of one dossier at different NgayCapNhat are history, not a conflict:
    the newest wins at publish. ``quality.verdicts.unique_in_run`` would flag them.
    """
    return (
        "NOT EXISTS (SELECT 1 FROM staging_dossier d WHERE d.run_id = s.run_id"
        " AND d.dossier_id = s.dossier_id AND d.source_updated_at = s.source_updated_at"
        " AND d.content_hash <> s.content_hash AND d.contract_error IS NULL)"
    )


RULES: tuple[Rule, ...] = (
    contract_rule(),
    Rule(
        "dossier_id.present",
        f"the dossier has an id (MaHoSo) of at most {MAX_ID_LENGTH} characters",
        lambda as_of: verdict(
            f"s.dossier_id IS NOT NULL AND trim(s.dossier_id) <> '' AND length(s.dossier_id) <= {MAX_ID_LENGTH}"
        ),
    ),
    Rule(
        "procedure.known",
        "the procedure (MaThuTuc) is in the procedure catalogue",
        lambda as_of: verdict(f"s.procedure_code IN {_procedures()}"),
    ),
    Rule(
        "personal_id.format",
        "the applicant's personal id is 12 digits starting with a birth-registration province code",
        lambda as_of: verdict(personal_id_ok("s.personal_id")),
    ),
    Rule(
        "channel.known",
        "the dossier was filed online or in person",
        lambda as_of: verdict(f"s.channel IN {_CHANNELS}"),
    ),
    Rule(
        "status.known",
        "the status (TrangThai) is one of the contract's",
        lambda as_of: verdict(f"s.status IN {_STATUSES}"),
    ),
    Rule(
        "units.known",
        f"the receiving and processing units are {PROVINCIAL_CENTRE} or one of today's communes",
        lambda as_of: verdict(f"{_unit_ok('s.receiving_unit')} AND {_unit_ok('s.processing_unit')}"),
    ),
    Rule(
        "due_after_received",
        "the receipt and due times are date-times and the dossier is due after it was received",
        lambda as_of: verdict(
            f"{datetime_ok('s.received_at')} AND {datetime_ok('s.due_at')} AND s.due_at > s.received_at"
        ),
    ),
    Rule(
        "history.consistent",
        "the status history is in time order, each status may follow the one before,"
        " and it ends with the current status at the update time",
        lambda as_of: verdict(
            f"s.history IS NOT NULL AND substr(s.history, 1, {len(_MARKER)}) <> {quote(_MARKER)}",
            applies=f"s.status IN {_STATUSES}",  # an unknown status is status.known's finding alone
        ),
    ),
    Rule(
        "dossier_id.unique_in_run",
        "no other row of the run carries the same dossier at the same update time with different content",
        lambda as_of: verdict(_unique_version(), applies="s.dossier_id IS NOT NULL"),
    ),
)

SUITE = Suite(name=SUITE_NAME, staging=staging_dossier, rules=RULES)
