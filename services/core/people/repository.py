from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.core.crud import Window, fetch_mirrored, live_row
from services.core.people.models import Person
from services.core.tree import OrgUnit, in_subtree, with_unit


async def get(session: AsyncSession, person_id: uuid.UUID, *, for_update: bool = False) -> Any:
    return await live_row(
        session, with_unit(Person, outer=True), Person, person_id, for_update=for_update
    )


async def list_page(
    session: AsyncSession,
    *,
    scope_path: str | None,
    q: str | None,
    window: Window,
) -> Sequence[Any]:
    stmt = with_unit(Person, outer=True)
    if scope_path is not None:
        # People without a unit are shared officials (e.g. region management): visible to all.
        stmt = stmt.where(
            sa.or_(col(Person.org_unit_id).is_(None), in_subtree(col(OrgUnit.path), scope_path))
        )
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_") + "%"
        stmt = stmt.where(
            sa.or_(col(Person.name).ilike(pattern), col(Person.initials).ilike(pattern))
        )
    return await fetch_mirrored(session, stmt, Person, window)


async def visible_ids(
    session: AsyncSession, ids: set[uuid.UUID], scope_path: str | None
) -> set[uuid.UUID]:
    """The ids among `ids` that are live people the caller may see (people without a unit are
    shared officials, visible to every key)."""
    if not ids:
        return set()
    stmt: Any = (
        sa.select(col(Person.id))
        .outerjoin(OrgUnit, col(OrgUnit.id) == col(Person.org_unit_id))
        .where(col(Person.id).in_(ids), col(Person.deleted_at).is_(None))
    )
    if scope_path is not None:
        stmt = stmt.where(
            sa.or_(col(Person.org_unit_id).is_(None), in_subtree(col(OrgUnit.path), scope_path))
        )
    return set((await session.execute(stmt)).scalars())


async def by_ids(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Person]:
    """People by id, deleted ones too (minutes name whoever was there)."""
    rows = await session.execute(sa.select(Person).where(col(Person.id).in_(ids)))
    return {p.id: p for p in rows.scalars()}


async def sign_in_candidates(
    session: AsyncSession, subject: str, email: str | None
) -> Sequence[Any]:
    """The live person with this subject, and (when `email` is given) the live people without
    a subject whose e-mail equals it (case-insensitive); each with its unit's code and path."""
    stmt = with_unit(Person, outer=True).where(col(Person.deleted_at).is_(None))
    match = col(Person.subject) == subject
    if email is not None:
        match = sa.or_(
            match,
            sa.and_(
                col(Person.subject).is_(None),
                sa.func.lower(col(Person.email)) == email.lower(),
            ),
        )
    return (await session.execute(stmt.where(match).limit(3))).all()


async def subject_holder(session: AsyncSession, subject: str) -> uuid.UUID | None:
    stmt = sa.select(col(Person.id)).where(
        col(Person.subject) == subject, col(Person.deleted_at).is_(None)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def live(session: AsyncSession) -> Sequence[Person]:
    """Every person not deleted, by id."""
    stmt = sa.select(Person).where(col(Person.deleted_at).is_(None)).order_by(col(Person.id))
    return (await session.execute(stmt)).scalars().all()
