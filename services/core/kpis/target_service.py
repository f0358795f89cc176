"""KPI targets: a bound for a KPI at an org unit (and its subtree), created, read, changed and
removed. Their evaluation on recalculation is `target_evaluation`."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.audit import service as audit_service
from services.core.config import Settings
from services.core.crud import Window, in_scope_or_404, page_of, read_as
from services.core.errors import invalid_field
from services.core.http import check_if_match
from services.core.kpis import inputs, points, repository
from services.core.kpis.catalogue_service import definition
from services.core.kpis.errors import TargetNotFound
from services.core.kpis.models import KpiTarget
from services.core.kpis.schemas import TargetCreate, TargetRead, TargetUpdate
from services.core.pagination import Page, Tombstone
from services.core.principal import Principal


def _target_read(target: KpiTarget, code: str) -> TargetRead:
    return read_as(
        TargetRead,
        target,
        id=str(target.id),
        org_unit=code,
        valid_from=f"{target.valid_from:%Y-%m}",
        valid_to=f"{target.valid_to:%Y-%m}" if target.valid_to else None,
    )


async def create_target(
    session: AsyncSession, settings: Settings, principal: Principal, data: TargetCreate
) -> TargetRead:
    d = await definition(session, data.kpi)
    unit = await inputs.body_org_unit(session, principal, data.org_unit)
    if data.profession is not None and "profession" not in d.dimensions:
        raise invalid_field(["body", "profession"], f"{d.code} cannot be split by profession")
    valid_from = inputs.month(data.valid_from, ["body", "valid_from"])
    valid_to = inputs.month(data.valid_to, ["body", "valid_to"]) if data.valid_to else None
    if valid_to is not None and valid_to < valid_from:
        raise invalid_field(["body", "valid_to"], "valid_to is before valid_from", "range")
    if data.bound == "baseline":
        assert data.baseline_period is not None
        inputs.period(data.baseline_period, ["body", "baseline_period"])
        filters = {"profession": data.profession} if data.profession else {}
        ctx = await points.context(session, settings, principal, d, unit, filters)
        if await ctx.baseline(data.baseline_period) is None:
            raise invalid_field(
                ["body", "baseline_period"],
                f"{d.code} has no value for {unit.code} in {data.baseline_period}: "
                "load that period's data first, or choose another baseline",
                "baseline_without_data",
            )
        if await ctx.baseline_hidden(data.baseline_period):
            # The target's value on every series would be the hidden group's value × factor.
            raise invalid_field(
                ["body", "baseline_period"],
                f"{d.code} for {unit.code} in {data.baseline_period} is a group hidden by the "
                f"small-group rule (fewer than PULS_MIN_GROUP_SIZE = {settings.min_group_size} "
                "distinct employees, or hidden to protect such a group): an admin key may "
                "set this target, or choose a larger group or another baseline",
                "baseline_suppressed",
            )
    if data.reach_by is not None and data.start_period is not None:
        filters = {"profession": data.profession} if data.profession else {}
        ctx = await points.context(session, settings, principal, d, unit, filters)
        await _check_trajectory(ctx, data.start_period, data.reach_by)
    target = KpiTarget(
        kpi=d.code,
        org_unit_id=inputs.unit_id(unit),
        include_subtree=data.include_subtree,
        profession=data.profession,
        comparator=data.comparator,
        bound=data.bound,
        value=data.value,
        per_grain=data.per_grain,
        baseline_period=data.baseline_period,
        factor=data.factor,
        valid_from=valid_from,
        valid_to=valid_to,
        description=data.description,
        reach_by=data.reach_by,
        start_period=data.start_period,
    )
    await audit_service.add_audited(session, principal, target, "kpi_target", org_unit_id=unit.id)
    return _target_read(target, unit.code)


async def _check_trajectory(ctx: points.Context, start_label: str, reach_label: str) -> None:
    """The line runs from a period with data to a later one."""
    start = inputs.period(start_label, ["body", "start_period"])
    reach = inputs.period(reach_label, ["body", "reach_by"])
    if reach.end_date <= start.end_date:
        raise invalid_field(
            ["body", "reach_by"],
            f"reach_by {reach.label} is not after start_period {start.label}",
            "reach_by_before_start",
        )
    if await ctx.baseline(start.label) is None:
        raise invalid_field(
            ["body", "start_period"],
            f"{ctx.definition.code} has no value for {ctx.unit.code} in {start.label}: load "
            "that period's data first, or choose another start",
            "start_without_data",
        )
    if await ctx.baseline_hidden(start.label):
        # The line's value on every series would give the hidden group's value away.
        raise invalid_field(
            ["body", "start_period"],
            f"{ctx.definition.code} for {ctx.unit.code} in {start.label} is a group hidden by "
            f"the small-group rule (fewer than PULS_MIN_GROUP_SIZE = "
            f"{ctx.settings.min_group_size} distinct employees, or hidden to protect such a "
            "group): an admin key may set this target, or choose a larger group or another start",
            "baseline_suppressed",
        )


async def _visible_target(
    session: AsyncSession, principal: Principal, target_id: uuid.UUID, *, for_update: bool = False
) -> tuple[KpiTarget, str]:
    row = in_scope_or_404(
        await repository.get_target(session, target_id, for_update=for_update),
        principal,
        TargetNotFound(f"No target with id {target_id}"),
    )
    return row[0], row[1]


async def read_target(
    session: AsyncSession, principal: Principal, target_id: uuid.UUID
) -> TargetRead:
    target, code = await _visible_target(session, principal, target_id)
    return _target_read(target, code)


async def list_targets(
    session: AsyncSession, principal: Principal, *, kpi: str | None, window: Window
) -> Page[TargetRead | Tombstone]:
    rows = await repository.target_page(
        session, scope_path=principal.org_path, kpi=kpi, window=window
    )
    return page_of(rows, window, lambda r: _target_read(r[0], r[1]))


async def update_target(
    session: AsyncSession,
    principal: Principal,
    target_id: uuid.UUID,
    data: TargetUpdate,
    *,
    if_match: str | None,
) -> TargetRead:
    target, code = await _visible_target(session, principal, target_id, for_update=True)
    check_if_match(if_match, target.version)
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    if "valid_to" in changes:
        changes["valid_to"] = (
            inputs.month(changes["valid_to"], ["body", "valid_to"]) if changes["valid_to"] else None
        )
        if changes["valid_to"] is not None and changes["valid_to"] < target.valid_from:
            raise invalid_field(["body", "valid_to"], "valid_to is before valid_from", "range")
    if "value" in changes and changes["value"] is None and target.bound != "baseline":
        raise invalid_field(["body", "value"], f"a {target.bound} target needs a value", "null")
    if "comparator" in changes and changes["comparator"] is None:
        raise invalid_field(["body", "comparator"], "comparator cannot be null", "null")
    await audit_service.update_audited(
        session,
        principal,
        target,
        changes,
        "kpi_target",
        fields=changes,
        org_unit_id=target.org_unit_id,
    )
    return _target_read(target, code)


async def delete_target(
    session: AsyncSession, principal: Principal, target_id: uuid.UUID, *, if_match: str | None
) -> None:
    target, _ = await _visible_target(session, principal, target_id, for_update=True)
    check_if_match(if_match, target.version)
    await audit_service.delete_audited(session, principal, target, "kpi_target")
