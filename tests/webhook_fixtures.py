"""Shared set-up of the webhook tests: an app whose settings allow the local receiver
(http on 127.0.0.1) with fast retries, and helpers to subscribe, make events and deliver."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.api.app import create_app
from services.core.config import Settings
from services.core.webhooks import delivery
from tests.conftest import make_client
from tests.webhook_receiver import Receiver, running_receiver

FAST = {
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
    return settings.model_copy(update=FAST)


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


async def subscribe(
    client: httpx.AsyncClient, url: str, types: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    response = await client.post(
        "/v1/webhooks", json={"url": url, "event_types": types or ["org_unit.*"], **extra}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def make_events(client: httpx.AsyncClient, n: int, prefix: str = "U") -> list[str]:
    """n `org_unit.created` events (one per unit created)."""
    codes = [f"{prefix}{i:03d}" for i in range(n)]
    for code in codes:
        response = await client.post(
            "/v1/org-units", json={"code": code, "name": f"Enhet {code}", "kind": "unit"}
        )
        assert response.status_code == 201, response.text
    return codes


async def deliver(app: FastAPI, settings: Settings, **kwargs: Any) -> dict[str, int]:
    return await delivery.run(app.state.sessionmaker, settings, **kwargs)


async def deliveries(client: httpx.AsyncClient, webhook_id: str, **params: Any) -> list[Any]:
    response = await client.get(f"/v1/webhooks/{webhook_id}/deliveries", params=params)
    assert response.status_code == 200, response.text
    items: list[Any] = response.json()["items"]
    return items
