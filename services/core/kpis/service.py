"""KPI operations: the catalogue, series (pooled up the org tree and over periods), targets and
their breach events, manual values, recalculation requests.

A point's value always pools numerators and denominators (never averages percentages); its
target, status and trend follow DESIGN.md and carry the `rule` that produced them."""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.core import periods
from services.core.audit import service as audit_service
from services.core.auth.schemas import Principal
from services.core.config import Settings
from services.core.errors import invalid_field
from services.core.events import service as events_service
from services.core.http import check_if_match
from services.core.kpis import facts, repository
from services.core.kpis.catalogue import CATALOGUE, Direction, KpiDefinition, Temporal
from services.core.kpis.errors import (
    KpiExists,
    KpiNotFound,
    RecalculationNotFound,
    TargetNotFound,
)
from services.core.kpis.evaluation import TREND_TOLERANCE, Comparator, assess
from services.core.kpis.models import (
    KpiTarget,
    ManualKpi,
    ManualValue,
    Recalculation,
)
from services.core.kpis.repository import MonthSum
from services.core.kpis.schemas import (
    KpiRead,
    ManualKpiCreate,
    ManualValueIn,
    ManualValueRead,
    Point,
    RecalculationCreate,
    RecalculationRead,
    Rule,
    Scorecard,
    ScorecardRow,
    Series,
    SeriesSet,
    TargetCreate,
    TargetRead,
    TargetUpdate,
)
from services.core.orgs import service as orgs_service
from services.core.orgs.errors import OrgUnitNotFound
from services.core.orgs.models import OrgUnit
from services.core.orgs.repository import subtree_upper_bound
from services.core.pagination import Page, Tombstone, mirror_page
from services.core.periods import Grain, Period, PeriodError

ALL_GRAINS = [g.value for g in Grain]
RECALCULATE_JOB = "recalculate"


@dataclass(frozen=True)
class Definition:
    code: str
    kind: str
    name_en: str
    name_sv: str
    unit: str
    better: Direction
    formula: str
    dimensions: tuple[str, ...]
    grains: tuple[str, ...]
    person_based: bool
    computed: KpiDefinition | None

    @property
    def additive(self) -> bool:
        """A plain amount that grows with the period's length (hours, SEK, weeks)."""
        c = self.computed
        return c is not None and c.numerator is Temporal.flow and c.denominator is None

    def read(self) -> KpiRead:
        return KpiRead(
            code=self.code,
            kind=self.kind,
            name_en=self.name_en,
            name_sv=self.name_sv,
            unit=self.unit,
            better=self.better.value,
            formula=self.formula,
            dimensions=list(self.dimensions),
            grains=list(self.grains),
            person_based=self.person_based,
        )


def _computed(d: KpiDefinition) -> Definition:
    return Definition(
        d.code,
        "computed",
        d.name_en,
        d.name_sv,
        d.unit.value,
        d.better,
        d.formula,
        d.dimensions,
        tuple(ALL_GRAINS),
        d.person_based,
        d,
    )


def _manual(m: ManualKpi) -> Definition:
    return Definition(
        m.code,
        "manual",
        m.name_en,
        m.name_sv,
        m.unit,
        Direction(m.better),
        m.description or "entered by hand",
        (),
        tuple(m.grains),
        False,
        None,
    )


async def definition(session: AsyncSession, code: str) -> Definition:
    if code in CATALOGUE:
        return _computed(CATALOGUE[code])
    manual = await session.get(ManualKpi, code)
    if manual is None or manual.deleted_at is not None:
        raise KpiNotFound(f"No KPI {code!r}; GET /v1/kpis lists them")
    return _manual(manual)


async def list_kpis(session: AsyncSession) -> list[KpiRead]:
    computed = [_computed(d).read() for d in CATALOGUE.values()]
    return computed + [_manual(m).read() for m in await repository.manual_kpis(session)]


async def create_manual_kpi(
    session: AsyncSession, principal: Principal, data: ManualKpiCreate
) -> KpiRead:
    if data.code in CATALOGUE or await session.get(ManualKpi, data.code) is not None:
        raise KpiExists(f"A KPI {data.code!r} exists already")
    kpi = ManualKpi(
        code=data.code,
        name_en=data.name_en,
        name_sv=data.name_sv,
        unit=data.unit,
        better=data.better,
        grains=list(dict.fromkeys(data.grains)),
        description=data.description,
    )
    session.add(kpi)
    await session.flush()
    await audit_service.record(session, principal, "kpi.create", "kpi", data.code)
    return _manual(kpi).read()


# ---- series --------------------------------------------------------------------------------


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


def _label(text: str, loc: list[str | int]) -> Period:
    try:
        return periods.parse(text)
    except PeriodError as exc:
        raise invalid_field(loc, str(exc), "invalid_period") from None


def _months_ratio(period: Period, per: Period | int) -> Decimal:
    months = per if isinstance(per, int) else per.month_count
    return Decimal(period.month_count) / Decimal(months)


@dataclass
class _Value:
    value: Decimal | None
    numerator: Decimal | None
    denominator: Decimal | None
    employees: int | None
    computed_at: Any
    has_data: bool

    @property
    def reason(self) -> str | None:
        if not self.has_data:
            return "no_data"
        if self.value is None:
            return "zero_denominator"
        return None


def _pooled(d: Definition, data: dict[tuple[str, date], MonthSum], key: str, p: Period) -> _Value:
    assert d.computed is not None
    sums = [data.get((key, m)) for m in p.months]
    present = [s for s in sums if s is not None]
    zero = (Decimal(0), Decimal(0))
    pairs = [(s.numerator, s.denominator or Decimal(0)) if s else zero for s in sums]
    n, den = d.computed.pooled(pairs)
    employees = [s.employees for s in present if s.employees is not None]
    return _Value(
        d.computed.value(n, den) if present else None,
        n if present else None,
        den if present else None,
        max(employees) if employees else None,
        max((s.computed_at for s in present if s.computed_at), default=None),
        bool(present),
    )


@dataclass
class _Context:
    """What computing points for one KPI and org unit needs, with caches for baselines."""

    session: AsyncSession
    settings: Settings
    principal: Principal
    definition: Definition
    unit: OrgUnit
    filters: dict[str, str]
    targets: list[Any]
    baselines: dict[tuple[str, str], Decimal | None] = field(default_factory=dict)

    def target_for(self, period: Period) -> KpiTarget | None:
        """The most specific live target for this unit, profession and period."""
        best: tuple[int, Any] | None = None
        profession = self.filters.get("profession")
        for target, _code, path in self.targets:
            same = target.org_unit_id == self.unit.id
            inside = target.include_subtree and self.unit.path.startswith(path)
            if not (same or inside):
                continue
            if target.profession is not None and target.profession != profession:
                continue
            if target.profession is None and profession is not None:
                # An amount's bound for the whole unit says nothing about one profession's
                # part of it; a rate's bound, or a baseline (computed per profession), does.
                if self.definition.additive and target.bound != "baseline":
                    continue
            if target.valid_from > period.last or (
                target.valid_to is not None and target.valid_to < period.first
            ):
                continue
            rank = len(path) * 2 + (1 if target.profession is not None else 0)
            if best is None or rank >= best[0]:
                best = (rank, target)
        return best[1] if best else None

    async def target_value(self, target: KpiTarget, period: Period) -> Decimal | None:
        if target.bound == "absolute":
            return target.value
        if target.bound == "count":
            assert target.value is not None and target.per_grain is not None
            return target.value * _months_ratio(period, _months_in(target.per_grain))
        assert target.baseline_period is not None
        base = await self.baseline(target.baseline_period)
        if base is None:
            return None
        value = base * (target.factor or Decimal(1))
        if self.definition.additive:
            value *= _months_ratio(period, periods.parse(target.baseline_period))
        return value

    async def baseline(self, label: str) -> Decimal | None:
        key = (self.unit.path, label)
        if key not in self.baselines:
            base = periods.parse(label)
            data = await _monthly(
                self.session,
                self.definition.code,
                self.unit.path,
                base.first,
                base.last,
                self.filters,
            )
            self.baselines[key] = _pooled(self.definition, data, "", base).value
        return self.baselines[key]


def _id(unit: OrgUnit) -> int:
    assert unit.id is not None
    return unit.id


def _months_in(grain: str) -> int:
    # December ends a period of every grain; only the length matters here.
    return periods.period_ending(Grain(grain), date(2000, 12, 1)).month_count


def _float(value: Decimal | None, places: int = 6) -> float | None:
    return None if value is None else float(round(value, places))


async def _point(
    ctx: _Context,
    data: dict[tuple[str, date], MonthSum],
    key: str,
    period: Period,
) -> Point:
    d = ctx.definition
    current = _pooled(d, data, key, period)
    before = _pooled(d, data, key, period.year_before())
    suppressed = (
        d.person_based
        and current.has_data
        and not ctx.principal.is_admin
        and (current.employees or 0) < ctx.settings.min_group_size
    )
    target = ctx.target_for(period)
    target_value = await ctx.target_value(target, period) if target is not None else None
    comparator = Comparator(target.comparator) if target is not None else None
    value = None if suppressed else current.value
    year_before = None if suppressed else before.value
    a = assess(value, year_before, target_value, comparator, d.better)
    rule = Rule(tolerance_pct=TREND_TOLERANCE * 100)
    if target is not None:
        rule = Rule(
            target_id=str(target.id),
            target_version=target.version,
            tolerance_pct=TREND_TOLERANCE * 100,
        )
    return Point(
        period=period.label,
        value=_float(value),
        numerator=None if suppressed else _float(current.numerator),
        denominator=None if suppressed else _float(current.denominator),
        target=_float(target_value),
        deviation=_float(a.deviation),
        deviation_pct=_float(a.deviation_pct, 4),
        status=a.status.value,
        change=_float(a.change),
        change_pct=_float(a.change_pct, 4),
        trend=a.trend.value if a.trend else None,
        suppressed=suppressed,
        reason="suppressed" if suppressed else current.reason,
        computed_at=current.computed_at,
        rule=rule,
    )


# Sums already read in this process, by the facts' state they were read at (repository.
# facts_token): dashboards ask for the same series again and again, and the facts change
# once per recalculation round. Least recently used entries go first.
_SUMS: OrderedDict[tuple[Any, ...], dict[tuple[str, date], MonthSum]] = OrderedDict()
SUMS_KEPT = 512


async def _monthly(
    session: AsyncSession,
    kpi: str,
    prefix: str,
    first: date,
    last: date,
    filters: dict[str, str],
    *,
    by_child: bool = False,
) -> dict[tuple[str, date], MonthSum]:
    """repository.monthly, kept while the facts and the org tree stay as they were. Callers
    must not change what it returns (it may be handed to the next caller too)."""
    args = (session, kpi, prefix, first, last, filters)
    token = await repository.facts_token(session)
    if token is None:
        return await repository.monthly(*args, by_child=by_child)
    key = (token, kpi, prefix, first, last, tuple(sorted(filters.items())), by_child)
    if (kept := _SUMS.get(key)) is not None:
        _SUMS.move_to_end(key)
        return kept
    sums = await repository.monthly(*args, by_child=by_child)
    _SUMS[key] = sums
    if len(_SUMS) > SUMS_KEPT:
        _SUMS.popitem(last=False)
    return sums


async def _month_sums(
    ctx: _Context, wanted: list[Period], *, by_child: bool = False
) -> dict[tuple[str, date], MonthSum]:
    """The months of `wanted` and of the year before them (for change and trend)."""
    return await _monthly(
        ctx.session,
        ctx.definition.code,
        ctx.unit.path,
        periods.add_months(wanted[0].first, -12),
        wanted[-1].last,
        ctx.filters,
        by_child=by_child,
    )


async def _computed_points(
    ctx: _Context,
    wanted: list[Period],
    data: dict[tuple[str, date], MonthSum] | None = None,
    key: str = "",
) -> list[Point]:
    if data is None:
        data = await _month_sums(ctx, wanted)
    return [await _point(ctx, data, key, p) for p in wanted]


async def _manual_series(ctx: _Context, wanted: list[Period]) -> list[Point]:
    first = periods.add_months(wanted[0].first, -12)
    values = await repository.manual_values(
        ctx.session, ctx.definition.code, _id(ctx.unit), first, wanted[-1].last
    )
    by_month = {v.month: v for v in values}

    def latest(p: Period) -> ManualValue | None:
        found = [by_month[m] for m in p.months if m in by_month]
        return found[-1] if found else None

    points = []
    for p in wanted:
        entry, before = latest(p), latest(p.year_before())
        target = ctx.target_for(p)
        target_value = await ctx.target_value(target, p) if target is not None else None
        comparator = Comparator(target.comparator) if target is not None else None
        value = entry.value if entry else None
        earlier = before.value if before else None
        a = assess(value, earlier, target_value, comparator, ctx.definition.better)
        points.append(
            Point(
                period=p.label,
                value=_float(value),
                numerator=_float(value),
                denominator=None,
                target=_float(target_value),
                deviation=_float(a.deviation),
                deviation_pct=_float(a.deviation_pct, 4),
                status=a.status.value,
                change=_float(a.change),
                change_pct=_float(a.change_pct, 4),
                trend=a.trend.value if a.trend else None,
                suppressed=False,
                reason=None if entry else "no_data",
                computed_at=entry.entered_at if entry else None,
                rule=Rule(
                    target_id=str(target.id) if target else None,
                    target_version=target.version if target else None,
                    tolerance_pct=TREND_TOLERANCE * 100,
                ),
                entered_by=entry.entered_by if entry else None,
                entered_at=entry.entered_at if entry else None,
                comment=entry.comment if entry else None,
            )
        )
    return points


async def _context(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    d: Definition,
    unit: OrgUnit,
    filters: dict[str, str],
) -> _Context:
    targets = await repository.targets_for_kpi(session, d.code)
    return _Context(session, settings, principal, d, unit, filters, targets)


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
    wanted = _periods(g, start, end)
    unit = await orgs_service.get_visible(session, principal, org_unit)
    ctx = await _context(session, settings, principal, d, unit, filters)
    if not children:
        if d.computed is None:
            points = await _manual_series(ctx, wanted)
        else:
            points = await _computed_points(ctx, wanted)
        return _series(d, unit, g, filters, points)
    kids = await repository.children(session, _id(unit))
    out: list[Series] = []
    data: dict[tuple[str, date], MonthSum] = {}
    if d.computed is not None:
        # One query grouped by child serves the unit's own facts and every child's.
        data = await _month_sums(ctx, wanted, by_child=True)
        if any(key == "" for key, _ in data):  # facts booked on the unit itself
            out.append(_series(d, unit, g, filters, await _computed_points(ctx, wanted, data)))
    for kid in kids:
        kid_ctx = replace(ctx, unit=kid, baselines={})
        if d.computed is None:
            points = await _manual_series(kid_ctx, wanted)
        else:
            points = await _computed_points(kid_ctx, wanted, data, str(kid.id))
        out.append(_series(d, kid, g, filters, points))
    return SeriesSet(kpi=d.code, grain=g.value, series=out)


def _series(
    d: Definition, unit: OrgUnit, grain: Grain, filters: dict[str, str], points: list[Point]
) -> Series:
    return Series(
        kpi=d.code,
        org_unit=unit.code,
        org_unit_name=unit.name,
        grain=grain.value,
        filters=filters,
        unit=d.unit,
        points=points,
    )


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
    p = _label(period, ["period"])
    filters = {"profession": profession} if profession else {}
    ctx = await _context(session, settings, principal, d, unit, filters)
    if d.computed is None:
        return (await _manual_series(ctx, [p]))[0]
    return (await _computed_points(ctx, [p]))[0]


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
    p = _label(period, ["query", "period"])
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
        ctx = await _context(session, settings, principal, d, unit, filters)
        if d.computed is None:
            point = (await _manual_series(ctx, [p]))[0]
        else:
            point = (await _computed_points(ctx, [p]))[0]
        rows.append(
            ScorecardRow(
                kpi=d.code,
                name_en=d.name_en,
                name_sv=d.name_sv,
                unit=d.unit,
                profession=target.profession,
                point=point,
            )
        )
    rows.sort(key=lambda r: (r.kpi, r.profession or ""))
    return Scorecard(org_unit=unit.code, period=p.label, rows=rows)


# ---- targets -------------------------------------------------------------------------------


def _month(label: str, loc: list[str | int]) -> date:
    p = _label(label, loc)
    if p.grain is not Grain.month:
        raise invalid_field(loc, f"{label!r} is not a month like 2024-03", "invalid_month")
    return p.first


def _target_read(target: KpiTarget, code: str) -> TargetRead:
    assert target.created_at is not None and target.updated_at is not None
    return TargetRead(
        id=str(target.id),
        kpi=target.kpi,
        org_unit=code,
        include_subtree=target.include_subtree,
        profession=target.profession,
        comparator=target.comparator,
        bound=target.bound,
        value=target.value,
        per_grain=target.per_grain,
        baseline_period=target.baseline_period,
        factor=target.factor,
        valid_from=f"{target.valid_from:%Y-%m}",
        valid_to=f"{target.valid_to:%Y-%m}" if target.valid_to else None,
        description=target.description,
        created_at=target.created_at,
        updated_at=target.updated_at,
        version=target.version,
    )


async def create_target(
    session: AsyncSession, settings: Settings, principal: Principal, data: TargetCreate
) -> TargetRead:
    d = await definition(session, data.kpi)
    try:
        unit = await orgs_service.get_visible(session, principal, data.org_unit)
    except OrgUnitNotFound:
        raise invalid_field(
            ["body", "org_unit"], f"unknown org unit {data.org_unit!r}", "unknown_org_unit"
        ) from None
    if data.profession is not None and "profession" not in d.dimensions:
        raise invalid_field(["body", "profession"], f"{d.code} cannot be split by profession")
    valid_from = _month(data.valid_from, ["body", "valid_from"])
    valid_to = _month(data.valid_to, ["body", "valid_to"]) if data.valid_to else None
    if valid_to is not None and valid_to < valid_from:
        raise invalid_field(["body", "valid_to"], "valid_to is before valid_from", "range")
    if data.bound == "baseline":
        assert data.baseline_period is not None
        _label(data.baseline_period, ["body", "baseline_period"])
        filters = {"profession": data.profession} if data.profession else {}
        ctx = await _context(session, settings, principal, d, unit, filters)
        if await ctx.baseline(data.baseline_period) is None:
            raise invalid_field(
                ["body", "baseline_period"],
                f"{d.code} has no value for {unit.code} in {data.baseline_period}: "
                "load that period's data first, or choose another baseline",
                "baseline_without_data",
            )
    target = KpiTarget(
        kpi=d.code,
        org_unit_id=_id(unit),
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
    )
    session.add(target)
    await session.flush()
    await session.refresh(target)
    await audit_service.record(
        session, principal, "kpi_target.create", "kpi_target", str(target.id), org_unit_id=unit.id
    )
    return _target_read(target, unit.code)


async def _visible_target(
    session: AsyncSession, principal: Principal, target_id: uuid.UUID, *, for_update: bool = False
) -> tuple[KpiTarget, str]:
    row = await repository.get_target(session, target_id, for_update=for_update)
    if row is None or not principal.sees_path(row[2]):
        raise TargetNotFound(f"No target with id {target_id}")
    return row[0], row[1]


async def read_target(
    session: AsyncSession, principal: Principal, target_id: uuid.UUID
) -> TargetRead:
    target, code = await _visible_target(session, principal, target_id)
    return _target_read(target, code)


async def list_targets(
    session: AsyncSession,
    principal: Principal,
    *,
    kpi: str | None,
    updated_since: Any,
    cursor: str | None,
    limit: int,
) -> Page[TargetRead | Tombstone]:
    rows = await repository.target_page(
        session,
        scope_path=principal.org_path,
        kpi=kpi,
        updated_since=updated_since,
        cursor=cursor,
        limit=limit,
    )
    return mirror_page(
        rows,
        limit,
        updated_since=updated_since,
        tombstone_id=lambda t: str(t.id),
        to_read=lambda r: _target_read(r[0], r[1]),
    )


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
    changes = data.model_dump(exclude_unset=True)
    if "valid_to" in changes:
        changes["valid_to"] = (
            _month(changes["valid_to"], ["body", "valid_to"]) if changes["valid_to"] else None
        )
        if changes["valid_to"] is not None and changes["valid_to"] < target.valid_from:
            raise invalid_field(["body", "valid_to"], "valid_to is before valid_from", "range")
    if "value" in changes and changes["value"] is None and target.bound != "baseline":
        raise invalid_field(["body", "value"], f"a {target.bound} target needs a value", "null")
    if "comparator" in changes and changes["comparator"] is None:
        raise invalid_field(["body", "comparator"], "comparator cannot be null", "null")
    for name, value in changes.items():
        setattr(target, name, value)
    target.touch()
    await session.flush()
    await session.refresh(target)
    await audit_service.record(
        session,
        principal,
        "kpi_target.update",
        "kpi_target",
        str(target.id),
        org_unit_id=target.org_unit_id,
        details={"fields": sorted(changes)},
    )
    return _target_read(target, code)


async def delete_target(
    session: AsyncSession, principal: Principal, target_id: uuid.UUID, *, if_match: str | None
) -> None:
    target, _ = await _visible_target(session, principal, target_id, for_update=True)
    check_if_match(if_match, target.version)
    target.mark_deleted()
    await session.flush()
    await audit_service.record(
        session, principal, "kpi_target.delete", "kpi_target", str(target.id)
    )


async def breached_targets(
    session: AsyncSession, principal: Principal, org_unit_id: int
) -> list[dict[str, Any]]:
    """Targets in the unit's subtree whose latest evaluated month is not met (for a meeting's
    follow-up agenda)."""
    unit = await session.get(OrgUnit, org_unit_id)
    if unit is None or not principal.sees_path(unit.path):
        return []
    rows = await session.execute(
        sa.text(
            """
            SELECT DISTINCT ON (s.target_id) s.target_id, t.kpi, o.code, s.month, s.status
            FROM kpi_target_states s
            JOIN kpi_targets t ON t.id = s.target_id AND t.deleted_at IS NULL
            JOIN org_units o ON o.id = t.org_unit_id
            WHERE o.path >= :lo AND o.path < :hi
            ORDER BY s.target_id, s.month DESC
            """
        ),
        {"lo": unit.path, "hi": subtree_upper_bound(unit.path)},
    )
    return [
        {"target_id": str(t), "kpi": k, "org_unit": c, "period": f"{m:%Y-%m}"}
        for t, k, c, m, status in rows.all()
        if status == "not_met"
    ]


# ---- recalculation -------------------------------------------------------------------------


async def recalculate(
    session: AsyncSession,
    settings: Settings,
    *,
    limit: int = 100_000,
    units: int = facts.UNITS_PER_ROUND,
) -> int:
    """One round: claims up to `limit` dirty cells, replaces their facts and evaluates the
    targets they touch. Returns how many cells it took (0: nothing left)."""
    cells = await facts.claim(session, limit, units=units)
    if not cells:
        return 0
    await facts.recompute_claimed(session, settings, cells)
    await evaluate_targets(session, settings, cells)
    await facts.release_claimed(session)
    await facts.bump_version(session)
    return len(cells)


async def evaluate_targets(
    session: AsyncSession, settings: Settings, cells: Sequence[tuple[int, date]]
) -> int:
    """Publishes `kpi.target_breached` / `kpi.target_recovered` when a recomputed month moves a
    target's own unit across its bound, once per crossing (not on every recomputation)."""
    from services.core.auth.service import bootstrap_principal

    unit_ids = sorted({u for u, _ in cells})
    found = await session.execute(
        sa.text("SELECT id, path FROM org_units WHERE id = ANY(:ids)"), {"ids": unit_ids}
    )
    paths: dict[int, str] = {int(i): str(p) for i, p in found.all()}
    months_by_path: dict[str, set[date]] = {}
    for unit_id, month in cells:
        months_by_path.setdefault(paths[unit_id], set()).add(month)
    principal = bootstrap_principal()
    published = 0
    for target, code, path in await repository.targets_for_kpi(session):
        if target.kpi not in CATALOGUE:
            continue
        months = sorted(
            {
                m
                for p, ms in months_by_path.items()
                if p.startswith(path)
                for m in ms
                if target.valid_from <= m and (target.valid_to is None or m <= target.valid_to)
            }
        )
        if not months:
            continue
        unit = await session.get(OrgUnit, target.org_unit_id)
        assert unit is not None
        filters = {"profession": target.profession} if target.profession else {}
        ctx = _Context(
            session,
            settings,
            principal,
            _computed(CATALOGUE[target.kpi]),
            unit,
            filters,
            [(target, code, path)],
        )
        wanted = [periods.period_ending(Grain.month, m) for m in months]
        data = await repository.monthly(
            session, target.kpi, unit.path, months[0], months[-1], filters
        )
        known = await session.execute(
            sa.text("SELECT month, status FROM kpi_target_states WHERE target_id = :t"),
            {"t": target.id},
        )
        states: dict[date, str] = {row[0]: row[1] for row in known.all()}
        for p in wanted:
            current = _pooled(ctx.definition, data, "", p)
            bound = await ctx.target_value(target, p)
            if current.value is None or bound is None:
                continue
            met = current.value <= bound if target.comparator == "lte" else current.value >= bound
            status = "met" if met else "not_met"
            previous = states.get(p.first)
            if previous == status:
                continue
            await session.execute(
                sa.text(
                    "INSERT INTO kpi_target_states (target_id, month, status) "
                    "VALUES (:t, :m, :s) ON CONFLICT (target_id, month) "
                    "DO UPDATE SET status = :s, changed_at = now()"
                ),
                {"t": target.id, "m": p.first, "s": status},
            )
            if previous is None and met:
                continue  # first evaluation and fine: nothing happened worth telling
            await events_service.publish(
                session,
                "kpi.target_breached" if not met else "kpi.target_recovered",
                {
                    "target_id": str(target.id),
                    "kpi": target.kpi,
                    "org_unit": code,
                    "profession": target.profession,
                    "period": p.label,
                    "value": str(round(current.value, 6)),
                    "target": str(round(bound, 6)),
                    "comparator": target.comparator,
                },
                org_unit_id=target.org_unit_id,
            )
            published += 1
    return published


def _recalculation_read(r: Recalculation, code: str | None) -> RecalculationRead:
    assert r.created_at is not None
    return RecalculationRead.model_validate(
        {
            "id": str(r.id),
            "status": r.status,
            "org_unit": code,
            "from": f"{r.from_month:%Y-%m}" if r.from_month else None,
            "to": f"{r.to_month:%Y-%m}" if r.to_month else None,
            "cells": r.cells,
            "error": r.error,
            "created_at": r.created_at,
            "finished_at": r.finished_at,
        }
    )


async def request_recalculation(
    session: AsyncSession, principal: Principal, data: RecalculationCreate
) -> RecalculationRead:
    from services.core.queue import defer_job

    unit = None
    if data.org_unit is not None:
        try:
            unit = await orgs_service.get_visible(session, principal, data.org_unit)
        except OrgUnitNotFound:
            raise invalid_field(
                ["body", "org_unit"], f"unknown org unit {data.org_unit!r}", "unknown_org_unit"
            ) from None
    first = _label(data.from_, ["body", "from"]).first if data.from_ else None
    last = _label(data.to, ["body", "to"]).last if data.to else None
    if first and last and last < first:
        raise invalid_field(["body", "to"], "to is before from", "range")
    record = Recalculation(
        org_unit_id=unit.id if unit else None,
        from_month=first,
        to_month=last,
        status="queued",
        requested_by=principal.actor,
    )
    session.add(record)
    await session.flush()
    await session.refresh(record)
    await audit_service.record(
        session, principal, "kpi.recalculate", "recalculation", str(record.id)
    )
    defer_job(session, "run_recalculation", str(record.id), job_id=f"recalculation:{record.id}")
    return _recalculation_read(record, unit.code if unit else None)


async def read_recalculation(
    session: AsyncSession, principal: Principal, rid: uuid.UUID
) -> RecalculationRead:
    row = await repository.get_recalculation(session, rid)
    if (
        row is None
        or (row[2] is not None and not principal.sees_path(row[2]))
        or (row[2] is None and principal.org_path is not None)
    ):
        raise RecalculationNotFound(f"No recalculation with id {rid}")
    return _recalculation_read(row[0], row[1])


async def mark_recalculation(session: AsyncSession, rid: uuid.UUID) -> int:
    """Marks the requested scope dirty (the worker then drains it like any other change)."""
    row = await repository.get_recalculation(session, rid)
    if row is None:
        return 0
    record: Recalculation = row[0]
    cells = await facts.mark_scope(
        session, org_path=row[2], from_month=record.from_month, to_month=record.to_month
    )
    record.status = "running"
    record.cells = cells
    await session.flush()
    return cells


async def finish_recalculation(
    session: AsyncSession, rid: uuid.UUID, *, error: str | None = None
) -> None:
    record = await session.get(Recalculation, rid)
    if record is not None:
        record.status = "failed" if error else "succeeded"
        record.error = error
        record.finished_at = sa.func.now()  # type: ignore[assignment]
        await session.flush()


# ---- manual values -------------------------------------------------------------------------


async def post_manual_value(
    session: AsyncSession, principal: Principal, code: str, data: ManualValueIn
) -> ManualValueRead:
    d = await definition(session, code)
    if d.computed is not None:
        raise invalid_field(["path", "code"], f"{code} is computed from the time data, not entered")
    period = _label(data.period, ["body", "period"])
    if period.grain.value not in d.grains:
        raise invalid_field(
            ["body", "period"],
            f"{code} takes values per {', '.join(d.grains)}, not per {period.grain.value}",
            "grain_not_available",
        )
    try:
        unit = await orgs_service.get_visible(session, principal, data.org_unit)
    except OrgUnitNotFound:
        raise invalid_field(
            ["body", "org_unit"], f"unknown org unit {data.org_unit!r}", "unknown_org_unit"
        ) from None
    stored = await repository.upsert_manual_value(
        session,
        ManualValue(
            kpi=code,
            org_unit_id=_id(unit),
            month=period.last,
            value=data.value,
            comment=data.comment,
            entered_by=principal.actor,
        ),
    )
    await audit_service.record(
        session,
        principal,
        "kpi.value",
        "kpi",
        code,
        org_unit_id=unit.id,
        details={"period": period.label},
    )
    assert stored.entered_at is not None
    return ManualValueRead(
        kpi=code,
        org_unit=unit.code,
        period=period.label,
        value=stored.value,
        comment=stored.comment,
        entered_by=stored.entered_by,
        entered_at=stored.entered_at,
    )
