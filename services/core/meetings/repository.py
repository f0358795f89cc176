"""Every SQL statement of the meetings domain."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.core.crud import Window, fetch_mirrored, live_row, scoped, text_search
from services.core.meetings.models import (
    AgendaItem,
    Assignment,
    Decision,
    Meeting,
    MeetingAttendee,
    MeetingBody,
    MeetingBodyMember,
)
from services.core.pagination import Sort, SortField
from services.core.tree import OrgUnit, with_unit

# The named orders of the lists (the API's sort values) and the agenda's own order.
MEETING_SORTS = {
    "starts_at": Sort("starts_at", (SortField(col(Meeting.starts_at)),)),
    "-starts_at": Sort("-starts_at", (SortField(col(Meeting.starts_at)),), descending=True),
}
_NO_DUE_DATE = date(9999, 12, 31)
ASSIGNMENT_SORTS = {
    "due_date": Sort("due_date", (SortField(col(Assignment.due_date), _NO_DUE_DATE),)),
    "-due_date": Sort(
        "-due_date", (SortField(col(Assignment.due_date), _NO_DUE_DATE),), descending=True
    ),
}
AGENDA_ORDER = Sort("number", (SortField(col(AgendaItem.number)),))
DECISION_ORDER = Sort("created_at", (SortField(col(Decision.created_at)),))


@dataclass(frozen=True)
class OwnedRows:
    """Rows a body or meeting owns outright (its members, its attendees): read for several
    owners at once, replaced as a whole list."""

    model: type[MeetingBodyMember] | type[MeetingAttendee]
    owner: Any  # the owner's id column

    async def of(self, session: AsyncSession, owner_ids: Sequence[uuid.UUID]) -> Sequence[Any]:
        stmt = sa.select(self.model).where(self.owner.in_(owner_ids))
        return (await session.execute(stmt.order_by(col(self.model.person_id)))).scalars().all()

    async def by_owner(
        self, session: AsyncSession, owner_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[Any]]:
        grouped: dict[uuid.UUID, list[Any]] = {}
        for row in await self.of(session, owner_ids):
            grouped.setdefault(getattr(row, self.owner.key), []).append(row)
        return grouped

    async def replace(
        self, session: AsyncSession, owner_id: uuid.UUID, rows: list[dict[str, Any]]
    ) -> None:
        await session.execute(sa.delete(self.model).where(self.owner == owner_id))
        if rows:
            await session.execute(insert(self.model).values(rows))


members = OwnedRows(MeetingBodyMember, col(MeetingBodyMember.body_id))
attendees = OwnedRows(MeetingAttendee, col(MeetingAttendee.meeting_id))


async def get_body(session: AsyncSession, body_id: uuid.UUID, *, for_update: bool = False) -> Any:
    return await live_row(
        session, with_unit(MeetingBody), MeetingBody, body_id, for_update=for_update
    )


async def list_bodies(
    session: AsyncSession, *, scope_path: str | None, window: Window
) -> Sequence[Any]:
    stmt = scoped(with_unit(MeetingBody), scope_path)
    return await fetch_mirrored(session, stmt, MeetingBody, window)


def _meeting_with_org() -> Any:
    stmt: Any = sa.select(Meeting, MeetingBody, col(OrgUnit.path))
    stmt = stmt.join(MeetingBody, col(MeetingBody.id) == col(Meeting.body_id))
    return stmt.join(OrgUnit, col(OrgUnit.id) == col(MeetingBody.org_unit_id))


async def get_meeting(
    session: AsyncSession, meeting_id: uuid.UUID, *, for_update: bool = False
) -> Any:
    return await live_row(session, _meeting_with_org(), Meeting, meeting_id, for_update=for_update)


async def list_meetings(
    session: AsyncSession,
    *,
    scope_path: str | None,
    body_id: uuid.UUID | None,
    status: str | None,
    q: str | None = None,
    window: Window,
) -> Sequence[Any]:
    stmt = scoped(
        _meeting_with_org(),
        scope_path,
        (col(Meeting.body_id), body_id),
        (col(Meeting.status), status),
    )
    stmt = text_search(
        stmt, q, col(Meeting.place), col(MeetingBody.name), col(MeetingBody.short_name)
    )
    return await fetch_mirrored(session, stmt, Meeting, window)


async def insert_meetings(session: AsyncSession, rows: list[dict[str, Any]]) -> int:
    """Set-based; the (body_id, starts_at) key makes repeated generation a no-op."""
    if not rows:
        return 0
    stmt = (
        insert(Meeting)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["body_id", "starts_at"])
        .returning(col(Meeting.id))
    )
    return len((await session.execute(stmt)).all())


async def item_ids_of(session: AsyncSession, meeting_id: uuid.UUID) -> set[uuid.UUID]:
    stmt = sa.select(col(AgendaItem.id)).where(
        col(AgendaItem.meeting_id) == meeting_id, col(AgendaItem.deleted_at).is_(None)
    )
    return set((await session.execute(stmt)).scalars().all())


async def number_taken(session: AsyncSession, meeting_id: uuid.UUID, number: int) -> bool:
    stmt = sa.select(sa.literal(1)).where(
        col(AgendaItem.meeting_id) == meeting_id,
        col(AgendaItem.number) == number,
        col(AgendaItem.deleted_at).is_(None),
    )
    return (await session.execute(stmt)).first() is not None


async def renumber(session: AsyncSession, meeting_id: uuid.UUID, order: list[uuid.UUID]) -> None:
    """Numbers the meeting's live items 1, 2, … in `order` (every live item once), each a new
    version. Two statements: the unique number is checked row by row, so the items first move
    out of the way (negative numbers), then to their places."""
    live = (col(AgendaItem.meeting_id) == meeting_id, col(AgendaItem.deleted_at).is_(None))
    await session.execute(
        sa.update(AgendaItem)
        .where(*live)
        .values(number=-col(AgendaItem.number))
        .execution_options(synchronize_session=False)
    )
    position = sa.case(
        {item_id: n for n, item_id in enumerate(order, start=1)}, value=col(AgendaItem.id)
    )
    changed = col(AgendaItem.number) != -position
    await session.execute(
        sa.update(AgendaItem)
        .where(*live)
        .values(
            number=position,
            version=sa.case((changed, col(AgendaItem.version) + 1), else_=col(AgendaItem.version)),
            updated_at=sa.case((changed, sa.func.now()), else_=col(AgendaItem.updated_at)),
        )
        .execution_options(synchronize_session=False)
    )


def _tombstone_values(model: Any) -> dict[str, Any]:
    return {
        "deleted_at": sa.func.now(),
        "updated_at": sa.func.now(),
        "version": model.version + 1,
    }


async def soft_delete_meetings_of(session: AsyncSession, body_id: uuid.UUID) -> list[uuid.UUID]:
    """Marks the body's live meetings deleted (mirrors see tombstones); their ids."""
    stmt = (
        sa.update(Meeting)
        .where(col(Meeting.body_id) == body_id, col(Meeting.deleted_at).is_(None))
        .values(_tombstone_values(Meeting))
        .returning(col(Meeting.id))
        .execution_options(synchronize_session=False)
    )
    return list((await session.execute(stmt)).scalars().all())


async def approved_meeting_of(session: AsyncSession, body_id: uuid.UUID) -> uuid.UUID | None:
    stmt = sa.select(col(Meeting.id)).where(
        col(Meeting.body_id) == body_id,
        col(Meeting.deleted_at).is_(None),
        col(Meeting.status) == "minutes_approved",
    )
    return (await session.execute(stmt.limit(1))).scalar_one_or_none()


async def soft_delete_under(
    session: AsyncSession,
    *,
    meeting_ids: Sequence[uuid.UUID] = (),
    item_ids: Sequence[uuid.UUID] = (),
) -> None:
    """Marks deleted, set-based, what hangs off these meetings and items: the meetings' items,
    and the decisions and assignments of those items (a deleted parent's children leave
    tombstones too, so a mirror does not keep them)."""
    items = sa.select(col(AgendaItem.id)).where(
        sa.or_(col(AgendaItem.meeting_id).in_(meeting_ids), col(AgendaItem.id).in_(item_ids))
    )
    for model in (Decision, Assignment):
        await session.execute(
            sa.update(model)
            .where(col(model.agenda_item_id).in_(items), col(model.deleted_at).is_(None))
            .values(_tombstone_values(model))
            .execution_options(synchronize_session=False)
        )
    if meeting_ids:
        await session.execute(
            sa.update(AgendaItem)
            .where(
                col(AgendaItem.meeting_id).in_(meeting_ids), col(AgendaItem.deleted_at).is_(None)
            )
            .values(_tombstone_values(AgendaItem))
            .execution_options(synchronize_session=False)
        )


async def list_items(session: AsyncSession, meeting_id: uuid.UUID, window: Window) -> Sequence[Any]:
    stmt = sa.select(AgendaItem).where(col(AgendaItem.meeting_id) == meeting_id)
    return await fetch_mirrored(session, stmt, AgendaItem, window)


async def list_decisions(
    session: AsyncSession, meeting_id: uuid.UUID, window: Window
) -> Sequence[Any]:
    stmt = (
        sa.select(Decision)
        .join(AgendaItem, col(AgendaItem.id) == col(Decision.agenda_item_id))
        .where(col(AgendaItem.meeting_id) == meeting_id)
    )
    return await fetch_mirrored(session, stmt, Decision, window)


async def get_decision(
    session: AsyncSession, decision_id: uuid.UUID, *, for_update: bool = False
) -> Decision | None:
    row = await live_row(session, sa.select(Decision), Decision, decision_id, for_update=for_update)
    return row[0] if row is not None else None


async def get_item(session: AsyncSession, item_id: uuid.UUID) -> AgendaItem | None:
    stmt = sa.select(AgendaItem).where(
        col(AgendaItem.id) == item_id, col(AgendaItem.deleted_at).is_(None)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def items(session: AsyncSession, meeting_id: uuid.UUID) -> Sequence[AgendaItem]:
    stmt = sa.select(AgendaItem).where(
        col(AgendaItem.meeting_id) == meeting_id, col(AgendaItem.deleted_at).is_(None)
    )
    return (await session.execute(stmt.order_by(col(AgendaItem.number)))).scalars().all()


async def decisions(session: AsyncSession, item_ids: Sequence[uuid.UUID]) -> Sequence[Decision]:
    """The live decisions of these items, in the order they were made."""
    stmt = sa.select(Decision).where(
        col(Decision.agenda_item_id).in_(item_ids), col(Decision.deleted_at).is_(None)
    )
    return (await session.execute(stmt.order_by(col(Decision.created_at)))).scalars().all()


async def assignments(session: AsyncSession, item_ids: Sequence[uuid.UUID]) -> Sequence[Assignment]:
    stmt = sa.select(Assignment).where(
        col(Assignment.agenda_item_id).in_(item_ids), col(Assignment.deleted_at).is_(None)
    )
    return (await session.execute(stmt.order_by(col(Assignment.created_at)))).scalars().all()


def _assignment_with_org(*columns: Any) -> Any:
    """Assignments with what they are scoped by: item, meeting, body and the body's unit."""
    stmt: Any = sa.select(Assignment, *columns)
    return (
        stmt.join(AgendaItem, col(AgendaItem.id) == col(Assignment.agenda_item_id))
        .join(Meeting, col(Meeting.id) == col(AgendaItem.meeting_id))
        .join(MeetingBody, col(MeetingBody.id) == col(Meeting.body_id))
        .join(OrgUnit, col(OrgUnit.id) == col(MeetingBody.org_unit_id))
    )


async def get_assignment_scoped(
    session: AsyncSession, assignment_id: uuid.UUID, *, for_update: bool = False
) -> Any:
    stmt = _assignment_with_org(Meeting, col(OrgUnit.path), col(MeetingBody.org_unit_id))
    return await live_row(session, stmt, Assignment, assignment_id, for_update=for_update)


async def open_assignments_due_by(
    session: AsyncSession, body_id: uuid.UUID, due_by: date
) -> Sequence[Assignment]:
    stmt = (
        sa.select(Assignment)
        .join(AgendaItem, col(AgendaItem.id) == col(Assignment.agenda_item_id))
        .join(Meeting, col(Meeting.id) == col(AgendaItem.meeting_id))
        .where(
            col(Meeting.body_id) == body_id,
            col(Assignment.deleted_at).is_(None),
            col(Assignment.status).in_(["open", "in_progress"]),
            col(Assignment.due_date) <= due_by,
        )
        .order_by(col(Assignment.due_date), col(Assignment.id))
    )
    return (await session.execute(stmt)).scalars().all()


async def mark_due(
    session: AsyncSession, *, column: str, due_before: date, due_from: date | None
) -> Sequence[Any]:
    """Claims open assignments for one notification kind in one statement, once each."""
    marker = getattr(Assignment, column)
    cond = [
        col(Assignment.deleted_at).is_(None),
        col(Assignment.status).in_(["open", "in_progress"]),
        col(Assignment.due_date) < due_before,
        marker.is_(None),
    ]
    if due_from is not None:
        cond.append(col(Assignment.due_date) >= due_from)
    org = (
        sa.select(col(MeetingBody.org_unit_id))
        .join(Meeting, col(Meeting.body_id) == col(MeetingBody.id))
        .join(AgendaItem, col(AgendaItem.meeting_id) == col(Meeting.id))
        .where(col(AgendaItem.id) == col(Assignment.agenda_item_id))
        .scalar_subquery()
    )
    stmt = (
        sa.update(Assignment)
        .where(*cond)
        .values({column: sa.func.now()})
        .returning(col(Assignment.id), col(Assignment.assignee_id), col(Assignment.due_date), org)
    )
    return (await session.execute(stmt)).all()


async def list_assignments(
    session: AsyncSession,
    *,
    scope_path: str | None,
    assignee_id: uuid.UUID | None,
    status: str | None,
    body_id: uuid.UUID | None,
    q: str | None = None,
    window: Window,
) -> Sequence[Any]:
    # Each row: the assignment, its meeting's id.
    stmt = text_search(_assignment_with_org(col(Meeting.id)), q, col(Assignment.text))
    stmt = scoped(
        stmt,
        scope_path,
        (col(Assignment.assignee_id), assignee_id),
        (col(Assignment.status), status),
        (col(Meeting.body_id), body_id),
    )
    return await fetch_mirrored(session, stmt, Assignment, window)


# --- a person's work (GET /v1/me/work) -----------------------------------------------------


async def open_assignments_of(
    session: AsyncSession, person_id: uuid.UUID, scope_path: str | None, limit: int
) -> Sequence[Any]:
    """The person's open or in-progress assignments in the caller's subtree, by due date, each
    with its meeting's id."""
    stmt = scoped(_assignment_with_org(col(Meeting.id)), scope_path).where(
        col(Assignment.assignee_id) == person_id,
        col(Assignment.deleted_at).is_(None),
        col(Assignment.status).in_(["open", "in_progress"]),
    )
    stmt = stmt.order_by(col(Assignment.due_date).asc().nulls_last(), col(Assignment.id))
    return (await session.execute(stmt.limit(limit))).all()


async def upcoming_meetings_of(
    session: AsyncSession,
    person_id: uuid.UUID,
    scope_path: str | None,
    *,
    since: datetime,
    until: datetime,
    limit: int,
) -> Sequence[Any]:
    """Planned meetings in `[since, until)` the person attends or whose body they belong to,
    with their body, in the caller's subtree, by start time."""
    attends = sa.exists().where(
        col(MeetingAttendee.meeting_id) == col(Meeting.id),
        col(MeetingAttendee.person_id) == person_id,
    )
    member = sa.exists().where(
        col(MeetingBodyMember.body_id) == col(Meeting.body_id),
        col(MeetingBodyMember.person_id) == person_id,
    )
    stmt = scoped(_meeting_with_org(), scope_path).where(
        col(Meeting.deleted_at).is_(None),
        col(MeetingBody.deleted_at).is_(None),
        col(Meeting.status) == "planned",
        col(Meeting.starts_at) >= since,
        col(Meeting.starts_at) < until,
        sa.or_(attends, member),
    )
    stmt = stmt.order_by(col(Meeting.starts_at), col(Meeting.id))
    return (await session.execute(stmt.limit(limit))).all()


async def follow_ups_presented_by(
    session: AsyncSession,
    person_id: uuid.UUID,
    scope_path: str | None,
    *,
    since: datetime,
    until: datetime,
    limit: int,
) -> Sequence[Any]:
    """Follow-up agenda items of planned meetings in `[since, until)` that the person presents
    (the report-backs they owe), with their meeting, in the caller's subtree."""
    stmt: Any = (
        sa.select(AgendaItem, Meeting)
        .join(Meeting, col(Meeting.id) == col(AgendaItem.meeting_id))
        .join(MeetingBody, col(MeetingBody.id) == col(Meeting.body_id))
        .join(OrgUnit, col(OrgUnit.id) == col(MeetingBody.org_unit_id))
    )
    stmt = scoped(stmt, scope_path).where(
        col(AgendaItem.deleted_at).is_(None),
        col(AgendaItem.kind) == "follow_up",
        col(AgendaItem.presenter_ids).contains([person_id]),
        col(Meeting.deleted_at).is_(None),
        col(Meeting.status) == "planned",
        col(Meeting.starts_at) >= since,
        col(Meeting.starts_at) < until,
    )
    stmt = stmt.order_by(col(Meeting.starts_at), col(AgendaItem.number))
    return (await session.execute(stmt.limit(limit))).all()


async def follow_ups_presented_between(
    session: AsyncSession, *, since: datetime, until: datetime
) -> Sequence[Any]:
    """Every follow-up agenda item with presenters at a planned meeting starting in
    `[since, until)`: rows of (id, title, presenter_ids, meeting_id, starts_at, body_name)."""
    stmt: Any = (
        sa.select(
            col(AgendaItem.id),
            col(AgendaItem.title),
            col(AgendaItem.presenter_ids),
            col(Meeting.id).label("meeting_id"),
            col(Meeting.starts_at),
            col(MeetingBody.name).label("body_name"),
        )
        .join(Meeting, col(Meeting.id) == col(AgendaItem.meeting_id))
        .join(MeetingBody, col(MeetingBody.id) == col(Meeting.body_id))
        .where(
            col(AgendaItem.deleted_at).is_(None),
            col(AgendaItem.kind) == "follow_up",
            sa.func.cardinality(col(AgendaItem.presenter_ids)) > 0,
            col(Meeting.deleted_at).is_(None),
            col(Meeting.status) == "planned",
            col(Meeting.starts_at) >= since,
            col(Meeting.starts_at) < until,
        )
        .order_by(col(Meeting.starts_at), col(AgendaItem.number))
    )
    return (await session.execute(stmt)).all()


async def agendas(
    session: AsyncSession, meeting_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[AgendaItem]]:
    """The live agenda items of several meetings, in number order."""
    stmt = sa.select(AgendaItem).where(
        col(AgendaItem.meeting_id).in_(meeting_ids), col(AgendaItem.deleted_at).is_(None)
    )
    grouped: dict[uuid.UUID, list[AgendaItem]] = {}
    for item in (await session.execute(stmt.order_by(col(AgendaItem.number)))).scalars():
        grouped.setdefault(item.meeting_id, []).append(item)
    return grouped


_OPEN_ASSIGNMENTS_OF_PEOPLE = sa.text("""
SELECT a.id, a.text, a.due_date, a.assignee_id, b.name AS body_name, m.id AS meeting_id
FROM assignments a
JOIN agenda_items i ON i.id = a.agenda_item_id
JOIN meetings m ON m.id = i.meeting_id
JOIN meeting_bodies b ON b.id = m.body_id
WHERE a.deleted_at IS NULL AND a.status IN ('open', 'in_progress')
    AND (CAST(:due_before AS date) IS NULL OR a.due_date < CAST(:due_before AS date))
    AND (CAST(:person AS uuid) IS NULL OR a.assignee_id = CAST(:person AS uuid))
ORDER BY a.due_date NULLS LAST, a.id
""")


async def open_assignments_of_people(
    session: AsyncSession, *, due_before: date | None, person_id: uuid.UUID | None
) -> Sequence[Any]:
    rows: Sequence[Any] = (
        await session.execute(
            _OPEN_ASSIGNMENTS_OF_PEOPLE, {"due_before": due_before, "person": person_id}
        )
    ).all()
    return rows


# A meeting with what a mail or a calendar needs: its body, agenda titles and the people it
# concerns (attendees and the body's members).
_MEETINGS_BETWEEN = sa.text("""
SELECT m.id, m.body_id, b.name AS body_name, m.starts_at, m.ends_at, m.place, m.status,
    m.version, m.deleted_at IS NOT NULL AS deleted, m.updated_at,
    COALESCE((SELECT jsonb_agg(jsonb_build_object('number', i.number, 'title', i.title)
                               ORDER BY i.number)
              FROM agenda_items i WHERE i.meeting_id = m.id AND i.deleted_at IS NULL),
             '[]'::jsonb) AS agenda,
    ARRAY(SELECT t.person_id FROM meeting_attendees t WHERE t.meeting_id = m.id
          UNION SELECT s.person_id FROM meeting_body_members s WHERE s.body_id = m.body_id)
        AS participants
FROM meetings m
JOIN meeting_bodies b ON b.id = m.body_id AND b.deleted_at IS NULL
WHERE m.starts_at >= :start AND m.starts_at < :end
    AND (:with_deleted OR m.deleted_at IS NULL)
    AND (CAST(:body AS uuid) IS NULL OR m.body_id = CAST(:body AS uuid))
    AND (CAST(:person AS uuid) IS NULL
         OR EXISTS (SELECT 1 FROM meeting_attendees t
                    WHERE t.meeting_id = m.id AND t.person_id = CAST(:person AS uuid))
         OR EXISTS (SELECT 1 FROM meeting_body_members s
                    WHERE s.body_id = m.body_id AND s.person_id = CAST(:person AS uuid)))
ORDER BY m.starts_at, m.id
""")


async def meetings_between(
    session: AsyncSession,
    *,
    start: Any,
    end: Any,
    body_id: uuid.UUID | None,
    person_id: uuid.UUID | None,
    with_deleted: bool,
) -> Sequence[Any]:
    rows: Sequence[Any] = (
        await session.execute(
            _MEETINGS_BETWEEN,
            {
                "start": start,
                "end": end,
                "body": body_id,
                "person": person_id,
                "with_deleted": with_deleted,
            },
        )
    ).all()
    return rows
