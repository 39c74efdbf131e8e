"""The receiver's side of the push signature: Standard Webhooks, verified with the ``standardwebhooks`` package.

Deliberately not shared with the hub's signer (``hub.sharing.signing``): an agency
verifies with the spec's own library and nothing of ours, and so does this mock, so a
test that passes here shows the hub signs as the spec says.
"""

from __future__ import annotations

from collections.abc import Mapping

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def _webhook(secret: str) -> Webhook:
    # The spec writes secrets as whsec_<base64>; a plain string (the demo's) is used as its UTF-8 bytes.
    return Webhook(secret if secret.startswith("whsec_") else secret.encode())


def refusal(secrets: str, headers: Mapping[str, str], body: bytes) -> str | None:
    """None if the batch is signed, recently, under one of ``secrets`` (space-separated: a rotation); else the slug."""
    lowered = {name.lower(): value for name, value in headers.items()}
    if not all(lowered.get(name) for name in ("webhook-id", "webhook-timestamp", "webhook-signature")):
        return "signature-missing"
    slug = "signature-invalid"
    for secret in secrets.split():
        try:
            _webhook(secret).verify(body, lowered, json_parse=False)
        except WebhookVerificationError as exc:
            # The package says which check failed only in its message: a stale (or future) stamp, or no match.
            if "timestamp" in str(exc).lower() or "headers" in str(exc).lower():
                return "timestamp-stale"
            continue
        return None
    return slug
