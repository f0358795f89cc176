"""The worker runs jobs the API side enqueues, against the real Redis, and never loads the web
layer."""

from __future__ import annotations

import subprocess
import sys

from fastapi import FastAPI

from services.cli.main import ROOT
from services.core.config import Settings
from services.core.queue import DeferredJob, enqueue_jobs
from services.worker.main import create_worker


async def test_job_enqueued_by_the_api_side_runs_in_the_worker(
    app: FastAPI, settings: Settings
) -> None:
    failed = await enqueue_jobs(app.state.arq, [DeferredJob("heartbeat", ("from-test",))])
    assert failed == []
    assert await app.state.arq.zcard(settings.queue_name) == 1

    worker = create_worker(settings, burst=True, serve_metrics=False)
    try:
        await worker.async_run()
    finally:
        await worker.close()

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
