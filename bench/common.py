"""Shared benchmark plumbing: a throwaway migrated database, the services as processes, the
ceilings the benches compare with, the generated data loaded in-process, and a plain-text table."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from pathlib import Path

import asyncpg
import httpx

from services.cli import demo
from services.cli.main import ROOT, alembic_upgrade
from services.core.auth.service import bootstrap_principal
from services.core.config import Settings
from services.core.db import create_engine, create_sessionmaker, transaction
from services.core.orgs import service as orgs_service
from services.core.orgs.schemas import OrgUnitCreate
from services.core.timedata import files, ingest
from services.worker.tasks import kpis as kpi_tasks


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
    # Generous: on a loaded machine a niced API process took over 30 s to start.
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.2)


# ---------------------------------------------------------------- shared by ingest, kpi and scale

TOKEN = "puls_bench-admin"
PSEUDONYM_KEY = "bench-pseudonym-key"

# The recalculation's ceiling: one hand-written aggregate, monthly sick leave % per unit.
AGGREGATE_CEILING_SQL = """
SELECT org_unit_id, date_trunc('month', work_date) AS month,
       100 * sum(hours) FILTER (WHERE time_type = 'sick')
           / nullif(sum(hours) FILTER (WHERE time_type = 'scheduled'), 0)
FROM time_records WHERE staff_kind = 'own' AND deleted_at IS NULL
GROUP BY 1, 2
"""


def service_env(database_url: str, redis_url: str, work: Path, name: str) -> dict[str, str]:
    """The environment of a bench's API and worker processes: their own queue and Redis
    prefix, no rate limit, quiet logs."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "PULS_BOOTSTRAP_API_KEY": TOKEN,
        "PULS_PSEUDONYM_KEY": PSEUDONYM_KEY,
        "PULS_QUEUE_NAME": f"puls:bench-{name}",
        "PULS_REDIS_PREFIX": f"puls-bench-{name}",
        "PULS_RATE_LIMIT_PER_MINUTE": "1000000",
        "PULS_LOG_LEVEL": "WARNING",
        "PULS_IMPORT_DIR": str(work / "imports"),
        "PULS_WORKER_METRICS_PORT": "0",
    }


async def reset(database_url: str, redis_url: str) -> None:
    """No time records (nor their keys, which decide whether a record is new) and an empty
    queue."""
    conn = await asyncpg.connect(database_url)
    await conn.execute("TRUNCATE time_records, time_record_keys, kpi_dirty_cells")
    await conn.close()
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_url)
    await client.flushdb()
    await client.aclose()


async def run_import(
    client: httpx.AsyncClient, path: Path, worker_pid: int, child_rss: list[float]
) -> float:
    """Seconds for the import end to end, from the upload's first byte to the moment the
    worker stamped it finished (in its transaction, just before it commits; the same clock, on
    the same machine). The status is polled once a second, as a dashboard would: faster polling
    takes cores from the import it measures. The peak RSS of the worker's validator child
    process (large files are validated in one) is appended to `child_rss`."""

    async def body() -> AsyncIterator[bytes]:
        with path.open("rb") as handle:
            while block := handle.read(1 << 20):
                yield block

    started = time.time()
    response = await client.post(
        "/v1/imports",
        params={"kind": "time-records", "source": "heroma"},
        content=body(),
        headers={"Content-Type": "text/csv", "Content-Length": str(path.stat().st_size)},
        timeout=3600,
    )
    assert response.status_code == 202, response.text
    location = response.headers["location"]
    peak = 0.0
    while True:
        peak = max(peak, children_peak_rss_mb(worker_pid))
        state = (await client.get(location)).json()
        if state["status"] in {"succeeded", "failed"}:
            break
        await asyncio.sleep(1)
    child_rss.append(peak)
    assert state["status"] == "succeeded" and state["error_count"] == 0, state
    return datetime.fromisoformat(state["finished_at"]).timestamp() - started


async def recalculated(database_url: str, timeout: float = 600) -> None:
    """Waits until no cell is dirty (the worker's recalculation is done)."""
    conn = await asyncpg.connect(database_url)
    deadline = time.monotonic() + timeout
    while (
        await conn.fetchval("SELECT count(*) FROM kpi_dirty_cells") and time.monotonic() < deadline
    ):
        await asyncio.sleep(1)
    await conn.close()


async def settle(conn: asyncpg.Connection, timeout: float = 120) -> None:
    """A checkpoint, then no autovacuum at work: every measurement, Puls's and the ceilings',
    starts from the same quiet database (a vacuum of the table just loaded would slow
    whichever ran beside it)."""
    await conn.execute("CHECKPOINT")
    deadline = time.monotonic() + timeout
    quiet = 0
    while quiet < 2 and time.monotonic() < deadline:
        busy = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'"
        )
        quiet = 0 if busy else quiet + 1
        await asyncio.sleep(0.5)


async def settled(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await settle(conn)
    finally:
        await conn.close()


async def ceilings(
    database_url: str,
    *,
    raw_copy: bool = True,
    shapes: tuple[str, ...] = ("bare", "same"),
    phases: tuple[str, ...] = ("insert", "update"),
) -> dict[str, float]:
    """Rows/s of the ceilings on the rows exactly as Puls stored them: (a) a raw COPY into a
    bare copy of the table with only its unique index (`raw_copy`), and (a2) the best
    hand-written upsert, COPY into an unindexed staging table and one `INSERT … ON CONFLICT`,
    into a table shaped like `time_records` ("same", the ceiling Puls is held to) and, for
    reference, into one with only the unique index ("bare"), into the empty table ("insert",
    key "a2") and again when every row updates ("update", key "a2_update"). The rows are
    spooled through a temporary file (ten million of them are gigabytes) and the tables are
    dropped afterwards."""
    conn = await asyncpg.connect(database_url)
    results: dict[str, float] = {}
    # Text, the format a sender's CSV would be copied in (binary COPY is faster still).
    # A partitioned table is copied out through a query.
    with tempfile.TemporaryFile() as buffer:
        await conn.copy_from_query("SELECT * FROM time_records", output=buffer, format="text")
        rows = await conn.fetchval("SELECT count(*) FROM time_records")
        if raw_copy:
            await conn.execute("DROP TABLE IF EXISTS bench_bare")
            await conn.execute("CREATE TABLE bench_bare (LIKE time_records INCLUDING DEFAULTS)")
            await conn.execute("CREATE UNIQUE INDEX ON bench_bare (source, external_id)")
            await settle(conn)
            buffer.seek(0)
            started = time.perf_counter()
            await conn.copy_to_table("bench_bare", source=buffer, format="text")
            results["a"] = rows / (time.perf_counter() - started)
            await conn.execute("DROP TABLE bench_bare")
        columns = [
            r["attname"]
            for r in await conn.fetch(
                "SELECT attname FROM pg_attribute WHERE attrelid = 'time_records'::regclass "
                "AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
            )
        ]
        updates = ", ".join(
            f"{c} = EXCLUDED.{c}" for c in columns if c not in {"id", "source", "external_id"}
        )
        foreign_keys = await conn.fetch(
            "SELECT pg_get_constraintdef(oid) AS definition FROM pg_constraint "
            "WHERE conrelid = 'time_records'::regclass AND contype = 'f'"
        )
        # (a2) into a table with only the unique index, and into a table shaped exactly like
        # time_records (its indexes for the KPI engine and reads, its foreign keys), which is
        # the work any upsert into Puls's table must do. Puls is compared with the latter.
        for shape in shapes:
            table = f"bench_upsert_{shape}"
            await conn.execute(f"DROP TABLE IF EXISTS {table}")
            if shape == "bare":
                await conn.execute(f"CREATE TABLE {table} (LIKE time_records INCLUDING DEFAULTS)")
                await conn.execute(f"CREATE UNIQUE INDEX ON {table} (source, external_id)")
            else:
                await conn.execute(f"CREATE TABLE {table} (LIKE time_records INCLUDING ALL)")
                # Puls keeps (source, external_id) unique through time_record_keys (time_records
                # is partitioned by month, its own unique key holds the date): one unique index.
                await conn.execute(f"CREATE UNIQUE INDEX ON {table} (source, external_id)")
                for fk in foreign_keys:
                    await conn.execute(f"ALTER TABLE {table} ADD {fk['definition']}")
            for phase in phases:
                await settle(conn)
                buffer.seek(0)
                started = time.perf_counter()
                async with conn.transaction():
                    await conn.execute("CREATE TEMP TABLE stage (LIKE time_records) ON COMMIT DROP")
                    await conn.copy_to_table("stage", source=buffer, format="text")
                    await conn.execute(
                        f"INSERT INTO {table} SELECT * FROM stage "
                        f"ON CONFLICT (source, external_id) DO UPDATE SET {updates}"
                    )
                label = {"insert": "a2", "update": "a2_update"}[phase]
                results[label if shape == "same" else f"{label}_bare"] = rows / (
                    time.perf_counter() - started
                )
            await conn.execute(f"DROP TABLE {table}")
    await conn.close()
    return results


async def aggregate_ceiling(conn: asyncpg.Connection) -> float:
    """Seconds of the one-aggregate ceiling, the best of three after a warming run (the
    machine's speed wanders from run to run)."""
    await conn.fetch(AGGREGATE_CEILING_SQL)
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        await conn.fetch(AGGREGATE_CEILING_SQL)
        best = min(best, time.perf_counter() - started)
    return best


async def load(settings: Settings, work: Path, kinds: Iterable[str] | None = None) -> None:
    """The generated org tree and files (`kinds`, every one by default) stored in-process
    through ingest's prepare and store, as the API and the worker store them."""
    engine = create_engine(settings, pool_size=2)
    sessionmaker = create_sessionmaker(engine)
    tree = json.loads((work / demo.ORG_UNITS_FILE).read_text())
    async with transaction(sessionmaker) as session:
        await orgs_service.bulk_upsert(
            session, bootstrap_principal(), [OrgUnitCreate.model_validate(u) for u in tree]
        )
    for kind in demo.FILES if kinds is None else kinds:
        feed_kind = ingest.KINDS[kind]
        async with transaction(sessionmaker) as session:
            lookups = await ingest.load_lookups(session, None, None, codes=None, sources=None)
            for chunk in files.chunks(work / demo.FILES[kind], "csv", feed_kind, "heroma"):
                prepared = ingest.prepare(settings, feed_kind, chunk.rows, lookups)
                await ingest.store(session, settings, feed_kind, prepared, scope=None)
    await engine.dispose()


async def recalculate_all(settings: Settings) -> int:
    """What the worker's `recalculate` job does: rounds in lanes until no cell is dirty."""
    engine = create_engine(settings, pool_size=settings.recalculation_lanes + 1)
    ctx = {"sessionmaker": create_sessionmaker(engine), "arq": None, "settings": settings}
    cells = await kpi_tasks.recalculate(ctx)
    await engine.dispose()
    return cells


async def mark_all_dirty(conn: asyncpg.Connection) -> None:
    """Every cell with facts marked dirty, as `POST /v1/recalculations` does."""
    await conn.execute(
        "INSERT INTO kpi_dirty_cells (org_unit_id, month) "
        "SELECT org_unit_id, month FROM kpi_cell_totals GROUP BY 1, 2 ON CONFLICT DO NOTHING"
    )


async def change_records(conn: asyncpg.Connection, unit: str = "U007", count: int = 1000) -> int:
    """`count` records of one unit changed (hours edited where the HR system corrects them)
    and their cells marked dirty; how many cells are dirty."""
    await conn.execute(
        """
        WITH pick AS (
            SELECT id FROM time_records
            WHERE org_unit_id = (SELECT id FROM org_units WHERE code = $1)
            ORDER BY id LIMIT $2
        ), changed AS (
            UPDATE time_records t SET hours = greatest(t.hours - 0.5, 0.5),
                   updated_at = now()
            FROM pick WHERE t.id = pick.id
            RETURNING t.org_unit_id, date_trunc('month', t.work_date)::date AS month
        )
        INSERT INTO kpi_dirty_cells (org_unit_id, month)
        SELECT DISTINCT org_unit_id, month FROM changed ON CONFLICT DO NOTHING
        """,
        unit,
        count,
    )
    return int(await conn.fetchval("SELECT count(*) FROM kpi_dirty_cells"))


def percentile(sorted_values: list[float], share: float) -> float:
    return sorted_values[max(int(len(sorted_values) * share) - 1, 0)]


async def measure_series(url: str, path: str, requests: int, clients: int) -> dict[str, float]:
    """`clients` concurrent clients reading `path` `requests` times in all: req/s and the
    p50 and p99 latency in ms."""
    latencies: list[float] = []

    async def client_loop(client: httpx.AsyncClient) -> None:
        for _ in range(requests // clients):
            started = time.perf_counter()
            response = await client.get(path)
            latencies.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text

    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
    ) as client:
        await client.get(path)  # warm up
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(clients)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p99": percentile(latencies, 0.99) * 1000,
    }
