"""One person's part of the meetings domain for `GET /v1/me/work`: their open assignments,
the follow-ups they present and their upcoming meetings with agendas, in the caller's subtree."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.meetings import repository
from services.core.principal import Principal


@dataclass(frozen=True)
class OpenAssignment:
    id: uuid.UUID
    text: str
    due_date: date | None
    status: str
    meeting_id: uuid.UUID
    agenda_item_id: uuid.UUID


@dataclass(frozen=True)
class AgendaLine:
    id: uuid.UUID
    number: int
    title: str
    kind: str
    presenter_ids: list[uuid.UUID]


@dataclass(frozen=True)
class UpcomingMeeting:
    id: uuid.UUID
    body_id: uuid.UUID
    body_name: str
    starts_at: datetime
    ends_at: datetime
    place: str | None
    agenda: list[AgendaLine]


@dataclass(frozen=True)
class OwedFollowUp:
    agenda_item_id: uuid.UUID
    title: str
    meeting_id: uuid.UUID
    starts_at: datetime


@dataclass(frozen=True)
class MeetingWork:
    assignments: list[OpenAssignment]
    meetings: list[UpcomingMeeting]
    follow_ups: list[OwedFollowUp]


async def work_of(
    session: AsyncSession,
    principal: Principal,
    person_id: uuid.UUID,
    *,
    since: datetime,
    until: datetime,
    limit: int,
) -> MeetingWork:
    scope = principal.org_path
    assignment_rows = await repository.open_assignments_of(session, person_id, scope, limit)
    meeting_rows = await repository.upcoming_meetings_of(
        session, person_id, scope, since=since, until=until, limit=limit
    )
    follow_up_rows = await repository.follow_ups_presented_by(
        session, person_id, scope, since=since, until=until, limit=limit
    )
    agendas = await repository.agendas(session, [row[0].id for row in meeting_rows])
    return MeetingWork(
        assignments=[
            OpenAssignment(
                id=a.id,
                text=a.text,
                due_date=a.due_date,
                status=a.status,
                meeting_id=meeting_id,
                agenda_item_id=a.agenda_item_id,
            )
            for a, meeting_id in assignment_rows
        ],
        meetings=[
            UpcomingMeeting(
                id=meeting.id,
                body_id=body.id,
                body_name=body.name,
                starts_at=meeting.starts_at,
                ends_at=meeting.ends_at,
                place=meeting.place,
                agenda=[
                    AgendaLine(i.id, i.number, i.title, i.kind, list(i.presenter_ids))
                    for i in agendas.get(meeting.id, [])
                ],
            )
            for meeting, body, _path in meeting_rows
        ],
        follow_ups=[
            OwedFollowUp(item.id, item.title, meeting.id, meeting.starts_at)
            for item, meeting in follow_up_rows
        ],
    )
