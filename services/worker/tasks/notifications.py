"""E-mail: the scans that fill the mail outbox (reminders, overdue notices and invitations
every few minutes, the digest on Monday mornings) and its delivery over SMTP. Every scan is
idempotent (each message has its key), so a cron run twice or a job retried adds nothing."""

from __future__ import annotations

from collections import Counter
from typing import Any
from zoneinfo import ZoneInfo

from services.core import clock
from services.core.config import Settings
from services.core.metrics import WorkerMetrics
from services.core.notifications import delivery, mail_service
from services.core.queue import unit_of_work


def _count(ctx: dict[str, Any], outcomes: Counter[str]) -> dict[str, int]:
    metrics: WorkerMetrics | None = ctx.get("metrics")
    if metrics is not None:
        for key, n in outcomes.items():
            kind, outcome = key.split(":")
            if outcome in ("queued", "skipped"):
                metrics.mail_messages.labels(kind, outcome).inc(n)
    return dict(outcomes)


async def scan_mail(ctx: dict[str, Any]) -> dict[str, int]:
    settings: Settings = ctx["settings"]
    # The clock module (not a bound import) so tests can fix the time.
    now = clock.utcnow()
    today = now.astimezone(ZoneInfo(settings.local_timezone)).date()
    async with unit_of_work(ctx["sessionmaker"], ctx.get("arq")) as (session, _):
        outcomes = await mail_service.enqueue_reminders(session, settings, today)
        outcomes += await mail_service.enqueue_invitations(session, settings, now)
    return _count(ctx, outcomes)


async def send_digests(ctx: dict[str, Any]) -> dict[str, int]:
    settings: Settings = ctx["settings"]
    now = clock.utcnow()
    today = now.astimezone(ZoneInfo(settings.local_timezone)).date()
    async with unit_of_work(ctx["sessionmaker"], ctx.get("arq")) as (session, _):
        outcomes = await mail_service.enqueue_digests(session, settings, today, now)
    return _count(ctx, outcomes)


async def deliver_mail(ctx: dict[str, Any]) -> dict[str, int]:
    return await delivery.run(ctx["sessionmaker"], ctx["settings"], ctx.get("metrics"))


async def forget_mail_bodies(ctx: dict[str, Any]) -> int:
    async with unit_of_work(ctx["sessionmaker"], ctx.get("arq")) as (session, _):
        return await mail_service.forget_old_bodies(session, ctx["settings"])


async def forget_mail_bodies_cron(ctx: dict[str, Any]) -> None:
    await forget_mail_bodies(ctx)


async def scan_mail_cron(ctx: dict[str, Any]) -> None:
    await scan_mail(ctx)


async def send_digests_cron(ctx: dict[str, Any]) -> None:
    await send_digests(ctx)


async def deliver_mail_cron(ctx: dict[str, Any]) -> None:
    # Also what retries temporary failures when their time comes, and finds mail whose
    # wake-up call Redis lost.
    await deliver_mail(ctx)
    if "metrics" in ctx:
        await delivery.refresh_gauges(ctx["sessionmaker"], ctx["metrics"])
