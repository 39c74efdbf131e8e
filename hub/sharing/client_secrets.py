"""Client secrets, stored only as salted PBKDF2-SHA256 hashes (``pbkdf2_sha256$iterations$salt$hash``).

310,000 iterations (OWASP's figure for PBKDF2-SHA256) cost about 0.2 s per check on one core:
a token request pays it once per token, a stolen registry makes guessing expensive.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

ITERATIONS = 310_000
_SCHEME = "pbkdf2_sha256"
DEMO_CLIENT_SECRET = "demo-only-secret"  # noqa: S105 - the demo agencies' published secret, refused off loopback


def hash_secret(secret: str, iterations: int = ITERATIONS) -> str:
    """The stored form of ``secret``, with a fresh random salt."""
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", secret.encode(), salt, iterations)
    return f"{_SCHEME}${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def check_secret(secret: str, stored: str) -> bool:
    """Whether ``secret`` matches the stored hash (constant-time); False for a malformed hash."""
    try:
        scheme, iterations, salt, digest = stored.split("$")
        if scheme != _SCHEME:
            return False
        expected = base64.b64decode(digest, validate=True)
        actual = hashlib.pbkdf2_hmac("sha256", secret.encode(), base64.b64decode(salt, validate=True), int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def well_formed(stored: str) -> bool:
    """Whether ``stored`` looks like a hash this module wrote (checked when the registry loads)."""
    parts = stored.split("$")
    if len(parts) != 4 or parts[0] != _SCHEME or not parts[1].isdigit() or int(parts[1]) < 100_000:
        return False
    try:
        base64.b64decode(parts[2], validate=True)
        base64.b64decode(parts[3], validate=True)
    except ValueError:
        return False
    return True
