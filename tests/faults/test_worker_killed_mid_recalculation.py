"""A worker SIGKILLed in the middle of a KPI recalculation: its transaction had claimed every
dirty cell and already replaced their facts when it died. PostgreSQL rolls that back (the old
facts and the dirty marks are as they were), a restarted worker finds the marks by itself, and
what it computes equals a fresh full recalculation, fact for fact."""

from __future__ import annotations

import signal
from typing import Any

import asyncpg
from fastapi import FastAPI

from services.cli import demo
from services.core.config import Settings
from services.core.db import transaction
from services.core.kpis import facts
from services.core.kpis.models import MEASURE_COLUMNS
from services.core.queue import DeferredJob, enqueue_jobs
from services.worker.tasks import kpis as kpi_tasks
from tests.api_process import start_worker, stop_process
from tests.factories import load_demo_region
from tests.faults.servers import wait_for
from tests.jobs import recalculate

FACTS = (
    "SELECT org_unit_id, month, kind, profession, staff_kind, gender, age_band, pay_form, "
    f"employees, {', '.join(MEASURE_COLUMNS)} FROM kpi_facts ORDER BY 1, 2, 3, 4, 5, 6, 7, 8"
)
TOTALS = (
    f"SELECT org_unit_id, month, kind, employees, {', '.join(MEASURE_COLUMNS)} "
    "FROM kpi_cell_totals ORDER BY 1, 2, 3"
)


async def snapshot(conn: asyncpg.Connection) -> tuple[list[Any], list[Any]]:
    return [tuple(r) for r in await conn.fetch(FACTS)], [tuple(r) for r in await conn.fetch(TOTALS)]


async def mark_everything(app: FastAPI) -> int:
    async with transaction(app.state.sessionmaker) as session:
        return await facts.mark_scope(session, org_path=None, from_month=None, to_month=None)


async def test_worker_killed_mid_recalculation_leaves_facts_equal_to_a_full_recompute(
    app: FastAPI, settings: Settings
) -> None:
    counts = await load_demo_region(app, demo.Spec(units=12, employees=80, months=12))
    assert counts.time_records > 20_000
    await recalculate(app)
    conn = await asyncpg.connect(settings.sync_database_url)
    try:
        before = await snapshot(conn)
        assert before[0] and before[1]
        # The HR system corrects a tenth of the hours; then an admin asks for a full recompute.
        await conn.execute(
            "UPDATE time_records SET hours = hours + 1, updated_at = now() WHERE id % 10 = 0"
        )
        marked = await mark_everything(app)
        assert marked > 100

        # Writers of the cell totals wait for this lock: the worker's transaction has claimed
        # every cell and rewritten kpi_facts when it gets stuck there, and is killed there.
        blocker = await asyncpg.connect(settings.sync_database_url)
        blocking = blocker.transaction()
        await blocking.start()
        await blocker.execute("LOCK TABLE kpi_cell_totals IN EXCLUSIVE MODE")
        first = start_worker(settings)
        try:
            await enqueue_jobs(app.state.arq, [DeferredJob("recalculate", job_id="recalculate")])
            # The worker's start-up sweep may add a second recalculation beside this job's when
            # it finds the job's id taken; the two then share the units (one of them may wait on
            # the other's marks). Together they hold every unit, and at least the lanes of one
            # have rewritten their facts and wait here.
            holders = (
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
            units = "SELECT count(DISTINCT org_unit_id) FROM kpi_dirty_cells"
            stuck = (
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query LIKE 'DELETE FROM kpi_cell_totals%'"
            )
            lanes = min(settings.recalculation_lanes, 1 + marked // kpi_tasks.LANE_CELLS)
            await wait_for(
                conn,
                f"SELECT (SELECT count(*) FROM ({holders}) h) = ({units}) AND ({stuck}) >= {lanes}",
                timeout=60,
            )
            backends = sorted({r["pid"] for r in await conn.fetch(holders)})
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        finally:
            stop_process(first)
            await blocking.rollback()
            await blocker.close()
        # The killed worker's backends notice their client is gone and roll back.
        await wait_for(
            conn,
            "SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity "
            f"WHERE pid = ANY('{{{','.join(map(str, backends))}}}'::int[]))",
            timeout=60,
        )
        assert await snapshot(conn) == before, "nothing of the killed recalculation is kept"
        assert await conn.fetchval("SELECT count(*) FROM kpi_dirty_cells") == marked

        second = start_worker(settings)  # its start-up sweep finds the marks
        try:
            await wait_for(conn, "SELECT NOT EXISTS (SELECT 1 FROM kpi_dirty_cells)", timeout=90)
        finally:
            stop_process(second)
        recovered = await snapshot(conn)
        assert recovered != before, "the corrected hours changed the facts"

        # A fresh full recalculation from the stored records gives exactly the same facts.
        await mark_everything(app)
        await recalculate(app)
        assert await snapshot(conn) == recovered
    finally:
        await conn.close()
