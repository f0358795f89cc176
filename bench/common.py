"""Shared benchmark plumbing: a throwaway migrated database and a plain-text table."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from services.cli.main import alembic_upgrade


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
