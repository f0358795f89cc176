"""Action packages: named groups of a plan's actions with their own owner, due date and cost
goal. A package is visible when its plan is."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.auth.schemas import Principal
from services.core.crud import Window, page_of, read_as, snapshot
from services.core.http import check_if_match
from services.core.pagination import Page, Tombstone
from services.core.plans import action_repository, repository
from services.core.plans.common import (
    check_owner,
    delete_recorded,
    invalid,
    record_change,
    refuse_nulls,
    update_recorded,
)
from services.core.plans.errors import PackageInUse, PackageNotFound
from services.core.plans.models import ActionPackage, ActionPlan
from services.core.plans.plan_service import get_visible_plan, plan_of_part
from services.core.plans.schemas import PackageCreate, PackageRead, PackageUpdate

_FIELDS = ("name", "description", "owner_id", "due_date", "cost_goal")


def _doc(package: ActionPackage) -> dict[str, Any]:
    return snapshot(package, _FIELDS)


async def _visible(
    session: AsyncSession, principal: Principal, package_id: uuid.UUID, *, for_update: bool
) -> tuple[ActionPackage, ActionPlan]:
    package = await repository.get_package(session, package_id, for_update=for_update)
    not_found = PackageNotFound(f"No action package with id {package_id}")
    plan = await plan_of_part(session, principal, package, not_found)
    assert package is not None
    return package, plan


async def read_package(
    session: AsyncSession, principal: Principal, package_id: uuid.UUID
) -> PackageRead:
    package, _ = await _visible(session, principal, package_id, for_update=False)
    return read_as(PackageRead, package)


async def list_packages(
    session: AsyncSession,
    principal: Principal,
    plan_id: uuid.UUID,
    *,
    owner_id: uuid.UUID | None,
    window: Window,
) -> Page[PackageRead | Tombstone]:
    await get_visible_plan(session, principal, plan_id)
    rows = await repository.list_packages(session, plan_id, owner_id=owner_id, window=window)
    return page_of(rows, window, lambda r: read_as(PackageRead, r[0]))


async def create_package(
    session: AsyncSession, principal: Principal, plan_id: uuid.UUID, data: PackageCreate
) -> PackageRead:
    plan, _ = await get_visible_plan(session, principal, plan_id)
    if errors := await check_owner(session, principal, data.owner_id):
        raise invalid(errors)
    package = ActionPackage(plan_id=plan.id, **data.model_dump())
    session.add(package)
    await session.flush()
    await session.refresh(package)
    await record_change(
        session, principal, plan, "package", package.id, "create", None, _doc(package)
    )
    return read_as(PackageRead, package)


async def update_package(
    session: AsyncSession,
    principal: Principal,
    package_id: uuid.UUID,
    data: PackageUpdate,
    *,
    if_match: str | None,
) -> PackageRead:
    package, plan = await _visible(session, principal, package_id, for_update=True)
    check_if_match(if_match, package.version)
    changes = data.model_dump(exclude_unset=True)
    refuse_nulls(changes, ("name",))
    if changes.get("owner_id") is not None and (
        errors := await check_owner(session, principal, data.owner_id)
    ):
        raise invalid(errors)
    await update_recorded(session, principal, plan, "package", package, changes, _doc)
    return read_as(PackageRead, package)


async def delete_package(
    session: AsyncSession, principal: Principal, package_id: uuid.UUID, *, if_match: str | None
) -> None:
    """Only an empty package: one that still holds live actions is refused."""
    package, plan = await _visible(session, principal, package_id, for_update=True)
    check_if_match(if_match, package.version)
    if await action_repository.package_has_actions(session, package.id):
        raise PackageInUse("Move or delete the package's actions first")
    await delete_recorded(session, principal, plan, "package", package, _doc(package))
