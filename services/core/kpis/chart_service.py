"""Charts of the read model: a series as SVG, the scorecard with a sparkline per KPI, and the
charts of breached targets that meetings embed in the prepare view and the HTML minutes. The
figures come from `series_service` (so suppression and scoping are the JSON answer's); the
drawing is `charts.py`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from services.core import periods
from services.core.config import Settings
from services.core.errors import invalid_field
from services.core.kpis import charts, inputs, repository, series_service
from services.core.kpis.catalogue_service import definition
from services.core.kpis.models import KpiTarget
from services.core.kpis.schemas import Point, Series
from services.core.orgs import service as orgs_service
from services.core.principal import Principal

# A sparkline shows the twelve months up to the scorecard's period; a chart of a breached
# target shows the twelve months up to the month that was not met.
TRAIL_MONTHS = 12


async def series_chart(
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
) -> str:
    """The series as an SVG chart. One series per chart: `children=true` is refused (422)."""
    if children:
        raise invalid_field(
            ["query", "children"],
            "a chart draws one series; ask for each child unit's chart, or for JSON or CSV",
            "chart_of_one_series",
        )
    found = await series_service.series(
        session,
        settings,
        principal,
        code,
        org_unit=org_unit,
        grain=grain,
        start=start,
        end=end,
        dimensions=dimensions,
        children=False,
    )
    assert isinstance(found, Series)
    d = await definition(session, code)
    try:
        return charts.series_svg(found, d.name_sv)
    except charts.TooManyPoints as exc:
        raise invalid_field(["query", "to"], str(exc), "too_many_points") from None


async def _trail(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    code: str,
    org_unit: str,
    last: date,
    profession: str | None,
) -> Series | None:
    """The months up to `last`, or None when the KPI has no monthly values (a yearly manual
    KPI)."""
    d = await definition(session, code)
    if "month" not in d.grains:
        return None
    first = periods.add_months(last, 1 - TRAIL_MONTHS)
    found = await series_service.series(
        session,
        settings,
        principal,
        code,
        org_unit=org_unit,
        grain="month",
        start=f"{first:%Y-%m}",
        end=f"{last:%Y-%m}",
        dimensions={"profession": profession},
        children=False,
    )
    assert isinstance(found, Series)
    return found


async def scorecard_chart(
    session: AsyncSession, settings: Settings, principal: Principal, org_unit: str, period: str
) -> str:
    """The scorecard as one SVG table, each KPI with a sparkline of its last twelve months."""
    card = await series_service.scorecard(session, settings, principal, org_unit, period)
    unit = await orgs_service.get_visible(session, principal, card.org_unit)
    last = inputs.period(card.period, ["query", "period"]).last
    lines = []
    for row in card.rows:
        trail = await _trail(session, settings, principal, row.kpi, unit.code, last, row.profession)
        points: list[Point] = trail.points if trail is not None else []
        lines.append(charts.ScorecardLine(row=row, trail=points))
    return charts.scorecard_svg(unit.name, card.period, lines)


@dataclass(frozen=True)
class TargetChart:
    target_id: str
    kpi: str
    org_unit: str
    period: str
    caption: str
    svg: str


async def breached_target_charts(
    session: AsyncSession, settings: Settings, principal: Principal, org_unit_id: int
) -> list[TargetChart]:
    """A chart per target in the unit's subtree whose latest evaluated month is not met: the
    twelve months up to that month, with the target line (for a meeting's prepare view and
    minutes)."""
    out: list[TargetChart] = []
    for n, b in enumerate(await series_service.breached_targets(session, principal, org_unit_id)):
        row = await repository.get_target(session, uuid.UUID(b["target_id"]))
        if row is None:
            continue
        target: KpiTarget = row[0]
        month = inputs.period(b["period"], ["period"]).last
        trail = await _trail(
            session, settings, principal, b["kpi"], b["org_unit"], month, target.profession
        )
        if trail is None:
            continue
        d = await definition(session, b["kpi"])
        who = b["org_unit"] + (f", {target.profession}" if target.profession else "")
        out.append(
            TargetChart(
                target_id=b["target_id"],
                kpi=b["kpi"],
                org_unit=b["org_unit"],
                period=b["period"],
                caption=f"{d.name_sv} ({who}): målet nås inte {charts.period_sv(b['period'])}",
                svg=charts.series_svg(trail, d.name_sv, element_id=f"target-chart-{n + 1}"),
            )
        )
    return out
