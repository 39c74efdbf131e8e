"""The provincial one-stop system's domain Python: its dossiers' status history, and routing's calls.

The dossier feed is declared (``config/systems/one_stop.yaml``: transport, paging,
cursor, mapping, rules); what the declaration names from here is the history's
reader and its check. Times arrive in Vietnam time (``+07:00``) and are staged as
naive-UTC ISO text, like every other time in the hub.

SQL cannot read a JSON array portably (SQLite and PostgreSQL spell JSON functions
differently), so ``read_history`` does the reading: a history that is out of time
order, whose statuses do not follow ``schemas.one_stop.may_follow``, or whose last
entry is not (TrangThai, NgayCapNhat) is staged behind a leading marker entry
``["!inconsistent", null]``. The check ``history_consistent`` (the rule
``history.consistent``, in ``schemas.one_stop``) tests for the marker; the rest of the history is kept as sent.

The POSTs carry an ``Idempotency-Key`` derived from the step, the dossier and the
target, so a retried call, or a re-run after a crash between the call and the
hub's commit, is answered with the first outcome instead of routing twice.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

from connectors.paging import CursorPager
from connectors.rest import RestClient, RestResponse
from lgsp.errors import FatalSourceError
from schemas.one_stop import INCONSISTENT, PROVINCIAL_CENTRE, STATUS_ORDER, may_follow

SYSTEM = "one_stop"
_UNIT = re.compile(r"TINH|[0-9]{5}")  # MaDonVi, as the contract spells it; it goes into URL paths
_CONFLICT = frozenset({409})  # the system's "not now / not you / not that": an outcome, not a failure

History = list[tuple[str, datetime]]


@dataclass(frozen=True)
class Decision:
    """A competent commune's decision on a dossier routed to it (``decided_at`` naive UTC)."""

    transfer_id: str
    dossier_id: str
    result: str  # KetQua: ChapThuan | TuChoi
    decided_at: datetime


def read_history(value: Any, staged: Mapping[str, str | None]) -> str:
    """LichSu as the staged history (the declaration's ``read:``), behind the marker if it is inconsistent.

    ``staged`` holds the record's other fields as staged: the current status and the
    update time (naive-UTC ISO text) the history must end with.

    Raises:
        ValueError: LichSu is absent, or not a list of objects each with a text TrangThai and a zoned ThoiDiem.
    """
    history = _history(value)
    status, updated = staged.get("status"), staged.get("source_updated_at")
    consistent = updated is not None and _consistent(history, status, datetime.fromisoformat(updated))
    return history_text(history, consistent=consistent)


def naive_utc(text: Any) -> datetime:
    """An RFC 3339 date-time with a zone, as naive UTC.

    Raises:
        ValueError: not a string, not a date-time, or no zone (ambiguous).
    """
    if not isinstance(text, str):
        raise ValueError("a date-time must be a string")
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("not an ISO 8601 date-time") from None  # Python's message quotes the value
    if value.tzinfo is None:
        raise ValueError("a date-time without a zone is ambiguous")
    return value.astimezone(UTC).replace(tzinfo=None)


def history_text(history: History, *, consistent: bool = True) -> str:
    """The staged history: JSON ``[[status, at_iso], ...]``, behind the marker entry if inconsistent."""
    entries: list[list[str | None]] = [[status, at.isoformat()] for status, at in history]
    if not consistent:
        entries.insert(0, [INCONSISTENT, None])
    return json.dumps(entries, separators=(",", ":"))


def parse_history(text: str) -> History:
    """The staged history of a consistent dossier, back as (status, naive UTC) pairs."""
    return [(str(status), datetime.fromisoformat(at)) for status, at in json.loads(text)]


def _history(value: Any) -> History:
    """LichSu as (TrangThai, naive UTC) pairs, in the source's order.

    Raises:
        ValueError: not a list of objects each with a text TrangThai and a zoned ThoiDiem.
    """
    if not isinstance(value, list):
        raise ValueError("LichSu is not a list")
    entries: History = []
    for entry in value:
        if not isinstance(entry, dict) or not isinstance(entry.get("TrangThai"), str):
            raise ValueError("a LichSu entry has no TrangThai")
        entries.append((entry["TrangThai"], naive_utc(entry.get("ThoiDiem"))))
    return entries


def _consistent(history: History, status: str | None, updated: datetime) -> bool:
    """In time order, each status may follow the one before, and the last is (TrangThai, NgayCapNhat)."""
    if not history or history[-1] != (status, updated):
        return False
    if any(entry_status not in STATUS_ORDER for entry_status, _ in history):
        return False
    return all(later >= earlier and may_follow(held, new) for (held, earlier), (new, later) in pairwise(history))


def idempotency_key(step: str, *parts: str) -> str:
    """A key for one intended operation: the same step on the same things always gives the same key."""
    # Hashed: fixed length, visible ASCII whatever the ids contain, and no ids in proxies' header logs.
    digest = hashlib.sha256("\x1f".join((step, *parts)).encode()).hexdigest()
    return f"lgsp-{step}-{digest[:40]}"


class OneStopSource:
    """The one-stop system's unit inboxes for routing (API key and retries live in the RestClient).

    The dossier feed itself is declared (``config/systems/one_stop.yaml``): no Python reads it.
    """

    def __init__(self, client: RestClient, *, page_size: int = 1000) -> None:
        """Read through ``client``, ``page_size`` dossiers per page (1..1000)."""
        self._client = client
        self._page_size = page_size

    def close(self) -> None:
        """Close the client's connection pool."""
        self._client.close()

    def route(self, dossier_id: str, commune: str, sender: str) -> str | None:
        """Send the dossier to ``commune``'s inbox; the transfer id, or None if the system refuses (409).

        Raises:
            TransientSourceError: still failing after the retries.
            FatalSourceError: retrying will not help (credentials, contract).
            ValueError: ``commune`` or ``sender`` is not a unit code.
        """
        response = self._client.post_json(
            f"/units/{_unit(commune)}/inbox",
            {"MaHoSo": dossier_id, "MaDonViGui": _unit(sender)},
            operation="inbox",
            headers={"Idempotency-Key": idempotency_key("route", dossier_id, commune, sender)},
            expected=_CONFLICT,
        )
        if response.status in _CONFLICT:
            return None
        return _answer_text(response, "MaChuyen", "inbox")

    def results(self, commune: str, since: datetime) -> list[Decision]:
        """Every decision ``commune`` made strictly after ``since`` (naive UTC), in the system's order.

        Raises:
            TransientSourceError: a page still fails after the retries.
            FatalSourceError: credentials refused, or a decision breaks the contract.
            ValueError: ``commune`` is not a unit code.
        """

        def fetch(cursor: str | None) -> tuple[list[Any], str | None]:
            params = {"since": _wire_time(since), "limit": str(self._page_size)}
            if cursor is not None:
                params["cursor"] = cursor
            return _page_parts(
                self._client.get_json(f"/units/{_unit(commune)}/results", params, operation="results"), "results"
            )

        pages = CursorPager(fetch, system=SYSTEM, operation="results")
        return [_decision(item) for page in pages for item in page.items]

    def return_result(self, receiving_unit: str, dossier_id: str, transfer_id: str, result: str) -> bool:
        """Hand the commune's result back to the unit that received the dossier; False if refused (409).

        Raises:
            TransientSourceError: still failing after the retries.
            FatalSourceError: retrying will not help (credentials, contract, unknown transfer).
            ValueError: ``receiving_unit`` is not a unit code.
        """
        body = {"MaHoSo": dossier_id, "MaChuyen": transfer_id, "KetQua": result}
        response = self._client.post_json(
            f"/units/{_unit(receiving_unit)}/returns",
            body,
            operation="returns",
            expected=_CONFLICT,
            headers={"Idempotency-Key": idempotency_key("return", dossier_id, transfer_id, result)},
        )
        if response.status in _CONFLICT:
            return False
        _answer_text(response, "TrangThai", "returns")
        return True


def _unit(code: str) -> str:
    """A unit code safe to put in a path.

    Raises:
        ValueError: not TINH or a 5-digit commune code (the value is not repeated: it may be anything).
    """
    if not _UNIT.fullmatch(code):
        raise ValueError(f"{SYSTEM}: a unit code must be {PROVINCIAL_CENTRE} or a 5-digit commune code")
    return code


def _wire_time(moment: datetime) -> str:
    return moment.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")


def _contract_error(operation: str, problem: str) -> FatalSourceError:
    return FatalSourceError(
        f"{SYSTEM} {operation}: {problem}; check the API base URL and the contract", system=SYSTEM, operation=operation
    )


def _page_parts(body: Any, operation: str) -> tuple[list[Any], str | None]:
    """``{"items": [...], "next_cursor": ...}``, or a contract error naming what is wrong."""
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise _contract_error(operation, "the response has no 'items' list")
    cursor = body.get("next_cursor")
    if cursor is not None and not isinstance(cursor, str):
        raise _contract_error(operation, "'next_cursor' is not a string")
    return body["items"], cursor


def _answer_text(response: RestResponse, name: str, operation: str) -> str:
    value = response.json.get(name) if isinstance(response.json, dict) else None
    if not isinstance(value, str) or not value:
        raise _contract_error(operation, f"the answer has no {name}")
    return value


def _decision(item: Any) -> Decision:
    """One result entry; a malformed one is a contract error (it names the field, never a value)."""
    if not isinstance(item, dict):
        raise _contract_error("results", "a result is not an object")
    for name in ("MaChuyen", "MaHoSo", "KetQua"):
        if not isinstance(item.get(name), str):
            raise _contract_error("results", f"a result has no {name}")
    try:
        decided_at = naive_utc(item.get("ThoiDiem"))
    except ValueError as exc:
        raise _contract_error("results", "a result's ThoiDiem is not a date-time") from exc
    return Decision(item["MaChuyen"], item["MaHoSo"], item["KetQua"], decided_at)
