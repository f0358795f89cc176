"""Agenda items of a meeting and the decisions made under them. Registers what plans asks of
meetings (is this decision, this meeting visible?): every process that serves plans loads this
module, as the API's routes and the worker's tasks import it."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.crud import read_as
from services.core.errors import invalid_field
from services.core.events import service as events_service
from services.core.http import check_if_match
from services.core.meetings import repository
from services.core.meetings.common import (
    add_audited,
    check_editable,
    check_links,
    refuse_nulls,
    require_people,
    update_audited,
)
from services.core.meetings.errors import AgendaItemNotFound, MeetingNotFound
from services.core.meetings.meeting_service import get_meeting_visible, meeting_visible
from services.core.meetings.models import AgendaItem, Decision, Meeting, MeetingBody
from services.core.meetings.schemas import (
    AgendaItemCreate,
    AgendaItemRead,
    AgendaItemUpdate,
    DecisionCreate,
    DecisionRead,
)
from services.core.plans.references import MeetingLookups, register_meeting_lookups
from services.core.principal import Principal


async def _check_number_free(session: AsyncSession, meeting_id: uuid.UUID, number: int) -> None:
    if await repository.number_taken(session, meeting_id, number):
        raise invalid_field(["body", "number"], f"item {number} already exists", "duplicate")


async def create_item(
    session: AsyncSession,
    principal: Principal,
    meeting_id: uuid.UUID,
    data: AgendaItemCreate,
    *,
    reason: str | None = None,
) -> AgendaItemRead:
    meeting, body = await get_meeting_visible(session, principal, meeting_id, for_update=True)
    await check_editable(session, principal, meeting, body, reason)
    await _check_number_free(session, meeting.id, data.number)
    await require_people(session, principal, data.presenter_ids, ["body", "presenter_ids"])
    await check_links(session, principal, data.links)
    item = AgendaItem(
        meeting_id=meeting.id,
        number=data.number,
        title=data.title,
        kind=data.kind.value,
        presenter_ids=list(data.presenter_ids),
        links=[link.model_dump(mode="json") for link in data.links],
        notes=data.notes,
    )
    await add_audited(session, principal, item, "agenda_item", body.org_unit_id, within=meeting)
    return read_as(AgendaItemRead, item)


async def item_for_write(
    session: AsyncSession, principal: Principal, item_id: uuid.UUID, reason: str | None
) -> tuple[AgendaItem, Meeting, MeetingBody]:
    """The item with its meeting (locked for update) and body, if the caller sees it and may
    still change the meeting (`check_editable`); an unseen meeting's item is a 404."""
    item = await repository.get_item(session, item_id)
    if item is None:
        raise AgendaItemNotFound(f"No agenda item with id {item_id}")
    try:
        meeting, body = await get_meeting_visible(
            session, principal, item.meeting_id, for_update=True
        )
    except MeetingNotFound:
        raise AgendaItemNotFound(f"No agenda item with id {item_id}") from None
    await check_editable(session, principal, meeting, body, reason)
    return item, meeting, body


async def update_item(
    session: AsyncSession,
    principal: Principal,
    item_id: uuid.UUID,
    data: AgendaItemUpdate,
    *,
    if_match: str | None,
) -> AgendaItemRead:
    item, meeting, body = await item_for_write(session, principal, item_id, data.reason)
    check_if_match(if_match, item.version)
    changes = data.model_dump(exclude_unset=True, exclude={"reason"})
    refuse_nulls(changes, ["number", "title", "kind", "presenter_ids", "links"])
    if "number" in changes and changes["number"] != item.number:
        await _check_number_free(session, meeting.id, changes["number"])
    await require_people(session, principal, data.presenter_ids or [], ["body", "presenter_ids"])
    await check_links(session, principal, data.links or [])
    if data.links is not None:
        changes["links"] = [link.model_dump(mode="json") for link in data.links]
    if data.presenter_ids is not None:
        changes["presenter_ids"] = list(data.presenter_ids)
    meeting.touch()
    await update_audited(session, principal, item, changes, "agenda_item", body.org_unit_id, data)
    return read_as(AgendaItemRead, item)


async def list_items(
    session: AsyncSession, principal: Principal, meeting_id: uuid.UUID
) -> list[AgendaItemRead]:
    meeting, _ = await get_meeting_visible(session, principal, meeting_id)
    return [read_as(AgendaItemRead, i) for i in await repository.items(session, meeting.id)]


# ---------------------------------------------------------------- decisions


async def create_decision(
    session: AsyncSession,
    principal: Principal,
    item_id: uuid.UUID,
    data: DecisionCreate,
    *,
    reason: str | None = None,
) -> DecisionRead:
    item, meeting, body = await item_for_write(session, principal, item_id, reason)
    decision = Decision(
        agenda_item_id=item.id,
        text=data.text,
        decided_at=data.decided_at,
        effective_date=data.effective_date,
    )
    await add_audited(session, principal, decision, "decision", body.org_unit_id, within=meeting)
    await events_service.publish(
        session,
        "decision.made",
        {
            "decision_id": str(decision.id),
            "meeting_id": str(meeting.id),
            "agenda_item_id": str(item.id),
            "body_id": str(body.id),
            "decided_at": data.decided_at.isoformat(),
            "effective_date": data.effective_date.isoformat() if data.effective_date else None,
        },
        org_unit_id=body.org_unit_id,
    )
    return read_as(DecisionRead, decision)


async def list_decisions(
    session: AsyncSession, principal: Principal, meeting_id: uuid.UUID
) -> list[DecisionRead]:
    meeting, _ = await get_meeting_visible(session, principal, meeting_id)
    items = await repository.items(session, meeting.id)
    decisions = await repository.decisions(session, [i.id for i in items])
    return [read_as(DecisionRead, d) for d in decisions]


async def decision_visible(
    session: AsyncSession, principal: Principal, decision_id: uuid.UUID
) -> bool:
    """For other domains (a plan decided by a meeting decision)."""
    decision = await session.get(Decision, decision_id)
    if decision is None or decision.deleted_at is not None:
        return False
    item = await repository.get_item(session, decision.agenda_item_id)
    return item is not None and await meeting_visible(session, principal, item.meeting_id)


register_meeting_lookups(
    MeetingLookups(decision_visible=decision_visible, meeting_visible=meeting_visible)
)
