"""Webhook delivery through the real worker: the API's commit wakes it via arq, and a worker
SIGKILLed in the middle of a delivery loses nothing (the next worker sends it again)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import httpx
from fastapi import FastAPI

from services.cli.main import ROOT
from services.core.config import Settings
from tests.factories import make_events, subscribe
from tests.harness import ADMIN_TOKEN, PSEUDONYM_KEY
from tests.jobs import deliveries, run_worker
from tests.webhook_receiver import Answer, Received, Receiver, verify


async def test_a_committed_event_wakes_the_worker(
    wh_app: FastAPI, wh_client: httpx.AsyncClient, wh_settings: Settings, receiver: Receiver
) -> None:
    sub = await subscribe(wh_client, receiver.url("/woken"))
    await make_events(wh_client, 2)
    queued = await wh_app.state.arq.zcard(wh_settings.queue_name)
    assert queued >= 1  # one wake-up per second at most, however many events
    worker = await run_worker(wh_settings)
    assert worker.jobs_failed == 0
    got = await receiver.wait_for("/woken", 2)
    assert [verify(sub["secret"], r)["data"]["code"] for r in got] == ["U000", "U001"]


def _worker_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": settings.database_url,
            "REDIS_URL": settings.redis_url,
            "PULS_ENV": "test",
            "PULS_QUEUE_NAME": settings.queue_name,
            "PULS_REDIS_PREFIX": settings.redis_prefix,
            "PULS_WORKER_METRICS_PORT": "0",
            "PULS_BOOTSTRAP_API_KEY": ADMIN_TOKEN,
            "PULS_PSEUDONYM_KEY": PSEUDONYM_KEY,
            "PULS_DB_POOL_SIZE": "5",
            "PULS_LOG_LEVEL": "WARNING",
            "PULS_WEBHOOKS_ALLOW_HTTP": "true",
            "PULS_WEBHOOKS_ALLOW_PRIVATE_ADDRESSES": "true",
            "PULS_WEBHOOKS_TIMEOUT_SECONDS": "60",
        }
    )
    return env


def _start_worker(settings: Settings) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli.main", "worker"],
        cwd=ROOT,
        env=_worker_env(settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def test_worker_killed_mid_delivery_delivers_after_restart(
    wh_app: FastAPI, wh_client: httpx.AsyncClient, wh_settings: Settings, receiver: Receiver
) -> None:
    calls = {"n": 0}

    def hang_first(_request: Received) -> Answer:
        calls["n"] += 1
        return Answer(hang=True) if calls["n"] == 1 else Answer(200)

    receiver.script("/kill", hang_first)
    sub = await subscribe(wh_client, receiver.url("/kill"))
    await make_events(wh_client, 1)

    first = _start_worker(wh_settings)
    try:
        await receiver.wait_for("/kill", 1, timeout=30)  # the worker is now mid-delivery
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    (pending,) = await deliveries(wh_client, sub["id"])
    assert pending["status"] == "pending" and pending["attempt_count"] == 0

    second = _start_worker(wh_settings)
    try:
        got = await receiver.wait_for("/kill", 2, timeout=30)
        for _ in range(100):
            (item,) = await deliveries(wh_client, sub["id"])
            if item["status"] == "delivered":
                break
            await asyncio.sleep(0.1)
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            second.wait(15)
        except subprocess.TimeoutExpired:
            second.kill()
    assert item["status"] == "delivered" and item["attempt_count"] == 1
    assert got[0].headers["webhook-id"] == got[1].headers["webhook-id"]  # the same message
    assert got[0].body == got[1].body
    verify(sub["secret"], got[1])
