"""Org-tree benchmark: subtree reads at 10 000 units through the materialized path.

Ceiling: the same subtree selected by a hand-written index range scan on `path` (the best the
database can do), measured in the same run. Prints rows/s-style timings and their ratio.

    uv run python bench/orgs.py [--units 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import asyncpg
import httpx

from bench.common import bench_database, print_table
from services.api.app import create_app
from services.core.config import Settings

TOKEN = "puls_bench-admin"


def tree(units: int) -> list[dict[str, object]]:
    """Region → 10 administrations → areas of ~30 → units: a region-sized tree."""
    rows: list[dict[str, object]] = [{"code": "R", "name": "Region", "kind": "region"}]
    admins = 10
    for a in range(admins):
        rows.append(
            {
                "code": f"A{a}",
                "name": f"Förvaltning {a}",
                "kind": "administration",
                "parent_code": "R",
            }
        )
    per_admin = (units - 1 - admins) // admins
    for a in range(admins):
        for i in range(per_admin):
            area = f"A{a}-O{i // 30}"
            if i % 30 == 0:
                rows.append({"code": area, "name": area, "kind": "area", "parent_code": f"A{a}"})
            else:
                rows.append(
                    {"code": f"{area}-E{i}", "name": "Enhet", "kind": "unit", "parent_code": area}
                )
    return rows


async def timed(fn: object, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        await fn()  # type: ignore[operator]
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


async def main(units: int) -> None:
    async with bench_database() as url:
        settings = Settings(DATABASE_URL=url, bootstrap_api_key=TOKEN, rate_limit_per_minute=10**9)
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            client = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://bench",
                headers={"Authorization": f"Bearer {TOKEN}"},
                timeout=120,
            )
            rows = tree(units)
            start = time.perf_counter()
            response = await client.put("/v1/org-units", json=rows)
            upsert_s = time.perf_counter() - start
            assert response.status_code == 200, response.text
            start = time.perf_counter()
            again = await client.put("/v1/org-units", json=rows)
            resend_s = time.perf_counter() - start
            assert again.json()["unchanged"] == len(rows)

            conn = await asyncpg.connect(settings.sync_database_url)
            prefix = await conn.fetchval("SELECT path FROM org_units WHERE code = 'A3'")
            upper = prefix[:-1] + "0"
            size = await conn.fetchval(
                "SELECT count(*) FROM org_units WHERE path >= $1 AND path < $2", prefix, upper
            )

            async def raw() -> None:
                await conn.fetch(
                    "SELECT id, code, path FROM org_units WHERE path >= $1 AND path < $2 "
                    "ORDER BY path LIMIT 500",
                    prefix,
                    upper,
                )

            async def api() -> None:
                r = await client.get("/v1/org-units/A3/subtree", params={"limit": 500})
                assert r.status_code == 200

            raw_s = await timed(raw, 50)
            api_s = await timed(api, 50)
            plan = await conn.fetchval(
                "EXPLAIN SELECT id FROM org_units WHERE path >= $1 AND path < $2", prefix, upper
            )
            await conn.close()
            await client.aclose()
    print_table(
        f"Org tree, {len(rows)} units (subtree of one administration: {size} units)",
        ["measure", "value", "ratio"],
        [
            ["bulk upsert of the whole tree (PUT)", f"{upsert_s * 1000:.0f} ms", ""],
            [
                "re-send unchanged (PUT)",
                f"{resend_s * 1000:.0f} ms",
                f"{resend_s / upsert_s:.2f} of upsert",
            ],
            ["ceiling: raw index range scan, 500 rows", f"{raw_s * 1000:.2f} ms", "1.00"],
            [
                "GET /subtree, 500 rows, through the API",
                f"{api_s * 1000:.2f} ms",
                f"{api_s / raw_s:.1f}x ceiling",
            ],
            ["plan", plan.split("  (")[0], ""],
        ],
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--units", type=int, default=10_000)
    asyncio.run(main(parser.parse_args().units))
