"""Signing secrets at rest. The worker must sign with a subscription's secret, so a one-way hash
cannot work; the secrets are encrypted instead, with Fernet (AES-128-CBC and HMAC-SHA256,
authenticated) under the keys of `PULS_SECRETS_KEY`. A MultiFernet encrypts with the first key
and decrypts with any, so a key is rotated by putting the new one first and re-encrypting
(`reseal`) before the old one is dropped ([docs/security.md](../../../docs/security.md))."""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from services.core.config import Settings


class SecretUnreadable(Exception):
    """No key of PULS_SECRETS_KEY decrypts a stored secret: the key it was encrypted with is
    missing from the setting (a configuration error, not the caller's)."""


@lru_cache(maxsize=8)
def _box(keys: tuple[bytes, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def _settings_box(settings: Settings) -> MultiFernet:
    return _box(tuple(settings.secrets_keys))


def seal(settings: Settings, secret: str) -> str:
    """The secret encrypted with the newest key (a Fernet token, ASCII)."""
    return _settings_box(settings).encrypt(secret.encode()).decode()


def unseal(settings: Settings, sealed: str) -> str:
    try:
        return _settings_box(settings).decrypt(sealed.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "A stored webhook secret cannot be decrypted with any key of PULS_SECRETS_KEY; "
            "add the key it was encrypted with (after the newest)"
        ) from None


def reseal(settings: Settings, sealed: str) -> str:
    """The same secret encrypted with the newest key (for a key rotation)."""
    try:
        return _settings_box(settings).rotate(sealed.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "A stored webhook secret cannot be decrypted with any key of PULS_SECRETS_KEY"
        ) from None
