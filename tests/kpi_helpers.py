"""Feeding time data and running the KPI engine the way the worker does, for KPI tests."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

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
