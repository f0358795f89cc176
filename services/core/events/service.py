"""`publish` is the only way an event comes into being: a row in the caller's transaction, so an
event exists if and only if the change that caused it committed."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.core import queue
from services.core.crud import read_as
from services.core.errors import ValidationFailed, field_error
from services.core.events import repository
from services.core.events.models import Event
from services.core.events.schemas import EventFeed, EventRead
from services.core.pagination import decode_cursor, split_page
from services.core.principal import Principal


def _wake_delivery(session: AsyncSession) -> None:
    # Wake webhook delivery once the events are committed (a cron sweep covers lost wake-ups).
    queue.defer_job(session, "deliver_webhooks", job_id=f"deliver_webhooks:{int(time.time())}")


async def publish(
    session: AsyncSession,
    type_: str,
    data: dict[str, Any],
    *,
    org_unit_id: int | None = None,
) -> None:
    await repository.insert(session, type_, data, org_unit_id)
    _wake_delivery(session)


async def publish_many(
    session: AsyncSession, type_: str, items: list[tuple[dict[str, Any], int | None]]
) -> None:
    """Many events of one type in one statement (scans that find many things at once)."""
    await publish_all(session, [(type_, data, unit) for data, unit in items])


async def publish_all(
    session: AsyncSession, events: list[tuple[str, dict[str, Any], int | None]]
) -> None:
    """(type, data, org unit id) events in one statement however many, in the list's order."""
    if not events:
        return
    await repository.insert_many(session, events)
    _wake_delivery(session)


async def publish_selected(session: AsyncSession, type_: str, query: str) -> int:
    """Events of one type from a query's rows (`org_unit_id`, `data` as jsonb), in the rows'
    order, without a trip through Python: a scan may find thousands. Returns how many."""
    published = await repository.insert_selected(session, type_, query)
    if published:
        _wake_delivery(session)
    return published


FEED = "events"


async def feed(
    session: AsyncSession,
    principal: Principal,
    *,
    after: int,
    types: list[str],
    limit: int,
    cursor: str | None = None,
    updated_since: datetime | None = None,
) -> EventFeed:
    """Events in id order after `after` (or after `cursor`, which wins). Events are never
    changed or deleted, so `updated_since` only filters on when they occurred. `next_cursor`
    is null once caught up (a short page); `next_after` always says where to poll next."""
    if cursor is not None:
        (after,) = decode_cursor(cursor, [Event.__table__.c.id], FEED)  # type: ignore[attr-defined]
        if not isinstance(after, int) or after < 0:
            raise ValidationFailed(
                "The cursor is not one this service issued",
                errors=[field_error(["query", "cursor"], "invalid cursor", "invalid_cursor")],
            )
    rows = await repository.feed(
        session,
        after=after,
        types=types,
        scope_path=principal.org_path,
        limit=limit + 1,
        occurred_after=updated_since,
    )
    kept, next_cursor = split_page(rows, limit, lambda r: (r[0].id,), FEED)
    items = [read_as(EventRead, event, org_unit=code) for event, code in kept]
    return EventFeed(
        items=items, next_cursor=next_cursor, next_after=items[-1].id if items else after
    )
