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
    key = settings.pseudonym_key.get_secret_value().encode()

    def pseudonym(employee_ref: str) -> str:
        return hmac.new(key, employee_ref.encode(), hashlib.sha256).hexdigest()

    return pseudonym
