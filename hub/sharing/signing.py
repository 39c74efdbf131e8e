"""How a batch of pushes is signed: Standard Webhooks (https://www.standardwebhooks.com), with the
``standardwebhooks`` package, so an agency verifies it with any of the spec's libraries.

The hub POSTs a batch of pushes to the agency's inbox URL as one JSON body,
``{"items": [{"id": <the push's idempotency key>, "payload": {...}}, ...]}``, with:

    webhook-id          the batch's id, a digest of its items' ids: the same on every retry of that batch
    webhook-timestamp   when this attempt was signed: whole seconds since the Unix epoch (UTC)
    webhook-signature   ``v1,<base64 HMAC-SHA256>`` of ``f"{id}.{timestamp}."`` + the body bytes,
                        one value per secret in force, space-separated

The receiver refuses with 401 when a header is missing, the timestamp is more than five
minutes off its clock, or no value matches under any secret it holds (``Webhook.verify``
does all three). Then it answers per item, so one refused push goes dead alone:
``{"results": [{"id": ..., "status": 202|200|409|422, "ack": ..., "type": ...}]}``
(202 new, 200 a replay of an id already acknowledged, with the first ack; 409/422 a
refusal of that item, with a problem type). A 401 stops pushes to that agency until an
operator fixes the secret; 429 and 5xx are retried later.

Secrets: the password of the Airflow connection ``agency_push_<code>``. A ``whsec_``
secret is base64 as the spec writes it; any other string is used as its UTF-8 bytes.
During a rotation the password holds two secrets separated by a space (the new one,
then the old; ``%20`` in a connection URI): every batch is signed under both, so the
agency may switch whenever it likes, then the old one is dropped. Both sides keep
secrets out of logs. ``demo-only-push-secret`` is the mocks' published default and is
refused for any host that is not loopback unless ``LGSP_DEMO=true``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import httpx
from pydantic import SecretStr
from standardwebhooks.webhooks import Webhook

from lgsp.errors import ConfigError

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"


def webhook(secret: str) -> Webhook:
    """The spec's signer/verifier for one secret: ``whsec_<base64>`` decoded, anything else as UTF-8 bytes."""
    return Webhook(secret if secret.startswith("whsec_") else secret.encode())


def secrets_of(password: SecretStr) -> list[str]:
    """The secrets a connection's password holds: one, or two (new, old) separated by whitespace during rotation."""
    return password.get_secret_value().split()


def batch_id(item_ids: Sequence[str]) -> str:
    """A batch's ``webhook-id``: a digest of its items' ids, so a retry of the same batch carries the same id."""
    return "batch-" + hashlib.sha256("\n".join(item_ids).encode()).hexdigest()[:40]


class WebhookSigner:
    """Signs every attempt of a batch as a RestClient ``Auth``: fresh timestamp, one value per secret."""

    def __init__(self, secret: SecretStr, clock: Callable[[], float] = time.time) -> None:
        """Sign with every secret ``secret`` holds; ``clock`` gives seconds since the epoch (tests move it).

        Raises:
            ConfigError: no secret, or a ``whsec_`` secret that is not base64.
        """
        try:
            self._hooks = [webhook(value) for value in secrets_of(secret)]
        except Exception as exc:  # the package raises bare binascii/Empty errors: say which setting is wrong
            raise ConfigError(
                "an agency's push secret is not usable (a whsec_ secret must be base64); fix the password of its "
                "agency_push_ connection"
            ) from exc
        if not self._hooks:
            raise ConfigError(
                "the agency's push secret is empty; set it as the password of its agency_push_ connection"
            )
        self._clock = clock

    def apply(self, request: httpx.Request) -> None:
        """Add the timestamp and signature headers (the request already carries its webhook-id).

        Raises:
            ValueError: the request has no webhook-id (the signature covers it).
        """
        msg_id = request.headers.get(ID_HEADER)
        if msg_id is None:
            raise ValueError("a push batch must carry a webhook-id: the signature covers it")
        at = datetime.fromtimestamp(int(self._clock()), UTC)
        # request.content is the body httpx will send, already encoded: the bytes the agency verifies.
        request.headers[TIMESTAMP_HEADER] = str(int(at.timestamp()))
        request.headers[SIGNATURE_HEADER] = " ".join(hook.sign(msg_id, at, request.content) for hook in self._hooks)

    def on_unauthorized(self) -> bool:
        """A refused signature means a wrong secret (or clock): re-signing cannot help, the 401 stands."""
        return False
