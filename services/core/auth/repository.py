from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.core.auth.models import ApiKey
from services.core.crud import Window, fetch_changed
from services.core.tree import OrgUnit, with_unit


async def find_active_by_hash(session: AsyncSession, token_hash: str) -> Any:
    stmt = (
        sa.select(ApiKey, col(OrgUnit.path), col(OrgUnit.code))
        .outerjoin(OrgUnit, col(OrgUnit.id) == col(ApiKey.org_unit_id))
        .where(col(ApiKey.token_hash) == token_hash, col(ApiKey.revoked_at).is_(None))
    )
    return (await session.execute(stmt)).first()


async def get_with_org(session: AsyncSession, key_id: uuid.UUID) -> Any:
    stmt = with_unit(ApiKey, outer=True).where(col(ApiKey.id) == key_id)
    return (await session.execute(stmt)).first()


async def list_keys(session: AsyncSession, org_path: str | None, window: Window) -> Sequence[Any]:
    stmt = with_unit(ApiKey, outer=True)
    if org_path is not None:
        stmt = stmt.where(col(OrgUnit.path).startswith(org_path))
    return await fetch_changed(
        session,
        stmt,
        window,
        key=col(ApiKey.id),
        changed=col(ApiKey.updated_at),
        name="api_keys",
    )
