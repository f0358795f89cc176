from __future__ import annotations

import gc
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from services.api.app import create_app
from services.core.config import Settings
from tests.api_process import api_process
from tests.conftest import make_client
from tests.harness import ADMIN_TOKEN
from tests.problems import assert_problem


async def test_metrics_by_route_template_and_status(client: httpx.AsyncClient) -> None:
    await client.get("/v1/org-units/NOPE")
    await client.get("/v1/org-units/ALSO-NOPE")
    text = (await client.get("/metrics")).text
    assert (
        'puls_http_requests_total{method="GET",route="/v1/org-units/{code}",status="404"} 2.0'
        in text
    )
    assert "puls_http_request_duration_seconds_bucket" in text
    assert "puls_http_requests_in_flight" in text
    assert "NOPE" not in text


async def test_health_needs_no_key(anon: httpx.AsyncClient) -> None:
    assert (await anon.get("/healthz")).status_code == 200
    assert (await anon.get("/readyz")).json() == {
        "status": "ok",
        "checks": {"database": "ok", "redis": "ok"},
    }
    assert (await anon.get("/metrics")).status_code == 200


@pytest.fixture
async def broken_app(settings: Settings) -> AsyncIterator[FastAPI]:
    # Nothing listens on port 1: both dependencies are down.
    application = create_app(
        settings.model_copy(
            update={
                "database_url": "postgresql://postgres@127.0.0.1:1/nowhere",
                "redis_url": "redis://127.0.0.1:1/0",
            }
        )
    )
    async with application.router.lifespan_context(application):
        yield application


async def test_readyz_names_what_is_down_and_requests_get_503(broken_app: FastAPI) -> None:
    async with make_client(broken_app, raise_app_exceptions=False) as client:
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        checks = ready.json()["checks"]
        assert checks["database"].startswith("down") and checks["redis"].startswith("down")
        response = await client.get("/v1/org-units")
        assert_problem(response, 503)
        assert response.headers["retry-after"] == "5"
        assert (await client.get("/healthz")).status_code == 200


async def test_logs_are_json_lines_with_the_request_id(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    from services.core.logging import JsonFormatter

    caplog.set_level(logging.INFO, logger="puls.access")
    await client.get("/v1/org-units", headers={"X-Request-ID": "req-42"})
    record = next(r for r in caplog.records if r.name == "puls.access")
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "req-42"
    assert line["route"] == "/v1/org-units" and line["status"] == 200
    assert "authorization" not in json.dumps(line).lower()


async def test_docs_can_be_switched_off(settings: Settings) -> None:
    application = create_app(settings.model_copy(update={"docs_enabled": False}))
    async with make_client(application) as client:
        assert (await client.get("/docs")).status_code == 404
        assert (await client.get("/openapi.json")).status_code == 404


@pytest.mark.parametrize(("enabled", "served"), [(None, False), (True, True), (False, False)])
async def test_production_serves_docs_only_when_enabled(
    settings: Settings, enabled: bool | None, served: bool
) -> None:
    production = settings.model_copy(update={"env": "production", "docs_enabled": enabled})
    async with make_client(create_app(production)) as client:
        for path in ("/docs", "/openapi.json"):
            assert ((await client.get(path)).status_code == 200) is served, path


def test_several_api_processes_report_their_metrics_together(
    settings: Settings, tmp_path: Path
) -> None:
    """`PULS_API_WORKERS=2`: two processes serve one port, and /metrics, answered by either,
    counts the requests of both."""
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_1.db").write_bytes(b"left by an earlier run")
    with api_process(settings, PULS_API_WORKERS="2", PROMETHEUS_MULTIPROC_DIR=str(metrics_dir)) as (
        url,
        _,
    ):
        deadline = time.monotonic() + 30
        while len({f.stem.rsplit("_", 1)[1] for f in metrics_dir.glob("*.db")}) < 2:
            assert time.monotonic() < deadline, "the second process did not start"
            time.sleep(0.1)
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as c:
            for _ in range(30):
                assert c.get("/v1/kpis").status_code == 200
            text = c.get("/metrics").text
    line = next(
        x
        for x in text.splitlines()
        if x.startswith("puls_http_requests_total{") and 'route="/v1/kpis"' in x
    )
    assert float(line.rsplit(" ", 1)[1]) == 30
    assert not (metrics_dir / "counter_1.db").exists()


async def test_startup_objects_are_frozen_out_of_the_collectors_sight(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full garbage collection walked every module and route while requests waited."""
    # The freeze lasts the process: thaw what earlier apps froze, so only this start-up counts.
    gc.unfreeze()
    monkeypatch.setattr("services.api.app._frozen", False)
    assert gc.get_freeze_count() == 0
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        assert gc.get_freeze_count() > 0
    # Once per process: the next app freezes nothing more.
    frozen = gc.get_freeze_count()
    again = create_app(settings)
    async with again.router.lifespan_context(again):
        assert gc.get_freeze_count() == frozen


async def test_the_docs_page_loads_its_assets_from_puls(anon: httpx.AsyncClient) -> None:
    """Without a browser: the page names only Puls's own asset paths, and they are served."""
    page = (await anon.get("/docs")).text
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert assets and all(a.startswith("/docs/assets/") for a in assets), assets
    for asset in assets:
        answer = await anon.get(asset)
        assert answer.status_code == 200 and answer.content, asset
