"""Another unit's ids are a 404 at the service level, indistinguishable from ids that do not
exist."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.crud import Window
from services.core.errors import NotFound
from services.core.meetings import (
    agenda_service,
    assignment_service,
    body_service,
    meeting_service,
    minutes_service,
)
from services.core.meetings.errors import (
    AgendaItemNotFound,
    AssignmentNotFound,
    BodyNotFound,
    DecisionNotFound,
    MeetingNotFound,
)
from services.core.meetings.schemas import (
    AgendaItemUpdate,
    AssignmentCreate,
    DecisionCreate,
    DecisionUpdate,
    ItemsReorder,
)
from services.core.principal import Principal
from tests.core.meetings.conftest import Held, confined_to, hold_meeting

pytestmark = pytest.mark.usefixtures("region")

UTC_ZONE = ZoneInfo("UTC")

Call = Callable[[AsyncSession, Principal, Held], Awaitable[Any]]

CALLS: list[tuple[str, Call, type[NotFound]]] = [
    ("read_body", lambda s, p, h: body_service.read_body(s, p, h.body.id), BodyNotFound),
    (
        "generate",
        lambda s, p, h: meeting_service.generate(s, p, h.body.id, date(2024, 6, 1), zone=UTC_ZONE),
        BodyNotFound,
    ),
    (
        "read_meeting",
        lambda s, p, h: meeting_service.read_meeting(s, p, h.meeting.id),
        MeetingNotFound,
    ),
    (
        "list_items",
        lambda s, p, h: agenda_service.list_items(s, p, h.meeting.id, window=Window(limit=5)),
        MeetingNotFound,
    ),
    (
        "list_decisions",
        lambda s, p, h: agenda_service.list_decisions(s, p, h.meeting.id, window=Window(limit=5)),
        MeetingNotFound,
    ),
    (
        "list_body_meetings",
        lambda s, p, h: meeting_service.list_body_meetings(
            s, p, h.body.id, status=None, window=Window(limit=5)
        ),
        BodyNotFound,
    ),
    ("read_item", lambda s, p, h: agenda_service.read_item(s, p, h.item.id), AgendaItemNotFound),
    (
        "read_decision",
        lambda s, p, h: agenda_service.read_decision(s, p, h.decision.id),
        DecisionNotFound,
    ),
    (
        "update_decision",
        lambda s, p, h: agenda_service.update_decision(
            s, p, h.decision.id, DecisionUpdate(text="Rättat"), if_match=None
        ),
        DecisionNotFound,
    ),
    (
        "reorder_items",
        lambda s, p, h: agenda_service.reorder_items(
            s, p, h.meeting.id, ItemsReorder(item_ids=[h.item.id]), if_match=None
        ),
        MeetingNotFound,
    ),
    (
        "delete_decision",
        lambda s, p, h: agenda_service.delete_decision(s, p, h.decision.id, if_match=None),
        DecisionNotFound,
    ),
    (
        "delete_assignment",
        lambda s, p, h: assignment_service.delete_assignment(s, p, h.assignment.id, if_match=None),
        AssignmentNotFound,
    ),
    (
        "delete_item",
        lambda s, p, h: agenda_service.delete_item(s, p, h.item.id, if_match=None),
        AgendaItemNotFound,
    ),
    (
        "delete_meeting",
        lambda s, p, h: meeting_service.delete_meeting(s, p, h.meeting.id, if_match=None),
        MeetingNotFound,
    ),
    (
        "delete_body",
        lambda s, p, h: body_service.delete_body(s, p, h.body.id, if_match=None),
        BodyNotFound,
    ),
    ("prepare", lambda s, p, h: minutes_service.prepare(s, p, h.meeting.id), MeetingNotFound),
    (
        "minutes",
        lambda s, p, h: minutes_service.minutes(s, p, h.meeting.id, time_zone="UTC"),
        MeetingNotFound,
    ),
    (
        "update_item",
        lambda s, p, h: agenda_service.update_item(
            s, p, h.item.id, AgendaItemUpdate(notes="x"), if_match=None
        ),
        AgendaItemNotFound,
    ),
    (
        "create_decision",
        lambda s, p, h: agenda_service.create_decision(
            s, p, h.item.id, DecisionCreate(text="x", decided_at=date(2024, 1, 15))
        ),
        AgendaItemNotFound,
    ),
    (
        "create_assignment",
        lambda s, p, h: assignment_service.create_assignment(
            s, p, h.item.id, AssignmentCreate(assignee_id=h.assignee_id, text="x")
        ),
        AgendaItemNotFound,
    ),
    (
        "read_assignment",
        lambda s, p, h: assignment_service.read_assignment(s, p, h.assignment.id),
        AssignmentNotFound,
    ),
]


@pytest.mark.parametrize(("name", "call", "error"), CALLS, ids=[c[0] for c in CALLS])
async def test_another_units_ids_are_not_found(
    session: AsyncSession, name: str, call: Call, error: type[NotFound]
) -> None:
    held = await hold_meeting(session, "SUS")
    own_unit = await confined_to(session, "SUS")
    other_unit = await confined_to(session, "PV")

    await call(session, own_unit, held)  # the same call succeeds in the body's own subtree
    with pytest.raises(error):
        await call(session, other_unit, held)


async def test_other_units_lists_and_lookups_come_back_empty(session: AsyncSession) -> None:
    held = await hold_meeting(session, "SUS")
    pv = await confined_to(session, "PV")
    sus = await confined_to(session, "SUS-AKUT")  # below the body's unit: does not see it

    for principal in (pv, sus):
        window = Window(limit=10)
        assert (await body_service.list_bodies(session, principal, window=window)).items == []
        meetings = await meeting_service.list_meetings(
            session, principal, body_id=None, status=None, window=window
        )
        assert meetings.items == []
        assignments = await assignment_service.list_assignments(
            session, principal, assignee_id=None, status=None, body_id=None, window=window
        )
        assert assignments.items == []
        assert not await agenda_service.decision_visible(session, principal, held.decision.id)
        assert not await meeting_service.meeting_visible(session, principal, held.meeting.id)
    # Ids that do not exist answer the same.
    with pytest.raises(MeetingNotFound):
        await meeting_service.read_meeting(session, pv, uuid.uuid4())
    assert not await agenda_service.decision_visible(session, pv, uuid.uuid4())
