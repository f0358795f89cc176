"""KPI engine benchmark on the generator's ~1 000 000 time records (200 units, 24 months).

Ceiling: (a) one hand-written SQL aggregate of monthly sick leave % per unit over the same
table, measured in the same run (the best of three). Puls: (b) a full recalculation of every
KPI (time records, employments, costs, compliance; facts per dimension and cell totals), (b')
the same again over the facts it wrote, (c) an incremental recalculation after 1 000 changed
records in one unit, (d) `GET` of a 24-month series for the region root and for one unit
through a real API process, under a bounded load (4 clients), req/s and p50/p99. Goals: (b)
within 3× of (a), (c) under 1 s, (d) p99 under 50 ms for the root.

    uv run python bench/kpi.py [--employees 1200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx

from bench.common import (
    bench_database,
    free_port,
    print_table,
    process,
    wait_until_healthy,
)
from services.cli import demo
from services.core.auth.service import bootstrap_principal
from services.core.config import Settings
from services.core.db import create_engine, create_sessionmaker, transaction
from services.core.orgs import service as orgs_service
from services.core.orgs.schemas import OrgUnitCreate
from services.core.timedata import files, ingest
from services.worker.tasks import kpis as kpi_tasks

TOKEN = "puls_bench-admin"
CEILING_SQL = """
SELECT org_unit_id, date_trunc('month', work_date) AS month,
       100 * sum(hours) FILTER (WHERE time_type = 'sick')
           / nullif(sum(hours) FILTER (WHERE time_type = 'scheduled'), 0)
FROM time_records WHERE staff_kind = 'own' AND deleted_at IS NULL
GROUP BY 1, 2
"""


async def load(settings: Settings, work: Path) -> None:
    engine = create_engine(settings, pool_size=2)
    sessionmaker = create_sessionmaker(engine)
    tree = json.loads((work / demo.ORG_UNITS_FILE).read_text())
    async with transaction(sessionmaker) as session:
        await orgs_service.bulk_upsert(
            session, bootstrap_principal(), [OrgUnitCreate.model_validate(u) for u in tree]
        )
    for kind, name in demo.FILES.items():
        feed_kind = ingest.KINDS[kind]
        async with transaction(sessionmaker) as session:
            lookups = await ingest.load_lookups(session, None, None, codes=None, sources=None)
            for chunk in files.chunks(work / name, "csv", feed_kind, "heroma"):
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


async def measure_cold(url: str, database_url: str, path: str, requests: int) -> dict[str, float]:
    """One client, each read right after the facts changed (as after a recalculation round):
    the API cannot use the sums it kept."""
    latencies: list[float] = []
    conn = await asyncpg.connect(database_url)
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
    ) as client:
        for _ in range(requests):
            await conn.execute("UPDATE kpi_facts_version SET version = gen_random_uuid()")
            started = time.perf_counter()
            response = await client.get(path)
            latencies.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text
    await conn.close()
    latencies.sort()
    return {
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


async def measure_series(url: str, path: str, requests: int, clients: int) -> dict[str, float]:
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
        "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


async def main(employees: int, redis_url: str) -> None:
    work = Path(tempfile.mkdtemp(prefix="puls-bench-kpi-"))
    counts = demo.generate(demo.Spec(employees=employees), work)
    print(f"generated {counts.time_records:,} time records, {counts.employments:,} employments")
    async with bench_database() as database_url:
        settings = Settings(
            DATABASE_URL=database_url, REDIS_URL=redis_url, pseudonym_key="bench-pseudonym"
        )
        started = time.perf_counter()
        await load(settings, work)
        print(f"loaded in {time.perf_counter() - started:.0f} s")
        conn = await asyncpg.connect(database_url)
        await conn.execute("VACUUM ANALYZE")
        await conn.fetch(CEILING_SQL)  # warm the cache for both
        ceiling = float("inf")
        for _ in range(3):  # the best of three: the machine's speed wanders from run to run
            started = time.perf_counter()
            await conn.fetch(CEILING_SQL)
            ceiling = min(ceiling, time.perf_counter() - started)

        started = time.perf_counter()
        cells = await recalculate_all(settings)
        full = time.perf_counter() - started
        facts_rows = await conn.fetchval("SELECT count(*) FROM kpi_facts")

        # An admin's full recalculation over facts that exist (old facts, totals and violations
        # replaced), as `POST /v1/recalculations` does it.
        await conn.execute(
            "INSERT INTO kpi_dirty_cells (org_unit_id, month) "
            "SELECT org_unit_id, month FROM kpi_cell_totals GROUP BY 1, 2 ON CONFLICT DO NOTHING"
        )
        await conn.execute("VACUUM ANALYZE")
        started = time.perf_counter()
        await recalculate_all(settings)
        again = time.perf_counter() - started

        # 1 000 changed records in one unit: hours edited where the HR system corrects them.
        await conn.execute(
            """
            WITH pick AS (
                SELECT id FROM time_records
                WHERE org_unit_id = (SELECT id FROM org_units WHERE code = 'U007')
                ORDER BY id LIMIT 1000
            ), changed AS (
                UPDATE time_records t SET hours = greatest(t.hours - 0.5, 0.5),
                       updated_at = now()
                FROM pick WHERE t.id = pick.id
                RETURNING t.org_unit_id, date_trunc('month', t.work_date)::date AS month
            )
            INSERT INTO kpi_dirty_cells (org_unit_id, month)
            SELECT DISTINCT org_unit_id, month FROM changed ON CONFLICT DO NOTHING
            """
        )
        dirty = await conn.fetchval("SELECT count(*) FROM kpi_dirty_cells")
        started = time.perf_counter()
        await recalculate_all(settings)
        incremental = time.perf_counter() - started
        await conn.execute("VACUUM ANALYZE")  # as autovacuum would, before the reads
        await conn.close()

        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "PULS_BOOTSTRAP_API_KEY": TOKEN,
            "PULS_PSEUDONYM_KEY": "bench-pseudonym",
            "PULS_RATE_LIMIT_PER_MINUTE": "1000000",
            "PULS_LOG_LEVEL": "WARNING",
        }
        with process(["api", "--port", str(port)], env):
            wait_until_healthy(url)
            series = "/v1/kpis/sick_leave_pct/series?from=2024-01&to=2025-12&org_unit="
            await measure_series(url, series + "REG", 40, 4)  # warm the API's connections
            root = await measure_series(url, series + "REG", 400, 4)
            unit = await measure_series(url, series + "U007", 400, 4)
            cold = await measure_cold(url, database_url, series + "REG", 100)

    print_table(
        f"KPI engine on {counts.time_records:,} time records ({cells:,} cells, "
        f"{facts_rows:,} facts)",
        ["measure", "time", "÷ (a)", "goal"],
        [
            [
                "(a) hand-written monthly sick leave % per unit (ceiling)",
                f"{ceiling:.2f} s",
                "1.00",
                "",
            ],
            [
                "(b) full recalculation of every KPI",
                f"{full:.2f} s",
                f"{full / ceiling:.1f}",
                "≤ 3",
            ],
            [
                "(b') the same again, replacing the facts it wrote",
                f"{again:.2f} s",
                f"{again / ceiling:.1f}",
                "",
            ],
            [
                f"(c) incremental after 1 000 changed records ({dirty} cells)",
                f"{incremental * 1000:.0f} ms",
                f"{incremental / ceiling:.2f}",
                "< 1 s",
            ],
            [
                "(d) 24-month series, region root, 4 clients",
                f"{root['rps']:.0f} req/s, p50 {root['p50']:.1f} ms, p99 {root['p99']:.1f} ms",
                "",
                "p99 < 50 ms",
            ],
            [
                "(d) the same, each read right after a recalculation round, 1 client",
                f"p50 {cold['p50']:.1f} ms, p99 {cold['p99']:.1f} ms",
                "",
                "",
            ],
            [
                "(d) 24-month series, one unit, 4 clients",
                f"{unit['rps']:.0f} req/s, p50 {unit['p50']:.1f} ms, p99 {unit['p99']:.1f} ms",
                "",
                "",
            ],
        ],
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--employees", type=int, default=1200, help="1200 → ~1 000 000 records")
    parser.add_argument(
        "--redis-url", default=os.environ.get("PULS_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    )
    args = parser.parse_args()
    asyncio.run(main(args.employees, args.redis_url))
