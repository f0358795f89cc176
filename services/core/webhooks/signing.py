"""Standard Webhooks signing (https://www.standardwebhooks.com): `webhook-signature` is
`v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`, several separated by spaces."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    raw = secret.removeprefix(SECRET_PREFIX)
    return base64.b64decode(raw + "=" * (-len(raw) % 4))


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<signature>` entry."""
    to_sign = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), to_sign, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(secrets_: list[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """Signs with every valid secret (the new one first during a rotation's overlap), so a
    receiver holding either secret can verify."""
    return " ".join(sign(s, msg_id, timestamp, body) for s in secrets_)


def headers(secrets_: list[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(secrets_, msg_id, timestamp, body),
        "content-type": "application/json",
        "user-agent": "Puls-Webhooks/1.0",
    }


def verify(secret: str, body: bytes, headers_: dict[str, str]) -> bool:
    """Our own check, for `puls webhooks listen` (tests use the standardwebhooks package)."""
    lower = {k.lower(): v for k, v in headers_.items()}
    msg_id, ts, sigs = (
        lower.get("webhook-id"),
        lower.get("webhook-timestamp"),
        lower.get("webhook-signature"),
    )
    if not (msg_id and ts and sigs) or not ts.isdigit():
        return False
    expected = sign(secret, msg_id, int(ts), body).encode()
    return any(hmac.compare_digest(expected, s.encode()) for s in sigs.split(" "))
