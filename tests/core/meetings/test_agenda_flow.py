"""An agenda item, its decision and assignment: each is a change of the meeting (a new
version), plans can see the decision, the assignment is followed up, and approval locks the
meeting for everyone but an admin with a reason."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.core.audit.models import AuditEntry
from services.core.crud import Window
from services.core.errors import ValidationFailed
from services.core.meetings import agenda_service, assignment_service, meeting_service
from services.core.meetings.errors import MeetingLocked
from services.core.meetings.schemas import (
    AgendaItemUpdate,
    AssignmentRead,
    AssignmentStatus,
    AssignmentUpdate,
    DecisionCreate,
)
from services.core.plans.references import meeting_lookups
from tests.core.meetings.conftest import codes, confined_to, hold_meeting, meeting_on
from tests.factories import ADMIN

pytestmark = pytest.mark.usefixtures("region")


async def test_item_decision_and_assignment_each_change_the_meeting(
    session: AsyncSession,
) -> None:
    held = await hold_meeting(session)

    meeting = await meeting_service.read_meeting(session, ADMIN, held.meeting.id)
    assert (held.meeting.version, meeting.version) == (1, 4)  # item, decision, assignment
    window = Window(limit=10)
    items = await agenda_service.list_items(session, ADMIN, meeting.id, window=window)
    assert [i.id for i in items.items] == [held.item.id]
    decisions = (
        await agenda_service.list_decisions(session, ADMIN, meeting.id, window=window)
    ).items
    assert [(d.id, d.agenda_item_id, d.text) for d in decisions] == [  # type: ignore[union-attr]
        (held.decision.id, held.item.id, "Hyrstopp för sjuksköterskor.")
    ]
    assert (held.assignment.status, held.assignment.version) == (AssignmentStatus.open, 1)
    # What plans asks of meetings (a plan decided by this decision) goes through the registry.
    lookups = meeting_lookups()
    assert await lookups.decision_visible(session, ADMIN, held.decision.id)
    assert await lookups.meeting_visible(session, ADMIN, meeting.id)


async def test_an_assignment_is_followed_up_in_a_later_meeting(session: AsyncSession) -> None:
    held = await hold_meeting(session)
    later = await meeting_on(
        session, held.body.id, "2024-02-12T12:00:00+00:00", "2024-02-12T16:00:00+00:00"
    )

    reported = await assignment_service.update_assignment(
        session,
        ADMIN,
        held.assignment.id,
        AssignmentUpdate(status=AssignmentStatus.reported, reported_in_meeting_id=later.id),
        if_match='"1"',
    )

    assert (reported.status, reported.reported_in_meeting_id) == (
        AssignmentStatus.reported,
        later.id,
    )
    assert reported.version == 2
    mine = await assignment_service.list_assignments(
        session,
        ADMIN,
        assignee_id=held.assignee_id,
        status=None,
        body_id=held.body.id,
        window=Window(limit=10),
    )
    assert [a.status for a in mine.items if isinstance(a, AssignmentRead)] == ["reported"]
    still_open = await assignment_service.list_assignments(
        session,
        ADMIN,
        assignee_id=None,
        status=AssignmentStatus.open,
        body_id=None,
        window=Window(limit=10),
    )
    assert still_open.items == []
    with pytest.raises(ValidationFailed) as cleared:
        await assignment_service.update_assignment(
            session, ADMIN, held.assignment.id, AssignmentUpdate(status=None), if_match=None
        )
    assert codes(cleared.value) == ["null"]


async def test_approval_locks_the_meeting_but_for_an_admin_with_a_reason(
    session: AsyncSession,
) -> None:
    held = await hold_meeting(session)
    writer = await confined_to(session, "RS")
    approved = await meeting_service.approve(session, writer, held.meeting.id, if_match='"4"')
    assert approved.status.value == "minutes_approved" and approved.approved_at is not None

    correction = DecisionCreate(text="Rättelse.", decided_at=date(2024, 1, 15))
    with pytest.raises(MeetingLocked):
        await agenda_service.create_decision(session, writer, held.item.id, correction)
    with pytest.raises(MeetingLocked):
        await agenda_service.update_item(
            session, writer, held.item.id, AgendaItemUpdate(notes="Sent"), if_match=None
        )
    with pytest.raises(ValidationFailed) as no_reason:
        await agenda_service.create_decision(session, ADMIN, held.item.id, correction)
    assert codes(no_reason.value) == ["required"]

    await agenda_service.create_decision(
        session, ADMIN, held.item.id, correction, reason="Felskrivning i protokollet"
    )

    reasons = (
        await session.execute(
            sa.select(col(AuditEntry.details)).where(
                col(AuditEntry.action) == "meeting.edit_after_approval",
                col(AuditEntry.resource_id) == str(held.meeting.id),
            )
        )
    ).scalars()
    assert [d["reason"] for d in reasons] == ["Felskrivning i protokollet"]
    # Follow-up of the assignment goes on after approval.
    followed = await assignment_service.update_assignment(
        session,
        writer,
        held.assignment.id,
        AssignmentUpdate(status=AssignmentStatus.in_progress),
        if_match=None,
    )
    assert followed.status is AssignmentStatus.in_progress
