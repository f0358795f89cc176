from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.app import create_app
from services.cli.main import alembic_upgrade
from services.core.config import Settings
from tests import harness
from tests.harness import ADMIN_TOKEN
from tests.webhook_receiver import Receiver, running_receiver


def _worker_id() -> str:
    # PULS_TEST_WORKER: the id of a test process started beside others without xdist (the
    # contract fuzzing's shards), for its own Redis database and queue.
    return os.environ.get("PYTEST_XDIST_WORKER") or os.environ.get("PULS_TEST_WORKER", "gw0")


@pytest.fixture(scope="session")
def database() -> Iterator[tuple[str, list[str]]]:
    """One fresh database per test process, migrated to head once."""
    server_url = harness.server_database_url()
    name = harness.unique_database_name(_worker_id())
    url = harness.create_database(server_url, name)
    try:
        alembic_upgrade(url, "heads")
        seeded = asyncio.run(harness.snapshot_seed_data(url))
        yield url, seeded
    finally:
        harness.drop_database(server_url, name)


@pytest.fixture(scope="session")
def settings(database: tuple[str, list[str]]) -> Settings:
    # Each test process gets its own Redis database, so deterministic arq job ids never clash;
    # PULS_TEST_REDIS_DB moves the range when several checkouts test against one server.
    worker_index = int(_worker_id().removeprefix("gw") or 0)
    first_db = int(os.environ.get("PULS_TEST_REDIS_DB", "1"))
    redis_url = harness.with_redis_db(harness.redis_base_url(), first_db + worker_index)
    return Settings(
        DATABASE_URL=database[0],
        REDIS_URL=redis_url,
        env="test",
        bootstrap_api_key=ADMIN_TOKEN,
        pseudonym_key=harness.PSEUDONYM_KEY,
        queue_name=f"puls:test:{_worker_id()}",
        redis_prefix=f"puls-test-{_worker_id()}",
        worker_metrics_port=0,
        db_pool_size=5,
        import_dir=tempfile.mkdtemp(prefix="puls-test-imports-"),
    )


@pytest.fixture(autouse=True)
async def clean_state(
    request: pytest.FixtureRequest, database: tuple[str, list[str]]
) -> AsyncIterator[None]:
    yield
    if request.node.get_closest_marker("shared_state"):
        return  # reset by shared_state_reset after the module
    if "settings" in request.fixturenames or "app" in request.fixturenames:
        await _reset(database, request.getfixturevalue("settings"))


@pytest.fixture(scope="module", autouse=True)
def shared_state_reset(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a `shared_state` module: the reset its tests went without (other modules do not
    ask for the database here: some need none)."""
    yield
    if request.node.get_closest_marker("shared_state"):
        asyncio.run(
            _reset(request.getfixturevalue("database"), request.getfixturevalue("settings"))
        )


async def _reset(database: tuple[str, list[str]], settings: Settings) -> None:
    await harness.reset_database(database[0], database[1])
    # Upload files of imports a test left queued: the next test starts with none.
    for leftover in Path(settings.import_dir).glob("*"):
        leftover.unlink(missing_ok=True)
    client = aioredis.Redis.from_url(settings.redis_url)
    try:
        await client.flushdb()
    finally:
        await client.aclose()


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


def make_client(
    app: FastAPI,
    token: str | None = ADMIN_TOKEN,
    *,
    raise_app_exceptions: bool = True,
    **kwargs: Any,
) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions),
        base_url="http://puls.test",
        headers=headers,
        **kwargs,
    )


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(app) as c:
        yield c


@pytest.fixture
async def anon(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(app, token=None) as c:
        yield c


@pytest.fixture
async def session(app: FastAPI) -> AsyncIterator[AsyncSession]:
    """A session on the app's engine for direct service calls; the test commits what it needs."""
    async with app.state.sessionmaker() as s:
        yield s


# The webhook tests' app: settings that allow the local receiver (http on 127.0.0.1) with
# fast retries.
FAST_WEBHOOKS = {
    "webhooks_allow_http": True,
    "webhooks_allow_private_addresses": True,
    "webhooks_retry_schedule_seconds": [0.05, 0.05, 0.05],
    "webhooks_retry_jitter": 0.0,
    "webhooks_timeout_seconds": 2.0,
    "webhooks_connect_timeout_seconds": 1.0,
    "webhooks_outbox_gap_grace_seconds": 0.0,
}


@pytest.fixture
def wh_settings(settings: Settings) -> Settings:
    return settings.model_copy(update=FAST_WEBHOOKS)


@pytest.fixture
async def wh_app(wh_settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(wh_settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def wh_client(wh_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(wh_app) as c:
        yield c


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as r:
        yield r
