"""Real `puls api` and `puls worker` processes, for tests that need HTTP over a socket (contract
fuzzing, the feed client) or a process to kill (fault tests)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from services.cli.main import ROOT
from services.core.config import Settings
from tests.harness import ADMIN_TOKEN, PSEUDONYM_KEY


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def api_process(settings: Settings, **env: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Starts the API on the test database and Redis; yields its base URL and the process
    (fault tests kill it)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli.main", "api", "--port", str(port)],
        cwd=ROOT,
        env={
            **os.environ,
            "DATABASE_URL": settings.database_url,
            "REDIS_URL": settings.redis_url,
            "PULS_BOOTSTRAP_API_KEY": ADMIN_TOKEN,
            "PULS_PSEUDONYM_KEY": PSEUDONYM_KEY,
            "PULS_QUEUE_NAME": settings.queue_name,
            "PULS_REDIS_PREFIX": settings.redis_prefix,
            "PULS_RATE_LIMIT_PER_MINUTE": "1000000",
            "PULS_PERSON_DATA_RATE_LIMIT_PER_MINUTE": "1000000",
            # The contract fuzzing sends thousands of requests without a key and many imports
            # with no worker to finish them; the limits have tests of their own.
            "PULS_AUTH_FAILURE_LIMIT_PER_MINUTE": "1000000",
            "PULS_IMPORT_MAX_ACTIVE_PER_KEY": "1000000",
            "PULS_LOG_LEVEL": "WARNING",
            **env,
        },
    )
    url = f"http://127.0.0.1:{port}"
    try:
        # Generous: on a loaded machine two uvicorn processes took over 30 s to answer.
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.2)
        yield url, process
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=20)


@contextmanager
def running_api(settings: Settings, **env: str) -> Iterator[str]:
    """Starts the API on the test database and Redis; yields its base URL."""
    with api_process(settings, **env) as (url, _process):
        yield url


def start_worker(settings: Settings, **env: str) -> subprocess.Popen[bytes]:
    """`puls worker` on the test database, Redis and queue, its metrics on a free port."""
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli.main", "worker"],
        cwd=ROOT,
        env={
            **os.environ,
            "DATABASE_URL": settings.database_url,
            "REDIS_URL": settings.redis_url,
            "PULS_QUEUE_NAME": settings.queue_name,
            "PULS_REDIS_PREFIX": settings.redis_prefix,
            "PULS_WORKER_METRICS_PORT": "0",
            "PULS_PSEUDONYM_KEY": PSEUDONYM_KEY,
            "PULS_LOG_LEVEL": "WARNING",
            **env,
        },
    )


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (arq and uvicorn finish what they run), SIGKILL if that takes over 20 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
