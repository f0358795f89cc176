"""The arq worker, started by `puls worker`.

Resources are built in on_startup and kept in ctx; tasks are thin (open a session, call a
service, commit). This module never imports FastAPI or services.api."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from arq import cron
from arq.worker import Function, Worker, func

from services.core import tracing
from services.core.config import Settings, get_settings
from services.core.db import create_engine, create_sessionmaker
from services.core.logging import configure_logging
from services.core.metrics import WorkerMetrics
from services.core.queue import create_arq_pool, job_deserializer, job_serializer, redis_settings
from services.core.timedata import files
from services.worker import metrics_server
from services.worker.tasks import gauges, system, timedata
from services.worker.tasks import kpis as kpi_tasks
from services.worker.tasks import meetings as meeting_tasks
from services.worker.tasks import notifications as mail_tasks
from services.worker.tasks import plans as plan_tasks
from services.worker.tasks import webhooks as webhook_tasks

log = logging.getLogger("puls.worker")


async def on_startup(ctx: dict[str, Any]) -> None:
    settings: Settings = ctx["settings"]
    ctx["engine"] = create_engine(settings, pool_size=5)
    tracing.start("puls-worker")
    tracing.instrument_engine(ctx["engine"])
    ctx["sessionmaker"] = create_sessionmaker(ctx["engine"])
    ctx["metrics"] = WorkerMetrics()
    ctx["metrics"].pool.watch(ctx["engine"])
    # A pool of our own for enqueueing follow-up jobs with the JSON serializer.
    ctx["arq"] = await create_arq_pool(settings)
    ctx["validators"] = files.ValidatorProcesses()
    if ctx.get("warm_validator", True):
        # Started now, it has imported Puls long before the night's first large file.
        ctx["validators"].warm()
    if ctx.get("serve_metrics", True):
        ctx["metrics_server"] = await metrics_server.start(
            ctx, settings.worker_metrics_host, settings.worker_metrics_port
        )
    log.info("worker started", extra={"queue": settings.queue_name})


async def on_shutdown(ctx: dict[str, Any]) -> None:
    server = ctx.get("metrics_server")
    if server is not None:
        server.close()
        await server.wait_closed()
    if "validators" in ctx:
        ctx["validators"].close()
    if "arq" in ctx:
        await ctx["arq"].aclose()
    if "engine" in ctx:
        await ctx["engine"].dispose()
    tracing.shutdown()
    log.info("worker stopped")


async def on_job_start(ctx: dict[str, Any]) -> None:
    ctx["job_started"] = time.perf_counter()


async def after_job_end(ctx: dict[str, Any]) -> None:
    metrics: WorkerMetrics = ctx["metrics"]
    name = ctx.get("job_name") or "unknown"
    metrics.job_duration.labels(name).observe(time.perf_counter() - ctx.get("job_started", 0))


def did_work(result: object) -> bool:
    """Whether a job's result says it did something: a non-zero count, or a mapping with one.
    Only those get a log line at INFO; a cron tick that found nothing to do stays quiet."""
    if isinstance(result, bool) or result is None:
        return bool(result)
    if isinstance(result, int | float):
        return result != 0
    if isinstance(result, dict):
        return any(did_work(value) for value in result.values())
    return True


def _log_summary(name: str, result: object, started: float) -> None:
    if did_work(result):
        elapsed = round(time.perf_counter() - started, 3)
        log.info("job did work", extra={"job": name, "result": result, "seconds": elapsed})


def _summarised(function: Any) -> Any:
    """A cron job that logs a summary line when it did work (arq's per-tick lines are off)."""

    async def run(ctx: dict[str, Any]) -> Any:
        started = time.perf_counter()
        with tracing.job_span(function.__name__, ctx.get("job_id")):
            result = await function(ctx)
        _log_summary(function.__name__, result, started)
        return result

    run.__name__ = function.__name__
    run.__qualname__ = function.__qualname__
    return run


def _instrumented(
    function: Any, *, timeout: int, max_tries: int = 3, keep_result: int = 0
) -> Function:
    """Wraps a task so every run is counted by outcome, whatever arq does with it."""
    name = function.__name__

    async def run(ctx: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        ctx["job_name"] = name
        metrics: WorkerMetrics = ctx["metrics"]
        started = time.perf_counter()
        try:
            with tracing.job_span(name, ctx.get("job_id")):
                result = await function(ctx, *args, **kwargs)
        except asyncio.CancelledError:
            metrics.jobs.labels(name, "cancelled").inc()
            raise
        except Exception:
            metrics.jobs.labels(name, "failed").inc()
            raise
        metrics.jobs.labels(name, "succeeded").inc()
        _log_summary(name, result, started)
        return result

    run.__name__ = name
    run.__qualname__ = name
    return func(run, name=name, timeout=timeout, max_tries=max_tries, keep_result=keep_result)


FUNCTIONS: list[Function] = [
    _instrumented(system.heartbeat, timeout=10),
    _instrumented(system.purge_idempotency_keys, timeout=60),
    _instrumented(timedata.run_import, timeout=3600, max_tries=3),
    _instrumented(timedata.sweep_imports, timeout=60),
    _instrumented(timedata.maintain_partitions, timeout=600),
    _instrumented(webhook_tasks.deliver_webhooks, timeout=120, max_tries=1),
    _instrumented(webhook_tasks.purge_webhook_log, timeout=600),
    _instrumented(kpi_tasks.recalculate, timeout=3600, max_tries=3),
    _instrumented(kpi_tasks.run_recalculation, timeout=3600, max_tries=1),
    _instrumented(plan_tasks.scan_due_actions, timeout=300),
    _instrumented(meeting_tasks.notify_assignments, timeout=120),
    _instrumented(mail_tasks.scan_mail, timeout=300),
    _instrumented(mail_tasks.send_digests, timeout=1800),
    # One try: a delivery run records its own retries in the outbox.
    _instrumented(mail_tasks.deliver_mail, timeout=300, max_tries=1),
    _instrumented(mail_tasks.forget_mail_bodies, timeout=600),
]

CRON_JOBS = [
    cron(
        system.heartbeat_cron, second={0, 15, 30, 45}, run_at_startup=True, timeout=10, unique=True
    ),
    cron(
        gauges.refresh_gauges_cron,
        second={5, 20, 35, 50},
        run_at_startup=True,
        timeout=30,
        unique=True,
    ),
    cron(system.purge_idempotency_keys_cron, minute={7}, second={0}, timeout=60, unique=True),
    cron(timedata.sweep_imports_cron, second={20}, timeout=60, unique=True),
    cron(
        timedata.maintain_partitions_cron,
        minute={17},
        second={0},
        run_at_startup=True,
        timeout=600,
        unique=True,
    ),
    cron(
        webhook_tasks.deliver_webhooks_cron,
        second=set(range(0, 60, 2)),
        run_at_startup=True,
        timeout=120,
        unique=True,
    ),
    cron(webhook_tasks.purge_webhook_log_cron, minute={23}, second={0}, timeout=600, unique=True),
    cron(kpi_tasks.sweep_kpis_cron, second={40}, run_at_startup=True, timeout=60, unique=True),
    # Hourly (not daily) so a worker down at midnight still flags actions the same morning.
    cron(
        plan_tasks.scan_due_actions_cron,
        minute={5},
        second={0},
        run_at_startup=True,
        timeout=300,
        unique=True,
    ),
    cron(meeting_tasks.notify_assignments_cron, minute={41}, second={0}, timeout=120, unique=True),
    # Every five minutes, so an invitation follows a scheduled meeting soon.
    cron(
        mail_tasks.scan_mail_cron,
        minute=set(range(2, 60, 5)),
        second={30},
        timeout=300,
        unique=True,
    ),
    # Mondays, each hour (idempotent per ISO week), so a worker down at dawn still sends it.
    cron(
        mail_tasks.send_digests_cron,
        weekday={0},
        minute={35},
        second={0},
        timeout=1800,
        unique=True,
    ),
    cron(mail_tasks.forget_mail_bodies_cron, minute={47}, second={0}, timeout=600, unique=True),
    cron(
        mail_tasks.deliver_mail_cron, second={10, 40}, run_at_startup=True, timeout=300, unique=True
    ),
]
# Every cron job logs a summary when it did work, instead of arq's line per tick.
for _job in CRON_JOBS:
    _job.coroutine = _summarised(_job.coroutine)


class _Worker(Worker):
    async def close(self) -> None:
        # On SIGTERM arq cancels the jobs in flight, then awaits them all without
        # return_exceptions: a job cancelled in arq's own bookkeeping (taking it from Redis,
        # outside the job, where arq does not turn the cancellation into "run again later")
        # raised out of close(), so the process ended with a traceback and exit 1 and skipped
        # on_shutdown. The cancelled ones are awaited here, their cancellation swallowed, and
        # arq closes as before with the rest.
        cancelled = [t for t in self.tasks.values() if t.cancelling() or t.cancelled()]
        await asyncio.gather(*cancelled, return_exceptions=True)
        self.tasks = {job: t for job, t in self.tasks.items() if not t.done()}
        await super().close()


def create_worker(
    settings: Settings | None = None, *, burst: bool = False, serve_metrics: bool = True
) -> Worker:
    """The worker for `settings`. `burst=True` drains the queue and returns, without cron jobs
    (tests call cron functions directly)."""
    settings = settings or get_settings()
    return _Worker(
        functions=FUNCTIONS,
        cron_jobs=[] if burst else CRON_JOBS,
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        on_job_start=on_job_start,
        after_job_end=after_job_end,
        redis_settings=redis_settings(settings),
        queue_name=settings.queue_name,
        job_serializer=job_serializer,
        job_deserializer=job_deserializer,
        poll_delay=settings.worker_poll_delay_seconds,
        max_jobs=settings.worker_max_jobs,
        health_check_interval=10,
        health_check_key=f"{settings.queue_name}:health-check",
        job_timeout=300,
        keep_result=0,
        burst=burst,
        # A burst worker (tests) starts a validator process only for a large file.
        ctx={"settings": settings, "serve_metrics": serve_metrics, "warm_validator": not burst},
        # On SIGTERM/SIGINT arq cancels the jobs in flight (they are run again later) and exits.
        handle_signals=not burst,
    )


def main() -> None:
    """Runs the worker until SIGTERM/SIGINT."""
    settings = get_settings()
    configure_logging(settings.log_level, as_json=settings.logs_as_json)
    create_worker(settings).run()
