"""The due/overdue scan of actions: marks past-due open actions overdue and publishes
`action.overdue` once per action and `action.due_soon` N days before a due date. Idempotent,
so the hourly cron may run it as often as it likes."""

from __future__ import annotations

from typing import Any

from services.core.config import Settings
from services.core.metrics import WorkerMetrics
from services.core.plans import due_scan
from services.core.plans.common import local_today
from services.core.queue import unit_of_work


async def scan_due_actions(ctx: dict[str, Any]) -> dict[str, int]:
    settings: Settings = ctx["settings"]
    # unit_of_work hands the webhook wake-up the published events asked for to arq.
    async with unit_of_work(ctx["sessionmaker"], ctx.get("arq")) as (session, _):
        result = await due_scan.scan_due_actions(
            session, today=local_today(), due_soon_days=settings.plans_due_soon_days
        )
    metrics: WorkerMetrics | None = ctx.get("metrics")
    if metrics is not None:
        for kind in ("overdue", "due_soon"):
            metrics.plan_actions_flagged.labels(kind).inc(result[kind])
    return result


async def scan_due_actions_cron(ctx: dict[str, Any]) -> dict[str, int]:
    return await scan_due_actions(ctx)
