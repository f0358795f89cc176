"""PostgreSQL restarted under traffic: requests fail fast with a 503 problem (they do not hang)
and the API recovers by itself once the database is back (the pool pings and reconnects)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.api.app import create_app
from services.cli.main import alembic_upgrade
from services.core.config import Settings
from tests.conftest import make_client
from tests.faults.servers import PrivatePostgres
from tests.problems import assert_problem


@pytest.fixture
def private_postgres(tmp_path: Path) -> Iterator[tuple[PrivatePostgres, str]]:
    server = PrivatePostgres(tmp_path)
    url = server.start()
    try:
        alembic_upgrade(url)
        yield server, url
    finally:
        server.cleanup()


async def test_requests_get_503_while_postgres_is_down_and_recover_after(
    settings: Settings, private_postgres: tuple[PrivatePostgres, str]
) -> None:
    server, url = private_postgres
    app = create_app(settings.model_copy(update={"database_url": url}))
    async with app.router.lifespan_context(app), make_client(app) as client:
        created = await client.post(
            "/v1/org-units", json={"code": "RS", "name": "Region Skåne", "kind": "region"}
        )
        assert created.status_code == 201, created.text

        await asyncio.to_thread(server.stop)
        started = time.monotonic()
        down = await client.get("/v1/org-units")
        assert_problem(down, 503)
        assert down.headers["retry-after"]
        assert time.monotonic() - started < 10  # an answer, not a hang
        assert (await client.get("/readyz")).json()["checks"]["database"].startswith("down")

        await asyncio.to_thread(server.restart)
        back = await client.get("/v1/org-units")
        assert back.status_code == 200, back.text
        assert [unit["code"] for unit in back.json()["items"]] == ["RS"]
        assert (await client.get("/readyz")).status_code == 200
