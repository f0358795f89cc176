"""The caller themself: who they are (`GET /v1/me`) and their work across plans and meetings
(`GET /v1/me/work`), for a frontend's start page."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.clock import utcnow
from services.core.errors import NotAPerson, field_error
from services.core.me.schemas import AgendaEntry, AuthMethod, MeRead, WorkItem, WorkKind, WorkRead
from services.core.meetings import person_work as meetings_work
from services.core.people import service as people_service
from services.core.plans import person_work as plans_work
from services.core.principal import Principal

# Items of each kind `GET /v1/me/work` lists at most (the earliest due).
WORK_LIMIT_PER_KIND = 200
_FAR_FUTURE = date.max


def person_of(principal: Principal, loc: list[str | int]) -> uuid.UUID:
    """The signed-in person's id for `me`; an API key is no person (403 `not_a_person`, the
    answer `/v1/me/subscriptions` gives too), `loc` naming where `me` was asked for."""
    if principal.person_id is None:
        msg = "'me' needs a person's sign-in (an OIDC token); an API key is no person"
        raise NotAPerson(msg, errors=[field_error(loc, msg, "not_a_person")])
    return principal.person_id


async def me(session: AsyncSession, principal: Principal) -> MeRead:
    person = (
        await people_service.read_signed_in(session, principal.person_id)
        if principal.person_id is not None
        else None
    )
    is_key = principal.key_id is not None
    return MeRead(
        auth_method=AuthMethod(principal.auth_method),
        person=person,
        key_id=principal.key_id,
        key_name=principal.name if is_key else None,
        scopes=sorted(principal.scopes),
        subtree=principal.org_unit_code if principal.org_path is not None else None,
    )


async def work(
    session: AsyncSession, principal: Principal, *, days: int, timezone: str
) -> WorkRead:
    person_id = person_of(principal, ["path"])
    zone = ZoneInfo(timezone)
    now = utcnow()
    today = now.astimezone(zone).date()
    until = today + timedelta(days=days)
    until_at = datetime.combine(until + timedelta(days=1), time(), tzinfo=zone)
    limit = WORK_LIMIT_PER_KIND
    meetings = await meetings_work.work_of(
        session, principal, person_id, since=now, until=until_at, limit=limit
    )
    actions = await plans_work.open_actions_of(session, principal, person_id, limit=limit)
    owed = await plans_work.owed_report_backs_of(session, principal, person_id, limit=limit)
    items = [
        WorkItem(
            kind=WorkKind.assignment,
            id=a.id,
            title=a.text,
            due_date=a.due_date,
            status=a.status,
            overdue=a.due_date is not None and a.due_date < today,
            meeting_id=a.meeting_id,
        )
        for a in meetings.assignments
    ]
    items += [
        WorkItem(
            kind=WorkKind.action,
            id=a.id,
            title=f"{a.code} {a.title}",
            due_date=a.due_date,
            status=a.status,
            overdue=a.overdue,
            plan_id=a.plan_id,
        )
        for a in actions
    ]
    items += [
        WorkItem(
            kind=WorkKind.follow_up,
            id=f.agenda_item_id,
            title=f.title,
            due_date=f.starts_at.astimezone(zone).date(),
            status=None,
            overdue=False,
            meeting_id=f.meeting_id,
            starts_at=f.starts_at,
        )
        for f in meetings.follow_ups
    ]
    items += [
        WorkItem(
            kind=WorkKind.owed_follow_up,
            id=o.id,
            title=o.title,
            due_date=o.due_on,
            status=None,
            overdue=o.due_on < today,
            plan_id=o.plan_id,
            action_id=o.id if o.about == "action" else None,
        )
        for o in owed
    ]
    items += [
        WorkItem(
            kind=WorkKind.meeting,
            id=m.id,
            title=m.body_name,
            due_date=m.starts_at.astimezone(zone).date(),
            status=None,
            overdue=False,
            meeting_id=m.id,
            starts_at=m.starts_at,
            ends_at=m.ends_at,
            place=m.place,
            agenda=[AgendaEntry(**vars(line)) for line in m.agenda],
        )
        for m in meetings.meetings
    ]
    order = list(WorkKind)
    items.sort(
        key=lambda i: (i.due_date or _FAR_FUTURE, i.starts_at or now, order.index(i.kind), i.id)
    )
    counts = (
        len(meetings.assignments),
        len(actions),
        len(meetings.follow_ups),
        len(owed),
        len(meetings.meetings),
    )
    return WorkRead(
        person_id=person_id,
        until=until,
        items=items,
        truncated=any(count >= limit for count in counts),
    )
