"""KPI recalculation: drain the dirty cells, run admins' recalculation requests, sweep."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import services.core.compliance  # noqa: F401  (importing it registers violation detection)
from services.core.db import transaction
from services.core.kpis import recalculation_service
from services.core.queue import unit_of_work

# Dirty cells per recalculation lane, at least.
LANE_CELLS = 2_000


async def recalculate(ctx: dict[str, Any]) -> int:
    """Rounds of claimed cells, each its own transaction, until none are left. Safe to run in
    several workers at once: each claims different cells.

    A backlog's org units are shared among up to `recalculation_lanes` rounds running side by
    side, each on its own connection: a round's statements run on one PostgreSQL core, and a
    full recalculation is mostly the records of every unit, which split by unit. A small
    backlog takes one lane and starts at most one round per `recalculation_interval_seconds`:
    a feed sending batch after batch dirties the same cells again and again, and computing them
    once a second instead of after every batch leaves the cores to the feed and the readers."""
    settings = ctx["settings"]
    total = 0
    last: float | None = None
    while True:
        # Stale statistics are refreshed here, committed before the rounds plan on them.
        async with transaction(ctx["sessionmaker"]) as session:
            cells, units, spills = await recalculation_service.backlog(session)
            if cells:
                await recalculation_service.refresh_statistics(session)
        if not cells:
            return total
        lanes = min(settings.recalculation_lanes, 1 + cells // LANE_CELLS)
        # Spills are the rounds' own work, not a feed's next batch: nothing to coalesce.
        if lanes == 1 and last is not None and not spills:
            await asyncio.sleep(settings.recalculation_interval_seconds - (time.monotonic() - last))
        last = time.monotonic()
        share = max(1, -(-units // lanes))
        taken = await asyncio.gather(*(_round(ctx, share) for _ in range(lanes)))
        if not any(taken):
            return total  # every dirty unit is held by another recalculation
        total += sum(taken)


async def _round(ctx: dict[str, Any], units: int) -> int:
    async with unit_of_work(ctx["sessionmaker"], ctx["arq"]) as (session, _):
        return await recalculation_service.recalculate(session, ctx["settings"], units=units)


async def run_recalculation(ctx: dict[str, Any], recalculation_id: str) -> int:
    rid = uuid.UUID(recalculation_id)
    async with transaction(ctx["sessionmaker"]) as session:
        await recalculation_service.mark_recalculation(session, rid)
    try:
        cells = await recalculate(ctx)
    except Exception as exc:
        async with transaction(ctx["sessionmaker"]) as session:
            await recalculation_service.finish_recalculation(session, rid, error=type(exc).__name__)
        raise
    async with transaction(ctx["sessionmaker"]) as session:
        await recalculation_service.finish_recalculation(session, rid)
    return cells


async def sweep_kpis_cron(ctx: dict[str, Any]) -> None:
    """Dirty cells whose wake-up was lost (Redis down or flushed, a job that died, a change
    committed while a recalculation was finishing) are found here within a minute.

    Only cells no recalculation holds count (a running one holds a lock per claimed unit). When
    the usual job id is still taken, a job of this minute's own id goes as well: a worker
    killed in the middle of `recalculate` leaves that id marked in progress in arq until the
    job's timeout (an hour), and the wake-ups sent with it meanwhile are dropped as duplicates.
    Recalculations running side by side claim different cells, so the extra job is harmless."""
    async with transaction(ctx["sessionmaker"]) as session:
        waiting = await recalculation_service.cells_waiting(session)
    if not waiting:
        return
    if await ctx["arq"].enqueue_job("recalculate", _job_id="recalculate") is None:
        slot = int(time.time() // 60)
        await ctx["arq"].enqueue_job("recalculate", _job_id=f"recalculate:sweep:{slot}")
