"""Every /v1 router, in the order they appear in the contract."""

from fastapi import APIRouter

from services.api.routes import (
    api_keys,
    compliance,
    events,
    kpis,
    me,
    meetings,
    notifications,
    orgs,
    people,
    timedata,
)
from services.api.routes import plans as plans_routes
from services.api.routes import webhooks as webhooks_routes

ROUTERS: list[APIRouter] = [
    orgs.router,
    people.router,
    timedata.router,
    kpis.router,
    compliance.router,
    plans_routes.router,
    meetings.router,
    notifications.router,
    webhooks_routes.router,
    api_keys.router,
    events.router,
    me.router,
]
