"""Finds real PostgreSQL and Redis servers for the suite (DESIGN.md's order: PULS_TEST_*_URL,
else the local servers on their default ports, else the embedded ones) and builds one fresh,
migrated database per test process."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
ADMIN_TOKEN = "puls_test-bootstrap-admin-token"
PSEUDONYM_KEY = "test-pseudonym-key-not-secret"


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def server_database_url() -> str:
    """A URL of a database on the server we may create test databases on."""
    if url := os.environ.get("PULS_TEST_DATABASE_URL"):
        return url
    if _answers("127.0.0.1", 5432):
        return "postgresql://postgres@127.0.0.1:5432/postgres"
    from services.cli.embedded import start_postgres

    url, _server = start_postgres(ROOT / ".puls" / "test")
    return url


def redis_base_url() -> str:
    if url := os.environ.get("PULS_TEST_REDIS_URL"):
        return url
    if _answers("127.0.0.1", 6379):
        return "redis://127.0.0.1:6379/0"
    from services.cli.embedded import start_redis

    url, server = start_redis(ROOT / ".puls" / "test")
    _KEEP.append(server)
    return url


_KEEP: list[object] = []


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def with_redis_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{db}"))


def unique_database_name(worker: str) -> str:
    return f"puls_test_{worker}_{uuid.uuid4().hex[:8]}"


async def create_database_async(server_url: str, name: str) -> str:
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(server_url, name)


async def drop_database_async(server_url: str, name: str) -> None:
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def create_database(server_url: str, name: str) -> str:
    return asyncio.run(create_database_async(server_url, name))


def drop_database(server_url: str, name: str) -> None:
    asyncio.run(drop_database_async(server_url, name))


SNAPSHOT_SCHEMA = "test_seed"


async def snapshot_seed_data(database_url: str) -> list[str]:
    """Copies the rows migrations seeded (catalogues) aside, so each test can start from them."""
    conn = await asyncpg.connect(database_url)
    try:
        tables = [
            r["tablename"]
            for r in await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'alembic_version' ORDER BY tablename"
            )
        ]
        await conn.execute(f"CREATE SCHEMA {SNAPSHOT_SCHEMA}")
        seeded = []
        for table in tables:
            if await conn.fetchval(f'SELECT EXISTS (SELECT 1 FROM public."{table}")'):
                await conn.execute(
                    f'CREATE TABLE {SNAPSHOT_SCHEMA}."{table}" AS TABLE public."{table}"'
                )
                seeded.append(table)
        return seeded
    finally:
        await conn.close()


# A table at least this large is truncated; smaller ones are emptied with DELETE, which costs
# far less than TRUNCATE's new files for a table and its indexes, but leaves dead rows behind
# (and the CI server runs without autovacuum).
_TRUNCATE_FROM_BYTES = 2 * 1024 * 1024


async def reset_database(database_url: str, seeded: list[str]) -> None:
    """Empties every table and restores the seeded catalogues: each test starts from a freshly
    migrated database, with real commits in between (as the service runs). Only the tables a
    test wrote are touched, and only the sequences it used are restarted: emptying all of them
    took most of a short test's time."""
    conn = await asyncpg.connect(database_url)
    try:
        tables = [
            r["relname"]
            for r in await conn.fetch(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition "
                "AND c.relname <> 'alembic_version'"
            )
        ]
        probe = " UNION ALL ".join(
            f"SELECT '{t}'::text AS name, (SELECT sum(pg_total_relation_size(relid)) "
            f"FROM pg_partition_tree('public.\"{t}\"')) AS size "
            f'WHERE EXISTS (SELECT 1 FROM public."{t}")'
            for t in tables
        )
        written = {r["name"]: int(r["size"] or 0) for r in await conn.fetch(probe)}
        big = [t for t, size in written.items() if size >= _TRUNCATE_FROM_BYTES]
        small = sorted((set(written) | set(seeded)) - set(big))
        async with conn.transaction():
            if big:
                await conn.execute(
                    "TRUNCATE " + ", ".join(f'public."{t}"' for t in big) + " CASCADE"
                )
            # Every table is emptied, so the foreign keys need no checking on the way.
            await conn.execute("SET LOCAL session_replication_role = replica")
            if small:
                await conn.execute("; ".join(f'DELETE FROM public."{t}"' for t in small))
            for table in seeded:
                await conn.execute(
                    f'INSERT INTO public."{table}" OVERRIDING SYSTEM VALUE '
                    f'SELECT * FROM {SNAPSHOT_SCHEMA}."{table}"'
                )
            await conn.execute(
                "SELECT setval(format('%I.%I', schemaname, sequencename), start_value, false) "
                "FROM pg_sequences WHERE schemaname = 'public' AND last_value IS NOT NULL"
            )
    finally:
        await conn.close()
