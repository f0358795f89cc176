"""Action packages: named groups of a plan's actions with their own owner, due date and cost
goal. A package is visible when its plan is."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.crud import Window, page_of, read_as, snapshot
from services.core.errors import field_error
from services.core.http import check_if_match
from services.core.pagination import Page, Tombstone
from services.core.people import service as people_service
from services.core.people.schemas import PersonRef
from services.core.plans import action_repository, repository
from services.core.plans.common import (
    add_recorded,
    check_people,
    delete_recorded,
    invalid,
    refuse_nulls,
    update_recorded,
)
from services.core.plans.errors import PackageInUse
from services.core.plans.models import ActionPackage
from services.core.plans.plan_service import get_visible_plan, visible_part
from services.core.plans.schemas import PackageCreate, PackageRead, PackageUpdate
from services.core.principal import Principal

_FIELDS = ("name", "description", "owner_ids", "owner_id", "due_date", "cost_goal")


async def _owners(
    session: AsyncSession,
    principal: Principal,
    owner_ids: list[uuid.UUID] | None,
    owner_id: uuid.UUID | None,
) -> list[uuid.UUID]:
    """The owners a write gives: `owner_ids`, or the deprecated single `owner_id` as a list of
    one. Each must be a person the caller sees, listed once; both given must agree."""
    if owner_ids is None:
        owners = [owner_id] if owner_id is not None else []
    elif owner_id is not None and owner_ids[:1] != [owner_id]:
        raise invalid(
            [
                field_error(
                    ["body", "owner_id"],
                    "owner_id (deprecated) must be the first of owner_ids when both are sent",
                    "owner_conflict",
                )
            ]
        )
    else:
        owners = owner_ids
    errors = [
        field_error(["body", "owner_ids", i], "a person is listed twice", "duplicate")
        for i, person in enumerate(owners)
        if person in owners[:i]
    ]
    loc: list[str | int] = ["body", "owner_ids"] if owner_ids is not None else ["body", "owner_id"]
    errors += await check_people(
        session,
        principal,
        [([*loc, i] if owner_ids is not None else loc, person) for i, person in enumerate(owners)],
    )
    if errors:
        raise invalid(errors)
    return owners


def _owner_columns(owners: list[uuid.UUID]) -> dict[str, Any]:
    # `owner_id` mirrors the first owner for readers of the deprecated field.
    return {"owner_ids": owners, "owner_id": owners[0] if owners else None}


def _to_read(package: ActionPackage, people: dict[uuid.UUID, PersonRef]) -> PackageRead:
    """`people` (from `people_service.refs`) names the owners, as a plan names its owner."""
    owners = [people_service.ref(people, owner) for owner in package.owner_ids]
    return read_as(PackageRead, package, owners=[o for o in owners if o is not None])


async def _read(session: AsyncSession, package: ActionPackage) -> PackageRead:
    return _to_read(package, await people_service.refs(session, package.owner_ids))


async def read_package(
    session: AsyncSession, principal: Principal, package_id: uuid.UUID
) -> PackageRead:
    package, _ = await visible_part(session, principal, ActionPackage, package_id)
    return await _read(session, package)


async def list_packages(
    session: AsyncSession,
    principal: Principal,
    plan_id: uuid.UUID,
    *,
    owner_id: uuid.UUID | None,
    window: Window,
) -> Page[PackageRead | Tombstone]:
    """`owner_id` narrows to the packages that person is one of the owners of."""
    await get_visible_plan(session, principal, plan_id)
    rows = await repository.list_packages(session, plan_id, window, owner_id=owner_id)
    # One query for every owner on the page (removed packages' tombstones name no one).
    people = await people_service.refs(
        session, [owner for r in rows if r[0].deleted_at is None for owner in r[0].owner_ids]
    )
    return page_of(rows, window, lambda r: _to_read(r[0], people))


async def create_package(
    session: AsyncSession, principal: Principal, plan_id: uuid.UUID, data: PackageCreate
) -> PackageRead:
    plan, _ = await get_visible_plan(session, principal, plan_id)
    owners = await _owners(session, principal, data.owner_ids, data.owner_id)
    package = ActionPackage(
        plan_id=plan.id,
        **data.model_dump(exclude={"owner_ids", "owner_id"}),
        **_owner_columns(owners),
    )
    await add_recorded(session, principal, plan, package, _FIELDS)
    return await _read(session, package)


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
    refuse_nulls(changes, ("name", "owner_ids"))
    if "owner_ids" in changes or "owner_id" in changes:
        # `owner_id: null` alone clears the owners, as it cleared the one owner before.
        owners = await _owners(session, principal, data.owner_ids, data.owner_id)
        changes.update(_owner_columns(owners))
    await update_recorded(session, principal, plan, package, changes, _FIELDS)
    return await _read(session, package)


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
