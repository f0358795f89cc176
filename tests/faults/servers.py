"""Private server processes for fault tests: they are stopped and restarted by the tests, so
they must not be the machine's shared PostgreSQL or Redis."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import asyncpg
import redis

from tests.api_process import free_port


class PrivateRedis:
    """A redis-server on a free port of 127.0.0.1 that keeps nothing on disk."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
            + ["--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                if redis.Redis(port=self.port, socket_timeout=0.5).ping():
                    return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


class PrivatePostgres:
    """An embedded PostgreSQL (pgserver) in its own folder, listening on its socket only; the
    test stops and starts it with pg_ctl as the server's own system user."""

    def __init__(self, workdir: Path) -> None:
        self.pgdata = workdir / "pgdata"
        self.server: Any = None

    def start(self) -> str:
        import pgserver  # type: ignore[attr-defined,unused-ignore]

        self.server = pgserver.get_server(str(self.pgdata), cleanup_mode="stop")  # type: ignore[attr-defined]
        if "(0 rows)" in self.server.psql("SELECT 1 FROM pg_database WHERE datname = 'puls';"):
            self.server.psql("CREATE DATABASE puls;")
        return f"postgresql://postgres@/puls?host={self.pgdata}"

    def stop(self) -> None:
        self._pg_ctl("-m", "fast", "stop")

    def restart(self) -> None:
        """Starts it again as pgserver did: on its socket only, logging where it logged."""
        self._pg_ctl("-o", '-h ""', "-o", f"-k {self.pgdata}", "-l", str(self.server.log), "start")

    def _pg_ctl(self, *args: str) -> None:
        from pgserver._commands import pg_ctl  # type: ignore[attr-defined,unused-ignore]

        pg_ctl(["-w", *args], pgdata=self.pgdata, user=self.server.system_user, timeout=30)

    def cleanup(self) -> None:
        if self.server is not None:
            self.server.cleanup()


async def wait_for(conn: asyncpg.Connection, query: str, *args: Any, timeout: float = 30) -> Any:
    """Polls `query` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while not (value := await conn.fetchval(query, *args)):
        assert time.monotonic() < deadline, f"timed out waiting for: {query}"
        await asyncio.sleep(0.01)
    return value
