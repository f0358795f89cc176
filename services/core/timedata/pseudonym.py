"""Employees are known to Puls only as HMAC-SHA256(PULS_PSEUDONYM_KEY, employee_ref): stable for
joins across feeds, meaningless without the key, never reversible by Puls itself.

The key carries a version (PULS_PSEUDONYM_KEY_VERSION) so it can be rotated: version 1's
pseudonyms are the bare hex digest (those of every key before versions existed, so they stay
valid); a later version's start with `v<version>.`, so the rows still under an older key can be
told apart and counted while the history is sent again (docs/security.md)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

from services.core.config import Settings
from services.core.timedata.errors import PseudonymKeyMissing


def pseudonymizer(settings: Settings) -> Callable[[str], str]:
    if settings.pseudonym_key is None:
        raise PseudonymKeyMissing(
            "Set PULS_PSEUDONYM_KEY before feeding person-level data (make run keeps one)"
        )
    keyed = hmac.new(settings.pseudonym_key.get_secret_value().encode(), digestmod=hashlib.sha256)
    prefix = version_prefix(settings.pseudonym_key_version)

    def pseudonym(employee_ref: str) -> str:
        # Copying the keyed state skips re-hashing the key for every record.
        mac = keyed.copy()
        mac.update(employee_ref.encode())
        return prefix + mac.hexdigest()

    return pseudonym


def version_prefix(version: int) -> str:
    """What a pseudonym of key `version` starts with: nothing for version 1 (today's)."""
    return "" if version == 1 else f"v{version}."
