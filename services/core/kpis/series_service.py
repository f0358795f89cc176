"""The KPI read model: series (pooled up the org tree and over periods), the scorecard, and the
values and breached targets other domains ask for (plans' effects, meetings' agendas)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.core import periods
from services.core.config import Settings
from services.core.errors import invalid_field
from services.core.kpis import inputs, points, repository
from services.core.kpis.catalogue_service import Definition, definition
from services.core.kpis.models import KpiTarget
from services.core.kpis.schemas import Point, Scorecard, ScorecardRow, Series, SeriesSet
from services.core.orgs import service as orgs_service
from services.core.orgs.errors import OrgUnitNotFound
from services.core.periods import Grain, Period, PeriodError
from services.core.principal import Principal
from services.core.tree import OrgUnit


def _grain(d: Definition, grain: str) -> Grain:
    if grain not in d.grains:
        raise invalid_field(
            ["query", "grain"],
            f"{d.code} has no {grain} values; its grains are {', '.join(d.grains)}",
            "grain_not_available",
        )
    return Grain(grain)


def _filters(d: Definition, given: dict[str, str | None]) -> dict[str, str]:
    filters = {k: v for k, v in given.items() if v is not None}
    for name in filters:
        if name not in d.dimensions:
            raise invalid_field(
                ["query", name],
                f"{d.code} cannot be split by {name}; it can by "
                f"{', '.join(d.dimensions) or 'nothing'}",
                "not_a_dimension",
            )
    return filters


def _periods(grain: Grain, start: str, end: str) -> list[Period]:
    try:
        return periods.series(grain, start, end)
    except PeriodError as exc:
        raise invalid_field(["query", "from"], str(exc), "invalid_period") from None


def _series(
    d: Definition, unit: OrgUnit, grain: Grain, filters: dict[str, str], found: list[Point]
) -> Series:
    return Series(
        kpi=d.code,
        org_unit=unit.code,
        org_unit_name=unit.name,
        grain=grain.value,
        filters=filters,
        unit=d.unit,
        points=found,
    )


async def series(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    code: str,
    *,
    org_unit: str,
    grain: str,
    start: str,
    end: str,
    dimensions: dict[str, str | None],
    children: bool,
) -> Series | SeriesSet:
    d = await definition(session, code)
    g = _grain(d, grain)
    filters = _filters(d, dimensions)
    for name in filters.keys() - {"profession"} if g is Grain.week else ():
        raise invalid_field(
            ["query", name], "weekly figures can be split by profession only", "not_a_dimension"
        )
    wanted = _periods(g, start, end)
    unit = await orgs_service.get_visible(session, principal, org_unit)
    ctx = await points.context(session, settings, principal, d, unit, filters)
    if not children:
        return _series(d, unit, g, filters, await points.points(ctx, wanted))
    kids = await repository.children(session, inputs.unit_id(unit))
    if len(kids) > settings.max_child_series:
        raise invalid_field(
            ["query", "children"],
            f"{unit.code} has {len(kids)} child units, more than the cap of "
            f"{settings.max_child_series} series per request (PULS_MAX_CHILD_SERIES); "
            "ask for the child units one at a time",
            "too_many_children",
        )
    out: list[Series] = []
    data: points.Sums = {}
    if d.computed is not None:
        # One query grouped by child serves the unit's own facts and every child's.
        data = await points.month_sums(ctx, wanted, by_child=True)
        if any(key == "" for key, _ in data):  # facts booked on the unit itself
            own = await points.computed_points(ctx, wanted, data, own=True)
            out.append(_series(d, unit, g, filters, own))
    for kid in kids:
        kid_ctx = replace(ctx, unit=kid, baselines={})
        if d.computed is None:
            found = await points.manual_points(kid_ctx, wanted)
        else:
            found = await points.computed_points(kid_ctx, wanted, data, str(kid.id))
        out.append(_series(d, kid, g, filters, found))
    return SeriesSet(kpi=d.code, grain=g.value, series=out)


async def value_at(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    code: str,
    org_unit_id: int,
    period: str,
    *,
    profession: str | None = None,
) -> Point:
    """One point, for other domains (a plan's effect: the KPI at its start and now)."""
    d = await definition(session, code)
    unit = await session.get(OrgUnit, org_unit_id)
    if unit is None or not principal.sees_path(unit.path):
        raise OrgUnitNotFound(f"No org unit {org_unit_id}")
    p = inputs.period(period, ["period"])
    filters = {"profession": profession} if profession else {}
    ctx = await points.context(session, settings, principal, d, unit, filters)
    return (await points.points(ctx, [p]))[0]


async def target_values(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    target_id: uuid.UUID,
    months: Sequence[date],
) -> tuple[str | None, list[Decimal | None]]:
    """A target's KPI at its org unit (and profession) in each month, for other domains (an
    action plan's effect: the value at its start and now). Unknown targets give (None, …)."""
    row = await repository.get_target(session, target_id)
    if row is None or not principal.sees_path(row[2]):
        return None, [None for _ in months]
    target: KpiTarget = row[0]
    values = []
    for month in months:
        point = await value_at(
            session,
            settings,
            principal,
            target.kpi,
            target.org_unit_id,
            f"{month:%Y-%m}",
            profession=target.profession,
        )
        values.append(None if point.value is None else Decimal(str(point.value)))
    return target.kpi, values


async def scorecard(
    session: AsyncSession, settings: Settings, principal: Principal, org_unit: str, period: str
) -> Scorecard:
    """Every KPI with a target for the unit and period: the table an annual report prints."""
    unit = await orgs_service.get_visible(session, principal, org_unit)
    p = inputs.period(period, ["query", "period"])
    rows: list[ScorecardRow] = []
    seen: set[tuple[str, str | None]] = set()
    for target, _code, path in await repository.targets_for_kpi(session):
        key = (target.kpi, target.profession)
        applies = target.org_unit_id == unit.id or (
            target.include_subtree and unit.path.startswith(path)
        )
        valid = target.valid_from <= p.last and (
            target.valid_to is None or target.valid_to >= p.first
        )
        if key in seen or not applies or not valid:
            continue
        seen.add(key)
        d = await definition(session, target.kpi)
        filters = {"profession": target.profession} if target.profession else {}
        ctx = await points.context(session, settings, principal, d, unit, filters)
        rows.append(
            ScorecardRow(
                kpi=d.code,
                name_en=d.name_en,
                name_sv=d.name_sv,
                unit=d.unit,
                profession=target.profession,
                point=(await points.points(ctx, [p]))[0],
            )
        )
    rows.sort(key=lambda r: (r.kpi, r.profession or ""))
    return Scorecard(org_unit=unit.code, period=p.label, rows=rows)


async def breached_targets(
    session: AsyncSession, principal: Principal, org_unit_id: int
) -> list[dict[str, Any]]:
    """Targets in the unit's subtree whose latest evaluated month is not met (for a meeting's
    follow-up agenda)."""
    unit = await session.get(OrgUnit, org_unit_id)
    if unit is None or not principal.sees_path(unit.path):
        return []
    return [
        {"target_id": str(t), "kpi": k, "org_unit": c, "period": f"{m:%Y-%m}"}
        for t, k, c, m, status in await repository.latest_target_states(session, unit.path)
        if status == "not_met"
    ]
