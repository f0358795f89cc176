"""Assignments given under an agenda item, their follow-up and the reminders when they are
due."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.crud import Window, in_scope_or_404, page_of
from services.core.errors import invalid_field
from services.core.events import service as events_service
from services.core.http import check_if_match
from services.core.meetings import repository
from services.core.meetings.agenda_service import item_for_write
from services.core.meetings.common import (
    action_exists,
    add_audited,
    assignment_read,
    check_unlocked,
    delete_audited,
    person_refs,
    refuse_nulls,
    refuse_when_locked,
    update_audited,
)
from services.core.meetings.errors import AssignmentNotFound, MeetingNotFound
from services.core.meetings.meeting_service import get_meeting_visible
from services.core.meetings.models import Assignment
from services.core.meetings.schemas import (
    AssignmentCreate,
    AssignmentRead,
    AssignmentSort,
    AssignmentStatus,
    AssignmentUpdate,
)
from services.core.pagination import Page, Tombstone
from services.core.people import service as people_service
from services.core.principal import Principal

# The fields of an assignment its meeting's minutes print (the assignee cannot be changed).
MINUTES_FIELDS = frozenset({"text", "due_date"})


async def _visible_row(
    session: AsyncSession,
    principal: Principal,
    assignment_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> Any:
    """(assignment, meeting, unit path, unit id), if the caller sees the body's unit."""
    return in_scope_or_404(
        await repository.get_assignment_scoped(session, assignment_id, for_update=for_update),
        principal,
        AssignmentNotFound(f"No assignment with id {assignment_id}"),
    )


async def create_assignment(
    session: AsyncSession,
    principal: Principal,
    item_id: uuid.UUID,
    data: AssignmentCreate,
    *,
    reason: str | None = None,
) -> AssignmentRead:
    """`reason`: the deprecated `X-Edit-Reason` header's value; the body's `reason` wins."""
    item, meeting, body = await item_for_write(session, principal, item_id, data.reason or reason)
    await people_service.require_person(
        session, principal, data.assignee_id, ["body", "assignee_id"]
    )
    if data.action_id is not None and not await action_exists(
        session, principal, str(data.action_id)
    ):
        raise invalid_field(
            ["body", "action_id"], f"unknown action {data.action_id}", "unknown_action"
        )
    assignment = Assignment(
        agenda_item_id=item.id,
        assignee_id=data.assignee_id,
        text=data.text,
        due_date=data.due_date,
        status=AssignmentStatus.open.value,
        action_id=data.action_id,
    )
    await add_audited(
        session, principal, assignment, "assignment", body.org_unit_id, within=meeting
    )
    refs = await person_refs(session, [assignment.assignee_id])
    return assignment_read(assignment, meeting.id, refs)


async def read_assignment(
    session: AsyncSession, principal: Principal, assignment_id: uuid.UUID
) -> AssignmentRead:
    row = await _visible_row(session, principal, assignment_id)
    refs = await person_refs(session, [row[0].assignee_id])
    return assignment_read(row[0], row[1].id, refs)


async def delete_assignment(
    session: AsyncSession, principal: Principal, assignment_id: uuid.UUID, *, if_match: str | None
) -> None:
    """Refused once its meeting's minutes are approved (they record it)."""
    row = await _visible_row(session, principal, assignment_id, for_update=True)
    assignment: Assignment = row[0]
    refuse_when_locked(row[1], "an assignment")
    check_if_match(if_match, assignment.version)
    await delete_audited(session, principal, assignment, "assignment", row[3], within=row[1])


async def list_assignments(
    session: AsyncSession,
    principal: Principal,
    *,
    assignee_id: uuid.UUID | None,
    status: AssignmentStatus | None,
    body_id: uuid.UUID | None,
    window: Window,
    sort: AssignmentSort | None = None,
    q: str | None = None,
) -> Page[AssignmentRead | Tombstone]:
    window = window.sorted_by(repository.ASSIGNMENT_SORTS[sort.value] if sort else None)
    rows = await repository.list_assignments(
        session,
        scope_path=principal.org_path,
        assignee_id=assignee_id,
        status=status.value if status else None,
        body_id=body_id,
        q=q,
        window=window,
    )
    refs = await person_refs(session, [r[0].assignee_id for r in rows])
    return page_of(rows, window, lambda r: assignment_read(r[0], r[1], refs))


async def update_assignment(
    session: AsyncSession,
    principal: Principal,
    assignment_id: uuid.UUID,
    data: AssignmentUpdate,
    *,
    if_match: str | None,
) -> AssignmentRead:
    """What the minutes say (`text`, `due_date`) is locked with them once they are approved,
    like the rest of the minutes; status follow-up (`status`, `reported_in_meeting_id`) goes on
    after approval."""
    row = await _visible_row(session, principal, assignment_id, for_update=True)
    assignment: Assignment = row[0]
    check_if_match(if_match, assignment.version)
    changes = data.model_dump(exclude_unset=True, exclude={"reason"})
    refuse_nulls(changes, ["status", "text"])
    if any(changes[f] != getattr(assignment, f) for f in MINUTES_FIELDS & changes.keys()):
        await check_unlocked(session, principal, row[1], row[3], data.reason)
    if changes.get("reported_in_meeting_id") is not None:
        try:
            await get_meeting_visible(session, principal, changes["reported_in_meeting_id"])
        except MeetingNotFound:
            raise invalid_field(
                ["body", "reported_in_meeting_id"], "unknown meeting", "unknown_meeting"
            ) from None
    await update_audited(session, principal, assignment, changes, "assignment", row[3], data)
    return await read_assignment(session, principal, assignment_id)


# ---------------------------------------------------------------- reminders


async def _publish_due(session: AsyncSession, event: str, claimed: Sequence[Any]) -> None:
    for assignment_id, assignee_id, due, org_unit_id in claimed:
        await events_service.publish(
            session,
            event,
            {
                "assignment_id": str(assignment_id),
                "assignee_id": str(assignee_id),
                "due_date": due.isoformat(),
            },
            org_unit_id=org_unit_id,
        )


async def notify_due(session: AsyncSession, today: date, *, soon_days: int = 7) -> dict[str, int]:
    """Publishes assignment.overdue and assignment.due_soon once per assignment each."""
    overdue = await repository.mark_due(
        session, column="overdue_notified_at", due_before=today, due_from=None
    )
    await _publish_due(session, "assignment.overdue", overdue)
    soon = await repository.mark_due(
        session,
        column="due_soon_notified_at",
        due_before=today + timedelta(days=soon_days + 1),
        due_from=today,
    )
    await _publish_due(session, "assignment.due_soon", soon)
    return {"overdue": len(overdue), "due_soon": len(soon)}


async def open_assignments_of_people(
    session: AsyncSession, *, due_before: date | None = None, person_id: uuid.UUID | None = None
) -> Sequence[Any]:
    """For other domains (reminders, digests, calendars): open assignments, due before
    `due_before` if given, of one assignee if given. Rows of (id, text, due_date, assignee_id,
    body_name, meeting_id), by due date."""
    return await repository.open_assignments_of_people(
        session, due_before=due_before, person_id=person_id
    )
