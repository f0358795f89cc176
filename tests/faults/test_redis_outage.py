"""Redis down while feeds keep arriving: the dirty marks and the outbox are in PostgreSQL and
enqueueing is best effort, so ingest still answers 2xx; /readyz says Redis is down and the API
counts the wake-ups it could not send."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.app import create_app
from services.core.config import Settings
from services.worker.tasks import kpis as kpi_tasks
from tests.conftest import make_client
from tests.factories import seed_tree, time_record
from tests.faults.servers import PrivateRedis
from tests.jobs import worker_ctx


@pytest.fixture
async def outage_app(settings: Settings, private_redis: PrivateRedis) -> AsyncIterator[FastAPI]:
    app = create_app(settings.model_copy(update={"redis_url": private_redis.url}))
    async with app.router.lifespan_context(app):
        yield app


async def test_ingest_keeps_answering_while_redis_is_down(
    outage_app: FastAPI, private_redis: PrivateRedis, session: AsyncSession
) -> None:
    async with make_client(outage_app) as client:
        await seed_tree(client)
        private_redis.stop()
        ready = await client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["redis"].startswith("down")
        for n in range(3):
            response = await client.post(
                "/v1/time-records:batch",
                json={"records": [time_record(f"R{n}", work_date=f"2024-0{n + 1}-04")]},
            )
            assert response.status_code == 200, response.text
            assert response.json()["inserted"] == 1
        metrics = (await client.get("/metrics")).text
        assert 'puls_enqueue_failures_total{function="recalculate"} 3.0' in metrics
        # The marks the KPI engine's sweep will find are in PostgreSQL.
        cells = await session.execute(sa.text("SELECT count(*) FROM kpi_dirty_cells"))
        assert cells.scalar_one() == 3

        private_redis.start()
        assert (await client.get("/readyz")).status_code == 200
        again = await client.post("/v1/time-records:batch", json={"records": [time_record("R9")]})
        assert again.status_code == 200
        await outage_app.state.arq.flushdb()  # and the queue is lost as well
        ctx = worker_ctx(outage_app)
        await kpi_tasks.sweep_kpis_cron(ctx)
        queued = await outage_app.state.arq.zrange(outage_app.state.settings.queue_name, 0, -1)
        assert b"recalculate" in queued  # the sweep found the marks in PostgreSQL
        await kpi_tasks.recalculate(ctx)
        cells = await session.execute(sa.text("SELECT count(*) FROM kpi_dirty_cells"))
        assert cells.scalar_one() == 0
        hours = await client.get(
            "/v1/kpis/sick_leave_pct/series",
            params={"org_unit": "RS", "from": "2024-01", "to": "2024-04"},
        )
        assert hours.status_code == 200
        worked = await session.execute(
            sa.text("SELECT count(*) FROM kpi_cell_totals WHERE kind = 'worked'")
        )
        assert worked.scalar_one() == 3  # January to March, fed during and after the outage
