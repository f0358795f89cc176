"""The README's five-minute tour, pasted as a newcomer pastes it (its key and address swapped
for the test's) into a Puls with its API and worker running: every request answers 2xx, the
series shows the 50 % the text promises, and the region it generates loads. A change that
breaks the tour fails here, not for its first reader."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time

import httpx
import pytest

from services.cli.main import ROOT
from services.core.config import Settings
from tests.api_process import running_api, start_worker, stop_process
from tests.harness import ADMIN_TOKEN
from tests.readme import shell_blocks


def _tour() -> str:
    """Steps 1–5 as one script, after the block that reads the key and names the address."""
    blocks = shell_blocks("## A five-minute tour", "**6. Look around.**")
    assert len(blocks) >= 6, "the tour's steps are shell blocks"
    assert blocks[0].startswith("KEY=$(cat .puls/dev-admin-key)"), blocks[0]
    # A curl at a line's start is one of the tour's requests: an answer ≥ 400 fails the
    # script. The one inside `FEED=$(…)` is read by the command after it, which fails
    # without a token, and so does the batch sent with that token.
    return re.sub(r"(?m)^curl ", "curl -fsS -o /dev/null ", "\n".join(blocks[1:]))


def test_the_readme_tour_runs_as_written(settings: Settings) -> None:
    if not shutil.which("curl"):
        pytest.skip("the tour is curl commands, and curl is not installed")
    worker = start_worker(settings)
    try:
        with running_api(settings) as url:
            done = subprocess.run(
                ["bash", "-c", f"set -euo pipefail\nKEY={ADMIN_TOKEN}\nAPI={url}\n{_tour()}"],
                cwd=ROOT,
                # `puls demo load` sends to PULS_URL (the tour's default address otherwise).
                env={**os.environ, "PULS_URL": url},
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert done.returncode == 0, done.stderr[-3000:]
            assert "rejected 0" in done.stdout, done.stdout  # the region loaded through the API
            headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
            with httpx.Client(base_url=url, headers=headers) as client:
                assert client.get("/v1/org-units/REG").status_code == 200
                # "8 sick hours of 16 scheduled: 50 %", once the worker has recalculated.
                deadline = time.monotonic() + 60
                while True:
                    answer = client.get(
                        "/v1/kpis/sick_leave_pct/series",
                        params={"org_unit": "RS", "from": "2024-03", "to": "2024-03"},
                    )
                    point = answer.json()["points"][0]
                    if point["value"] is not None or time.monotonic() > deadline:
                        break
                    time.sleep(0.2)
                assert (point["numerator"], point["denominator"], point["value"]) == (8, 16, 50)
                # The target the tour adds judges it.
                assert (point["target"], point["status"]) == (5, "not_met")
    finally:
        stop_process(worker)
