"""The worker runs jobs the API side enqueues, against the real Redis, and never loads the web
layer."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys

from fastapi import FastAPI

from services.cli.main import ROOT
from services.core.config import Settings
from services.core.queue import DeferredJob, create_arq_pool, enqueue_jobs
from services.worker.main import create_worker
from tests.jobs import run_worker


async def test_job_enqueued_by_the_api_side_runs_in_the_worker(
    app: FastAPI, settings: Settings
) -> None:
    failed = await enqueue_jobs(app.state.arq, [DeferredJob("heartbeat", ("from-test",))])
    assert failed == []
    assert await app.state.arq.zcard(settings.queue_name) == 1

    worker = await run_worker(settings)

    assert worker.jobs_complete == 1 and worker.jobs_failed == 0
    beat = await app.state.arq.get(f"{settings.redis_prefix}:worker:heartbeat")
    assert beat is not None and float(beat) > 0
    assert await app.state.arq.zcard(settings.queue_name) == 0
    samples = {
        (s.name, s.labels.get("function"), s.labels.get("outcome")): s.value
        for metric in worker.ctx["metrics"].registry.collect()
        for s in metric.samples
    }
    assert samples[("puls_jobs_total", "heartbeat", "succeeded")] == 1


def test_worker_does_not_import_the_web_layer() -> None:
    code = (
        "import sys, services.worker.main\n"
        "bad = [m for m in sys.modules if m == 'fastapi' or m.startswith('services.api')]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


async def test_stopping_with_a_job_in_flight_cancels_it_and_still_shuts_down_cleanly(
    settings: Settings,
) -> None:
    # SIGTERM cancels the jobs in flight; arq then awaits them all, and one cancelled in arq's
    # own bookkeeping (not inside the job) used to end the worker with a traceback and exit 1,
    # skipping on_shutdown (the validator process, the pools).
    worker = create_worker(settings, burst=True, serve_metrics=False)
    worker._pool = await create_arq_pool(settings)
    in_flight = asyncio.create_task(asyncio.sleep(60))
    worker.tasks["in-flight"] = in_flight
    stopped = False

    async def on_shutdown(ctx: dict[str, object]) -> None:
        nonlocal stopped
        stopped = True

    worker.on_shutdown = on_shutdown
    worker.handle_sig(signal.SIGTERM)
    await worker.close()
    assert in_flight.cancelled() and stopped
