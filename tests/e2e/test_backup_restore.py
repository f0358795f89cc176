"""The backup and restore procedure of docs/operations.md (pg_dump -Fc / pg_restore)
round-trips every table of a populated database."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import asyncpg
import httpx
import pytest

from services.core.config import Settings
from tests import harness
from tests.factories import create_key, seed_tree

pytestmark = pytest.mark.skipif(
    shutil.which("pg_dump") is None or shutil.which("pg_restore") is None,
    reason="PostgreSQL client tools are not installed",
)


async def _table_contents(url: str) -> dict[str, list[tuple[object, ...]]]:
    conn = await asyncpg.connect(url)
    try:
        tables = [
            r["tablename"]
            for r in await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
            )
        ]
        contents = {}
        for table in tables:
            rows = await conn.fetch(f'SELECT * FROM public."{table}"')
            contents[table] = sorted((tuple(r.values()) for r in rows), key=repr)
        return contents
    finally:
        await conn.close()


async def test_dump_and_restore_into_a_fresh_database(
    client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    await seed_tree(client)
    await create_key(client, ["read"], org_unit="SUS")
    await client.post("/v1/people", json={"name": "Jonas Hansson", "initials": "JH"})
    dump = tmp_path / "puls.dump"
    source = settings.sync_database_url
    subprocess.run(
        ["pg_dump", "--format=custom", "--no-owner", f"--file={dump}", source],
        check=True,
        timeout=120,
    )

    server = harness.server_database_url()
    name = harness.unique_database_name("restore")
    target = await harness.create_database_async(server, name)
    try:
        subprocess.run(
            ["pg_restore", "--no-owner", "--exit-on-error", f"--dbname={target}", str(dump)],
            check=True,
            timeout=120,
        )
        original = await _table_contents(source)
        restored = await _table_contents(target)
        assert set(restored) == set(original)
        assert restored == original
        assert len(restored["org_units"]) == 6 and len(restored["people"]) == 1
    finally:
        await harness.drop_database_async(server, name)
