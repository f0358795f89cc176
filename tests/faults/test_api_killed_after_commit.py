"""The API SIGKILLed after a batch's transaction committed and before it answered. The stored
Idempotency-Key answer is written in that same transaction, so the client's retry against a
restarted API gets it back instead of a second write; the wake-up for the KPI engine died
with the process, but the dirty cells are in PostgreSQL and a worker's sweep recalculates them.

Nothing in the service is instrumented: a table lock holds the request inside its
transaction, the private Redis is paused (CLIENT PAUSE) so the wake-up sent after the commit
cannot return, the lock is released, and the test kills the process once PostgreSQL shows the
commit."""

from __future__ import annotations

import asyncio
import signal

import asyncpg
import httpx
import pytest
import redis

from services.core.config import Settings
from tests.api_process import api_process, start_worker, stop_process
from tests.factories import seed_tree, time_record
from tests.faults.servers import PrivateRedis, wait_for
from tests.harness import ADMIN_TOKEN

KEY = "nightly-2024-03-batch-7"
RECORDS = [
    time_record(
        f"KILL-{n}",
        employee_ref=f"EMP-{n % 40}",
        work_date=f"2024-0{1 + n % 3}-{1 + n % 28:02d}",
        time_type="sick" if n % 7 == 0 else "worked",
    )
    for n in range(1_500)
]


async def post_batch(url: str) -> httpx.Response:
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=60
    ) as client:
        return await client.post(
            "/v1/time-records:batch", json={"records": RECORDS}, headers={"Idempotency-Key": KEY}
        )


async def test_retry_after_the_api_died_between_commit_and_answer_gets_the_stored_answer(
    client: httpx.AsyncClient, settings: Settings, private_redis: PrivateRedis
) -> None:
    await seed_tree(client)
    conn = await asyncpg.connect(settings.sync_database_url)
    try:
        with api_process(settings, REDIS_URL=private_redis.url) as (url, api):
            blocker = await asyncpg.connect(settings.sync_database_url)
            holding = blocker.transaction()
            await holding.start()
            await blocker.execute("LOCK TABLE kpi_dirty_cells IN EXCLUSIVE MODE")
            request = asyncio.create_task(post_batch(url))
            # The batch has written its rows and waits to mark its cells: mid-transaction.
            await wait_for(
                conn,
                "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database() AND pid <> $1)",
                blocker.get_server_pid(),
            )
            redis.Redis(port=private_redis.port).client_pause(60_000)
            await holding.rollback()
            await blocker.close()
            # Committed (the stored answer is visible), and the process is stuck in the
            # wake-up after the commit, before it can answer.
            await wait_for(
                conn,
                "SELECT state = 'completed' FROM idempotency_keys WHERE key = $1",
                KEY,
            )
            assert not request.done()
            api.send_signal(signal.SIGKILL)
            api.wait(10)
            with pytest.raises(httpx.TransportError):
                await request  # the client never got an answer
        private_redis.stop()  # and the paused wake-up is lost with Redis
        private_redis.start()
        assert await conn.fetchval("SELECT count(*) FROM time_records") == len(RECORDS)
        dirty = await conn.fetchval("SELECT count(*) FROM kpi_dirty_cells")
        assert dirty == 3  # SUS-AKUT, January to March

        with api_process(settings, REDIS_URL=private_redis.url) as (url, _api):
            retried = await post_batch(url)
        assert retried.status_code == 200, retried.text
        assert retried.headers["idempotent-replayed"] == "true"
        assert retried.json()["inserted"] == len(RECORDS) and retried.json()["rejected"] == 0
        assert await conn.fetchval("SELECT count(*) FROM time_records") == len(RECORDS)
        assert await conn.fetchval("SELECT count(*) FROM idempotency_keys") == 1

        worker = start_worker(settings, REDIS_URL=private_redis.url)  # its sweep finds the cells
        try:
            await wait_for(conn, "SELECT NOT EXISTS (SELECT 1 FROM kpi_dirty_cells)", timeout=60)
        finally:
            stop_process(worker)
        months = await conn.fetch(
            "SELECT month FROM kpi_cell_totals "
            "WHERE kind = 'time' AND (sick <> 0 OR scheduled <> 0) ORDER BY month"
        )
        assert [str(m["month"]) for m in months] == ["2024-01-01", "2024-02-01", "2024-03-01"]
    finally:
        await conn.close()
