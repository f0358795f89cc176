"""Running the worker's jobs in the test process (a task on the app's own resources, or a
burst worker), and reading what they produced through the API."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa
from arq.worker import Worker
from fastapi import FastAPI

from services.core.config import Settings
from services.core.db import transaction
from services.core.webhooks import delivery
from services.worker.main import create_worker
from services.worker.tasks import kpis as kpi_tasks


def worker_ctx(app: FastAPI) -> dict[str, Any]:
    """What the worker hands a task, built from the app's own resources."""
    return {
        "sessionmaker": app.state.sessionmaker,
        "arq": app.state.arq,
        "settings": app.state.settings,
    }


async def recalculate(app: FastAPI) -> int:
    return await kpi_tasks.recalculate(worker_ctx(app))


async def recalculate_everything(app: FastAPI) -> int:
    """Every cell with facts marked dirty and recalculated, as a fix to the engine would."""
    async with transaction(app.state.sessionmaker) as session:
        await session.execute(
            sa.text(
                "INSERT INTO kpi_dirty_cells (org_unit_id, month) "
                "SELECT DISTINCT org_unit_id, month FROM kpi_cell_totals"
            )
        )
    return await recalculate(app)


async def run_worker(settings: Settings, via: str = "thread") -> Worker:
    """A burst worker drains the queue and stops; the worker is returned for its counts and
    context. `via="process"` makes it validate every file import in a child process, as it
    does for large files."""
    if via == "process":
        settings = settings.model_copy(update={"import_process_min_bytes": 0})
    worker = create_worker(settings, burst=True, serve_metrics=False)
    try:
        await worker.async_run()
    finally:
        await worker.close()
    return worker


async def deliver(app: FastAPI, settings: Settings, **kwargs: Any) -> dict[str, int]:
    return await delivery.run(app.state.sessionmaker, settings, **kwargs)


async def _items(client: httpx.AsyncClient, url: str, key: str, **params: Any) -> list[Any]:
    response = await client.get(url, params=params)
    assert response.status_code == 200, response.text
    items: list[Any] = response.json()[key]
    return items


async def series(
    client: httpx.AsyncClient, kpi: str, unit: str, start: str, end: str, **params: Any
) -> list[dict[str, Any]]:
    params = {"org_unit": unit, "from": start, "to": end, **params}
    return await _items(client, f"/v1/kpis/{kpi}/series", "points", **params)


def values(points: list[dict[str, Any]]) -> dict[str, Any]:
    return {p["period"]: p["value"] for p in points}


async def deliveries(client: httpx.AsyncClient, webhook_id: str, **params: Any) -> list[Any]:
    return await _items(client, f"/v1/webhooks/{webhook_id}/deliveries", "items", **params)
