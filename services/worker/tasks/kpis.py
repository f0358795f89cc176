"""KPI recalculation: drain the dirty cells, run admins' recalculation requests, sweep."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from services.core.db import transaction
from services.core.kpis import service as kpis_service
from services.core.queue import unit_of_work


async def recalculate(ctx: dict[str, Any]) -> int:
    """Rounds of claimed cells, each its own transaction, until none are left. Safe to run in
    several workers at once: each claims different cells."""
    total = 0
    while True:
        async with unit_of_work(ctx["sessionmaker"], ctx["arq"]) as (session, _):
            taken = await kpis_service.recalculate(session, ctx["settings"])
        if not taken:
            return total
        total += taken


async def run_recalculation(ctx: dict[str, Any], recalculation_id: str) -> int:
    rid = uuid.UUID(recalculation_id)
    async with transaction(ctx["sessionmaker"]) as session:
        await kpis_service.mark_recalculation(session, rid)
    try:
        cells = await recalculate(ctx)
    except Exception as exc:
        async with transaction(ctx["sessionmaker"]) as session:
            await kpis_service.finish_recalculation(session, rid, error=type(exc).__name__)
        raise
    async with transaction(ctx["sessionmaker"]) as session:
        await kpis_service.finish_recalculation(session, rid)
    return cells


async def sweep_kpis_cron(ctx: dict[str, Any]) -> None:
    """Dirty cells whose wake-up was lost (Redis down or flushed, a job that died, a change
    committed while a recalculation was finishing) are found here within a minute."""
    async with transaction(ctx["sessionmaker"]) as session:
        waiting = (
            await session.execute(sa.text("SELECT EXISTS (SELECT 1 FROM kpi_dirty_cells)"))
        ).scalar_one()
    if waiting:
        await ctx["arq"].enqueue_job("recalculate", _job_id="recalculate")
