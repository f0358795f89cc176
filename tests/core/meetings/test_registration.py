"""Plans asks meetings whether a decision or meeting is visible through a registry that the
meetings module of decisions fills when it is loaded: the API and the worker must load it."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("entry", ["services.api.app", "services.worker.main"])
def test_the_api_and_the_worker_register_the_meeting_lookups(entry: str) -> None:
    check = (
        f"import {entry}\n"
        "from services.core.plans.references import meeting_lookups\n"
        "lookups = meeting_lookups()\n"
        "assert lookups.decision_visible.__module__ == 'services.core.meetings.agenda_service'\n"
    )
    # A fresh interpreter: this test process has loaded everything already.
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
