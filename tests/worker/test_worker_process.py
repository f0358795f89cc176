"""The worker as operators run it: its own /metrics and /healthz port, jobs from the API side,
and a clean exit on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time

import httpx
from fastapi import FastAPI

from services.cli.main import ROOT
from services.core.config import Settings
from services.core.queue import DeferredJob, enqueue_jobs


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def worker_env(settings: Settings, metrics_port: int) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "PULS_QUEUE_NAME": settings.queue_name,
        "PULS_REDIS_PREFIX": settings.redis_prefix,
        "PULS_WORKER_METRICS_PORT": str(metrics_port),
        "PULS_PSEUDONYM_KEY": "test",
    }


async def _wait_for(url: str, timeout: float = 30) -> httpx.Response:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while True:
            try:
                return await client.get(url)
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)


async def test_worker_process_serves_metrics_runs_jobs_and_stops_on_sigterm(
    app: FastAPI, settings: Settings
) -> None:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli.main", "worker"],
        cwd=ROOT,
        env=worker_env(settings, port),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        health = await _wait_for(f"http://127.0.0.1:{port}/healthz")
        assert health.status_code == 200

        await enqueue_jobs(app.state.arq, [DeferredJob("heartbeat", ("via-api",))])
        deadline = time.monotonic() + 20
        text = ""
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
                if 'puls_jobs_total{function="heartbeat",outcome="succeeded"} 1.0' in text:
                    break
                await asyncio.sleep(0.2)
        assert 'puls_jobs_total{function="heartbeat",outcome="succeeded"} 1.0' in text
        # A heartbeat cron job may be queued at the moment of the scrape.
        assert re.search(r"^puls_queue_depth [0-9.]+$", text, re.MULTILINE)
        assert "puls_job_duration_seconds_bucket" in text

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        output = process.stdout.read().decode() if process.stdout else ""
        assert "worker stopped" in output and "Traceback" not in output
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
