"""Service-level fixtures for meetings: the region of `seed_tree`, principals (the region's
admin, a writer confined to a unit) and a KL-like body in the region's top unit."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.errors import ValidationFailed
from services.core.meetings import agenda_service, assignment_service, body_service, meeting_service
from services.core.meetings.schemas import (
    AgendaItemCreate,
    AgendaItemRead,
    AssignmentCreate,
    AssignmentRead,
    BodyCreate,
    BodyRead,
    DecisionCreate,
    DecisionRead,
    Frequency,
    ItemKind,
    MeetingCreate,
    MeetingRead,
    Schedule,
)
from services.core.people import service as people_service
from services.core.people.schemas import PersonCreate
from services.core.principal import Principal, Scope
from tests.factories import ADMIN, seed_tree
from tests.factories import confined_to as confined_key


async def confined_to(session: AsyncSession, code: str, *scopes: Scope) -> Principal:
    """A key confined to `code`'s subtree with `scopes` (read and meetings:write by default)."""
    return await confined_key(session, code, *(scopes or (Scope.read, Scope.meetings_write)))


async def person(session: AsyncSession, name: str, initials: str) -> uuid.UUID:
    return (
        await people_service.create(session, ADMIN, PersonCreate(name=name, initials=initials))
    ).id


async def meeting_on(
    session: AsyncSession, body_id: uuid.UUID, starts: str, ends: str, **extra: object
) -> MeetingRead:
    data = MeetingCreate.model_validate(
        {"starts_at": datetime.fromisoformat(starts), "ends_at": datetime.fromisoformat(ends)}
        | extra
    )
    return await meeting_service.create_meeting(session, ADMIN, body_id, data)


@dataclass(frozen=True)
class Held:
    """A meeting with one item, its decision and its assignment."""

    body: BodyRead
    meeting: MeetingRead
    item: AgendaItemRead
    decision: DecisionRead
    assignment: AssignmentRead
    assignee_id: uuid.UUID


async def hold_meeting(
    session: AsyncSession, org_unit: str = "RS", *, due: date = date(2024, 2, 12)
) -> Held:
    assignee = await person(session, "Johanna Holmberg", "JH")
    body = await body_service.create_body(
        session,
        ADMIN,
        BodyCreate(
            name="Koncernledningen",
            short_name="KL",
            org_unit=org_unit,
            schedule=Schedule(
                frequency=Frequency.monthly, day=15, time="12:00", starts_on=date(2024, 1, 1)
            ),
        ),
    )
    meeting = await meeting_on(
        session, body.id, "2024-01-15T12:00:00+00:00", "2024-01-15T16:00:00+00:00"
    )
    item = await agenda_service.create_item(
        session,
        ADMIN,
        meeting.id,
        AgendaItemCreate(number=2, title="Hyrstopp", kind=ItemKind.decision),
    )
    decision = await agenda_service.create_decision(
        session,
        ADMIN,
        item.id,
        DecisionCreate(text="Hyrstopp för sjuksköterskor.", decided_at=date(2024, 1, 15)),
    )
    assignment = await assignment_service.create_assignment(
        session,
        ADMIN,
        item.id,
        AssignmentCreate(assignee_id=assignee, text="Ta fram underlag.", due_date=due),
    )
    return Held(body, meeting, item, decision, assignment, assignee)


@pytest.fixture
async def region(client: httpx.AsyncClient) -> None:
    """Region Skåne's top (RS → SUS, PV → units), built through the API and committed."""
    await seed_tree(client)


def codes(error: ValidationFailed) -> list[str]:
    """The codes of a 422's field errors."""
    return [e["code"] for e in error.errors or []]
