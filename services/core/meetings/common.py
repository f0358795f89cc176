"""What the meetings domain's aggregates share: the lock after approval, the checks of people
and links they refer to, and how a row of theirs is added or changed (new version, audit)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from enum import Enum
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.audit import service as audit_service
from services.core.crud import read_as
from services.core.errors import invalid_field
from services.core.kpis import catalogue_service, target_service
from services.core.kpis.errors import KpiNotFound, TargetNotFound
from services.core.meetings.errors import MeetingLocked
from services.core.meetings.models import AgendaItem, Assignment, Decision, Meeting, MeetingBody
from services.core.meetings.schemas import (
    AgendaItemRead,
    AssignmentRead,
    AttendeeRead,
    Link,
    MeetingStatus,
)
from services.core.people import service as people_service
from services.core.people.schemas import PersonRef
from services.core.plans import action_service, plan_service
from services.core.plans.errors import ActionNotFound, PlanNotFound
from services.core.principal import Principal

LOCKED = MeetingStatus.minutes_approved.value
LinkCheck = Callable[[AsyncSession, Principal, str], Awaitable[bool]]
# The versioned rows a PATCH changes.
Changeable = MeetingBody | Meeting | AgendaItem | Decision | Assignment


def _found_by(
    lookup: Callable[[AsyncSession, Principal, str], Awaitable[object]],
    *not_found: type[Exception],
) -> LinkCheck:
    """A link check from another domain's read: the link holds if the read finds it (a
    malformed id, ValueError, is not found either)."""

    missing: tuple[type[Exception], ...] = (ValueError, *not_found)

    async def check(session: AsyncSession, principal: Principal, raw: str) -> bool:
        try:
            await lookup(session, principal, raw)
        except missing:
            return False
        return True

    return check


action_exists = _found_by(
    lambda session, principal, raw: action_service.read_action(session, principal, uuid.UUID(raw)),
    ActionNotFound,
)

# A linked resource must exist and be visible to the caller. Link kinds whose domain exists in
# this build are checked; the others are stored as plain references.
VALIDATED_LINK_KINDS: dict[str, LinkCheck] = {
    "action_plan": _found_by(
        lambda session, principal, raw: plan_service.get_visible_plan(
            session, principal, uuid.UUID(raw)
        ),
        PlanNotFound,
    ),
    "action": action_exists,
    "target": _found_by(
        lambda session, principal, raw: target_service.read_target(
            session, principal, uuid.UUID(raw)
        ),
        TargetNotFound,
    ),
    "kpi_series": _found_by(
        lambda session, principal, raw: catalogue_service.definition(session, raw), KpiNotFound
    ),
}


async def check_links(session: AsyncSession, principal: Principal, links: Sequence[Link]) -> None:
    for i, link in enumerate(links):
        check = VALIDATED_LINK_KINDS.get(link.kind.value)
        if check is not None and not await check(session, principal, link.id):
            raise invalid_field(
                ["body", "links", i, "id"], f"unknown {link.kind.value} {link.id}", "unknown"
            )


async def require_people(
    session: AsyncSession,
    principal: Principal,
    ids: Sequence[uuid.UUID],
    loc: list[str | int],
    field: tuple[str, ...] = (),
) -> None:
    """Each person exists and is visible; the error names `loc`, the index, then `field`."""
    for i, person_id in enumerate(ids):
        await people_service.require_person(session, principal, person_id, [*loc, i, *field])


PersonRefs = dict[uuid.UUID, PersonRef]


async def person_refs(session: AsyncSession, ids: Iterable[uuid.UUID]) -> PersonRefs:
    """The people these ids name (removed ones too: a view names whoever it referred to)."""
    return await people_service.refs(session, ids)


def ref(refs: PersonRefs, person_id: uuid.UUID) -> PersonRef:
    return refs.get(person_id) or PersonRef(id=person_id, name=None, initials=None)


def item_read(item: AgendaItem, refs: PersonRefs) -> AgendaItemRead:
    return read_as(AgendaItemRead, item, presenters=[ref(refs, p) for p in item.presenter_ids])


def assignment_read(
    assignment: Assignment, meeting_id: uuid.UUID, refs: PersonRefs
) -> AssignmentRead:
    return read_as(
        AssignmentRead,
        assignment,
        meeting_id=meeting_id,
        assignee=ref(refs, assignment.assignee_id),
    )


def attendee_reads(attendees: Sequence[Any], refs: PersonRefs) -> list[AttendeeRead]:
    return [read_as(AttendeeRead, a, person=ref(refs, a.person_id)) for a in attendees]


def refuse_nulls(changes: dict[str, Any], fields: Sequence[str]) -> None:
    """A PATCH may not clear a required field."""
    for field in fields:
        if field in changes and changes[field] is None:
            raise invalid_field(["body", field], "cannot be null", "null")


async def delete_audited(
    session: AsyncSession,
    principal: Principal,
    row: Any,
    resource_type: str,
    org_unit_id: int,
    *,
    within: Meeting | None = None,
) -> None:
    """Soft-deletes a row and audits `<resource_type>.delete`; a row `within` a meeting gives
    the meeting a new version, as for `add_audited`."""
    if within is not None:
        within.touch()
    await audit_service.delete_audited(
        session, principal, row, resource_type, org_unit_id=org_unit_id
    )


def refuse_when_locked(meeting: Meeting, what: str) -> None:
    """Approved minutes are a record: what they hold is corrected (an admin, with a reason),
    never deleted."""
    if meeting.status == LOCKED:
        raise MeetingLocked(
            f"Minutes of meeting {meeting.id} are approved; {what} cannot be deleted"
        )


async def check_editable(
    session: AsyncSession,
    principal: Principal,
    meeting: Meeting,
    body: MeetingBody,
    reason: str | None,
) -> None:
    """After approval only an admin may edit, and only with a reason kept in the audit trail."""
    await check_unlocked(session, principal, meeting, body.org_unit_id, reason)


async def check_unlocked(
    session: AsyncSession,
    principal: Principal,
    meeting: Meeting,
    org_unit_id: int,
    reason: str | None,
) -> None:
    """`check_editable` for a row that knows its body's unit but not the body."""
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
        org_unit_id=org_unit_id,
        details={"reason": reason},
    )


async def add_audited(
    session: AsyncSession,
    principal: Principal,
    row: Any,
    resource_type: str,
    org_unit_id: int,
    *,
    within: Meeting | None = None,
) -> None:
    """Stores a new row and audits `<resource_type>.create`; a row `within` a meeting (an item,
    a decision, an assignment) gives the meeting a new version, as its minutes changed."""
    if within is not None:
        # Flushed with the row, so later reads in this transaction see the new version.
        within.touch()
    await audit_service.add_audited(session, principal, row, resource_type, org_unit_id=org_unit_id)


async def update_audited(
    session: AsyncSession,
    principal: Principal,
    row: Changeable,
    changes: dict[str, Any],
    resource_type: str,
    org_unit_id: int,
    data: BaseModel,
) -> None:
    """Applies a PATCH's changes (new version) and audits `<resource_type>.update` with the
    fields the caller sent. Enum members are stored as their values."""
    plain = {f: v.value if isinstance(v, Enum) else v for f, v in changes.items()}
    await audit_service.update_audited(
        session,
        principal,
        row,
        plain,
        resource_type,
        fields=data.model_fields_set,
        org_unit_id=org_unit_id,
    )
