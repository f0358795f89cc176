"""The pseudonyms a key is shown: one per key, stable for it, derived from the stored pseudonym
and the pseudonym key, and never the stored value itself."""

from __future__ import annotations

import uuid

import pytest

from services.core.config import Settings
from services.core.principal import Principal, Scope
from services.core.timedata.errors import PseudonymKeyMissing
from services.core.timedata.pseudonym import pseudonymizer, viewer_pseudonymizer

SETTINGS = Settings(pseudonym_key="a-pseudonym-key-for-this-test")
SCOPES = frozenset({Scope.persondata_read.value})


def _key(name: str = "extract", key_id: uuid.UUID | None = None) -> Principal:
    return Principal(key_id=key_id or uuid.uuid4(), name=name, scopes=SCOPES)


def test_each_key_sees_its_own_stable_pseudonym() -> None:
    stored = pseudonymizer(SETTINGS)("19790312-1234")
    first, second = _key(), _key()
    seen = viewer_pseudonymizer(SETTINGS, first)(stored)
    # Stable: the same key, asked again or in another process, sees the same value.
    assert viewer_pseudonymizer(SETTINGS, first)(stored) == seen
    assert viewer_pseudonymizer(SETTINGS, _key("renamed", first.key_id))(stored) == seen
    # Per key: another key (or the bootstrap key, by its fixed name) sees another value.
    bootstrap = Principal(key_id=None, name="bootstrap", scopes=frozenset({"admin"}))
    others = {
        viewer_pseudonymizer(SETTINGS, second)(stored),
        viewer_pseudonymizer(SETTINGS, bootstrap)(stored),
    }
    assert len(others | {seen}) == 3 and stored not in others | {seen}
    assert len(seen) == 64 and int(seen, 16) >= 0
    # Per employee: another stored pseudonym is another value for the same key.
    other_employee = pseudonymizer(SETTINGS)("19850101-5678")
    assert viewer_pseudonymizer(SETTINGS, first)(other_employee) != seen
    # Per secret: the values mean nothing without the pseudonym key.
    rekeyed = Settings(pseudonym_key="another-pseudonym-key")
    assert viewer_pseudonymizer(rekeyed, first)(stored) != seen


def test_the_pseudonym_key_is_needed_only_when_a_pseudonym_is_shown() -> None:
    unset = Settings(pseudonym_key=None)
    shown = viewer_pseudonymizer(unset, _key())  # an empty page needs no key
    with pytest.raises(PseudonymKeyMissing):
        shown("3f9c")
