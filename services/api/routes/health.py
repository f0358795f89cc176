from __future__ import annotations

import asyncio
from typing import Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ConfigDict, Field

from services.core.metrics import exposition

# The probes take no key: `security: []` says so in the contract.
PUBLIC: dict[str, Any] = {"security": []}
router = APIRouter(tags=["ops"])


class Health(BaseModel):
    """The process answers."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})

    status: str = Field(description="Always `ok`.")


class Readiness(BaseModel):
    """Whether the dependencies answer."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"status": "ok", "checks": {"database": "ok", "redis": "ok"}}]
        }
    )

    status: Literal["ok", "unavailable"] = Field(description="`ok` when every check is.")
    checks: dict[str, str] = Field(
        description="Each dependency (`database`, `redis`): `ok`, or `down: <reason>`."
    )


@router.get("/healthz", summary="Process is up", response_model=Health, openapi_extra=PUBLIC)
async def healthz() -> Health:
    """Answers 200 while the process runs; says nothing about its dependencies."""
    return Health(status="ok")


async def _check_database(request: Request) -> str:
    try:
        async with request.app.state.engine.connect() as conn:
            await asyncio.wait_for(conn.execute(sa.text("SELECT 1")), timeout=2)
        return "ok"
    except Exception as exc:
        return f"down: {type(exc).__name__}"


async def _check_redis(request: Request) -> str:
    arq = request.app.state.arq
    if arq is None:
        return "down: not connected"
    try:
        await asyncio.wait_for(arq.ping(), timeout=2)
        return "ok"
    except Exception as exc:
        return f"down: {type(exc).__name__}"


async def _checks(request: Request) -> dict[str, str]:
    """Both dependencies, checked at once; the `puls_ready` gauge follows the answer."""
    database, redis = await asyncio.gather(_check_database(request), _check_redis(request))
    checks = {"database": database, "redis": redis}
    for name, result in checks.items():
        request.app.state.metrics.ready.labels(name).set(1 if result == "ok" else 0)
    return checks


@router.get(
    "/readyz",
    summary="Database and Redis reachable",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "A dependency is down"}},
    openapi_extra=PUBLIC,
)
async def readyz(request: Request) -> Any:
    """200 when PostgreSQL and Redis both answer within 2 s; 503 naming what is down."""
    checks = await _checks(request)
    ok = all(v == "ok" for v in checks.values())
    body = Readiness(status="ok" if ok else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {
            "content": {CONTENT_TYPE_LATEST: {"example": "puls_http_requests_total 1"}},
            "description": "Prometheus text exposition format",
        }
    },
    openapi_extra=PUBLIC,
)
async def metrics(request: Request) -> Response:
    """Request counts and latency by route template and status, requests in flight, feed
    records by outcome, database pool use, and `puls_ready` (each dependency checked now, as
    /readyz does, so an alert needs no separate probe)."""
    await _checks(request)
    return Response(exposition(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
