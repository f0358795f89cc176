"""Employees are known to Puls only as HMAC-SHA256(PULS_PSEUDONYM_KEY, employee_ref): stable for
joins across feeds, meaningless without the key, never reversible by Puls itself. No API key is
shown that stored value: each sees its own per-key pseudonym of it (`viewer_pseudonymizer`).

The key carries a version (PULS_PSEUDONYM_KEY_VERSION) so it can be rotated: version 1's
pseudonyms are the bare hex digest (those of every key before versions existed, so they stay
valid); a later version's start with `v<version>.`, so the rows still under an older key can be
told apart and counted while the history is sent again (docs/security.md)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

from services.core.config import Settings
from services.core.principal import Principal
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


# Domain separation: the viewer key is never an HMAC of anything a sender can send (employee
# refs cannot hold control characters), so it cannot equal a stored pseudonym's key material.
_VIEWER_LABEL = b"puls:viewer-pseudonym:v1\x00"


def viewer_pseudonymizer(settings: Settings, principal: Principal) -> Callable[[str], str]:
    """The pseudonyms one API key is shown: HMAC-SHA256 of the stored pseudonym with a key of
    the viewer's own, HMAC-SHA256(PULS_PSEUDONYM_KEY, label ‖ the key's actor: its id, or the
    bootstrap key's fixed name). Two keys see unrelated values for the same employee, so their
    extracts cannot be joined on them; one key always sees the same value. The key material is
    derived on first use, so a page without person-level rows needs no configured key."""
    keyed: hmac.HMAC | None = None

    def shown(stored: str) -> str:
        nonlocal keyed
        if keyed is None:
            if settings.pseudonym_key is None:
                raise PseudonymKeyMissing("Set PULS_PSEUDONYM_KEY before reading person-level data")
            secret = settings.pseudonym_key.get_secret_value().encode()
            viewer = hmac.digest(secret, _VIEWER_LABEL + principal.actor.encode(), "sha256")
            keyed = hmac.new(viewer, digestmod=hashlib.sha256)
        mac = keyed.copy()
        mac.update(stored.encode())
        return mac.hexdigest()

    return shown


def version_prefix(version: int) -> str:
    """What a pseudonym of key `version` starts with: nothing for version 1 (today's)."""
    return "" if version == 1 else f"v{version}."
