"""An agency's push receiver (REST): hand it a batch of changes of shared records, read one answer per item.

``POST <inbox URL>`` with ``{"items": [{"id": <idempotency key>, "payload": {...}}, ...]}`` and a
``webhook-id`` (the batch's id); the RestClient's auth signs each attempt per Standard Webhooks
(``hub.sharing.signing`` describes what agencies verify). The receiver answers 200 with one
result per item, ``{"results": [{"id", "status", "ack" | "type"}]}``: 202 for a new push and
200 for a replay of the same id, both with an ``ack``, so a push sent twice is applied once;
two refusals are outcomes about that one item, returned as its ``AgencyAnswer`` for the
caller to dead-letter:

    409  the agency refuses the change as conflicting with what it holds
    422  the payload is invalid for the agency, or the id was used for another push

Everything about the whole batch goes through the RestClient's error tree: 429/5xx and
timeouts are retried there, then TransientSourceError; 401 (the signature is refused: our
secret or our clock is wrong), other 4xx and an answer that does not account for every
item are FatalSourceError.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit, urlunsplit

from connectors.acknowledgement import Answer, problem_type, valid_ack_id, valid_idempotency_key
from connectors.rest import RestClient
from lgsp.errors import ConfigError, FatalSourceError

SYSTEM = "agency"
OUTCOMES = frozenset({409, 422})
_ITEM_STATUSES = frozenset({200, 202}) | OUTCOMES
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
    """Pushes to one agency's inbox, in batches, through one RestClient (signing, timeouts and retries live there)."""

    def __init__(self, client: RestClient, inbox_path: str) -> None:
        """Post to ``inbox_path`` on ``client``'s origin (see ``split_inbox_url``)."""
        self._client = client
        self._path = inbox_path

    def push_batch(self, items: Sequence[tuple[str, str]], batch_id: str) -> dict[str, AgencyAnswer]:
        """Deliver ``items`` ((idempotency key, the push as JSON text) each) in one request; the answer per key.

        Each push's JSON text goes into the body as it is (the caller has parsed and checked it):
        a batch of stored pushes is not decoded and encoded again. 409 and 422 of an item come
        back as its answer, not errors.

        Raises:
            ValueError: a key is not 1-255 visible ASCII characters, or appears twice (it could never be sent).
            TransientSourceError: still failing after the retries (429, 5xx, timeouts).
            FatalSourceError: retrying will not help (401: the signature is refused; other 4xx; an answer
                that misses an item, or a 2xx item without a usable ack).
        """
        keys = [key for key, _ in items]
        if not all(valid_idempotency_key(key) for key in keys) or len(set(keys)) != len(keys):
            raise ValueError("each push of a batch needs its own 1-255 visible ASCII character id")
        body = '{"items":[' + ",".join(f'{{"id":{json.dumps(key)},"payload":{text}}}' for key, text in items) + "]}"
        response = self._client.request(
            "POST",
            self._path,
            operation=_OPERATION,
            content=body.encode(),
            headers={"webhook-id": batch_id, "Content-Type": "application/json"},
        )
        answers = self._answers(response.json)
        if answers is None or answers.keys() != set(keys):
            raise FatalSourceError(
                f"{self._client.system} {_OPERATION}: HTTP {response.status} without a usable result for every item "
                f"of the batch; check the inbox URL and the receiver (request {response.request_id})",
                system=self._client.system,
                operation=_OPERATION,
            )
        return answers

    @staticmethod
    def _answers(body: Any) -> dict[str, AgencyAnswer] | None:
        """Each item's answer by id, or None if one is not an answer we can act on."""
        results = body.get("results") if isinstance(body, dict) else None
        if not isinstance(results, list):
            return None
        answers: dict[str, AgencyAnswer] = {}
        for result in results:
            status = result.get("status") if isinstance(result, dict) else None
            if status not in _ITEM_STATUSES or not isinstance(result.get("id"), str):
                return None
            if status in OUTCOMES:
                answers[result["id"]] = AgencyAnswer(status, None, problem_type(result))
            elif valid_ack_id(result.get("ack")):
                answers[result["id"]] = AgencyAnswer(status, result["ack"], None)
            else:
                return None
        return answers

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
