"""The National Public Service Portal (REST): report a dossier's status, read back what it holds.

Contract in ``schemas/portal/openapi.yaml``. The portal answers a status update with
an acknowledgement id (``MaXacNhan``): 202 for a new update, 200 for a replay of the
same ``Idempotency-Key`` (the first acknowledgement again), so an update sent twice
is applied once. Two refusals are outcomes, not errors, and come back as a
``PortalAnswer`` for the caller to dead-letter:

    409  the status would go backwards from the one the portal holds
    422  the payload is invalid, or the key was used for another request

Everything else goes through the RestClient's error tree (429/5xx retried there,
then TransientSourceError; 401 and other 4xx FatalSourceError).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

from connectors.acknowledgement import Answer, problem_type, valid_ack_id, valid_idempotency_key
from connectors.paging import CursorPager
from connectors.rest import RestClient
from lgsp.errors import FatalSourceError

SYSTEM = "portal"
API_KEY_HEADER = "X-API-Key"
OUTCOMES = frozenset({409, 422})
_PAGE_SIZE = 1000  # the contract's maximum


PortalAnswer = Answer  # the name callers know; one reading of deliveries' answers for every peer


class PortalClient:
    """Calls the portal through one RestClient (API key, timeouts and retries live there)."""

    def __init__(self, client: RestClient, *, page_size: int = _PAGE_SIZE) -> None:
        """Use ``client``, bound to the portal's API base (``.../portal/v1``); ``list_held`` reads ``page_size``.

        Raises:
            ValueError: ``page_size`` is outside 1..1000 (the contract's range).
        """
        if not 1 <= page_size <= _PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {_PAGE_SIZE}")
        self._client = client
        self._page_size = page_size

    def put_status(self, dossier_id: str, body: Mapping[str, Any], idempotency_key: str) -> PortalAnswer:
        """Report a dossier's status; 409 and 422 come back as answers, not errors.

        Raises:
            ValueError: the key is not 1-255 visible ASCII characters (it could never be sent).
            TransientSourceError: still failing after the retries (429, 5xx, timeouts).
            FatalSourceError: retrying will not help (401, other 4xx, a 2xx without a usable MaXacNhan).
        """
        if not valid_idempotency_key(idempotency_key):
            raise ValueError("an Idempotency-Key must be 1-255 visible ASCII characters")
        response = self._client.put_json(
            _dossier_path(dossier_id) + "/status",
            dict(body),
            operation="put status",
            headers={"Idempotency-Key": idempotency_key},
            expected=OUTCOMES,
        )
        if response.status in OUTCOMES:
            return PortalAnswer(response.status, None, problem_type(response.json))
        ack = response.json.get("MaXacNhan") if isinstance(response.json, dict) else None
        if not valid_ack_id(ack):
            raise FatalSourceError(
                f"{SYSTEM} put status: HTTP {response.status} without a usable MaXacNhan; check the API base URL "
                f"and the contract (request {response.request_id})",
                system=SYSTEM,
                operation="put status",
            )
        return PortalAnswer(response.status, ack, None)

    def get_status(self, dossier_id: str) -> dict[str, Any] | None:
        """What the portal holds for a dossier (latest update, its ack, ``LichSu``), or None if nothing.

        Raises:
            TransientSourceError: still failing after the retries.
            FatalSourceError: retrying will not help.
        """
        response = self._client.request(
            "GET", _dossier_path(dossier_id), operation="get status", expected=frozenset({404}), json_required=True
        )
        if response.status == 404:
            return None
        return _held(response.json, "get status")

    def list_held(self) -> Iterator[dict[str, Any]]:
        """Every dossier the portal holds, in MaHoSo order, page by page (for tests and reconciliation).

        Raises:
            TransientSourceError: still failing after the retries.
            FatalSourceError: retrying will not help, or the listing repeats a cursor.
        """

        def fetch(cursor: str | None) -> tuple[list[Any], str | None]:
            params = {"cursor": cursor, "limit": self._page_size}
            body = self._client.get_json("/dossiers", params, operation="list held")
            if not isinstance(body, dict) or not isinstance(body.get("items"), list):
                raise _contract("list held", "the response has no 'items' list")
            cursor = body.get("next_cursor")
            if cursor is not None and not isinstance(cursor, str):
                raise _contract("list held", "'next_cursor' is not a string")
            return body["items"], cursor

        for page in CursorPager(fetch, system=SYSTEM, operation="list held"):
            for item in page.items:
                yield _held(item, "list held")

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def __enter__(self) -> Self:
        """Use as a context manager; closes on exit."""
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the connection pool."""
        self.close()


def _dossier_path(dossier_id: str) -> str:
    # Quoted whole: a dossier code with a slash must not reach another route.
    return "/dossiers/" + quote(dossier_id, safe="")


def _held(item: Any, operation: str) -> dict[str, Any]:
    if (
        not isinstance(item, dict)
        or not isinstance(item.get("MaHoSo"), str)
        or not isinstance(item.get("TrangThai"), str)
    ):
        raise _contract(operation, "a held dossier has no MaHoSo or TrangThai")
    return item


def _contract(operation: str, problem: str) -> FatalSourceError:
    return FatalSourceError(
        f"{SYSTEM} {operation}: {problem}; check the API base URL and the contract", system=SYSTEM, operation=operation
    )
