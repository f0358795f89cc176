from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.audit.models import AuditEntry
from services.core.logging import request_id_var
from services.core.principal import Principal


async def record(
    session: AsyncSession,
    principal: Principal | None,
    action: str,
    resource_type: str,
    resource_id: str | None,
    *,
    org_unit_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Appends an audit row in the caller's transaction (so a rolled-back change leaves none)."""
    await session.execute(
        sa.insert(AuditEntry).values(
            actor=principal.actor if principal else "system",
            action=action,
            resource_type=resource_type,
            resource_id=resource_id,
            org_unit_id=org_unit_id,
            request_id=request_id_var.get(),
            details=details,
        )
    )
