"""What a meeting is prepared from and what it leaves: proposals for the agenda (open
assignments, overdue actions, breached targets) and the minutes as plain data, which the
renderers in `minutes.py` lay out."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.config import Settings
from services.core.kpis import chart_service, series_service
from services.core.meetings import repository
from services.core.meetings.meeting_service import get_meeting_visible
from services.core.meetings.models import Meeting
from services.core.meetings.schemas import ItemKind, Link, PrepareRead, Proposal
from services.core.people import service as people_service
from services.core.plans import due_scan
from services.core.principal import Principal

ProposalSource = Callable[[AsyncSession, Principal, int, Meeting], Awaitable[list[Proposal]]]


async def open_assignments_source(
    session: AsyncSession, principal: Principal, body_org_unit: int, meeting: Meeting
) -> list[Proposal]:
    due_by = meeting.starts_at.date()
    rows = await repository.open_assignments_due_by(session, meeting.body_id, due_by)
    return [
        Proposal(
            source="open_assignments",
            title=f"Återrapport: {a.text}",
            kind=ItemKind.follow_up,
            links=[Link(kind="action", id=str(a.action_id))] if a.action_id else [],
            assignment_id=a.id,
        )
        for a in rows
    ]


# The lead registers "overdue actions" and "breached targets" sources here at merge.
async def overdue_actions_source(
    session: AsyncSession, principal: Principal, body_org_unit: int, meeting: Meeting
) -> list[Proposal]:
    """Actions of live plans in the body's subtree that will be past due and not finished by
    the meeting day."""
    overdue = await due_scan.overdue_actions_in_subtree(
        session, body_org_unit, meeting.starts_at.date()
    )
    return [
        Proposal(
            source="overdue_actions",
            title=f"Försenad åtgärd {a.code} {a.title} "
            f"({a.plan_title}, senast {a.due_date:%Y-%m-%d})",
            kind=ItemKind.follow_up,
            links=[Link(kind="action", id=str(a.id))],
        )
        for a in overdue
    ]


async def breached_targets_source(
    session: AsyncSession, principal: Principal, body_org_unit: int, meeting: Meeting
) -> list[Proposal]:
    """Targets in the body's subtree whose latest evaluated month is not met."""
    breached = await series_service.breached_targets(session, principal, body_org_unit)
    return [
        Proposal(
            source="breached_targets",
            title=f"Målet för {b['kpi']} nås inte i {b['org_unit']} ({b['period']})",
            kind=ItemKind.follow_up,
            links=[Link(kind="target", id=b["target_id"])],
        )
        for b in breached
    ]


PROPOSAL_SOURCES: list[ProposalSource] = [
    open_assignments_source,
    overdue_actions_source,
    breached_targets_source,
]


async def prepare(
    session: AsyncSession, principal: Principal, meeting_id: uuid.UUID
) -> PrepareRead:
    meeting, body = await get_meeting_visible(session, principal, meeting_id)
    proposals: list[Proposal] = []
    for source in PROPOSAL_SOURCES:
        proposals.extend(await source(session, principal, body.org_unit_id, meeting))
    return PrepareRead(meeting_id=meeting.id, proposals=proposals)


async def breached_target_charts(
    session: AsyncSession, settings: Settings, principal: Principal, meeting_id: uuid.UUID
) -> list[chart_service.TargetChart]:
    """The charts of the targets in the body's subtree whose latest evaluated month is not met
    (the `breached_targets` proposals), for the HTML prepare view and minutes."""
    _meeting, body = await get_meeting_visible(session, principal, meeting_id)
    return await chart_service.breached_target_charts(
        session, settings, principal, body.org_unit_id
    )


# ---------------------------------------------------------------- minutes


async def minutes(
    session: AsyncSession, principal: Principal, meeting_id: uuid.UUID, *, time_zone: str
) -> dict[str, Any]:
    """The minutes as plain data; the renderers in `minutes.py` lay it out like seed 000.
    Times stay UTC instants; `time_zone` (the region's) is what the renderers print them in."""
    meeting, body = await get_meeting_visible(session, principal, meeting_id)
    attendees = await repository.attendees.of(session, [meeting.id])
    items = await repository.items(session, meeting.id)
    item_ids = [i.id for i in items]
    decisions = await repository.decisions(session, item_ids)
    assignments = await repository.assignments(session, item_ids)
    person_ids = {a.person_id for a in attendees} | {a.assignee_id for a in assignments}
    for i in items:
        person_ids.update(i.presenter_ids)
    people = await people_service.by_ids(session, list(person_ids))
    number_of = {i.id: i.number for i in items}

    def who(pid: uuid.UUID) -> dict[str, Any]:
        p = people.get(pid)
        return {
            "id": str(pid),
            "name": p.name if p else None,
            "initials": p.initials if p else None,
        }

    return {
        "meeting_id": str(meeting.id),
        "body": {"id": str(body.id), "name": body.name, "short_name": body.short_name},
        "starts_at": meeting.starts_at.isoformat(),
        "ends_at": meeting.ends_at.isoformat(),
        "time_zone": time_zone,
        "place": meeting.place,
        "status": meeting.status,
        "attendees": [
            who(a.person_id)
            | {
                "role": a.role,
                "present": a.present,
                "co_opted_items": sorted(
                    number_of[i] for i in a.co_opted_item_ids if i in number_of
                ),
            }
            for a in attendees
        ],
        "items": [
            {
                "number": i.number,
                "title": i.title,
                "kind": i.kind,
                "presenters": [who(p) for p in i.presenter_ids],
                "notes": i.notes,
                "decisions": [
                    {
                        "id": str(d.id),
                        "text": d.text,
                        "decided_at": d.decided_at.isoformat(),
                        "effective_date": d.effective_date.isoformat()
                        if d.effective_date
                        else None,
                    }
                    for d in decisions
                    if d.agenda_item_id == i.id
                ],
                "assignments": [
                    {
                        "id": str(a.id),
                        "assignee": who(a.assignee_id),
                        "text": a.text,
                        "due_date": a.due_date.isoformat() if a.due_date else None,
                        "status": a.status,
                    }
                    for a in assignments
                    if a.agenda_item_id == i.id
                ],
            }
            for i in items
        ],
    }
