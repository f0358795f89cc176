"""Action packages: named groups of a plan's actions with their own owner, due date and cost
goal. A package is visible when its plan is."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.crud import Window, read_as, snapshot
from services.core.http import check_if_match
from services.core.pagination import Page, Tombstone
from services.core.plans import action_repository
from services.core.plans.common import (
    add_recorded,
    check_owner,
    delete_recorded,
    invalid,
    refuse_nulls,
    update_recorded,
)
from services.core.plans.errors import PackageInUse
from services.core.plans.models import ActionPackage
from services.core.plans.plan_service import get_visible_plan, list_parts, visible_part
from services.core.plans.schemas import PackageCreate, PackageRead, PackageUpdate
from services.core.principal import Principal

_FIELDS = ("name", "description", "owner_id", "due_date", "cost_goal")


async def read_package(
    session: AsyncSession, principal: Principal, package_id: uuid.UUID
) -> PackageRead:
    package, _ = await visible_part(session, principal, ActionPackage, package_id)
    return read_as(PackageRead, package)


async def list_packages(
    session: AsyncSession,
    principal: Principal,
    plan_id: uuid.UUID,
    *,
    owner_id: uuid.UUID | None,
    window: Window,
) -> Page[PackageRead | Tombstone]:
    return await list_parts(
        session, principal, plan_id, ActionPackage, PackageRead, window, owner_id=owner_id
    )


async def create_package(
    session: AsyncSession, principal: Principal, plan_id: uuid.UUID, data: PackageCreate
) -> PackageRead:
    plan, _ = await get_visible_plan(session, principal, plan_id)
    if errors := await check_owner(session, principal, data.owner_id):
        raise invalid(errors)
    package = ActionPackage(plan_id=plan.id, **data.model_dump())
    await add_recorded(session, principal, plan, package, _FIELDS)
    return read_as(PackageRead, package)


async def update_package(
    session: AsyncSession,
    principal: Principal,
    package_id: uuid.UUID,
    data: PackageUpdate,
    *,
    if_match: str | None,
) -> PackageRead:
    package, plan = await visible_part(
        session, principal, ActionPackage, package_id, for_update=True
    )
    check_if_match(if_match, package.version)
    changes = data.model_dump(exclude_unset=True)
    refuse_nulls(changes, ("name",))
    if changes.get("owner_id") is not None and (
        errors := await check_owner(session, principal, data.owner_id)
    ):
        raise invalid(errors)
    await update_recorded(session, principal, plan, package, changes, _FIELDS)
    return read_as(PackageRead, package)


async def delete_package(
    session: AsyncSession, principal: Principal, package_id: uuid.UUID, *, if_match: str | None
) -> None:
    """Only an empty package: one that still holds live actions is refused."""
    package, plan = await visible_part(
        session, principal, ActionPackage, package_id, for_update=True
    )
    check_if_match(if_match, package.version)
    if await action_repository.package_has_actions(session, package.id):
        raise PackageInUse("Move or delete the package's actions first")
    await delete_recorded(session, principal, plan, package, snapshot(package, _FIELDS))
