"""One KPI's points for one org unit: values pooled from the monthly sums (never averaged
percentages), the target that applies, status, deviation and trend (DESIGN.md), and the `rule`
that produced them. The series, the scorecard, target validation and target evaluation all
compute their values here."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.core import periods
from services.core.config import Settings
from services.core.kpis import inputs, repository
from services.core.kpis.catalogue import BUDGET_OF, KpiDefinition
from services.core.kpis.catalogue_service import Definition
from services.core.kpis.evaluation import TREND_TOLERANCE, Comparator, assess, on_line
from services.core.kpis.models import KpiTarget, ManualValue
from services.core.kpis.repository import MonthSum
from services.core.kpis.schemas import AnalysisVersion, Point, Rule
from services.core.kpis.suppression import Suppressor
from services.core.periods import Grain, Period
from services.core.principal import Principal
from services.core.tree import OrgUnit

Sums = dict[tuple[str, date], MonthSum]


def _months_ratio(period: Period, per: Period | Decimal) -> Decimal:
    months = per if isinstance(per, Decimal) else per.length_in_months
    return period.length_in_months / months


def _months_in(grain: str) -> Decimal:
    # December ends a period of every grain; only the length matters here (a week's in
    # months, a year to date's through December: twelve).
    return periods.period_ending(Grain(grain), date(2000, 12, 1)).length_in_months


def bound_value(
    target: KpiTarget, period: Period, baseline: Decimal | None, *, additive: bool
) -> Decimal | None:
    """The target's bound for `period`: its value, a count scaled to the period's length, or
    the baseline period's value (`baseline`, None without data) times the factor."""
    if target.bound == "absolute":
        return target.value
    if target.bound == "count":
        assert target.value is not None and target.per_grain is not None
        return target.value * _months_ratio(period, _months_in(target.per_grain))
    assert target.baseline_period is not None
    if baseline is None:
        return None
    value = baseline * (target.factor or Decimal(1))
    if additive:
        value *= _months_ratio(period, periods.parse(target.baseline_period))
    return value


def progress(start: Period, reach: Period, period: Period) -> Decimal:
    """How far `period` is along the way from `start` to `reach` (0 at the start period, 1 at
    the one to reach the bound by): by months, or by days when weeks are involved."""
    if Grain.week in (start.grain, reach.grain, period.grain):
        span = (reach.end_date - start.end_date).days
        gone = (period.end_date - start.end_date).days
    else:
        span = periods.month_index(reach.last) - periods.month_index(start.last)
        gone = periods.month_index(period.last) - periods.month_index(start.last)
    return Decimal(gone) / Decimal(span)


def target_bound(
    target: KpiTarget,
    period: Period,
    baseline: Decimal | None,
    start: Decimal | None,
    *,
    additive: bool,
) -> Decimal | None:
    """The bound `period` is judged against: `bound_value`, or with `reach_by` the value on
    the straight line from the KPI's value in `start_period` (`start`, scaled to the period's
    length for an amount) to that bound at `reach_by`."""
    end = bound_value(target, period, baseline, additive=additive)
    if target.reach_by is None or end is None:
        return end
    if start is None:
        return None
    assert target.start_period is not None
    begins = periods.parse(target.start_period)
    if additive:
        start *= _months_ratio(period, begins)
    return on_line(start, end, progress(begins, periods.parse(target.reach_by), period))


@dataclass
class Value:
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


def pooled(kpi: KpiDefinition, data: Sums, key: str, p: Period) -> Value:
    """The period's value from the monthly sums under `key` ('' for the unit itself)."""
    sums = [data.get((key, m)) for m in p.months]
    present = [s for s in sums if s is not None]
    zero = (Decimal(0), Decimal(0))
    pairs = [(s.numerator, s.denominator or Decimal(0)) if s else zero for s in sums]
    n, den = kpi.pooled(pairs)
    employees = [s.employees for s in present if s.employees is not None]
    return Value(
        kpi.value(n, den) if present else None,
        n if present else None,
        den if present else None,
        max(employees) if employees else None,
        max((s.computed_at for s in present if s.computed_at), default=None),
        bool(present),
    )


@dataclass
class Context:
    """What computing points for one KPI and org unit needs, with caches for baselines."""

    session: AsyncSession
    settings: Settings
    principal: Principal
    definition: Definition
    unit: OrgUnit
    filters: dict[str, str]
    targets: list[Any]
    suppressor: Suppressor
    # Read once for the sums and the suppressor's passes both.
    facts: repository.FactsState
    baselines: dict[tuple[str, str], Decimal | None] = field(default_factory=dict)

    @property
    def suppresses(self) -> bool:
        """Whether small groups are hidden from this caller for this KPI."""
        return self.definition.person_based and not self.principal.is_admin

    async def hidden_months(self, first: date, last: date, *, own: bool = False) -> set[date]:
        """The months in [first, last] in which this unit's group is hidden, primary and
        secondary (suppression.py); empty for admins and KPIs that are not person-based."""
        if not self.suppresses:
            return set()
        return await self.suppressor.hidden_months(
            self.unit.path, self.filters, first, last, own=own
        )

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
        base = start = None
        if target.bound == "baseline":
            assert target.baseline_period is not None
            if await self.baseline_hidden(target.baseline_period):
                # baseline × factor would give the hidden group's value away
                return None
            base = await self.baseline(target.baseline_period)
        if target.start_period is not None:
            if await self.baseline_hidden(target.start_period):
                # the line from the start value would give the hidden group's value away
                return None
            start = await self.baseline(target.start_period)
        return target_bound(target, period, base, start, additive=self.definition.additive)

    async def baseline(self, label: str) -> Decimal | None:
        key = (self.unit.path, label)
        if key not in self.baselines:
            assert self.definition.computed is not None
            base = periods.parse(label)
            data = await _monthly(self, base.first, base.last, weekly=base.grain is Grain.week)
            self.baselines[key] = pooled(self.definition.computed, data, "", base).value
        return self.baselines[key]

    async def baseline_hidden(self, label: str) -> bool:
        """Whether this unit's group is hidden in the period (a target's baseline or start)
        from this caller."""
        base = periods.parse(label)
        return bool(await self.hidden_months(base.first, base.last))


async def context(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    d: Definition,
    unit: OrgUnit,
    filters: dict[str, str],
) -> Context:
    targets = await repository.targets_for_kpi(session, d.code)
    facts = repository.FactsState(session)
    suppressor = Suppressor(session, d.code, settings.min_group_size, facts=facts)
    return Context(session, settings, principal, d, unit, filters, targets, suppressor, facts)


def _float(value: Decimal | None, places: int = 6) -> float | None:
    return None if value is None else float(round(value, places))


async def _assessed(
    ctx: Context, period: Period, value: Decimal | None, year_before: Decimal | None, **rest: Any
) -> Point:
    """A point with its target, status, deviation, change and trend; `rest` is what differs
    between computed and entered values."""
    target = ctx.target_for(period)
    target_value = await ctx.target_value(target, period) if target is not None else None
    comparator = Comparator(target.comparator) if target is not None else None
    a = assess(value, year_before, target_value, comparator, ctx.definition.better)
    return Point(
        period=period.label,
        value=_float(value),
        target=_float(target_value),
        deviation=_float(a.deviation),
        deviation_pct=_float(a.deviation_pct, 4),
        status=a.status.value,
        change=_float(a.change),
        change_pct=_float(a.change_pct, 4),
        trend=a.trend.value if a.trend else None,
        rule=Rule(
            target_id=str(target.id) if target else None,
            target_version=target.version if target else None,
            tolerance_pct=TREND_TOLERANCE * 100,
        ),
        **rest,
    )


def _hiding_keys(p: Period) -> list[date]:
    """The keys of `hidden` that hide the period: its months, or a week's Monday and the
    months the week lies in (the secondary passes decide per month: a week of a hidden month
    is hidden with it)."""
    if p.grain is Grain.week:
        return [p.first, periods.add_months(p.first, 0), periods.add_months(p.end_date, 0)]
    return p.months


async def _point(ctx: Context, data: Sums, key: str, period: Period, hidden: set[date]) -> Point:
    d = ctx.definition
    assert d.computed is not None
    current = pooled(d.computed, data, key, period)
    before = pooled(d.computed, data, key, period.year_before())

    def suppressed(value: Value, p: Period) -> bool:
        # A period is hidden with any of its months: a quarter minus its shown months would
        # otherwise give the hidden one away (suppression.py).
        small = (value.employees or 0) < ctx.settings.min_group_size
        return value.has_data and (small or any(m in hidden for m in _hiding_keys(p)))

    hide = ctx.suppresses and suppressed(current, period)
    # `change` is the value minus the year before's: shown only when both are.
    hide_before = hide or (ctx.suppresses and suppressed(before, period.year_before()))
    return await _assessed(
        ctx,
        period,
        None if hide else current.value,
        None if hide_before else before.value,
        numerator=None if hide else _float(current.numerator),
        denominator=None if hide else _float(current.denominator),
        suppressed=hide,
        reason="suppressed" if hide else current.reason,
        computed_at=current.computed_at,
    )


# Sums already read in this process, by the facts' state they were read at (repository.
# facts_token): dashboards ask for the same series again and again, and the facts change
# once per recalculation round. Least recently used entries go first.
_SUMS: OrderedDict[tuple[Any, ...], Sums] = OrderedDict()
SUMS_KEPT = 512


async def _monthly(
    ctx: Context,
    first: date,
    last: date,
    *,
    by_child: bool = False,
    weekly: bool = False,
    budget: bool = False,
) -> Sums:
    """repository.monthly of the context's KPI, unit subtree and filters, kept while the facts
    and the org tree stay as they were. Callers must not change what it returns (it may be
    handed to the next caller too). `weekly`: the sums per ISO week (keyed by its Monday)
    instead."""
    kpi, prefix, filters = ctx.definition.code, ctx.unit.path, ctx.filters
    args = (ctx.session, kpi, prefix, first, last, filters)
    token = await ctx.facts.token()
    if token is None:
        return await repository.monthly(*args, by_child=by_child, weekly=weekly, budget=budget)
    flags = (by_child, weekly, budget)
    key = (token, kpi, prefix, first, last, tuple(sorted(filters.items())), *flags)
    if (kept := _SUMS.get(key)) is not None:
        _SUMS.move_to_end(key)
        return kept
    sums = await repository.monthly(*args, by_child=by_child, weekly=weekly, budget=budget)
    _SUMS[key] = sums
    if len(_SUMS) > SUMS_KEPT:
        _SUMS.popitem(last=False)
    return sums


async def month_sums(ctx: Context, wanted: list[Period], *, by_child: bool = False) -> Sums:
    """The months (or weeks) of `wanted` and of the year before them (for change and
    trend)."""
    return await _monthly(
        ctx,
        min(wanted[0].year_before().first, periods.add_months(wanted[0].first, -12)),
        wanted[-1].last,
        by_child=by_child,
        weekly=wanted[0].grain is Grain.week,
    )


async def computed_points(
    ctx: Context,
    wanted: list[Period],
    data: Sums | None = None,
    key: str = "",
    *,
    own: bool = False,
) -> list[Point]:
    """The points of the unit's subtree (from `data` under `key`), or with `own` those of the
    facts booked on the unit itself (`data` grouped by child, key '')."""
    if data is None:
        data = await month_sums(ctx, wanted)
    first = periods.add_months(wanted[0].first, -12)
    hidden: set[date] = set()
    if ctx.suppresses:
        # The small months themselves (a root's whole tree is in no line of the passes)
        hidden = {
            m
            for (k, m), s in data.items()
            if k == key and (s.employees or 0) < ctx.settings.min_group_size
        }
        if ctx.unit.parent_id is not None or ctx.filters or own:
            last = periods.add_months(wanted[-1].end_date, 0)
            hidden |= await ctx.hidden_months(first, last, own=own)
    found = [await _point(ctx, data, key, p, hidden) for p in wanted]
    if ctx.definition.code in BUDGET_OF and wanted[0].grain is not Grain.week:
        found = await _with_budgets(ctx, wanted, found)
    return found


async def _with_budgets(ctx: Context, wanted: list[Period], found: list[Point]) -> list[Point]:
    """Outcome against budget (seed 002's table): each period's budget over the unit's
    subtree, summed over its months, and the value's deviation from it."""
    budgets = await _monthly(ctx, wanted[0].first, wanted[-1].last, budget=True)
    out = []
    for p, point in zip(wanted, found, strict=True):
        months = [budgets["", m] for m in p.months if ("", m) in budgets]
        amount = sum((m.numerator for m in months), Decimal(0)) if months else None
        if not amount:
            out.append(point)
            continue
        deviation = None if point.value is None else Decimal(str(point.value)) - amount
        out.append(
            point.model_copy(
                update={
                    "budget": _float(amount),
                    "budget_deviation": _float(deviation),
                    "budget_deviation_pct": _float(
                        None if deviation is None else 100 * deviation / amount, 4
                    ),
                }
            )
        )
    return out


async def manual_points(ctx: Context, wanted: list[Period]) -> list[Point]:
    first = periods.add_months(wanted[0].first, -12)
    values = await repository.manual_values(
        ctx.session, ctx.definition.code, inputs.unit_id(ctx.unit), first, wanted[-1].last
    )
    by_month = {v.month: v for v in values}

    def latest(p: Period) -> ManualValue | None:
        found = [by_month[m] for m in p.months if m in by_month]
        return found[-1] if found else None

    points = []
    for p in wanted:
        entry, before = latest(p), latest(p.year_before())
        value = entry.value if entry else None
        points.append(
            await _assessed(
                ctx,
                p,
                value,
                before.value if before else None,
                numerator=_float(value),
                denominator=None,
                suppressed=False,
                reason=None if entry else "no_data",
                computed_at=entry.entered_at if entry else None,
                entered_by=entry.entered_by if entry else None,
                entered_at=entry.entered_at if entry else None,
                comment=entry.comment if entry else None,
            )
        )
    return points


async def points(ctx: Context, wanted: list[Period]) -> list[Point]:
    """The unit's own points, computed or entered as the KPI is, with the value published when
    each period was closed (computed and without splits) and the unit's analysis of each."""
    computed = ctx.definition.computed
    if computed is None:
        found = await manual_points(ctx, wanted)
    else:
        found = await computed_points(ctx, wanted)
    notes = await repository.period_notes(
        ctx.session,
        ctx.definition.code,
        inputs.unit_id(ctx.unit),
        [p.label for p in wanted],
        with_published=computed is not None and not ctx.filters,
    )
    if not notes.published and not notes.analyses:
        return found
    out = []
    for p, point in zip(wanted, found, strict=True):
        update: dict[str, Any] = {}
        row = notes.published.get(p.label)
        if row is not None and not point.suppressed:
            assert computed is not None
            update.update(_published(computed, row, point))
        if (written := notes.analyses.get(p.label)) is not None:
            update["analysis"] = AnalysisVersion(
                text=written.text, author=written.author, written_at=written.written_at
            )
        out.append(point.model_copy(update=update) if update else point)
    return out


def _published(computed: KpiDefinition, row: repository.Published, point: Point) -> dict[str, Any]:
    """The value published when the period was closed, and how far the live one has moved
    since."""
    assert row.numerator is not None
    value = _float(computed.value(row.numerator, row.denominator))
    revision = None
    if value is not None and point.value is not None:
        revision = _float(Decimal(str(point.value)) - Decimal(str(value)))
    return {"published_value": value, "published_at": row.published_at, "revision": revision}
