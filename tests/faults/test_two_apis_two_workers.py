"""Two `puls api` and two `puls worker` processes on one database and Redis: feeds sent to
both APIs at once are all recalculated by the workers on their own (no wake-up lost), and the
facts they leave equal a full recalculation by one worker, fact for fact (no cell counted
twice); both APIs then read the same series."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI

from services.core.config import Settings
from tests.api_process import running_api, start_worker, stop_process
from tests.factories import days, seed_tree, shifts
from tests.faults.servers import wait_for
from tests.faults.test_worker_killed_mid_recalculation import mark_everything, snapshot
from tests.harness import ADMIN_TOKEN
from tests.jobs import recalculate

BATCH = "/v1/time-records:batch"
UNITS = ("SUS-AKUT", "SUS-MED", "PV-MALMO")


def _batches() -> list[list[dict[str, Any]]]:
    """One batch per (unit, employee): a month of scheduled days and a few sick ones."""
    batches = []
    for unit in UNITS:
        for n in range(6):
            employee = f"{unit}-E{n}"
            month = days(date(2024, 3, 1), date(2024, 3, 28))
            records = shifts("S", employee, month, "scheduled", "8.00", unit=unit)
            sick = [date(2024, 3, 4 + n), date(2024, 4, 2 + n)]
            records += shifts("K", employee, sick, "sick", "8.00", unit=unit)
            batches.append(records)
    return batches


async def test_two_apis_and_two_workers_leave_the_figures_one_worker_computes(
    app: FastAPI, settings: Settings
) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    conn = await asyncpg.connect(settings.sync_database_url)
    workers = [start_worker(settings), start_worker(settings)]
    try:
        with running_api(settings) as first, running_api(settings) as second:
            async with (
                httpx.AsyncClient(base_url=first, headers=headers, timeout=60) as a,
                httpx.AsyncClient(base_url=second, headers=headers, timeout=60) as b,
            ):
                await seed_tree(a)
                sent = await asyncio.gather(
                    *(
                        (a if i % 2 else b).post(BATCH, json={"records": batch})
                        for i, batch in enumerate(_batches())
                    )
                )
                assert all(r.status_code == 200 for r in sent), [r.text for r in sent]
                # The workers take every mark themselves, woken by the APIs' commits.
                await wait_for(
                    conn,
                    "SELECT NOT EXISTS (SELECT 1 FROM kpi_dirty_cells) "
                    "AND EXISTS (SELECT 1 FROM kpi_facts)",
                    timeout=180,
                )
                params = {"org_unit": "RS", "from": "2024-03", "to": "2024-04"}
                read_a = await a.get("/v1/kpis/sick_leave_pct/series", params=params)
                read_b = await b.get("/v1/kpis/sick_leave_pct/series", params=params)
                assert read_a.status_code == 200, read_a.text
                assert read_a.json()["points"] == read_b.json()["points"]
                assert read_a.json()["points"][0]["value"] is not None
        shared = await snapshot(conn)
    finally:
        for worker in workers:
            stop_process(worker)
    try:
        assert await mark_everything(app) > 0
        await recalculate(app)
        assert await snapshot(conn) == shared
    finally:
        await conn.close()
