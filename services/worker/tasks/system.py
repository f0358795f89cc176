"""Housekeeping: the heartbeat operators (and tests) watch, and expiry of idempotency keys."""

from __future__ import annotations

import time
from typing import Any

from services.core.db import transaction
from services.core.idempotency import service as idempotency_service


async def heartbeat(ctx: dict[str, Any], note: str | None = None) -> dict[str, Any]:
    """Records that the worker is alive: a Redis key with the time, and the queue depth."""
    now = time.time()
    settings = ctx["settings"]
    await ctx["redis"].set(f"{settings.redis_prefix}:worker:heartbeat", str(now), ex=120)
    depth = await ctx["redis"].zcard(settings.queue_name)
    ctx["metrics"].heartbeat.set(now)
    ctx["metrics"].queue_depth.set(depth)
    return {"at": now, "queue_depth": depth, "note": note}


async def heartbeat_cron(ctx: dict[str, Any]) -> None:
    await heartbeat(ctx)


async def purge_idempotency_keys(ctx: dict[str, Any]) -> int:
    async with transaction(ctx["sessionmaker"]) as session:
        return await idempotency_service.purge_expired(session)


async def purge_idempotency_keys_cron(ctx: dict[str, Any]) -> int:
    return await purge_idempotency_keys(ctx)
