"""A real `puls api` process on a free port of 127.0.0.1, for tests that need HTTP over a socket
(contract fuzzing, the feed client)."""

from __future__ import annotations

import os
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
def running_api(settings: Settings, **env: str) -> Iterator[str]:
    """Starts the API on the test database and Redis; yields its base URL."""
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
            "PULS_LOG_LEVEL": "WARNING",
            **env,
        },
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
