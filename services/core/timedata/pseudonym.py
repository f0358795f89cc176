"""Employees are known to Puls only as HMAC-SHA256(PULS_PSEUDONYM_KEY, employee_ref): stable for
joins across feeds, meaningless without the key, never reversible by Puls itself."""

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

    def pseudonym(employee_ref: str) -> str:
        # Copying the keyed state skips re-hashing the key for every record.
        mac = keyed.copy()
        mac.update(employee_ref.encode())
        return mac.hexdigest()

    return pseudonym
