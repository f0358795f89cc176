"""Due dates watched: the scan that marks past-due actions overdue and announces them (and
those due soon) as events, and the overdue actions other domains list (a meeting's proposals)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.events import service as events_service
from services.core.plans import action_repository
from services.core.plans.schemas import OverdueAction


def _event_data(row: Any) -> dict[str, Any]:
    return {
        "action_id": str(row.id),
        "plan_id": str(row.plan_id),
        "code": row.code,
        "title": row.title,
        "due_date": row.due_date.isoformat(),
        "status": row.status,
        "progress": row.progress,
        "responsible_id": str(row.responsible_id) if row.responsible_id else None,
    }


async def scan_due_actions(
    session: AsyncSession, *, today: date, due_soon_days: int
) -> dict[str, int]:
    """Marks open actions of decided/active plans that are past due as overdue and publishes
    `action.overdue` once per action (until it is finished or its due date moves), and
    `action.due_soon` once per due date, `due_soon_days` before it. Idempotent."""
    cleared = await action_repository.clear_overdue(session, today)
    await action_repository.lock_plans_with_newly_overdue(session, today)
    overdue = await action_repository.mark_overdue(session, today)
    await events_service.publish_many(
        session,
        "action.overdue",
        [
            ({**_event_data(r), "overdue_since": r.overdue_since.isoformat()}, r.org_unit_id)
            for r in overdue
        ],
    )
    due_soon: Sequence[Any] = []
    if due_soon_days > 0:
        due_soon = await action_repository.mark_due_soon(
            session, today, today + timedelta(days=due_soon_days)
        )
        await events_service.publish_many(
            session,
            "action.due_soon",
            [
                ({**_event_data(r), "days_left": (r.due_date - today).days}, r.org_unit_id)
                for r in due_soon
            ],
        )
    return {"overdue": len(overdue), "due_soon": len(due_soon), "cleared": cleared}


async def overdue_actions_in_subtree(
    session: AsyncSession, org_unit_id: int, day: date
) -> list[OverdueAction]:
    """For other domains: open actions of live plans under a unit, due before `day`."""
    return await action_repository.overdue_actions_in_subtree(session, org_unit_id, day)


async def open_actions_of_people(
    session: AsyncSession, *, due_before: date | None = None, person_id: uuid.UUID | None = None
) -> Sequence[Any]:
    """For other domains (reminders, digests, calendars): open actions of live plans that have
    a responsible person, due before `due_before` if given, of one person if given. Rows of
    (id, code, title, due_date, responsible_id, plan_title), by due date."""
    return await action_repository.open_actions_of_people(
        session, due_before=due_before, person_id=person_id
    )


async def owed_report_backs_of_people(
    session: AsyncSession, *, due_before: date | None = None, person_id: uuid.UUID | None = None
) -> Sequence[Any]:
    """For other domains (reminders, digests, calendars): the report-backs owed on actions
    (by their responsible) and plans (by their owner) of decided or active plans, from their
    `follow_up_due_on`. Rows of (about: action | plan, id, plan_id, title, due_on, person_id,
    plan_title), by due date."""
    return await action_repository.owed_report_backs_of_people(
        session, due_before=due_before, person_id=person_id
    )
