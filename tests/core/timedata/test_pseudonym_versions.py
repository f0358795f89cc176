"""The pseudonym key carries a version: version 1 gives the pseudonyms stored before versions
existed, a later version's are told apart by their prefix, and a file line with an employee
sent again after a rotation is stored again rather than skipped as unchanged."""

from __future__ import annotations

import hashlib
import hmac

from services.core.config import Settings
from services.core.timedata import files, ingest
from services.core.timedata.pseudonym import pseudonymizer

REF = "19790312-1234"


def test_version_1_keeps_the_pseudonyms_stored_before_versions() -> None:
    key = "the-key-of-the-region-before-versions"
    today = hmac.new(key.encode(), REF.encode(), hashlib.sha256).hexdigest()
    assert pseudonymizer(Settings(pseudonym_key=key))(REF) == today
    assert pseudonymizer(Settings(pseudonym_key=key, pseudonym_key_version=1))(REF) == today


def test_a_later_version_is_told_apart_by_its_prefix() -> None:
    new_key = "a-new-key-after-rotation-of-the-old"
    rotated = pseudonymizer(Settings(pseudonym_key=new_key, pseudonym_key_version=2))(REF)
    assert rotated == "v2." + hmac.new(new_key.encode(), REF.encode(), hashlib.sha256).hexdigest()
    again = pseudonymizer(Settings(pseudonym_key=new_key, pseudonym_key_version=2))(REF)
    assert again == rotated  # stable within a version


def test_file_lines_with_an_employee_hash_anew_after_a_rotation() -> None:
    v1, v2 = Settings(pseudonym_key_version=1), Settings(pseudonym_key_version=2)
    assert files.hash_salt(v1, ingest.TIME_RECORDS) == ""  # hashes stored today stay valid
    assert files.hash_salt(v2, ingest.TIME_RECORDS) == "v2."
    assert files.hash_salt(v2, ingest.EMPLOYMENTS) == "v2."
    # Costs name no employee: a rotation does not rewrite them.
    assert files.hash_salt(v2, ingest.PERSONNEL_COSTS) == ""
