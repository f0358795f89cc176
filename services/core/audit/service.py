"""The audit trail: `record` appends a row in the caller's transaction; the audited writes
(`add_audited`, `update_audited`, `delete_audited`) are the create, update and soft-delete steps
of a resource together with their `<resource_type>.<verb>` row."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.audit import repository
from services.core.crud import apply_update, insert, soft_delete
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
    await repository.append(
        session,
        actor=principal.actor if principal else "system",
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        org_unit_id=org_unit_id,
        request_id=request_id_var.get(),
        details=details,
    )


# --- audited writes --------------------------------------------------------------------------


async def add_audited(
    session: AsyncSession,
    principal: Principal,
    row: Any,
    resource_type: str,
    *,
    org_unit_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Stores a new row (reloaded: the database gave it its id and defaults) and audits
    `<resource_type>.create`."""
    await insert(session, row)
    await record(
        session,
        principal,
        f"{resource_type}.create",
        resource_type,
        str(row.id),
        org_unit_id=org_unit_id,
        details=details,
    )


async def update_audited(
    session: AsyncSession,
    principal: Principal,
    row: Any,
    changes: dict[str, Any],
    resource_type: str,
    *,
    fields: Iterable[str],
    org_unit_id: int | None = None,
) -> None:
    """Applies `changes` (a new version) and audits `<resource_type>.update` with the names of
    the `fields` the caller sent."""
    await apply_update(session, row, changes)
    await record(
        session,
        principal,
        f"{resource_type}.update",
        resource_type,
        str(row.id),
        org_unit_id=org_unit_id,
        details={"fields": sorted(fields)},
    )


async def delete_audited(
    session: AsyncSession,
    principal: Principal,
    row: Any,
    resource_type: str,
    *,
    org_unit_id: int | None = None,
) -> None:
    """Soft-deletes the row and audits `<resource_type>.delete`."""
    await soft_delete(session, row)
    await record(
        session,
        principal,
        f"{resource_type}.delete",
        resource_type,
        str(row.id),
        org_unit_id=org_unit_id,
    )
