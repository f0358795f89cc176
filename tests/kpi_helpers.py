"""Feeding time data and running the KPI engine the way the worker does, for KPI tests."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from services.cli import demo
from services.core.auth.service import bootstrap_principal
from services.core.db import transaction
from services.core.orgs import service as orgs_service
from services.core.orgs.schemas import OrgUnitCreate
from services.core.timedata import files, ingest
from services.worker.tasks import kpis as kpi_tasks
from tests.timedata_factories import time_record


async def feed(client: httpx.AsyncClient, kind: str, records: list[dict[str, Any]]) -> None:
    for start in range(0, len(records), 5_000):
        response = await client.post(
            f"/v1/{kind}:batch", json={"records": records[start : start + 5_000]}
        )
        assert response.status_code == 200, response.text
        assert response.json()["rejected"] == 0, response.json()["errors"][:3]


def worker_ctx(app: FastAPI) -> dict[str, Any]:
    """What the worker hands a task, built from the app's own resources."""
    return {
        "sessionmaker": app.state.sessionmaker,
        "arq": app.state.arq,
        "settings": app.state.settings,
    }


async def recalculate(app: FastAPI) -> int:
    return await kpi_tasks.recalculate(worker_ctx(app))


async def load_demo_region(app: FastAPI, spec: demo.Spec) -> demo.Counts:
    """The demo generator's region stored through the ingest path (as a file import stores it,
    without HTTP): org tree, employments, time records and costs, their cells marked dirty."""
    work = Path(tempfile.mkdtemp(prefix="puls-test-region-"))
    counts = demo.generate(spec, work)
    settings = app.state.settings
    tree = json.loads((work / demo.ORG_UNITS_FILE).read_text())
    async with transaction(app.state.sessionmaker) as session:
        await orgs_service.bulk_upsert(
            session, bootstrap_principal(), [OrgUnitCreate.model_validate(u) for u in tree]
        )
    for kind, name in demo.FILES.items():
        feed_kind = ingest.KINDS[kind]
        async with transaction(app.state.sessionmaker) as session:
            lookups = await ingest.load_lookups(session, None, None, codes=None, sources=None)
            for chunk in files.chunks(work / name, "csv", feed_kind, "heroma"):
                prepared = ingest.prepare(settings, feed_kind, chunk.rows, lookups)
                await ingest.store(session, settings, feed_kind, prepared, scope=None)
    return counts


def days(first: date, last: date) -> Iterable[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def shifts(
    prefix: str,
    employee: str,
    dates: Iterable[date],
    time_type: str,
    hours: str,
    *,
    unit: str = "SUS-AKUT",
    **extra: Any,
) -> list[dict[str, Any]]:
    return [
        time_record(
            f"{prefix}-{employee}-{d:%Y%m%d}-{time_type}",
            org_unit_code=unit,
            employee_ref=employee,
            work_date=d.isoformat(),
            time_type=time_type,
            hours=hours,
            **extra,
        )
        for d in dates
    ]


async def series(
    client: httpx.AsyncClient, kpi: str, unit: str, start: str, end: str, **params: Any
) -> list[dict[str, Any]]:
    response = await client.get(
        f"/v1/kpis/{kpi}/series", params={"org_unit": unit, "from": start, "to": end, **params}
    )
    assert response.status_code == 200, response.text
    points: list[dict[str, Any]] = response.json()["points"]
    return points


def values(points: list[dict[str, Any]]) -> dict[str, Any]:
    return {p["period"]: p["value"] for p in points}
