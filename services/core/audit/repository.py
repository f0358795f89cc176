from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.audit.models import AuditEntry


async def append(session: AsyncSession, **values: Any) -> None:
    # A plain INSERT, not session.add: an audit row is never read back in the transaction that
    # writes it, so the ORM's identity map and flush would be work for nothing.
    await session.execute(sa.insert(AuditEntry).values(**values))
