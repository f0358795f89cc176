"""`make run` on a machine with nothing but Python: embedded PostgreSQL and Redis under the data
dir, migrations, API and worker; Ctrl-C stops it all; data survives a restart."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from services.cli.main import ROOT


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(data_dir: Path, api_port: int, metrics_port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        PULS_DATA_DIR=str(data_dir),
        PULS_API_PORT=str(api_port),
        PULS_WORKER_METRICS_PORT=str(metrics_port),
    )
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli.main", "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "puls run exited early"
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url} not ready in {timeout}s")


def _stop(process: subprocess.Popen[bytes]) -> str:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    return process.stdout.read().decode() if process.stdout else ""


def test_make_run_starts_everything_and_keeps_data(tmp_path: Path) -> None:
    data_dir = tmp_path / "puls"
    api_port, metrics_port = _free_port(), _free_port()
    base = f"http://127.0.0.1:{api_port}"

    first = _start(data_dir, api_port, metrics_port)
    try:
        _wait_ready(f"{base}/readyz", first)
        _wait_ready(f"http://127.0.0.1:{metrics_port}/healthz", first)
        key = (data_dir / "dev-admin-key").read_text().strip()
        headers = {"Authorization": f"Bearer {key}"}
        created = httpx.post(
            f"{base}/v1/org-units",
            headers=headers,
            json={"code": "RS", "name": "Region Skåne", "kind": "region"},
        )
        assert created.status_code == 201, created.text
    finally:
        output = _stop(first)
    assert first.returncode == 0, output
    assert f"{base}/docs" in output and f"{base}/metrics" in output
    assert f"http://127.0.0.1:{metrics_port}/metrics" in output
    assert f"admin key       {key}" in output
    assert "Puls stopped." in output
    assert (data_dir / "pgdata").is_dir()
    # The catching SMTP server the worker sends to, and where it keeps the mail.
    assert f"stored in {data_dir / 'mail'}" in output and (data_dir / "mail").is_dir()

    second = _start(data_dir, api_port, metrics_port)
    try:
        _wait_ready(f"{base}/readyz", second)
        unit = httpx.get(f"{base}/v1/org-units/RS", headers=headers)
        assert unit.status_code == 200 and unit.json()["name"] == "Region Skåne"
    finally:
        output = _stop(second)
    assert second.returncode == 0, output
