"""`make demo`: the demo region is loaded through the API into an empty Puls, so the README's
tour answers with data; a Puls that holds data is left alone."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import httpx

from services.cli.main import ROOT
from services.core.config import Settings
from tests.api_process import running_api
from tests.harness import ADMIN_TOKEN
from tests.readme import shell_blocks


def _demo(url: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "services.cli.main", "demo", "region"]
    # Fewer employees than `make demo` loads: the same story, in a fraction of the time.
    options = ["--url", url, "--key", ADMIN_TOKEN, "--employees", "12"]
    return subprocess.run(
        [*command, *options], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_the_demo_region_fills_an_empty_puls_and_not_a_full_one(settings: Settings) -> None:
    with running_api(settings) as url:
        loaded = _demo(url)
        assert loaded.returncode == 0, loaded.stderr
        assert "3 meetings, 2 decisions, 2 assignments" in loaded.stdout

        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as c:
            assert c.get("/v1/org-units/REG").status_code == 200
            assert c.get("/v1/time-records", params={"limit": 1}).json()["items"]
            targets = c.get("/v1/kpi-targets").json()
            assert len(targets["items"] if isinstance(targets, dict) else targets) == 4
            (plan,) = c.get("/v1/action-plans").json()["items"]
            assert plan["status"] == "active"
            summary = c.get(f"/v1/action-plans/{plan['id']}/summary").json()
            assert (summary["actions"], summary["done"]) == (65, 61)
            meetings = c.get("/v1/meetings").json()["items"]
            assert len(meetings) == 3
        if shutil.which("curl"):
            for line, status in _readme_with_data(url):
                assert status == "200", f"the README's `{line}` answered {status}"

        again = _demo(url)
        assert again.returncode == 3
        assert "already holds org units" in again.stderr


def _readme_with_data(url: str) -> list[tuple[str, str]]:
    """The README's "See it with data" commands as a newcomer pastes them (its key and address
    swapped for the test's), each curl's status."""
    block = shell_blocks("## See it with data")[0]
    setup = [line for line in block.splitlines() if not line.startswith("curl ")]
    curls = [line for line in block.splitlines() if line.startswith("curl ")]
    assert len(curls) >= 4 and setup[0].startswith("KEY=$(cat .puls/dev-admin-key)")
    results = []
    for line in curls:
        probe = re.sub(r"^curl ", "curl -sS -o /dev/null -w '%{http_code}' ", line)
        script = "\n".join(
            [*setup, f'KEY={ADMIN_TOKEN}; API={url}; H="Authorization: Bearer $KEY"', probe]
        )
        done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
        results.append((line, done.stdout.strip() or done.stderr.strip()))
    return results
