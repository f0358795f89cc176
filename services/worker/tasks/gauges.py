"""The gauges read from PostgreSQL (recalculation backlog and lag, import progress), refreshed
by a cron job rather than at scrape time, so a slow database never makes /metrics time out."""

from __future__ import annotations

from typing import Any

from services.core.db import transaction
from services.core.kpis import recalculation_service
from services.core.metrics import WorkerMetrics
from services.core.timedata import imports


async def refresh_gauges(ctx: dict[str, Any]) -> None:
    metrics: WorkerMetrics = ctx["metrics"]
    async with transaction(ctx["sessionmaker"]) as session:
        cells, lag = await recalculation_service.lag(session)
        progress = await imports.progress(session)
    metrics.dirty_cells.set(cells)
    metrics.recalculation_lag.set(lag)
    for status in ("queued", "running"):
        metrics.imports.labels(status).set(progress.get(status, (0, 0))[0])
    metrics.import_rows_read.set(progress.get("running", (0, 0))[1])


async def refresh_gauges_cron(ctx: dict[str, Any]) -> None:
    await refresh_gauges(ctx)
