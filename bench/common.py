"""Shared benchmark plumbing: a throwaway migrated database and a plain-text table."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import asyncpg
import httpx

from services.cli.main import ROOT, alembic_upgrade


def server_url() -> str:
    return os.environ.get(
        "PULS_BENCH_DATABASE_URL",
        os.environ.get("PULS_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )


@asynccontextmanager
async def bench_database() -> AsyncIterator[str]:
    """A fresh database migrated to head, dropped afterwards."""
    server = server_url()
    name = f"puls_bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(server)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    url = server.rsplit("/", 1)[0] + f"/{name}"
    try:
        import asyncio

        await asyncio.to_thread(alembic_upgrade, url, "heads")
        yield url
    finally:
        conn = await asyncpg.connect(server)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |"
    print(f"\n{title}\n")
    print(line)
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) + " |")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def children_peak_rss_mb(pid: int) -> float:
    """The largest peak RSS among a process's living children (0 when it has none)."""
    peak = 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                peak = max(peak, peak_rss_mb(int(child)))
            except OSError:  # it exited meanwhile
                pass
    return peak


def _cpu_seconds(pid: int) -> float:
    """CPU time of a process and its living children."""
    total = 0.0
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        pids += [int(c) for c in (task / "children").read_text().split()]
    for each in pids:
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(") ", 1)[1].split()
        except OSError:  # it exited meanwhile
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def wait_until_settled(pid: int, timeout: float = 60) -> None:
    """Waits until a process and its children are idle: started, warmed up, start-up jobs
    done; what follows measures the service, not its boot."""
    deadline = time.monotonic() + timeout
    before, quiet = _cpu_seconds(pid), 0
    while quiet < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
        now = _cpu_seconds(pid)
        quiet = quiet + 1 if now - before < 0.05 else 0
        before = now


@contextmanager
def process(args: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-m", "services.cli.main", *args], cwd=ROOT, env=env)
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def wait_until_healthy(url: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.2)
