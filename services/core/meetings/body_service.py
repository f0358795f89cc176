"""Bodies (KL, a management team, the regional board): their members and meeting schedule."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.crud import Window, in_scope_or_404, page_of, read_as
from services.core.errors import invalid_field
from services.core.http import check_if_match
from services.core.meetings import repository
from services.core.meetings.common import (
    add_audited,
    delete_audited,
    refuse_nulls,
    require_people,
    update_audited,
)
from services.core.meetings.errors import BodyHasApprovedMinutes, BodyNotFound
from services.core.meetings.models import MeetingBody
from services.core.meetings.schemas import (
    BodyCreate,
    BodyRead,
    BodyUpdate,
    Frequency,
    Member,
    Schedule,
)
from services.core.orgs import service as orgs_service
from services.core.orgs.errors import OrgUnitNotFound
from services.core.pagination import Page, Tombstone
from services.core.principal import Principal


def _body_read(body: MeetingBody, org_code: str, members: Sequence[Any]) -> BodyRead:
    return read_as(BodyRead, body, org_unit=org_code, members=members)


async def get_body_visible(
    session: AsyncSession, principal: Principal, body_id: uuid.UUID, *, for_update: bool = False
) -> tuple[MeetingBody, str, str]:
    """The body, its unit's code and path, if the caller sees the unit; 404 otherwise."""
    row = in_scope_or_404(
        await repository.get_body(session, body_id, for_update=for_update),
        principal,
        BodyNotFound(f"No body with id {body_id}"),
    )
    return row[0], row[1], row[2]


async def _check_members(
    session: AsyncSession, principal: Principal, members: Sequence[Member]
) -> None:
    ids = [m.person_id for m in members]
    if len(set(ids)) != len(ids):
        raise invalid_field(["body", "members"], "a person is listed twice", "duplicate")
    await require_people(session, principal, ids, ["body", "members"], ("person_id",))


async def _replace_members(
    session: AsyncSession, body_id: uuid.UUID, members: Sequence[Member]
) -> None:
    await repository.members.replace(
        session, body_id, [{"body_id": body_id, **m.model_dump(mode="json")} for m in members]
    )


def _schedule_json(schedule: Schedule | None) -> dict[str, Any] | None:
    if schedule is None:
        return None
    _check_schedule(schedule)
    return schedule.model_dump(mode="json")


def _check_schedule(schedule: Schedule) -> None:
    """A field the frequency does not use is refused when it holds anything but its default,
    rather than ignored: a monthly schedule sent `weekday: 2` without `week_of_month` would
    otherwise quietly meet on day 1. (A schedule read back and sent again holds the defaults.)"""
    loc: list[str | int] = ["body", "schedule"]
    monthly = schedule.frequency is Frequency.monthly
    if schedule.week_of_month is not None and not monthly:
        raise invalid_field(
            [*loc, "week_of_month"],
            f"a {schedule.frequency.value} schedule has no week of the month; "
            "only a monthly one does",
            "invalid_schedule",
        )
    on_weekday = schedule.frequency in (Frequency.weekly, Frequency.biweekly) or (
        monthly and schedule.week_of_month is not None
    )
    if on_weekday and schedule.day != Schedule.model_fields["day"].default:
        raise invalid_field(
            [*loc, "day"],
            "this schedule meets on `weekday`; `day` is for monthly schedules without "
            "`week_of_month` and tertial ones",
            "invalid_schedule",
        )
    if not on_weekday and schedule.weekday != Schedule.model_fields["weekday"].default:
        raise invalid_field(
            [*loc, "weekday"],
            f"a {schedule.frequency.value} schedule meets on `day`; give `week_of_month` "
            "(monthly) to meet on a weekday such as the first Monday",
            "invalid_schedule",
        )


async def create_body(session: AsyncSession, principal: Principal, data: BodyCreate) -> BodyRead:
    try:
        unit = await orgs_service.get_visible(session, principal, data.org_unit)
    except OrgUnitNotFound:
        raise invalid_field(
            ["body", "org_unit"], f"unknown org unit {data.org_unit!r}", "unknown_org_unit"
        ) from None
    await _check_members(session, principal, data.members)
    assert unit.id is not None
    body = MeetingBody(
        name=data.name,
        short_name=data.short_name,
        org_unit_id=unit.id,
        schedule=_schedule_json(data.schedule),
    )
    await add_audited(session, principal, body, "meeting_body", unit.id)
    await _replace_members(session, body.id, data.members)
    return _body_read(body, unit.code, await repository.members.of(session, [body.id]))


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
    refuse_nulls(changes, ["name"])
    if data.members is not None:
        await _check_members(session, principal, data.members)
        await _replace_members(session, body.id, data.members)
    if "schedule" in data.model_fields_set:
        changes["schedule"] = _schedule_json(data.schedule)
    await update_audited(session, principal, body, changes, "meeting_body", body.org_unit_id, data)
    return _body_read(body, code, await repository.members.of(session, [body.id]))


async def read_body(session: AsyncSession, principal: Principal, body_id: uuid.UUID) -> BodyRead:
    body, code, _ = await get_body_visible(session, principal, body_id)
    return _body_read(body, code, await repository.members.of(session, [body.id]))


async def list_bodies(
    session: AsyncSession, principal: Principal, *, window: Window
) -> Page[BodyRead | Tombstone]:
    rows = await repository.list_bodies(session, scope_path=principal.org_path, window=window)
    members = await repository.members.by_owner(session, [r[0].id for r in rows])
    return page_of(rows, window, lambda r: _body_read(r[0], r[1], members.get(r[0].id, [])))


async def delete_body(
    session: AsyncSession, principal: Principal, body_id: uuid.UUID, *, if_match: str | None
) -> None:
    """Soft-deletes the body with its meetings and what they hold, unless one of its meetings
    has approved minutes (a record that must stay reachable): then 409."""
    body, _, _ = await get_body_visible(session, principal, body_id, for_update=True)
    check_if_match(if_match, body.version)
    approved = await repository.approved_meeting_of(session, body.id)
    if approved is not None:
        raise BodyHasApprovedMinutes(
            f"Meeting {approved} of this body has approved minutes; a body with minutes on "
            "record cannot be deleted"
        )
    meeting_ids = await repository.soft_delete_meetings_of(session, body.id)
    await repository.soft_delete_under(session, meeting_ids=meeting_ids)
    await delete_audited(session, principal, body, "meeting_body", body.org_unit_id)
