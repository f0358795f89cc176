from __future__ import annotations

from typing import Annotated

from fastapi import Query

from services.api.deps import PageDep, Reader, SessionDep, UpdatedSince, api_router
from services.api.operations import lists
from services.core.events import service as events_service
from services.core.events.schemas import EventFeed

router = api_router(prefix="/events", tags=["events"])


@router.get("", **lists("Poll the event feed", EventFeed))
async def list_events(
    session: SessionDep,
    principal: Reader,
    page: PageDep,
    after: Annotated[
        int, Query(ge=0, le=2**63 - 1, description="Return events with a larger id.")
    ] = 0,
    types: Annotated[
        str | None,
        Query(
            max_length=1000,
            description="Comma-separated types; `kpi.*` matches a family.",
            examples=["org_unit.created,kpi.*"],
        ),
    ] = None,
    updated_since: UpdatedSince = None,
) -> EventFeed:
    """Events in the order they happened, for systems that poll instead of taking webhooks.
    Keys confined to a subtree see only that subtree's events. Pages like every list
    (`limit`, `cursor`, `next_cursor`); `after`/`next_after` remain for pollers. Events are
    never changed or deleted: `updated_since` keeps those that occurred later, and there are
    no tombstones."""
    wanted = [t.strip() for t in (types or "").split(",") if t.strip()]
    return await events_service.feed(
        session,
        principal,
        after=after,
        types=wanted,
        limit=page.limit,
        cursor=page.cursor,
        updated_since=updated_since,
    )
