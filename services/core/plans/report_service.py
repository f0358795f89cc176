"""The follow-up report of a plan as the seeds print it: per package (seed 003), each action as
an ärende with the ongoing work and result of its newest follow-up (seed 004's columns), the
linked targets' KPI at the plan's start and now, and the summary ("61 av 65 klara"). This
module gathers the report as data; `report.py` lays it out as Markdown and HTML."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.config import Settings
from services.core.crud import read_as
from services.core.kpis import catalogue_service
from services.core.kpis.errors import KpiNotFound
from services.core.people import service as people_service
from services.core.plans import action_repository, repository
from services.core.plans.common import local_today
from services.core.plans.models import Action, ActionPackage, FollowUp
from services.core.plans.plan_service import get_visible_plan, linked_targets
from services.core.plans.schemas import (
    ActionStatus,
    FollowUpRead,
    PlanReport,
    PlanStatus,
    Rag,
    ReportItem,
    ReportPackage,
    ReportTarget,
)
from services.core.plans.summary_service import kpi_effects
from services.core.principal import Principal

# The heading of the actions that belong to no package.
NO_PACKAGE = "Övriga åtgärder"


def code_order(code: str) -> tuple[tuple[int, int | str], ...]:
    """Numbers compare as numbers: 2 before 10, 3.2 before 3.10."""
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"[.\-]", code))


def summary_text(done: int, actions: int) -> str:
    return f"{done} av {actions} klara"


def _item(action: Action, latest: FollowUp | None, names: dict[uuid.UUID, str]) -> ReportItem:
    return ReportItem(
        action_id=action.id,
        code=action.code,
        title=action.title,
        status=ActionStatus(action.status),
        due_date=action.due_date,
        responsible=names.get(action.responsible_id) if action.responsible_id else None,
        ongoing_work=latest.ongoing_work if latest else None,
        result=latest.result if latest else None,
        reported_on=latest.reported_on if latest else None,
        rag=Rag(latest.rag) if latest and latest.rag else None,
    )


def _package(
    package: ActionPackage | None, items: list[ReportItem], names: dict[uuid.UUID, str]
) -> ReportPackage:
    return ReportPackage(
        package_id=package.id if package else None,
        name=package.name if package else NO_PACKAGE,
        owners=[names[o] for o in package.owner_ids if o in names] if package else [],
        due_date=package.due_date if package else None,
        cost_goal=package.cost_goal if package else None,
        actions=len(items),
        done=sum(i.status is ActionStatus.done for i in items),
        items=items,
    )


async def _names(session: AsyncSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    people = await people_service.by_ids(session, list(ids))
    return {pid: p.name for pid, p in people.items()}


async def _targets(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    plan: Any,
    target_ids: Sequence[uuid.UUID],
) -> list[ReportTarget]:
    targets = []
    for effect in await kpi_effects(session, settings, principal, plan, target_ids):
        name = unit = None
        if effect.kpi is not None:
            try:
                definition = await catalogue_service.definition(session, effect.kpi)
                name, unit = definition.name_sv, definition.unit
            except KpiNotFound:
                pass  # a manual KPI deleted since: the code still names it
        targets.append(ReportTarget(**effect.model_dump(), name=name, unit=unit))
    return targets


async def report(
    session: AsyncSession, settings: Settings, principal: Principal, plan_id: uuid.UUID
) -> PlanReport:
    plan, org_code = await get_visible_plan(session, principal, plan_id)
    packages = await repository.live_packages(session, plan.id)
    actions = [r[0] for r in await action_repository.all_actions(session, plan.id, {})]
    actions.sort(key=lambda a: code_order(a.code))
    latest = {f.action_id: f for f in await repository.latest_follow_ups(session, plan.id)}
    people = {a.responsible_id for a in actions if a.responsible_id}
    people.update(o for p in packages for o in p.owner_ids)
    names = await _names(session, people)

    by_package: dict[uuid.UUID | None, list[ReportItem]] = {}
    for action in actions:
        item = _item(action, latest.get(action.id), names)
        by_package.setdefault(action.package_id, []).append(item)
    groups = [_package(p, by_package.get(p.id, []), names) for p in packages]
    if by_package.get(None):
        groups.append(_package(None, by_package[None], names))

    done = sum(a.status == ActionStatus.done for a in actions)
    plan_level = latest.get(None)
    return PlanReport(
        plan_id=plan.id,
        title=plan.title,
        org_unit=org_code,
        status=PlanStatus(plan.status),
        period_start=plan.period_start,
        period_end=plan.period_end,
        as_of=local_today(),
        actions=len(actions),
        done=done,
        summary=summary_text(done, len(actions)),
        packages=groups,
        plan_follow_up=read_as(FollowUpRead, plan_level) if plan_level else None,
        targets=await _targets(
            session, settings, principal, plan, await linked_targets(session, plan)
        ),
    )
