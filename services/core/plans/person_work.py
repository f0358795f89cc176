"""One person's part of the plans domain for `GET /v1/me/work`: the actions they are
responsible for that are still open and have a due date, and the report-backs they owe on
actions and plans, in the caller's subtree."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.plans import action_repository
from services.core.plans.common import listed_subtrees
from services.core.principal import Principal


@dataclass(frozen=True)
class OpenAction:
    id: uuid.UUID
    plan_id: uuid.UUID
    plan_title: str
    code: str
    title: str
    due_date: date
    status: str
    overdue: bool


async def open_actions_of(
    session: AsyncSession, principal: Principal, person_id: uuid.UUID, *, limit: int
) -> list[OpenAction]:
    rows = await action_repository.open_actions_of(
        session, person_id, await listed_subtrees(session, principal, None), limit
    )
    return [
        OpenAction(
            id=action.id,
            plan_id=action.plan_id,
            plan_title=plan_title,
            code=action.code,
            title=action.title,
            due_date=action.due_date,
            status=action.status,
            overdue=action.overdue_since is not None,
        )
        for action, plan_title in rows
    ]


@dataclass(frozen=True)
class OwedReportBack:
    """A follow-up the person owes on an action (`about`: action) or a plan (plan)."""

    about: str
    id: uuid.UUID
    plan_id: uuid.UUID
    title: str
    due_on: date


async def owed_report_backs_of(
    session: AsyncSession, principal: Principal, person_id: uuid.UUID, *, limit: int
) -> list[OwedReportBack]:
    rows = await action_repository.owed_report_backs_of(
        session, person_id, await listed_subtrees(session, principal, None), limit
    )
    return [OwedReportBack(r.about, r.id, r.plan_id, r.title, r.due_on) for r in rows]
