"""Logs a person can read at a terminal in development, JSON lines in production, and no line
per cron tick: a cron job says something only when it did something."""

from __future__ import annotations

import json
import logging
import re

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from services.core.config import Settings
from services.core.logging import JsonFormatter, TextFormatter, configure_logging
from services.core.metrics import WorkerMetrics
from services.worker.main import CRON_JOBS, did_work
from tests.jobs import worker_ctx


def _record(**extra: object) -> logging.LogRecord:
    record = logging.makeLogRecord(
        {"name": "puls.worker", "levelname": "INFO", "levelno": 20, "msg": "worker started"}
    )
    record.__dict__.update(extra)
    return record


def test_text_in_development_and_json_in_production(settings: Settings) -> None:
    assert not settings.model_copy(update={"env": "development"}).logs_as_json
    assert settings.model_copy(update={"env": "production"}).logs_as_json
    forced = settings.model_copy(update={"env": "production", "log_format": "text"})
    assert not forced.logs_as_json

    line = TextFormatter().format(_record(queue="puls:queue", color_message="\x1b[36m"))
    assert re.fullmatch(
        r"\d\d:\d\d:\d\d INFO    puls\.worker  worker started  queue=puls:queue", line
    )
    payload = json.loads(JsonFormatter().format(_record(queue="puls:queue")))
    assert payload["msg"] == "worker started" and payload["queue"] == "puls:queue"


def test_arq_job_lines_are_off_at_info_and_back_at_debug() -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        configure_logging("INFO", as_json=False)
        assert not logging.getLogger("arq.worker").isEnabledFor(logging.INFO)
        assert logging.getLogger("arq.worker").isEnabledFor(logging.WARNING)
        configure_logging("DEBUG", as_json=False)
        assert logging.getLogger("arq.worker").isEnabledFor(logging.INFO)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        logging.getLogger("arq.worker").setLevel(logging.NOTSET)


@pytest.mark.parametrize(
    ("result", "worked"),
    [
        (None, False),
        (0, False),
        ({"sent": 0, "failed": 0}, False),
        (3, True),
        ({"overdue": 1}, True),
    ],
)
def test_what_counts_as_work(result: object, worked: bool) -> None:
    assert did_work(result) is worked


async def test_a_cron_tick_speaks_only_when_it_did_work(
    app: FastAPI, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    purge = next(job for job in CRON_JOBS if job.name == "cron:purge_idempotency_keys_cron")
    ctx = {**worker_ctx(app), "metrics": WorkerMetrics()}
    caplog.set_level(logging.INFO, logger="puls.worker")

    assert await purge.coroutine(ctx) == 0
    assert not [r for r in caplog.records if r.name == "puls.worker"]

    unit = {"code": "RS", "name": "Region Skåne", "kind": "region"}
    created = await client.post("/v1/org-units", json=unit, headers={"Idempotency-Key": "old"})
    assert created.status_code == 201
    async with app.state.sessionmaker.begin() as session:
        await session.execute(
            sa.text("UPDATE idempotency_keys SET created_at = now() - interval '2 days'")
        )
    assert await purge.coroutine(ctx) == 1
    (summary,) = [r for r in caplog.records if r.name == "puls.worker"]
    assert summary.getMessage() == "job did work"
    assert summary.__dict__["job"] == "purge_idempotency_keys_cron"
    assert summary.__dict__["result"] == 1
