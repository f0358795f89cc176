"""Agenda items of a meeting and the decisions made under them. Registers what plans asks of
meetings (is this decision, this meeting visible?): every process that serves plans loads this
module, as the API's routes and the worker's tasks import it."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.audit import service as audit_service
from services.core.crud import Window, page_of, read_as
from services.core.errors import NotFound, invalid_field
from services.core.events import service as events_service
from services.core.http import check_if_match
from services.core.meetings import repository
from services.core.meetings.common import (
    add_audited,
    check_editable,
    check_links,
    delete_audited,
    item_read,
    person_refs,
    refuse_nulls,
    refuse_when_locked,
    require_people,
    update_audited,
)
from services.core.meetings.errors import AgendaItemNotFound, DecisionNotFound, MeetingNotFound
from services.core.meetings.meeting_service import get_meeting_visible, meeting_visible
from services.core.meetings.models import AgendaItem, Decision, Meeting, MeetingBody
from services.core.meetings.schemas import (
    AgendaItemCreate,
    AgendaItemRead,
    AgendaItemUpdate,
    DecisionCreate,
    DecisionRead,
    DecisionUpdate,
    ItemsReorder,
)
from services.core.pagination import Page, Tombstone
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
    """`reason`: the deprecated `X-Edit-Reason` header's value; the body's `reason` wins."""
    meeting, body = await get_meeting_visible(session, principal, meeting_id, for_update=True)
    await check_editable(session, principal, meeting, body, data.reason or reason)
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
    return item_read(item, await person_refs(session, item.presenter_ids))


async def visible_item(
    session: AsyncSession, principal: Principal, item_id: uuid.UUID, *, for_update: bool = False
) -> tuple[AgendaItem, Meeting, MeetingBody]:
    """The item with its meeting (locked for update when asked) and body, if the caller sees
    the body's unit; an unseen meeting's item is a 404 like a missing one."""
    item = await repository.get_item(session, item_id)
    if item is None:
        raise AgendaItemNotFound(f"No agenda item with id {item_id}")
    try:
        meeting, body = await get_meeting_visible(
            session, principal, item.meeting_id, for_update=for_update
        )
    except MeetingNotFound:
        raise AgendaItemNotFound(f"No agenda item with id {item_id}") from None
    return item, meeting, body


async def item_for_write(
    session: AsyncSession, principal: Principal, item_id: uuid.UUID, reason: str | None
) -> tuple[AgendaItem, Meeting, MeetingBody]:
    """The item with its meeting (locked for update) and body, if the caller sees it and may
    still change the meeting (`check_editable`); an unseen meeting's item is a 404."""
    item, meeting, body = await visible_item(session, principal, item_id, for_update=True)
    await check_editable(session, principal, meeting, body, reason)
    return item, meeting, body


async def read_item(
    session: AsyncSession, principal: Principal, item_id: uuid.UUID
) -> AgendaItemRead:
    item, _, _ = await visible_item(session, principal, item_id)
    return item_read(item, await person_refs(session, item.presenter_ids))


async def delete_item(
    session: AsyncSession, principal: Principal, item_id: uuid.UUID, *, if_match: str | None
) -> None:
    """Soft-deletes the item with its decisions and assignments (tombstones for mirrors); its
    number is free again. Refused once the minutes are approved."""
    item, meeting, body = await visible_item(session, principal, item_id, for_update=True)
    refuse_when_locked(meeting, "an agenda item")
    check_if_match(if_match, item.version)
    await repository.soft_delete_under(session, item_ids=[item.id])
    await delete_audited(session, principal, item, "agenda_item", body.org_unit_id, within=meeting)


async def reorder_items(
    session: AsyncSession,
    principal: Principal,
    meeting_id: uuid.UUID,
    data: ItemsReorder,
    *,
    if_match: str | None,
) -> list[AgendaItemRead]:
    """Numbers the meeting's items 1, 2, … in the order given (one call, where swapping two
    numbers by PATCH would collide). `If-Match` is the meeting's ETag."""
    meeting, body = await get_meeting_visible(session, principal, meeting_id, for_update=True)
    check_if_match(if_match, meeting.version)
    await check_editable(session, principal, meeting, body, data.reason)
    live = await repository.item_ids_of(session, meeting.id)
    given = list(data.item_ids)
    if len(set(given)) != len(given):
        raise invalid_field(["body", "item_ids"], "an item is listed twice", "duplicate")
    if set(given) != live:
        missing = len(live - set(given))
        raise invalid_field(
            ["body", "item_ids"],
            f"list every live item of the meeting exactly once ({len(live)} items; "
            f"{missing} missing, {len(set(given) - live)} not of this meeting)",
            "not_the_agenda",
        )
    await repository.renumber(session, meeting.id, given)
    meeting.touch()
    await session.flush()
    await audit_service.record(
        session,
        principal,
        "agenda_item.reorder",
        "meeting",
        str(meeting.id),
        org_unit_id=body.org_unit_id,
        details={"item_ids": [str(i) for i in given]},
    )
    items = await repository.items(session, meeting.id)
    refs = await person_refs(session, [p for i in items for p in i.presenter_ids])
    return [item_read(i, refs) for i in items]


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
    return item_read(item, await person_refs(session, item.presenter_ids))


async def list_items(
    session: AsyncSession, principal: Principal, meeting_id: uuid.UUID, *, window: Window
) -> Page[AgendaItemRead | Tombstone]:
    """In agenda order (by number), or in change order with `updated_since`."""
    meeting, _ = await get_meeting_visible(session, principal, meeting_id)
    window = window.in_order(repository.AGENDA_ORDER)
    rows = await repository.list_items(session, meeting.id, window)
    refs = await person_refs(session, [p for r in rows for p in r[0].presenter_ids])
    return page_of(rows, window, lambda r: item_read(r[0], refs))


# ---------------------------------------------------------------- decisions


async def create_decision(
    session: AsyncSession,
    principal: Principal,
    item_id: uuid.UUID,
    data: DecisionCreate,
    *,
    reason: str | None = None,
) -> DecisionRead:
    """`reason`: the deprecated `X-Edit-Reason` header's value; the body's `reason` wins."""
    item, meeting, body = await item_for_write(session, principal, item_id, data.reason or reason)
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
    session: AsyncSession, principal: Principal, meeting_id: uuid.UUID, *, window: Window
) -> Page[DecisionRead | Tombstone]:
    """In the order they were made, or in change order with `updated_since`."""
    meeting, _ = await get_meeting_visible(session, principal, meeting_id)
    window = window.in_order(repository.DECISION_ORDER)
    rows = await repository.list_decisions(session, meeting.id, window)
    return page_of(rows, window, lambda r: read_as(DecisionRead, r[0]))


async def _visible_decision(
    session: AsyncSession,
    principal: Principal,
    decision_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> tuple[Decision, Meeting, MeetingBody]:
    not_found = DecisionNotFound(f"No decision with id {decision_id}")
    decision = await repository.get_decision(session, decision_id, for_update=for_update)
    if decision is None:
        raise not_found
    try:
        _, meeting, body = await visible_item(
            session, principal, decision.agenda_item_id, for_update=for_update
        )
    except NotFound:
        raise not_found from None
    return decision, meeting, body


async def read_decision(
    session: AsyncSession, principal: Principal, decision_id: uuid.UUID
) -> DecisionRead:
    decision, _, _ = await _visible_decision(session, principal, decision_id)
    return read_as(DecisionRead, decision)


async def update_decision(
    session: AsyncSession,
    principal: Principal,
    decision_id: uuid.UUID,
    data: DecisionUpdate,
    *,
    if_match: str | None,
) -> DecisionRead:
    """After approval only an admin, with a `reason` kept in the audit trail."""
    decision, meeting, body = await _visible_decision(
        session, principal, decision_id, for_update=True
    )
    check_if_match(if_match, decision.version)
    await check_editable(session, principal, meeting, body, data.reason)
    changes = data.model_dump(exclude_unset=True, exclude={"reason"})
    refuse_nulls(changes, ["text", "decided_at"])
    meeting.touch()
    await update_audited(session, principal, decision, changes, "decision", body.org_unit_id, data)
    return read_as(DecisionRead, decision)


async def delete_decision(
    session: AsyncSession, principal: Principal, decision_id: uuid.UUID, *, if_match: str | None
) -> None:
    """Refused once the minutes are approved (a correction is then an admin's edit)."""
    decision, meeting, body = await _visible_decision(
        session, principal, decision_id, for_update=True
    )
    refuse_when_locked(meeting, "a decision")
    check_if_match(if_match, decision.version)
    await delete_audited(session, principal, decision, "decision", body.org_unit_id, within=meeting)


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
