"""Bodies, meetings, agenda items, decisions, assignments; minutes and follow-up proposals."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.audit import service as audit_service
from services.core.auth.schemas import Principal
from services.core.errors import invalid_field
from services.core.events import service as events_service
from services.core.http import check_if_match
from services.core.kpis import service as kpis_service
from services.core.kpis.errors import KpiNotFound, TargetNotFound
from services.core.meetings import repository
from services.core.meetings.errors import (
    AgendaItemNotFound,
    AssignmentNotFound,
    BodyNotFound,
    MeetingLocked,
    MeetingNotFound,
)
from services.core.meetings.models import (
    AgendaItem,
    Assignment,
    Decision,
    Meeting,
    MeetingBody,
)
from services.core.meetings.schemas import (
    AgendaItemCreate,
    AgendaItemRead,
    AgendaItemUpdate,
    AssignmentCreate,
    AssignmentRead,
    AssignmentStatus,
    AssignmentUpdate,
    Attendee,
    BodyCreate,
    BodyRead,
    BodyUpdate,
    DecisionCreate,
    DecisionRead,
    Frequency,
    ItemKind,
    Link,
    MeetingCreate,
    MeetingRead,
    MeetingStatus,
    MeetingUpdate,
    Member,
    PrepareRead,
    Proposal,
    Schedule,
)
from services.core.orgs import service as orgs_service
from services.core.orgs.errors import OrgUnitNotFound
from services.core.pagination import Page, Tombstone, mirror_page
from services.core.people import service as people_service
from services.core.plans import action_service, due_scan, plan_service
from services.core.plans.errors import ActionNotFound, PlanNotFound
from services.core.plans.references import MeetingLookups, register_meeting_lookups

LOCKED = MeetingStatus.minutes_approved.value
# Link kinds whose domain exists in this build; the others are stored as plain references.
LinkCheck = Callable[[AsyncSession, Principal, str], Awaitable[bool]]


async def _plan_exists(session: AsyncSession, principal: Principal, raw: str) -> bool:
    try:
        await plan_service.get_visible_plan(session, principal, uuid.UUID(raw))
    except (ValueError, PlanNotFound):
        return False
    return True


async def _action_exists(session: AsyncSession, principal: Principal, raw: str) -> bool:
    try:
        await action_service.read_action(session, principal, uuid.UUID(raw))
    except (ValueError, ActionNotFound):
        return False
    return True


async def _target_exists(session: AsyncSession, principal: Principal, raw: str) -> bool:
    try:
        await kpis_service.read_target(session, principal, uuid.UUID(raw))
    except (ValueError, TargetNotFound):
        return False
    return True


async def _kpi_exists(session: AsyncSession, principal: Principal, raw: str) -> bool:
    try:
        await kpis_service.definition(session, raw)
    except KpiNotFound:
        return False
    return True


# A linked resource must exist and be visible to the caller.
VALIDATED_LINK_KINDS: dict[str, LinkCheck] = {
    "action_plan": _plan_exists,
    "action": _action_exists,
    "target": _target_exists,
    "kpi_series": _kpi_exists,
}


async def _check_links(session: AsyncSession, principal: Principal, links: Sequence[Any]) -> None:
    for i, link in enumerate(links):
        check = VALIDATED_LINK_KINDS.get(link.kind.value)
        if check is not None and not await check(session, principal, link.id):
            raise invalid_field(
                ["body", "links", i, "id"], f"unknown {link.kind.value} {link.id}", "unknown"
            )


# ---------------------------------------------------------------- bodies


def _body_read(body: MeetingBody, org_code: str, members: Sequence[Any]) -> BodyRead:
    assert body.created_at is not None and body.updated_at is not None
    return BodyRead(
        id=body.id,
        name=body.name,
        short_name=body.short_name,
        org_unit=org_code,
        members=[Member(person_id=m.person_id, role=m.role) for m in members],
        schedule=Schedule.model_validate(body.schedule) if body.schedule else None,
        created_at=body.created_at,
        updated_at=body.updated_at,
        version=body.version,
    )


async def get_body_visible(
    session: AsyncSession, principal: Principal, body_id: uuid.UUID, *, for_update: bool = False
) -> tuple[MeetingBody, str, str]:
    row = await repository.get_body(session, body_id, for_update=for_update)
    if row is None or not principal.sees_path(row[2]):
        raise BodyNotFound(f"No body with id {body_id}")
    return row[0], row[1], row[2]


async def _check_people(
    session: AsyncSession, principal: Principal, ids: Sequence[uuid.UUID], loc: list[str | int]
) -> None:
    for i, person_id in enumerate(ids):
        await people_service.require_person(session, principal, person_id, [*loc, i, "person_id"])


async def create_body(session: AsyncSession, principal: Principal, data: BodyCreate) -> BodyRead:
    try:
        unit = await orgs_service.get_visible(session, principal, data.org_unit)
    except OrgUnitNotFound:
        raise invalid_field(
            ["body", "org_unit"], f"unknown org unit {data.org_unit!r}", "unknown_org_unit"
        ) from None
    ids = [m.person_id for m in data.members]
    if len(set(ids)) != len(ids):
        raise invalid_field(["body", "members"], "a person is listed twice", "duplicate")
    await _check_people(session, principal, ids, ["body", "members"])
    assert unit.id is not None
    body = MeetingBody(
        name=data.name,
        short_name=data.short_name,
        org_unit_id=unit.id,
        schedule=data.schedule.model_dump(mode="json") if data.schedule else None,
    )
    session.add(body)
    await session.flush()
    await session.refresh(body)
    await repository.replace_members(
        session, body.id, [{"body_id": body.id, **m.model_dump(mode="json")} for m in data.members]
    )
    await audit_service.record(
        session,
        principal,
        "meeting_body.create",
        "meeting_body",
        str(body.id),
        org_unit_id=unit.id,
    )
    return _body_read(body, unit.code, await repository.members(session, [body.id]))


async def update_body(
    session: AsyncSession,
    principal: Principal,
    body_id: uuid.UUID,
    data: BodyUpdate,
    *,
    if_match: str | None,
) -> BodyRead:
    body, code, _ = await get_body_visible(session, principal, body_id, for_update=True)
    check_if_match(if_match, body.version)
    changes = data.model_dump(exclude_unset=True, exclude={"members", "schedule"})
    if "name" in changes and changes["name"] is None:
        raise invalid_field(["body", "name"], "cannot be null", "null")
    if data.members is not None:
        ids = [m.person_id for m in data.members]
        if len(set(ids)) != len(ids):
            raise invalid_field(["body", "members"], "a person is listed twice", "duplicate")
        await _check_people(session, principal, ids, ["body", "members"])
        await repository.replace_members(
            session,
            body.id,
            [{"body_id": body.id, **m.model_dump(mode="json")} for m in data.members],
        )
    if "schedule" in data.model_fields_set:
        body.schedule = data.schedule.model_dump(mode="json") if data.schedule else None
    for field, value in changes.items():
        setattr(body, field, value)
    body.touch()
    await session.flush()
    await session.refresh(body)
    await audit_service.record(
        session,
        principal,
        "meeting_body.update",
        "meeting_body",
        str(body.id),
        org_unit_id=body.org_unit_id,
        details={"fields": sorted(data.model_fields_set)},
    )
    return _body_read(body, code, await repository.members(session, [body.id]))


async def read_body(session: AsyncSession, principal: Principal, body_id: uuid.UUID) -> BodyRead:
    body, code, _ = await get_body_visible(session, principal, body_id)
    return _body_read(body, code, await repository.members(session, [body.id]))


async def list_bodies(
    session: AsyncSession,
    principal: Principal,
    *,
    updated_since: datetime | None,
    cursor: str | None,
    limit: int,
) -> Page[BodyRead | Tombstone]:
    rows = await repository.list_bodies(
        session,
        scope_path=principal.org_path,
        updated_since=updated_since,
        cursor=cursor,
        limit=limit,
    )
    by_body: dict[uuid.UUID, list[Any]] = {}
    for m in await repository.members(session, [r[0].id for r in rows]):
        by_body.setdefault(m.body_id, []).append(m)
    return mirror_page(
        rows,
        limit,
        updated_since=updated_since,
        tombstone_id=lambda body: str(body.id),
        to_read=lambda r: _body_read(r[0], r[1], by_body.get(r[0].id, [])),
    )


def _occurrences(schedule: Schedule, until: date) -> list[date]:
    days: list[date] = []
    start = schedule.starts_on
    if schedule.frequency is Frequency.weekly:
        day = start + timedelta(days=(schedule.weekday - start.weekday()) % 7)
        while day <= until:
            days.append(day)
            day += timedelta(days=7)
        return days
    step = 1 if schedule.frequency is Frequency.monthly else 4
    year, month = start.year, start.month
    while True:
        day = date(year, month, schedule.day)
        if day > until:
            return days
        if day >= start:
            days.append(day)
        month += step
        year, month = year + (month - 1) // 12, (month - 1) % 12 + 1


async def generate(
    session: AsyncSession, principal: Principal, body_id: uuid.UUID, until: date
) -> int:
    """Creates the planned meetings of the body's schedule up to `until`; repeatable."""
    body, _, _ = await get_body_visible(session, principal, body_id)
    if body.schedule is None:
        raise invalid_field(["path", "body_id"], "the body has no schedule", "no_schedule")
    schedule = Schedule.model_validate(body.schedule)
    if until > schedule.starts_on + timedelta(days=3 * 366):
        raise invalid_field(["query", "until"], "at most three years ahead", "too_far")
    at = time.fromisoformat(schedule.time)
    rows = []
    for day in _occurrences(schedule, until):
        starts = datetime.combine(day, at, tzinfo=UTC)
        rows.append(
            {
                "body_id": body.id,
                "starts_at": starts,
                "ends_at": starts + timedelta(minutes=schedule.duration_minutes),
                "place": schedule.place,
                "kind": schedule.kind.value,
                "status": MeetingStatus.planned.value,
            }
        )
    created = await repository.insert_meetings(session, rows)
    await audit_service.record(
        session,
        principal,
        "meeting.generate",
        "meeting_body",
        str(body.id),
        org_unit_id=body.org_unit_id,
        details={"created": created, "until": until.isoformat()},
    )
    return created


# ---------------------------------------------------------------- meetings


def _meeting_read(meeting: Meeting, attendees: Sequence[Any]) -> MeetingRead:
    assert meeting.created_at is not None and meeting.updated_at is not None
    return MeetingRead(
        id=meeting.id,
        body_id=meeting.body_id,
        starts_at=meeting.starts_at,
        ends_at=meeting.ends_at,
        place=meeting.place,
        kind=meeting.kind,
        status=meeting.status,
        approved_at=meeting.approved_at,
        attendees=[
            Attendee(
                person_id=a.person_id,
                role=a.role,
                present=a.present,
                co_opted_item_ids=list(a.co_opted_item_ids),
            )
            for a in attendees
        ],
        created_at=meeting.created_at,
        updated_at=meeting.updated_at,
        version=meeting.version,
    )


async def get_meeting_visible(
    session: AsyncSession, principal: Principal, meeting_id: uuid.UUID, *, for_update: bool = False
) -> tuple[Meeting, MeetingBody]:
    row = await repository.get_meeting(session, meeting_id, for_update=for_update)
    if row is None or not principal.sees_path(row[2]):
        raise MeetingNotFound(f"No meeting with id {meeting_id}")
    return row[0], row[1]


def _check_times(starts_at: datetime, ends_at: datetime) -> None:
    if ends_at <= starts_at:
        raise invalid_field(["body", "ends_at"], "must be after starts_at", "end_before_start")


async def _check_attendees(
    session: AsyncSession,
    principal: Principal,
    meeting_id: uuid.UUID | None,
    attendees: Sequence[Attendee],
) -> list[dict[str, Any]]:
    seen: set[uuid.UUID] = set()
    item_ids = await repository.item_ids_of(session, meeting_id) if meeting_id else set()
    for i, a in enumerate(attendees):
        if a.person_id in seen:
            raise invalid_field(
                ["body", "attendees", i, "person_id"], "attendee listed twice", "duplicate"
            )
        seen.add(a.person_id)
        await people_service.require_person(
            session, principal, a.person_id, ["body", "attendees", i, "person_id"]
        )
        for j, item_id in enumerate(a.co_opted_item_ids):
            if item_id not in item_ids:
                raise invalid_field(
                    ["body", "attendees", i, "co_opted_item_ids", j],
                    f"agenda item {item_id} is not an item of this meeting",
                    "item_of_other_meeting",
                )
    return [{"meeting_id": meeting_id, **a.model_dump(mode="json")} for a in attendees]


async def create_meeting(
    session: AsyncSession, principal: Principal, body_id: uuid.UUID, data: MeetingCreate
) -> MeetingRead:
    body, _, _ = await get_body_visible(session, principal, body_id)
    _check_times(data.starts_at, data.ends_at)
    if any(a.co_opted_item_ids for a in data.attendees):
        raise invalid_field(
            ["body", "attendees"],
            "co-opted items can only be set once the meeting has items (PATCH)",
            "item_of_other_meeting",
        )
    rows = await _check_attendees(session, principal, None, data.attendees)
    meeting = Meeting(
        body_id=body.id,
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        place=data.place,
        kind=data.kind.value,
        status=MeetingStatus.planned.value,
    )
    session.add(meeting)
    try:
        await session.flush()
    except sa.exc.IntegrityError:
        raise invalid_field(
            ["body", "starts_at"], "the body already meets at this time", "duplicate"
        ) from None
    await session.refresh(meeting)
    for row in rows:
        row["meeting_id"] = meeting.id
    await repository.replace_attendees(session, meeting.id, rows)
    await audit_service.record(
        session,
        principal,
        "meeting.create",
        "meeting",
        str(meeting.id),
        org_unit_id=body.org_unit_id,
    )
    return _meeting_read(meeting, await repository.attendees(session, [meeting.id]))


async def read_meeting(
    session: AsyncSession, principal: Principal, meeting_id: uuid.UUID
) -> MeetingRead:
    meeting, _ = await get_meeting_visible(session, principal, meeting_id)
    return _meeting_read(meeting, await repository.attendees(session, [meeting.id]))


async def list_meetings(
    session: AsyncSession,
    principal: Principal,
    *,
    body_id: uuid.UUID | None,
    status: MeetingStatus | None,
    updated_since: datetime | None,
    cursor: str | None,
    limit: int,
) -> Page[MeetingRead | Tombstone]:
    rows = await repository.list_meetings(
        session,
        scope_path=principal.org_path,
        body_id=body_id,
        status=status.value if status else None,
        updated_since=updated_since,
        cursor=cursor,
        limit=limit,
    )
    by_meeting: dict[uuid.UUID, list[Any]] = {}
    for a in await repository.attendees(session, [r[0].id for r in rows]):
        by_meeting.setdefault(a.meeting_id, []).append(a)
    return mirror_page(
        rows,
        limit,
        updated_since=updated_since,
        tombstone_id=lambda m: str(m.id),
        to_read=lambda r: _meeting_read(r[0], by_meeting.get(r[0].id, [])),
    )


async def _editable(
    session: AsyncSession,
    principal: Principal,
    meeting: Meeting,
    body: MeetingBody,
    reason: str | None,
) -> None:
    """After approval only an admin may edit, and only with a reason kept in the audit trail."""
    if meeting.status != LOCKED:
        return
    if not principal.is_admin:
        raise MeetingLocked(f"Minutes of meeting {meeting.id} are approved; it cannot be changed")
    if not reason:
        raise invalid_field(["body", "reason"], "an edit after approval needs a reason", "required")
    await audit_service.record(
        session,
        principal,
        "meeting.edit_after_approval",
        "meeting",
        str(meeting.id),
        org_unit_id=body.org_unit_id,
        details={"reason": reason},
    )


async def update_meeting(
    session: AsyncSession,
    principal: Principal,
    meeting_id: uuid.UUID,
    data: MeetingUpdate,
    *,
    if_match: str | None,
) -> MeetingRead:
    meeting, body = await get_meeting_visible(session, principal, meeting_id, for_update=True)
    check_if_match(if_match, meeting.version)
    await _editable(session, principal, meeting, body, data.reason)
    changes = data.model_dump(exclude_unset=True, exclude={"reason", "attendees"})
    for field in ("starts_at", "ends_at", "kind", "status"):
        if field in changes and changes[field] is None:
            raise invalid_field(["body", field], "cannot be null", "null")
    if changes.get("status") == LOCKED:
        raise invalid_field(["body", "status"], "approve minutes with :approve", "use_approve")
    _check_times(
        changes.get("starts_at", meeting.starts_at), changes.get("ends_at", meeting.ends_at)
    )
    if data.attendees is not None:
        rows = await _check_attendees(session, principal, meeting.id, data.attendees)
        await repository.replace_attendees(session, meeting.id, rows)
    for field, value in changes.items():
        setattr(meeting, field, value.value if hasattr(value, "value") else value)
    meeting.touch()
    await session.flush()
    await audit_service.record(
        session,
        principal,
        "meeting.update",
        "meeting",
        str(meeting.id),
        org_unit_id=body.org_unit_id,
        details={"fields": sorted(data.model_fields_set)},
    )
    return await read_meeting(session, principal, meeting_id)


async def approve(
    session: AsyncSession, principal: Principal, meeting_id: uuid.UUID, *, if_match: str | None
) -> MeetingRead:
    meeting, body = await get_meeting_visible(session, principal, meeting_id, for_update=True)
    check_if_match(if_match, meeting.version)
    if meeting.status == LOCKED:
        raise MeetingLocked("The minutes are already approved")
    if meeting.status == MeetingStatus.cancelled.value:
        raise invalid_field(
            ["path", "meeting_id"], "a cancelled meeting has no minutes", "cancelled"
        )
    meeting.status = LOCKED
    meeting.approved_at = sa.func.now()  # type: ignore[assignment]
    meeting.touch()
    await session.flush()
    await audit_service.record(
        session,
        principal,
        "meeting.approve",
        "meeting",
        str(meeting.id),
        org_unit_id=body.org_unit_id,
    )
    return await read_meeting(session, principal, meeting_id)


# ---------------------------------------------------------------- items, decisions, assignments


def _item_read(item: AgendaItem) -> AgendaItemRead:
    return AgendaItemRead(
        id=item.id,
        meeting_id=item.meeting_id,
        number=item.number,
        title=item.title,
        kind=item.kind,
        presenter_ids=list(item.presenter_ids),
        links=[Link.model_validate(link) for link in item.links],
        notes=item.notes,
        version=item.version,
    )


async def create_item(
    session: AsyncSession,
    principal: Principal,
    meeting_id: uuid.UUID,
    data: AgendaItemCreate,
    *,
    reason: str | None = None,
) -> AgendaItemRead:
    meeting, body = await get_meeting_visible(session, principal, meeting_id, for_update=True)
    await _editable(session, principal, meeting, body, reason)
    if await repository.number_taken(session, meeting.id, data.number):
        raise invalid_field(["body", "number"], f"item {data.number} already exists", "duplicate")
    for i, person_id in enumerate(data.presenter_ids):
        await people_service.require_person(
            session, principal, person_id, ["body", "presenter_ids", i]
        )
    await _check_links(session, principal, data.links)
    item = AgendaItem(
        meeting_id=meeting.id,
        number=data.number,
        title=data.title,
        kind=data.kind.value,
        presenter_ids=list(data.presenter_ids),
        links=[link.model_dump(mode="json") for link in data.links],
        notes=data.notes,
    )
    session.add(item)
    await session.flush()
    await session.refresh(item)
    meeting.touch()
    await audit_service.record(
        session,
        principal,
        "agenda_item.create",
        "agenda_item",
        str(item.id),
        org_unit_id=body.org_unit_id,
    )
    return _item_read(item)


async def update_item(
    session: AsyncSession,
    principal: Principal,
    item_id: uuid.UUID,
    data: AgendaItemUpdate,
    *,
    if_match: str | None,
) -> AgendaItemRead:
    item, meeting, body = await _item_for_write(session, principal, item_id, data.reason)
    check_if_match(if_match, item.version)
    changes = data.model_dump(exclude_unset=True, exclude={"reason"})
    for field in ("number", "title", "kind", "presenter_ids", "links"):
        if field in changes and changes[field] is None:
            raise invalid_field(["body", field], "cannot be null", "null")
    if "number" in changes and changes["number"] != item.number:
        if await repository.number_taken(session, meeting.id, changes["number"]):
            raise invalid_field(
                ["body", "number"], f"item {changes['number']} already exists", "duplicate"
            )
    for i, person_id in enumerate(data.presenter_ids or []):
        await people_service.require_person(
            session, principal, person_id, ["body", "presenter_ids", i]
        )
    await _check_links(session, principal, data.links or [])
    if data.links is not None:
        changes["links"] = [link.model_dump(mode="json") for link in data.links]
    if data.kind is not None:
        changes["kind"] = data.kind.value
    if data.presenter_ids is not None:
        changes["presenter_ids"] = list(data.presenter_ids)
    for field, value in changes.items():
        setattr(item, field, value)
    item.touch()
    meeting.touch()
    await session.flush()
    await session.refresh(item)
    await audit_service.record(
        session,
        principal,
        "agenda_item.update",
        "agenda_item",
        str(item.id),
        org_unit_id=body.org_unit_id,
        details={"fields": sorted(data.model_fields_set)},
    )
    return _item_read(item)


async def list_items(
    session: AsyncSession, principal: Principal, meeting_id: uuid.UUID
) -> list[AgendaItemRead]:
    meeting, _ = await get_meeting_visible(session, principal, meeting_id)
    return [_item_read(i) for i in await repository.items(session, meeting.id)]


async def _item_for_write(
    session: AsyncSession, principal: Principal, item_id: uuid.UUID, reason: str | None
) -> tuple[AgendaItem, Meeting, MeetingBody]:
    item = await repository.get_item(session, item_id)
    if item is None:
        raise AgendaItemNotFound(f"No agenda item with id {item_id}")
    try:
        meeting, body = await get_meeting_visible(
            session, principal, item.meeting_id, for_update=True
        )
    except MeetingNotFound:
        raise AgendaItemNotFound(f"No agenda item with id {item_id}") from None
    await _editable(session, principal, meeting, body, reason)
    return item, meeting, body


def _decision_read(d: Decision) -> DecisionRead:
    return DecisionRead(
        id=d.id,
        agenda_item_id=d.agenda_item_id,
        text=d.text,
        decided_at=d.decided_at,
        effective_date=d.effective_date,
    )


async def create_decision(
    session: AsyncSession,
    principal: Principal,
    item_id: uuid.UUID,
    data: DecisionCreate,
    *,
    reason: str | None = None,
) -> DecisionRead:
    item, meeting, body = await _item_for_write(session, principal, item_id, reason)
    decision = Decision(
        agenda_item_id=item.id,
        text=data.text,
        decided_at=data.decided_at,
        effective_date=data.effective_date,
    )
    session.add(decision)
    await session.flush()
    meeting.touch()
    await audit_service.record(
        session,
        principal,
        "decision.create",
        "decision",
        str(decision.id),
        org_unit_id=body.org_unit_id,
    )
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
    return _decision_read(decision)


async def list_decisions(
    session: AsyncSession, principal: Principal, meeting_id: uuid.UUID
) -> list[DecisionRead]:
    meeting, _ = await get_meeting_visible(session, principal, meeting_id)
    items = await repository.items(session, meeting.id)
    return [_decision_read(d) for d in await repository.decisions(session, [i.id for i in items])]


async def decision_visible(
    session: AsyncSession, principal: Principal, decision_id: uuid.UUID
) -> bool:
    """For other domains (a plan decided by a meeting decision)."""
    decision = await session.get(Decision, decision_id)
    if decision is None or decision.deleted_at is not None:
        return False
    item = await repository.get_item(session, decision.agenda_item_id)
    if item is None:
        return False
    try:
        await get_meeting_visible(session, principal, item.meeting_id)
    except MeetingNotFound:
        return False
    return True


def _assignment_read(a: Assignment) -> AssignmentRead:
    return AssignmentRead(
        id=a.id,
        agenda_item_id=a.agenda_item_id,
        assignee_id=a.assignee_id,
        text=a.text,
        due_date=a.due_date,
        status=a.status,
        action_id=a.action_id,
        reported_in_meeting_id=a.reported_in_meeting_id,
        version=a.version,
    )


async def create_assignment(
    session: AsyncSession,
    principal: Principal,
    item_id: uuid.UUID,
    data: AssignmentCreate,
    *,
    reason: str | None = None,
) -> AssignmentRead:
    item, meeting, body = await _item_for_write(session, principal, item_id, reason)
    await people_service.require_person(
        session, principal, data.assignee_id, ["body", "assignee_id"]
    )
    if data.action_id is not None and not await _action_exists(
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
        status="open",
        action_id=data.action_id,
    )
    session.add(assignment)
    await session.flush()
    await session.refresh(assignment)
    meeting.touch()
    await audit_service.record(
        session,
        principal,
        "assignment.create",
        "assignment",
        str(assignment.id),
        org_unit_id=body.org_unit_id,
    )
    return _assignment_read(assignment)


async def read_assignment(
    session: AsyncSession, principal: Principal, assignment_id: uuid.UUID
) -> AssignmentRead:
    row = await repository.get_assignment_scoped(session, assignment_id)
    if row is None or not principal.sees_path(row[2]):
        raise AssignmentNotFound(f"No assignment with id {assignment_id}")
    return _assignment_read(row[0])


async def list_assignments(
    session: AsyncSession,
    principal: Principal,
    *,
    assignee_id: uuid.UUID | None,
    status: AssignmentStatus | None,
    body_id: uuid.UUID | None,
    updated_since: datetime | None,
    cursor: str | None,
    limit: int,
) -> Page[AssignmentRead | Tombstone]:
    rows = await repository.list_assignments(
        session,
        scope_path=principal.org_path,
        assignee_id=assignee_id,
        status=status.value if status else None,
        body_id=body_id,
        updated_since=updated_since,
        cursor=cursor,
        limit=limit,
    )
    return mirror_page(
        rows,
        limit,
        updated_since=updated_since,
        tombstone_id=lambda a: str(a.id),
        to_read=lambda r: _assignment_read(r[0]),
    )


async def update_assignment(
    session: AsyncSession,
    principal: Principal,
    assignment_id: uuid.UUID,
    data: AssignmentUpdate,
    *,
    if_match: str | None,
) -> AssignmentRead:
    """Status follow-up goes on after the meeting's minutes are approved: no lock here."""
    row = await repository.get_assignment_scoped(session, assignment_id, for_update=True)
    if row is None or not principal.sees_path(row[2]):
        raise AssignmentNotFound(f"No assignment with id {assignment_id}")
    assignment: Assignment = row[0]
    check_if_match(if_match, assignment.version)
    changes = data.model_dump(exclude_unset=True)
    for field in ("status", "text"):
        if field in changes and changes[field] is None:
            raise invalid_field(["body", field], "cannot be null", "null")
    if changes.get("reported_in_meeting_id") is not None:
        try:
            await get_meeting_visible(session, principal, changes["reported_in_meeting_id"])
        except MeetingNotFound:
            raise invalid_field(
                ["body", "reported_in_meeting_id"], "unknown meeting", "unknown_meeting"
            ) from None
    for field, value in changes.items():
        setattr(assignment, field, value.value if hasattr(value, "value") else value)
    assignment.touch()
    await session.flush()
    await audit_service.record(
        session,
        principal,
        "assignment.update",
        "assignment",
        str(assignment.id),
        org_unit_id=row[3],
        details={"fields": sorted(data.model_fields_set)},
    )
    return await read_assignment(session, principal, assignment_id)


# ---------------------------------------------------------------- prepare


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
    breached = await kpis_service.breached_targets(session, principal, body_org_unit)
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


# ---------------------------------------------------------------- minutes


async def minutes(
    session: AsyncSession, principal: Principal, meeting_id: uuid.UUID
) -> dict[str, Any]:
    """The minutes as plain data; the renderers in `minutes.py` lay it out like seed 000."""
    meeting, body = await get_meeting_visible(session, principal, meeting_id)
    attendees = await repository.attendees(session, [meeting.id])
    items = await repository.items(session, meeting.id)
    item_ids = [i.id for i in items]
    decisions = await repository.decisions(session, item_ids)
    assignments = await repository.assignments(session, item_ids)
    person_ids = {a.person_id for a in attendees} | {a.assignee_id for a in assignments}
    for i in items:
        person_ids.update(i.presenter_ids)
    people = await repository.people(session, list(person_ids))
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


# ---------------------------------------------------------------- reminders


async def notify_due(session: AsyncSession, today: date, *, soon_days: int = 7) -> dict[str, int]:
    """Publishes assignment.overdue and assignment.due_soon once per assignment each."""
    overdue = await repository.mark_due(
        session, column="overdue_notified_at", due_before=today, due_from=None
    )
    for assignment_id, assignee_id, due, org_unit_id in overdue:
        await events_service.publish(
            session,
            "assignment.overdue",
            {
                "assignment_id": str(assignment_id),
                "assignee_id": str(assignee_id),
                "due_date": due.isoformat(),
            },
            org_unit_id=org_unit_id,
        )
    soon = await repository.mark_due(
        session,
        column="due_soon_notified_at",
        due_before=today + timedelta(days=soon_days + 1),
        due_from=today,
    )
    for assignment_id, assignee_id, due, org_unit_id in soon:
        await events_service.publish(
            session,
            "assignment.due_soon",
            {
                "assignment_id": str(assignment_id),
                "assignee_id": str(assignee_id),
                "due_date": due.isoformat(),
            },
            org_unit_id=org_unit_id,
        )
    return {"overdue": len(overdue), "due_soon": len(soon)}


async def _meeting_visible(
    session: AsyncSession, principal: Principal, meeting_id: uuid.UUID
) -> bool:
    try:
        await get_meeting_visible(session, principal, meeting_id)
    except MeetingNotFound:
        return False
    return True


register_meeting_lookups(
    MeetingLookups(decision_visible=decision_visible, meeting_visible=_meeting_visible)
)
