"""Jobs requested inside a transaction reach arq only after that transaction commits.

PostgreSQL holds the truth (dirty marks, outbox, import rows); Redis only carries wake-up calls,
so enqueueing is best effort: when Redis is down the write still succeeds and the worker's cron
sweep finds the work later. Mind that an arq job id stays taken while the job is queued or
running (and until its result expires, hence `keep_result=0` on deduplicated functions)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.config import Settings
from services.core.db import transaction

log = logging.getLogger(__name__)
_SESSION_KEY = "puls_deferred_jobs"


@dataclass(frozen=True)
class DeferredJob:
    function: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    job_id: str | None = None


def job_serializer(job: dict[str, Any]) -> bytes:
    return json.dumps(job, separators=(",", ":"), default=str).encode()


def job_deserializer(raw: bytes) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(raw)
    return result


def redis_settings(settings: Settings) -> RedisSettings:
    return RedisSettings.from_dsn(settings.redis_url)


async def create_arq_pool(settings: Settings) -> ArqRedis:
    rs = redis_settings(settings)
    rs.conn_timeout = 2
    rs.conn_retries = 0
    return await create_pool(
        rs,
        job_serializer=job_serializer,
        job_deserializer=job_deserializer,
        default_queue_name=settings.queue_name,
    )


def defer_job(
    session: AsyncSession,
    function: str,
    *args: Any,
    job_id: str | None = None,
    **kwargs: Any,
) -> None:
    """Asks for `function` to run once the session's transaction has committed."""
    jobs: list[DeferredJob] = session.info.setdefault(_SESSION_KEY, [])
    job = DeferredJob(function, args, kwargs, job_id)
    if job_id is None or all(j.job_id != job_id for j in jobs):
        jobs.append(job)


def take_deferred_jobs(session: AsyncSession) -> list[DeferredJob]:
    jobs: list[DeferredJob] = session.info.pop(_SESSION_KEY, [])
    return jobs


@asynccontextmanager
async def unit_of_work(
    sessionmaker: async_sessionmaker[AsyncSession], pool: ArqRedis | None
) -> AsyncIterator[tuple[AsyncSession, list[str]]]:
    """A transaction that, once committed, hands the jobs it deferred to arq. Yields the
    session and a list that is filled with the functions that could not be enqueued."""
    failed: list[str] = []
    async with transaction(sessionmaker) as session:
        yield session, failed
    failed += await enqueue_jobs(pool, take_deferred_jobs(session))


async def enqueue_jobs(pool: ArqRedis | None, jobs: list[DeferredJob]) -> list[str]:
    """Hands committed work to arq. Returns the functions that could not be enqueued."""
    failed: list[str] = []
    for job in jobs:
        if pool is None:
            failed.append(job.function)
            continue
        try:
            await pool.enqueue_job(job.function, *job.args, _job_id=job.job_id, **job.kwargs)
        except Exception:  # Redis down: the sweep re-discovers the work from PostgreSQL.
            log.warning("enqueue failed; left for the sweep", extra={"function": job.function})
            failed.append(job.function)
    return failed
