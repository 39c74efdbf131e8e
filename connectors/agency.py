"""An agency's push receiver (REST): hand it one change of a shared record, read its acknowledgement.

``POST <inbox URL>`` with the JSON payload and an ``Idempotency-Key``; the RestClient's
auth signs each attempt (``hub.sharing.signing`` describes the scheme agencies verify).
The receiver answers 202 for a new push and 200 for a replay of the same key, both
with ``{"MaXacNhan": ...}``, so a push sent twice is applied once. Two refusals are
outcomes about that one push, returned as an ``AgencyAnswer`` for the caller to
dead-letter:

    409  the agency refuses the change as conflicting with what it holds
    422  the payload is invalid for the agency, or the key was used for another push

Everything else goes through the RestClient's error tree: 429/5xx and timeouts are
retried there, then TransientSourceError; 401 (the signature is refused: our secret or
our clock is wrong) and other 4xx are FatalSourceError.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit, urlunsplit

from connectors.acknowledgement import Answer, problem_type, valid_ack_id, valid_idempotency_key
from connectors.rest import RestClient
from lgsp.errors import ConfigError, FatalSourceError

SYSTEM = "agency"
OUTCOMES = frozenset({409, 422})
_OPERATION = "push"


AgencyAnswer = Answer  # the name callers know; one reading of deliveries' answers for every peer


def split_inbox_url(url: str) -> tuple[str, str]:
    """The origin and the path (with query) of an inbox URL, so the path is posted to exactly as given.

    (httpx would add a trailing slash to a base URL, which is another route on most servers.)

    Raises:
        ConfigError: not an http(s) URL with a host.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            "an agency's push URL must be an http(s) URL with a host; check its agency_push_ "
            "connection or push_url in agencies.yaml"
        )
    origin = urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], "", "", ""))
    path = urlunsplit(("", "", parts.path or "/", parts.query, ""))
    return origin, path


class AgencyClient:
    """Pushes to one agency's inbox through one RestClient (signing, timeouts and retries live there)."""

    def __init__(self, client: RestClient, inbox_path: str) -> None:
        """Post to ``inbox_path`` on ``client``'s origin (see ``split_inbox_url``)."""
        self._client = client
        self._path = inbox_path

    def push(self, payload: Mapping[str, Any], idempotency_key: str) -> AgencyAnswer:
        """Deliver one push; 409 and 422 come back as answers, not errors.

        Raises:
            ValueError: the key is not 1-255 visible ASCII characters (it could never be sent).
            TransientSourceError: still failing after the retries (429, 5xx, timeouts).
            FatalSourceError: retrying will not help (401: the signature is refused; other 4xx; a 2xx
                without a usable MaXacNhan).
        """
        if not valid_idempotency_key(idempotency_key):
            raise ValueError("an Idempotency-Key must be 1-255 visible ASCII characters")
        response = self._client.post_json(
            self._path,
            dict(payload),
            operation=_OPERATION,
            headers={"Idempotency-Key": idempotency_key},
            expected=OUTCOMES,
        )
        if response.status in OUTCOMES:
            return AgencyAnswer(response.status, None, problem_type(response.json))
        ack = response.json.get("MaXacNhan") if isinstance(response.json, dict) else None
        if not valid_ack_id(ack):
            raise FatalSourceError(
                f"{self._client.system} {_OPERATION}: HTTP {response.status} without a usable MaXacNhan; check "
                f"the inbox URL and the receiver (request {response.request_id})",
                system=self._client.system,
                operation=_OPERATION,
            )
        return AgencyAnswer(response.status, ack, None)

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
