from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.core.events.models import Event
from services.core.tree import OrgUnit, in_subtree


async def insert(
    session: AsyncSession, type_: str, data: dict[str, Any], org_unit_id: int | None
) -> None:
    await session.execute(sa.insert(Event).values(type=type_, data=data, org_unit_id=org_unit_id))


async def insert_many(
    session: AsyncSession, events: Sequence[tuple[str, dict[str, Any], int | None]]
) -> None:
    """(type, data, org unit id) rows in the given order, as three array parameters: a row of
    parameters each ran into asyncpg's 32 767 parameters a statement at 10 923 events, and a
    scan that found more failed whole, every time it ran."""
    await session.execute(
        sa.text(
            "INSERT INTO events (type, org_unit_id, data) "
            "SELECT e.type, e.org_unit_id, CAST(e.data AS jsonb) FROM unnest("
            "CAST(:types AS text[]), CAST(:units AS bigint[]), CAST(:data AS text[])"
            ") WITH ORDINALITY AS e(type, org_unit_id, data, n) ORDER BY e.n"
        ),
        {
            "types": [type_ for type_, _, _ in events],
            "units": [unit for _, _, unit in events],
            "data": [json.dumps(data) for _, data, _ in events],
        },
    )


async def insert_selected(session: AsyncSession, type_: str, query: str) -> int:
    result = await session.execute(
        sa.text(
            f"INSERT INTO events (type, org_unit_id, data) "
            f"SELECT CAST(:event_type AS text), org_unit_id, data FROM ({query}) AS found"
        ),
        {"event_type": type_},
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def feed(
    session: AsyncSession,
    *,
    after: int,
    types: Sequence[str],
    scope_path: str | None,
    limit: int,
    occurred_after: datetime | None = None,
) -> Sequence[Any]:
    stmt = (
        sa.select(Event, col(OrgUnit.code))
        .outerjoin(OrgUnit, col(OrgUnit.id) == col(Event.org_unit_id))
        .where(col(Event.id) > after)
        .order_by(col(Event.id))
        .limit(limit)
    )
    exact = [t for t in types if not t.endswith(".*")]
    prefixes = [t[:-1] for t in types if t.endswith(".*")]
    if types:
        stmt = stmt.where(
            sa.or_(
                col(Event.type).in_(exact),
                *[col(Event.type).startswith(p) for p in prefixes],
            )
        )
    if scope_path is not None:
        stmt = stmt.where(in_subtree(col(OrgUnit.path), scope_path))
    if occurred_after is not None:
        stmt = stmt.where(col(Event.occurred_at) > occurred_after)
    return (await session.execute(stmt)).all()
