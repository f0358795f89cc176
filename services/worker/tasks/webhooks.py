"""Webhook delivery: a batch job (fan out the outbox, send everything due) and its cron sweep,
which also re-discovers work whose wake-up call Redis lost and refreshes the gauges."""

from __future__ import annotations

import asyncio
from typing import Any

from services.core.config import Settings
from services.core.webhooks import delivery


def _semaphore(ctx: dict[str, Any]) -> asyncio.Semaphore:
    # One per worker process: bounds the concurrent senders of all jobs together.
    settings: Settings = ctx["settings"]
    semaphore: asyncio.Semaphore = ctx.setdefault(
        "webhook_semaphore", asyncio.Semaphore(settings.webhooks_max_concurrency)
    )
    return semaphore


async def deliver_webhooks(ctx: dict[str, Any]) -> dict[str, int]:
    return await delivery.run(
        ctx["sessionmaker"], ctx["settings"], ctx.get("metrics"), _semaphore(ctx)
    )


async def deliver_webhooks_cron(ctx: dict[str, Any]) -> dict[str, int]:
    sent = await deliver_webhooks(ctx)
    await delivery.cancel_deleted(ctx["sessionmaker"])
    if "metrics" in ctx:
        await delivery.refresh_gauges(ctx["sessionmaker"], ctx["metrics"])
    return sent


async def purge_webhook_log(ctx: dict[str, Any]) -> int:
    return await delivery.purge_delivery_log(ctx["sessionmaker"], ctx["settings"])


async def purge_webhook_log_cron(ctx: dict[str, Any]) -> int:
    return await purge_webhook_log(ctx)
