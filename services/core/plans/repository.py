"""The SQL of plans, their areas, packages, follow-ups and history (actions have their own
`action_repository`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.core.crud import (
    Window,
    catalogue,
    catalogue_page,
    fetch_mirrored,
    live_row,
    put_catalogue_entry,
    text_search,
)
from services.core.pagination import keyset
from services.core.plans.models import (
    ActionArea,
    ActionPackage,
    ActionPlan,
    ActionPlanTarget,
    FollowUp,
    PlanHistory,
)
from services.core.tree import OrgUnit, in_subtree, with_unit

# The parts of a plan looked up by their own id.
Part = TypeVar("Part", ActionPackage, FollowUp)


async def get_part(
    session: AsyncSession, model: type[Part], part_id: uuid.UUID, *, for_update: bool = False
) -> Part | None:
    """A live package or follow-up by its id."""
    stmt: Any = sa.select(model).where(col(model.id) == part_id, col(model.deleted_at).is_(None))
    if for_update:
        stmt = stmt.with_for_update()
    part: Part | None = (await session.execute(stmt)).scalar_one_or_none()
    return part


async def list_parts(
    session: AsyncSession, model: type[Part], plan_id: uuid.UUID, window: Window, **equal: Any
) -> Sequence[Any]:
    """A page of a plan's packages or follow-ups with the columns named in `equal` equal to
    their values (a None value filters nothing)."""
    stmt = _where_equal(sa.select(model).where(col(model.plan_id) == plan_id), model, equal)
    return await fetch_mirrored(session, stmt, model, window)


async def list_packages(
    session: AsyncSession, plan_id: uuid.UUID, window: Window, *, owner_id: uuid.UUID | None
) -> Sequence[Any]:
    """A page of a plan's packages; with `owner_id`, those the person is one of the owners of."""
    stmt = sa.select(ActionPackage).where(col(ActionPackage.plan_id) == plan_id)
    if owner_id is not None:
        stmt = stmt.where(col(ActionPackage.owner_ids).contains([owner_id]))
    return await fetch_mirrored(session, stmt, ActionPackage, window)


async def live_packages(session: AsyncSession, plan_id: uuid.UUID) -> Sequence[ActionPackage]:
    """The plan's live packages in the order they were made (seed 003's numbering)."""
    stmt = (
        sa.select(ActionPackage)
        .where(col(ActionPackage.plan_id) == plan_id, col(ActionPackage.deleted_at).is_(None))
        .order_by(col(ActionPackage.created_at), col(ActionPackage.id))
    )
    return (await session.execute(stmt)).scalars().all()


async def latest_follow_ups(session: AsyncSession, plan_id: uuid.UUID) -> Sequence[FollowUp]:
    """The newest live follow-up of each of the plan's actions, and of the plan as a whole
    (`action_id` null): what the report prints as ongoing work and result."""
    stmt = (
        sa.select(FollowUp)
        .where(col(FollowUp.plan_id) == plan_id, col(FollowUp.deleted_at).is_(None))
        .ext(distinct_on(col(FollowUp.action_id)))
        .order_by(
            col(FollowUp.action_id),
            col(FollowUp.reported_on).desc(),
            col(FollowUp.created_at).desc(),
            col(FollowUp.id).desc(),
        )
    )
    return (await session.execute(stmt)).scalars().all()


def _where_equal(stmt: Any, model: Any, equal: dict[str, Any]) -> Any:
    for name, value in equal.items():
        if value is not None:
            stmt = stmt.where(getattr(model, name) == value)
    return stmt


# --- areas -------------------------------------------------------------------------------


async def list_areas(session: AsyncSession) -> Sequence[ActionArea]:
    return await catalogue(session, ActionArea)


async def areas_page(session: AsyncSession, window: Window) -> Sequence[Any]:
    return await catalogue_page(session, ActionArea, window)


async def put_area(session: AsyncSession, code: str, name_en: str, name_sv: str) -> ActionArea:
    return await put_catalogue_entry(session, ActionArea, code, name_en, name_sv)


async def existing_areas(session: AsyncSession, codes: set[str]) -> set[str]:
    if not codes:
        return set()
    rows = await session.execute(
        sa.select(col(ActionArea.code)).where(col(ActionArea.code).in_(codes))
    )
    return set(rows.scalars())


# --- lookups shared by the write paths -----------------------------------------------------


async def package_plans(session: AsyncSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    """package id → its plan id, for live packages."""
    if not ids:
        return {}
    rows = await session.execute(
        sa.select(col(ActionPackage.id), col(ActionPackage.plan_id)).where(
            col(ActionPackage.id).in_(ids), col(ActionPackage.deleted_at).is_(None)
        )
    )
    return {r[0]: r[1] for r in rows.all()}


# --- plans ---------------------------------------------------------------------------------


async def get_plan(session: AsyncSession, plan_id: uuid.UUID, *, for_update: bool = False) -> Any:
    return await live_row(
        session, with_unit(ActionPlan), ActionPlan, plan_id, for_update=for_update
    )


async def target_ids(
    session: AsyncSession, plan_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    if not plan_ids:
        return {}
    rows = await session.execute(
        sa.select(col(ActionPlanTarget.plan_id), col(ActionPlanTarget.kpi_target_id))
        .where(col(ActionPlanTarget.plan_id).in_(plan_ids))
        .order_by(col(ActionPlanTarget.kpi_target_id))
    )
    found: dict[uuid.UUID, list[uuid.UUID]] = {}
    for plan_id, target_id in rows.all():
        found.setdefault(plan_id, []).append(target_id)
    return found


async def replace_targets(
    session: AsyncSession, plan_id: uuid.UUID, ids: Sequence[uuid.UUID]
) -> None:
    await session.execute(
        sa.delete(ActionPlanTarget).where(col(ActionPlanTarget.plan_id) == plan_id)
    )
    if ids:
        await session.execute(
            sa.insert(ActionPlanTarget).values(
                [{"plan_id": plan_id, "kpi_target_id": t} for t in dict.fromkeys(ids)]
            )
        )


async def list_plans(
    session: AsyncSession,
    *,
    within: Sequence[str],
    status: str | None,
    owner_id: uuid.UUID | None,
    q: str | None = None,
    window: Window,
) -> Sequence[Any]:
    """Plans whose unit lies under every path of `within`."""
    stmt = with_unit(ActionPlan).where(*[in_subtree(col(OrgUnit.path), p) for p in within])
    stmt = _where_equal(stmt, ActionPlan, {"status": status, "owner_id": owner_id})
    stmt = text_search(stmt, q, col(ActionPlan.title))
    return await fetch_mirrored(session, stmt, ActionPlan, window)


# --- history -------------------------------------------------------------------------------


async def add_history(
    session: AsyncSession,
    *,
    plan_id: uuid.UUID,
    entity_type: str,
    entity_id: uuid.UUID,
    operation: str,
    actor: str,
    request_id: str | None,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    await session.execute(
        sa.insert(PlanHistory).values(
            plan_id=plan_id,
            entity_type=entity_type,
            entity_id=entity_id,
            operation=operation,
            actor=actor,
            request_id=request_id,
            before=before,
            after=after,
        )
    )


HISTORY = "action_plan_history"


async def list_history(
    session: AsyncSession,
    plan_id: uuid.UUID,
    *,
    entity_id: uuid.UUID | None,
    window: Window,
) -> Sequence[PlanHistory]:
    """A log: entries are only ever added, in id order, so `updated_since` is a filter on
    their time and the order stays the same."""
    stmt: Any = sa.select(PlanHistory).where(col(PlanHistory.plan_id) == plan_id)
    if entity_id is not None:
        stmt = stmt.where(col(PlanHistory.entity_id) == entity_id)
    if window.updated_since is not None:
        stmt = stmt.where(col(PlanHistory.at) > window.updated_since)
    paged = keyset(stmt, [col(PlanHistory.id)], window.cursor, window.limit, on=HISTORY)
    rows = await session.execute(paged)
    history: Sequence[PlanHistory] = rows.scalars().all()
    return history
