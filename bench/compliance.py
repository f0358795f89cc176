"""Compliance benchmark: every working-time rule and an agency policy over the generator's
~1 000 000 time records (shifts with start and end times), against one hand-written SQL
query for daily rest (the ceiling, measured in the same run).

    uv run python bench/compliance.py [--employees 1200]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import asyncpg

from bench.common import bench_database, load, print_table
from services.cli import demo
from services.core.compliance import detection
from services.core.config import Settings
from services.core.db import create_engine, create_sessionmaker, transaction

# Daily rest the plain way: for each employee and local day with work, the longest gap next
# to a shift of that day.
CEILING_SQL = """
WITH shifts AS (
    SELECT employee, start_at, end_at,
           start_at - lag(end_at) OVER w AS before,
           lead(start_at) OVER w - end_at AS after
    FROM time_records
    WHERE staff_kind = 'own' AND deleted_at IS NULL AND start_at IS NOT NULL
      AND time_type IN ('worked', 'overtime', 'extra_time')
    WINDOW w AS (PARTITION BY employee ORDER BY start_at)
)
SELECT employee, (start_at AT TIME ZONE 'Europe/Stockholm')::date AS day,
       max(greatest(before, after)) AS rest
FROM shifts
GROUP BY 1, 2 HAVING max(greatest(before, after)) < interval '11 hours'
"""

# Every cell with time data dirty again, as a changed rule or a full recalculation marks them.
REMARK_SQL = """
INSERT INTO kpi_dirty_cells (org_unit_id, month)
SELECT DISTINCT org_unit_id, date_trunc('month', work_date)::date FROM time_records
ON CONFLICT DO NOTHING
"""

POLICY_SQL = """
INSERT INTO agency_policies (name, professions, org_unit_id, valid_from, banned_windows)
SELECT 'Hyrsjuksköterskor endast kvällar, nätter och helger', ARRAY['nurse', 'doctor'], id,
       DATE '2024-06-01', '[{"weekdays": [1, 2, 3, 4, 5], "from": "07:00", "to": "18:00"}]'
FROM org_units WHERE code = 'REG'
"""


async def detect_all(settings: Settings) -> int:
    """All cells claimed at once, as a full recalculation would (detection only)."""
    engine = create_engine(settings, pool_size=1)
    sessionmaker = create_sessionmaker(engine)
    from services.core.kpis import facts

    async with transaction(sessionmaker) as session:
        await facts.refresh_statistics(session)
    async with transaction(sessionmaker) as session:
        cells = await facts.claim(session, 1_000_000)
        found = await detection.detect(session, cells, tz=settings.local_timezone, many=True)
    await engine.dispose()
    return found


async def main(employees: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="puls-bench-compliance-"))
    counts = demo.generate(demo.Spec(employees=employees), work)
    print(f"generated {counts.time_records:,} time records")
    async with bench_database() as database_url:
        settings = Settings(DATABASE_URL=database_url, pseudonym_key="bench-pseudonym")
        await load(settings, work)
        conn = await asyncpg.connect(database_url)
        await conn.execute(POLICY_SQL)
        await conn.execute("VACUUM ANALYZE")
        timed = await conn.fetchval("SELECT count(*) FROM time_records WHERE start_at IS NOT NULL")
        await conn.fetch(CEILING_SQL)  # warm the cache for both
        started = time.perf_counter()
        ceiling_rows = len(await conn.fetch(CEILING_SQL))
        ceiling = time.perf_counter() - started
        started = time.perf_counter()
        found = await detect_all(settings)
        full = time.perf_counter() - started
        # A recomputation of the same cells finds the same violations: it rewrites none.
        await conn.execute(REMARK_SQL)
        started = time.perf_counter()
        again_found = await detect_all(settings)
        again = time.perf_counter() - started
        by_kind = await conn.fetch(
            "SELECT kind, count(*) FROM compliance_violations GROUP BY 1 ORDER BY 1"
        )
        await conn.close()

    print_table(
        f"Compliance on {counts.time_records:,} time records ({timed:,} with times)",
        ["measure", "time", "÷ (ceiling)"],
        [
            [
                f"ceiling: hand-written daily rest query ({ceiling_rows:,} short rests)",
                f"{ceiling:.2f} s",
                "1.00",
            ],
            [
                f"all rules and the policy, every cell ({found:,} violations)",
                f"{full:.2f} s",
                f"{full / ceiling:.1f}",
            ],
            [
                f"the same cells again, nothing changed ({again_found:,} violations)",
                f"{again:.2f} s",
                f"{again / ceiling:.1f}",
            ],
        ],
    )
    print("violations by kind: " + ", ".join(f"{r['kind']} {r['count']:,}" for r in by_kind))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--employees", type=int, default=1200, help="1200 → ~1 000 000 records")
    args = parser.parse_args()
    asyncio.run(main(args.employees))
