"""What a plan's readers ask of it as a whole: the summary (actions by status, overdue ones,
progress per package, the economic calculation and the linked KPI targets' effect) and the
change history."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.config import Settings
from services.core.crud import Window, read_as
from services.core.kpis import series_service
from services.core.pagination import Page, split_page
from services.core.plans import action_repository, repository
from services.core.plans.common import local_today
from services.core.plans.models import ActionPlan
from services.core.plans.plan_service import get_visible_plan, linked_targets
from services.core.plans.schemas import (
    ACTION_TRANSITIONS,
    HistoryEntry,
    PackageProgress,
    PlanStatus,
    PlanSummary,
    TargetEffect,
)
from services.core.principal import Principal


async def history(
    session: AsyncSession,
    principal: Principal,
    plan_id: uuid.UUID,
    *,
    entity_id: uuid.UUID | None,
    window: Window,
) -> Page[HistoryEntry]:
    """Every change to the plan and its parts, oldest first (with `updated_since`, those made
    since; entries are never changed or deleted, so there are no tombstones)."""
    await get_visible_plan(session, principal, plan_id)
    rows = await repository.list_history(session, plan_id, entity_id=entity_id, window=window)
    page_rows, next_cursor = split_page(rows, window.limit, lambda h: (h.id,), repository.HISTORY)
    return Page(items=[read_as(HistoryEntry, h) for h in page_rows], next_cursor=next_cursor)


async def kpi_effects(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    plan: ActionPlan,
    target_ids: Sequence[uuid.UUID],
) -> list[TargetEffect]:
    """Each linked target's KPI value (at the target's unit and profession) in the month the
    plan started and in this month: the plan's effect."""
    effects = []
    for target_id in target_ids:
        kpi, (start, now) = await series_service.target_values(
            session, settings, principal, target_id, [plan.period_start, local_today()]
        )
        change = now - start if start is not None and now is not None else None
        effects.append(
            TargetEffect(
                kpi_target_id=target_id, kpi=kpi, value_at_start=start, value_now=now, change=change
            )
        )
    return effects


async def summary(
    session: AsyncSession, settings: Settings, principal: Principal, plan_id: uuid.UUID
) -> PlanSummary:
    plan, _ = await get_visible_plan(session, principal, plan_id)
    today = local_today()
    counts = await action_repository.status_counts(session, plan.id)
    overdue = await action_repository.overdue_action_ids(session, plan.id, today)
    packages = await action_repository.package_progress(session, plan.id, today)
    targets = await linked_targets(session, plan)
    net = None
    if plan.cost_estimate_sek is not None and plan.expected_saving_sek is not None:
        net = plan.expected_saving_sek - plan.cost_estimate_sek
    return PlanSummary(
        plan_id=plan.id,
        status=PlanStatus(plan.status),
        actions=sum(counts.values()),
        done=counts.get("done", 0),
        by_status={s: counts.get(s, 0) for s in ACTION_TRANSITIONS},
        overdue=len(overdue),
        overdue_action_ids=overdue,
        done_with_progress_below_100=await action_repository.done_below_100(session, plan.id),
        packages=[read_as(PackageProgress, r) for r in packages],
        cost_estimate_sek=plan.cost_estimate_sek,
        expected_saving_sek=plan.expected_saving_sek,
        net_saving_sek=net,
        calculation_basis=plan.calculation_basis,
        targets=await kpi_effects(session, settings, principal, plan, targets),
    )
