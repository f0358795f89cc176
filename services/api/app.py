"""create_app(): the FastAPI application. Engines, pools and clients are built in the lifespan,
never at import, so tests and the CLI can build apps with their own settings."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from services.api.auth_throttle import AuthFailureThrottle
from services.api.deps import StrictJsonRoute, depends_on, get_principal
from services.api.docs_page import DOCS, install_docs
from services.api.middleware import (
    BodyLimitMiddleware,
    JsonContentTypeMiddleware,
    RequestContextMiddleware,
)
from services.api.openapi import (
    describe,
    document_headers,
    rename_generated,
    restore_examples,
)
from services.api.problems import finish_openapi, flat_routes, install_problem_handlers
from services.api.routes import ROUTERS, health, notifications
from services.core import tracing
from services.core.auth.oidc import OidcVerifier
from services.core.config import Settings, get_settings
from services.core.db import create_engine, create_sessionmaker
from services.core.logging import configure_logging
from services.core.metrics import ApiMetrics
from services.core.queue import create_arq_pool
from services.core.replica import Replica
from services.core.timedata.validator import BatchValidator

log = logging.getLogger(__name__)

UPLOAD_PREFIXES = ("/v1/imports",)

DESCRIPTION = """
Puls is the follow-up service of a Swedish healthcare region: action plans, management meetings
and KPI series fed by the region's HR and finance systems.

**Auth**: `Authorization: Bearer <api key>`, or `Bearer <access token>` from the region's identity
provider (OIDC, when configured): the token's subject is a person (`/v1/people`, `subject`) and
its roles give the scopes. Keys carry scopes (`read`, `timedata:write`,
`plans:write`, `meetings:write`, `kpis:write`, `webhooks:admin`, `admin`) and may be confined to an
org-unit subtree; anything outside it answers 404, and region-wide objects (catalogues, code
mappings, rules and people without a unit) answer such a key's writes with 403. The key is
checked before the body is read; more than a few requests a minute without a valid key from one
address are answered 429.

**Errors** are RFC 9457 problem details (`application/problem+json`) with a stable `code` and,
for validation, `errors: [{loc, msg, code}]`.

**Lists** use cursor pagination (`limit` ≤ 500, `cursor`, `next_cursor`); `updated_since` returns
changes including deletions as tombstones `{"id", "deleted": true, "updated_at"}`.

**Writes** of mutable resources return an `ETag`; send it back in `If-Match` (412 when stale).
Creating POSTs accept `Idempotency-Key`.
"""

TAGS = [
    {"name": "org-units", "description": "The organisation tree that every figure rolls up along."},
    {"name": "people", "description": "Named officials: owners, attendees, assignees."},
    {
        "name": "time-data",
        "description": "What HR and finance systems feed: time records, "
        "employments, personnel costs; code mappings and the profession catalogue.",
    },
    {
        "name": "kpis",
        "description": "The KPI catalogue, series with targets, deviations and trends, "
        "scorecards, manual values and recalculations.",
    },
    {
        "name": "compliance",
        "description": "Working-time rules and agency-staff policies, and the violations "
        "found in the time data.",
    },
    {
        "name": "action-plans",
        "description": "Action plans with packages, actions and follow-ups; summary, "
        "history, spreadsheet sync and the action area catalogue.",
    },
    {
        "name": "meetings",
        "description": "Bodies, meetings, agenda items, decisions, assignments and minutes.",
    },
    {
        "name": "notifications",
        "description": "E-mail subscriptions of the signed-in person and calendar feeds.",
    },
    {"name": "api-keys", "description": "Keys, scopes and org-unit confinement (admin)."},
    {"name": "events", "description": "The pollable feed of everything that happened."},
    {"name": "webhooks", "description": "Subscriptions that push events to other systems."},
    {"name": "ops", "description": "Health, readiness and metrics for operators."},
    {
        "name": "me",
        "description": "The caller themself: who signed in, and their assignments, actions, "
        "follow-ups and meetings.",
    },
]


# One instance per region: the host is the deployment's. Paths carry their `/v1` prefix.
SERVERS: list[dict[str, Any]] = [
    {
        "url": "{scheme}://{host}",
        "description": "A Puls instance (`make run` serves http://localhost:8000).",
        "variables": {
            "scheme": {"default": "https", "enum": ["https", "http"]},
            "host": {
                "default": "localhost:8000",
                "description": "The instance's host name and port.",
            },
        },
    }
]
# The service is the region's own; this names the terms the contract is published under.
LICENSE: dict[str, Any] = {
    "name": "Proprietary: Puls API description, for integrating with a Puls instance",
    "identifier": "LicenseRef-Puls-Proprietary",
}


def operation_id(route: APIRoute) -> str:
    return route.name


_frozen = False


def _freeze_startup_objects() -> None:
    """What start-up loaded (modules, the app, its routes) lives as long as the process. Out
    of the collector's sight, a full collection no longer walks it while requests wait: under
    a feed, the series p99 went from about 160 ms to 65–80 ms. Once per process (a test
    process builds many apps, and frozen garbage is never collected). A flag, not
    `gc.get_freeze_count()`: that counts the frozen objects one by one, 19 ms for every app
    a test process started."""
    global _frozen
    if not _frozen:
        gc.collect()
        gc.freeze()
        _frozen = True


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    metrics = ApiMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings)
        tracing.instrument_engine(engine)
        metrics.pool.watch(engine)
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        app.state.replica = Replica(settings) if settings.database_read_url else None
        app.state.batch_validator = BatchValidator(settings)
        _freeze_startup_objects()
        try:
            app.state.arq = await create_arq_pool(settings)
        except Exception:
            # Redis down at start: the API still serves and writes; /readyz reports it.
            log.warning("redis unavailable at startup; enqueueing disabled until restart")
            app.state.arq = None
        http = None
        if settings.oidc_issuer is not None:
            # Only for the identity provider's discovery document and keys.
            http = httpx.AsyncClient(follow_redirects=False)
            app.state.oidc = OidcVerifier(settings, http)
        try:
            yield
        finally:
            if http is not None:
                await http.aclose()
            app.state.batch_validator.close()
            if app.state.arq is not None:
                await app.state.arq.aclose()
            await engine.dispose()
            if app.state.replica is not None:
                await app.state.replica.dispose()
            tracing.shutdown()

    app = FastAPI(
        title="Puls",
        version="1.0.0",
        summary="Follow-up of action plans, management meetings and KPIs for healthcare regions.",
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
        docs_url=None,  # served from local assets below
        redoc_url=None,
        openapi_url="/openapi.json" if settings.serves_docs else None,
        generate_unique_id_function=operation_id,
        servers=SERVERS,
        license_info=LICENSE,
    )
    app.router.route_class = StrictJsonRoute
    tracing.start("puls-api")
    if tracing.enabled():
        # Outermost, so the request's span is current in every middleware and route.
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz,metrics")
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.arq = None
    app.state.replica = None
    app.state.oidc = None
    app.state.auth_throttle = AuthFailureThrottle(
        limit=settings.auth_failure_limit_per_minute, redis_prefix=settings.redis_prefix
    )
    install_problem_handlers(app)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
                servers=app.servers,
                license_info=app.license_info,
            )
            spec = restore_examples(spec, flat_routes(app.routes))
            spec = finish_openapi(document_scopes(spec, app.routes))
            app.openapi_schema = describe(rename_generated(document_headers(spec)))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    if settings.serves_docs:
        install_docs(app)
    app.include_router(health.router)
    for router in ROUTERS:
        app.include_router(router)
    app.include_router(notifications.feeds)

    app.add_middleware(JsonContentTypeMiddleware, exempt_prefixes=UPLOAD_PREFIXES)
    app.add_middleware(
        BodyLimitMiddleware,
        max_body=settings.max_body_bytes,
        max_upload=settings.max_upload_bytes,
        upload_prefixes=UPLOAD_PREFIXES,
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "If-Match",
                "Idempotency-Key",
                "X-Request-ID",
            ],
            expose_headers=["ETag", "Location", "X-Request-ID", "Retry-After", "Warning"],
        )
    app.add_middleware(
        RequestContextMiddleware, metrics=metrics, docs_prefixes=(DOCS, "/openapi.json")
    )
    return app


def _scopes_of(dependant: Any) -> list[str]:
    found: list[str] = list(getattr(dependant.call, "required_scopes", []) or [])
    for sub in dependant.dependencies:
        found += [s for s in _scopes_of(sub) if s not in found]
    return found


def document_scopes(spec: dict[str, Any], routes: list[Any]) -> dict[str, Any]:
    """Adds `x-scopes` (any one of them suffices; `admin` always does) and the bearer security
    scheme to each authenticated operation, so integrators and tests can read them. The same
    list stays under its first name, `x-required-scopes`, for one version."""
    spec.setdefault("components", {}).setdefault("securitySchemes", {})["apiKey"] = {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key from `POST /v1/api-keys` or `puls keys create`, or an "
        "access token (JWT) of the configured OIDC issuer (PULS_OIDC_ISSUER).",
    }
    for route in flat_routes(routes):
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        scopes = _scopes_of(route.dependant)
        for method in route.methods or ():
            operation = spec["paths"].get(route.path_format, {}).get(method.lower())
            if operation is None:
                continue
            if not scopes and depends_on(route.dependant, get_principal):
                # Any valid credential, no scope (`GET /v1/me`): an empty list, said so.
                operation["x-scopes"] = []
                operation["x-required-scopes"] = []
                operation["security"] = [{"apiKey": []}]
                note = "Needs no scope: any valid API key or access token."
                description = operation.get("description", "").strip()
                operation["description"] = f"{description}\n\n{note}".strip()
                continue
            if not scopes:
                continue
            operation["x-scopes"] = scopes
            operation["x-required-scopes"] = scopes
            operation["security"] = [{"apiKey": []}]
            note = f"Requires scope {' or '.join(f'`{s}`' for s in scopes)} (or `admin`)."
            description = operation.get("description", "").strip()
            operation["description"] = f"{description}\n\n{note}".strip()
    return spec


def app_factory() -> FastAPI:
    """Entry point for `uvicorn --factory services.api.app:app_factory`."""
    settings = get_settings()
    configure_logging(settings.log_level, as_json=settings.logs_as_json)
    return create_app(settings)
