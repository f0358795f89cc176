"""Every /v1 router, in the order they appear in the contract."""

from fastapi import APIRouter

from services.api.routes import api_keys, events, orgs, people, timedata

ROUTERS: list[APIRouter] = [
    orgs.router,
    people.router,
    timedata.router,
    api_keys.router,
    events.router,
]
