"""Meetings of a body: planned from its schedule or one by one, changed, approved (locked)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.audit import service as audit_service
from services.core.crud import Window, apply_update, in_scope_or_404, page_of, read_as
from services.core.errors import invalid_field
from services.core.http import check_if_match
from services.core.meetings import repository
from services.core.meetings.body_service import get_body_visible
from services.core.meetings.common import (
    LOCKED,
    add_audited,
    assignment_read,
    attendee_reads,
    check_editable,
    delete_audited,
    item_read,
    person_refs,
    refuse_nulls,
    refuse_when_locked,
    update_audited,
)
from services.core.meetings.errors import MeetingLocked, MeetingNotFound
from services.core.meetings.models import Meeting, MeetingBody
from services.core.meetings.schemas import (
    Attendee,
    DecisionRead,
    Frequency,
    MeetingCreate,
    MeetingDetail,
    MeetingExpand,
    MeetingRead,
    MeetingSort,
    MeetingStatus,
    MeetingUpdate,
    Schedule,
)
from services.core.pagination import Page, Tombstone
from services.core.people import service as people_service
from services.core.principal import Principal


async def _meeting_read(
    session: AsyncSession, meeting: Meeting, attendees: Sequence[Any]
) -> MeetingRead:
    refs = await person_refs(session, [a.person_id for a in attendees])
    return read_as(MeetingRead, meeting, attendees=attendee_reads(attendees, refs))


async def get_meeting_visible(
    session: AsyncSession, principal: Principal, meeting_id: uuid.UUID, *, for_update: bool = False
) -> tuple[Meeting, MeetingBody]:
    """The meeting and its body, if the caller sees the body's unit; 404 otherwise."""
    row = in_scope_or_404(
        await repository.get_meeting(session, meeting_id, for_update=for_update),
        principal,
        MeetingNotFound(f"No meeting with id {meeting_id}"),
    )
    return row[0], row[1]


async def meeting_visible(
    session: AsyncSession, principal: Principal, meeting_id: uuid.UUID
) -> bool:
    """For other domains (a follow-up reported in a meeting)."""
    try:
        await get_meeting_visible(session, principal, meeting_id)
    except MeetingNotFound:
        return False
    return True


def _nth_weekday(year: int, month: int, weekday: int, week: int) -> date:
    """The `week`th `weekday` of the month (1-4), or its last one (-1)."""
    if week == -1:
        last = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
        return last - timedelta(days=(last.weekday() - weekday) % 7)
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (week - 1))


def _occurrences(schedule: Schedule, until: date) -> list[date]:
    """The local meeting days from `starts_on` to `until` (inclusive)."""
    days: list[date] = []
    start = schedule.starts_on
    if schedule.frequency in (Frequency.weekly, Frequency.biweekly):
        # Every other week counts from the first meeting day on or after `starts_on`.
        step = timedelta(days=7 if schedule.frequency is Frequency.weekly else 14)
        day = start + timedelta(days=(schedule.weekday - start.weekday()) % 7)
        while day <= until:
            days.append(day)
            day += step
        return days
    step_months = 1 if schedule.frequency is Frequency.monthly else 4
    year, month = start.year, start.month
    while date(year, month, 1) <= until:
        if schedule.week_of_month is not None:
            day = _nth_weekday(year, month, schedule.weekday, schedule.week_of_month)
        else:
            day = date(year, month, schedule.day)
        if start <= day <= until:
            days.append(day)
        month += step_months
        year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return days


def _stored_schedule(body: MeetingBody) -> Schedule:
    if body.schedule is None:
        raise invalid_field(["path", "body_id"], "the body has no schedule", "no_schedule")
    try:
        return Schedule.model_validate(body.schedule)
    except ValidationError:
        # Stored before a rule it breaks existed; a PATCH with a valid schedule mends it.
        raise invalid_field(
            ["path", "body_id"],
            "the body's stored schedule is no longer valid; PATCH the body with a new one",
            "invalid_schedule",
        ) from None


async def generate(
    session: AsyncSession,
    principal: Principal,
    body_id: uuid.UUID,
    until: date,
    *,
    zone: ZoneInfo,
) -> int:
    """Creates the planned meetings of the body's schedule up to `until`; repeatable. The
    schedule's time is local time in `zone`: a 13:00 meeting is 12:00 UTC in winter and 11:00
    UTC in summer. A local time that does not exist on the day summer time starts (02:30)
    is read with the offset before the jump (PEP 495), so that meeting starts at 03:30."""
    body, _, _ = await get_body_visible(session, principal, body_id)
    schedule = _stored_schedule(body)
    if until > schedule.starts_on + timedelta(days=3 * 366):
        raise invalid_field(["query", "until"], "at most three years ahead", "too_far")
    at = time.fromisoformat(schedule.time)
    rows = []
    for day in _occurrences(schedule, until):
        starts = datetime.combine(day, at, tzinfo=zone).astimezone(UTC)
        rows.append(
            {
                "body_id": body.id,
                "starts_at": starts,
                # The duration is elapsed time: a meeting over the night clocks change lasts
                # as long as any other.
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
    try:
        await add_audited(session, principal, meeting, "meeting", body.org_unit_id)
    except sa.exc.IntegrityError:
        raise invalid_field(
            ["body", "starts_at"], "the body already meets at this time", "duplicate"
        ) from None
    for row in rows:
        row["meeting_id"] = meeting.id
    await repository.attendees.replace(session, meeting.id, rows)
    return await _meeting_read(
        session, meeting, await repository.attendees.of(session, [meeting.id])
    )


async def read_meeting(
    session: AsyncSession, principal: Principal, meeting_id: uuid.UUID
) -> MeetingRead:
    meeting, _ = await get_meeting_visible(session, principal, meeting_id)
    return await _meeting_read(
        session, meeting, await repository.attendees.of(session, [meeting.id])
    )


async def read_meeting_expanded(
    session: AsyncSession,
    principal: Principal,
    meeting_id: uuid.UUID,
    expand: set[MeetingExpand],
) -> MeetingDetail:
    """The meeting with its agenda, decisions and assignments as `expand` asks: the view a
    meeting tool shows, in one call."""
    meeting, _ = await get_meeting_visible(session, principal, meeting_id)
    attendees = await repository.attendees.of(session, [meeting.id])
    items = await repository.items(session, meeting.id) if expand else []
    item_ids = [i.id for i in items]
    assignments = (
        await repository.assignments(session, item_ids)
        if MeetingExpand.assignments in expand
        else []
    )
    refs = await person_refs(
        session,
        [a.person_id for a in attendees]
        + [p for i in items for p in i.presenter_ids]
        + [a.assignee_id for a in assignments],
    )
    detail = MeetingDetail.model_validate(
        read_as(MeetingRead, meeting, attendees=attendee_reads(attendees, refs)).model_dump()
    )
    if MeetingExpand.items in expand:
        detail.items = [item_read(i, refs) for i in items]
    if MeetingExpand.decisions in expand:
        number = {i.id: i.number for i in items}
        decisions = sorted(
            await repository.decisions(session, item_ids),
            key=lambda d: number[d.agenda_item_id],
        )
        detail.decisions = [read_as(DecisionRead, d) for d in decisions]
    if MeetingExpand.assignments in expand:
        number = {i.id: i.number for i in items}
        ordered = sorted(assignments, key=lambda a: number[a.agenda_item_id])
        detail.assignments = [assignment_read(a, meeting.id, refs) for a in ordered]
    return detail


async def list_meetings(
    session: AsyncSession,
    principal: Principal,
    *,
    body_id: uuid.UUID | None,
    status: MeetingStatus | None,
    window: Window,
    sort: MeetingSort | None = None,
    q: str | None = None,
) -> Page[MeetingRead | Tombstone]:
    window = window.sorted_by(repository.MEETING_SORTS[sort.value] if sort else None)
    rows = await repository.list_meetings(
        session,
        scope_path=principal.org_path,
        body_id=body_id,
        status=status.value if status else None,
        q=q,
        window=window,
    )
    attendees = await repository.attendees.by_owner(session, [r[0].id for r in rows])
    refs = await person_refs(session, [a.person_id for rows_ in attendees.values() for a in rows_])

    def to_read(row: Any) -> MeetingRead:
        shown = attendees.get(row[0].id, [])
        return read_as(MeetingRead, row[0], attendees=attendee_reads(shown, refs))

    return page_of(rows, window, to_read)


async def list_body_meetings(
    session: AsyncSession,
    principal: Principal,
    body_id: uuid.UUID,
    *,
    status: MeetingStatus | None,
    window: Window,
    sort: MeetingSort | None = None,
    q: str | None = None,
) -> Page[MeetingRead | Tombstone]:
    """A body's meetings; an unseen body is a 404 (not an empty list)."""
    body, _, _ = await get_body_visible(session, principal, body_id)
    return await list_meetings(
        session, principal, body_id=body.id, status=status, window=window, sort=sort, q=q
    )


async def delete_meeting(
    session: AsyncSession, principal: Principal, meeting_id: uuid.UUID, *, if_match: str | None
) -> None:
    """Before approval only: the meeting with its items, decisions and assignments (all soft,
    tombstones for mirrors)."""
    meeting, body = await get_meeting_visible(session, principal, meeting_id, for_update=True)
    refuse_when_locked(meeting, "the meeting")
    check_if_match(if_match, meeting.version)
    await repository.soft_delete_under(session, meeting_ids=[meeting.id])
    await delete_audited(session, principal, meeting, "meeting", body.org_unit_id)


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
    await check_editable(session, principal, meeting, body, data.reason)
    changes = data.model_dump(exclude_unset=True, exclude={"reason", "attendees"})
    refuse_nulls(changes, ["starts_at", "ends_at", "kind", "status"])
    if changes.get("status") == LOCKED:
        raise invalid_field(["body", "status"], "approve minutes with :approve", "use_approve")
    _check_times(
        changes.get("starts_at", meeting.starts_at), changes.get("ends_at", meeting.ends_at)
    )
    if data.attendees is not None:
        rows = await _check_attendees(session, principal, meeting.id, data.attendees)
        await repository.attendees.replace(session, meeting.id, rows)
    await update_audited(session, principal, meeting, changes, "meeting", body.org_unit_id, data)
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
    await apply_update(session, meeting, {"status": LOCKED, "approved_at": sa.func.now()})
    await audit_service.record(
        session,
        principal,
        "meeting.approve",
        "meeting",
        str(meeting.id),
        org_unit_id=body.org_unit_id,
    )
    return await read_meeting(session, principal, meeting_id)


async def follow_ups_presented_between(
    session: AsyncSession, since: datetime, until: datetime
) -> Sequence[Any]:
    """For other domains (reminders): the follow-up agenda items people present at planned
    meetings starting in [since, until), with (id, title, presenter_ids, meeting_id,
    starts_at, body_name). No scope check."""
    return await repository.follow_ups_presented_between(session, since=since, until=until)


async def meetings_between(
    session: AsyncSession,
    start: datetime,
    end: datetime,
    *,
    body_id: uuid.UUID | None = None,
    person_id: uuid.UUID | None = None,
    with_deleted: bool = False,
) -> Sequence[Any]:
    """For other domains (invitations, digests, calendars): meetings starting in [start, end),
    of one body or concerning one person (attendee or member of the body) if given, with
    `body_name`, `agenda` ([{number, title}]), `participants` (person ids), `version` and
    `deleted`. No scope check: the caller has decided who may see them."""
    return await repository.meetings_between(
        session,
        start=start,
        end=end,
        body_id=body_id,
        person_id=person_id,
        with_deleted=with_deleted,
    )
