"""The computed KPIs of DESIGN.md, exactly as defined there.

Each KPI is stored per leaf org unit and month as a numerator and a denominator; a period's value
pools them (never averages percentages). How the months of a period combine depends on what is
counted: flows (hours, money, endings) add up over the months, stocks (headcount on the last day)
are read at the period's last month, and turnover divides ended employments by the average
permanent headcount of the period's month-ends."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum, StrEnum
from typing import Literal, get_args

from services.core.kpis.models import WEEK_MEASURES


class Unit(Enum):
    percent = "percent"
    hours = "hours"
    weeks = "weeks"
    sek = "sek"
    count = "count"
    ratio = "ratio"


class Direction(Enum):
    lower = "lower"
    higher = "higher"
    none = "none"


class Temporal(StrEnum):
    flow = "flow"  # sum over the period's months
    stock = "stock"  # the value at the period's last month
    mean = "mean"  # the mean over the period's months (of a stock)


# The time types that are absence (presence_pct's `absent`); the fed time types include them.
AbsenceType = Literal[
    "sick",
    "vacation",
    "parental_leave",
    "child_care",
    "leave_of_absence",
    "training",
    "other_absence",
]
ABSENCE_TYPES: tuple[str, ...] = get_args(AbsenceType)
TIME_DIMENSIONS = ("profession", "staff_kind", "gender", "age_band")
# Staff facts are split by pay form; a read without a `pay_form` filter counts monthly-paid
# staff (as the annual reports do: "905 monthly-paid").
PERSON_DIMENSIONS = ("profession", "gender", "age_band", "pay_form")
COST_DIMENSIONS = ("profession",)


@dataclass(frozen=True)
class KpiDefinition:
    code: str
    name_en: str
    name_sv: str
    unit: Unit
    better: Direction
    formula: str
    dimensions: tuple[str, ...]
    scale: Decimal = Decimal(1)
    numerator: Temporal = Temporal.flow
    denominator: Temporal | None = Temporal.flow  # None: the value is the numerator alone
    # A KPI whose value counts people can identify them when the group is small.
    person_based: bool = True
    # The grains it has values for (None: every grain).
    grains: tuple[str, ...] | None = None

    def pooled(self, months: Sequence[tuple[Decimal, Decimal]]) -> tuple[Decimal, Decimal | None]:
        """Numerator and denominator of a period from its months' (n, d), oldest first."""
        n = _combine(self.numerator, [m[0] for m in months])
        if self.denominator is None:
            return n, None
        return n, _combine(self.denominator, [m[1] for m in months])

    def value(self, numerator: Decimal, denominator: Decimal | None) -> Decimal | None:
        """The value, or None when the denominator is zero (no data to divide by)."""
        if self.denominator is None:
            return self.scale * numerator
        if not denominator:
            return None
        return self.scale * numerator / denominator


def _combine(temporal: Temporal, values: list[Decimal]) -> Decimal:
    if not values:
        return Decimal(0)
    match temporal:
        case Temporal.flow:
            return sum(values, Decimal(0))
        case Temporal.stock:
            return values[-1]
        case Temporal.mean:
            return sum(values, Decimal(0)) / len(values)
    raise AssertionError(temporal)  # pragma: no cover


_PCT = Decimal(100)
_D = KpiDefinition

CATALOGUE: dict[str, KpiDefinition] = {
    d.code: d
    for d in [
        _D(
            "sick_leave_pct",
            "Sick leave",
            "Sjukfrånvaro",
            Unit.percent,
            Direction.lower,
            "100 × own sick hours / own scheduled hours",
            TIME_DIMENSIONS,
            _PCT,
        ),
        _D(
            "sick_leave_short_pct",
            "Short-term sick leave (day 1–14)",
            "Korttidssjukfrånvaro (dag 1–14)",
            Unit.percent,
            Direction.lower,
            "100 × own sick hours on day 1–14 of a spell / own scheduled hours",
            TIME_DIMENSIONS,
            _PCT,
        ),
        _D(
            "sick_leave_long_pct",
            "Long-term sick leave (day 15+)",
            "Långtidssjukfrånvaro (dag 15–)",
            Unit.percent,
            Direction.lower,
            "100 × own sick hours on day 15+ of a spell / own scheduled hours",
            TIME_DIMENSIONS,
            _PCT,
        ),
        _D(
            "sick_leave_60plus_share_pct",
            "Share of sick leave in spells of 60+ days",
            "Andel sjukfrånvaro 60 dagar eller mer",
            Unit.percent,
            Direction.lower,
            "100 × own sick hours of spells lasting 60 calendar days or more (all of the "
            "spell's hours) / all own sick hours",
            TIME_DIMENSIONS,
            _PCT,
        ),
        _D(
            "presence_pct",
            "Presence",
            "Närvaro",
            Unit.percent,
            Direction.higher,
            "100 × own worked hours inside the schedule (each day at most its scheduled "
            "hours) / own scheduled hours",
            TIME_DIMENSIONS,
            _PCT,
        ),
        _D(
            "absence_pct",
            "Absence",
            "Frånvaro",
            Unit.percent,
            Direction.lower,
            "100 × own absence hours (every absence type) / own scheduled hours",
            TIME_DIMENSIONS,
            _PCT,
        ),
        _D(
            "extended_presence_pct",
            "Extended presence",
            "Utökad närvaro",
            Unit.percent,
            Direction.lower,
            "100 × (own overtime + extra time + hourly-paid staff's worked hours) / "
            "monthly-paid staff's scheduled hours",
            TIME_DIMENSIONS,
            _PCT,
        ),
        _D(
            "overtime_hours",
            "Overtime",
            "Övertid",
            Unit.hours,
            Direction.lower,
            "own overtime hours",
            TIME_DIMENSIONS,
            denominator=None,
        ),
        _D(
            "extra_time_hours",
            "Extra time (part-timers)",
            "Mertid",
            Unit.hours,
            Direction.lower,
            "own extra_time hours",
            TIME_DIMENSIONS,
            denominator=None,
        ),
        _D(
            "on_call_hours",
            "On-call hours (jour)",
            "Jourtimmar",
            Unit.hours,
            Direction.lower,
            "own on_call hours (on call at the workplace: working time)",
            TIME_DIMENSIONS,
            denominator=None,
        ),
        _D(
            "quick_returns",
            "Quick returns",
            "Snabba vändor",
            Unit.count,
            Direction.lower,
            "stretches off between consecutive own shifts shorter than the daily rest rule's "
            "minimum, counted at the shift after them",
            TIME_DIMENSIONS,
            denominator=None,
        ),
        _D(
            "agency_hours_share_pct",
            "Agency staff share of worked hours",
            "Andel inhyrd personal (timmar)",
            Unit.percent,
            Direction.lower,
            "100 × agency worked hours / (own + agency worked hours)",
            ("profession",),
            _PCT,
        ),
        _D(
            "agency_hours",
            "Agency staff hours",
            "Timmar inhyrd personal",
            Unit.hours,
            Direction.lower,
            "agency worked hours",
            ("profession",),
            denominator=None,
        ),
        _D(
            "agency_doctor_weeks",
            "Agency doctor weeks",
            "Hyrläkarveckor",
            Unit.weeks,
            Direction.lower,
            "agency worked hours of doctors / 40",
            (),
            Decimal(1) / 40,
            denominator=None,
        ),
        _D(
            "agency_cost_sek",
            "Agency staff cost",
            "Kostnad för inhyrd personal",
            Unit.sek,
            Direction.lower,
            "personnel cost of category agency",
            COST_DIMENSIONS,
            denominator=None,
            person_based=False,
        ),
        _D(
            "agency_cost_share_pct",
            "Agency staff share of personnel cost",
            "Andel kostnad för inhyrd personal",
            Unit.percent,
            Direction.lower,
            "100 × agency cost / (own staff + agency cost)",
            COST_DIMENSIONS,
            _PCT,
            person_based=False,
        ),
        _D(
            "personnel_cost_sek",
            "Personnel cost",
            "Personalkostnad",
            Unit.sek,
            Direction.lower,
            "own staff + agency cost",
            COST_DIMENSIONS,
            denominator=None,
            person_based=False,
        ),
        _D(
            "consultant_cost_sek",
            "Consultant cost",
            "Konsultkostnad",
            Unit.sek,
            Direction.lower,
            "cost of category consultant",
            COST_DIMENSIONS,
            denominator=None,
            person_based=False,
        ),
        _D(
            "headcount",
            "Headcount",
            "Antal anställda",
            Unit.count,
            Direction.none,
            "monthly-paid employees with an active employment on the month's last day",
            PERSON_DIMENSIONS,
            numerator=Temporal.stock,
            denominator=None,
        ),
        _D(
            "fte",
            "Full-time equivalents",
            "Årsarbetare",
            Unit.count,
            Direction.none,
            "sum of fte of monthly-paid employees active on the month's last day",
            PERSON_DIMENSIONS,
            numerator=Temporal.stock,
            denominator=None,
        ),
        _D(
            "permanent_share_pct",
            "Permanent employment",
            "Andel tillsvidareanställda",
            Unit.percent,
            Direction.higher,
            "100 × permanent / (permanent + fixed-term) headcount",
            PERSON_DIMENSIONS,
            _PCT,
            numerator=Temporal.stock,
            denominator=Temporal.stock,
        ),
        _D(
            "full_time_share_pct",
            "Full-time employment",
            "Andel heltidsanställda",
            Unit.percent,
            Direction.higher,
            "100 × monthly-paid with fte ≥ 1 / monthly-paid headcount",
            PERSON_DIMENSIONS,
            _PCT,
            numerator=Temporal.stock,
            denominator=Temporal.stock,
        ),
        _D(
            "employees_per_manager",
            "Employees per manager",
            "Antal medarbetare per chef",
            Unit.ratio,
            Direction.lower,
            "monthly-paid non-managers / managers",
            ("profession", "pay_form"),
            numerator=Temporal.stock,
            denominator=Temporal.stock,
        ),
        _D(
            "turnover_pct",
            "Staff turnover",
            "Personalrörlighet",
            Unit.percent,
            Direction.lower,
            "100 × permanent employments ended in the period (not internal transfers) / "
            "average permanent headcount of its month-ends",
            PERSON_DIMENSIONS,
            _PCT,
            numerator=Temporal.flow,
            denominator=Temporal.mean,
        ),
        _D(
            "new_hires",
            "New hires",
            "Nyanställda",
            Unit.count,
            Direction.none,
            "employments starting in the period, not after an internal transfer",
            PERSON_DIMENSIONS,
            denominator=None,
        ),
        _D(
            "women_share_pct",
            "Women",
            "Andel kvinnor",
            Unit.percent,
            Direction.none,
            "100 × women / headcount",
            ("profession", "age_band", "pay_form"),
            _PCT,
            numerator=Temporal.stock,
            denominator=Temporal.stock,
        ),
        _D(
            "women_managers_share_pct",
            "Women among managers",
            "Andel kvinnor bland chefer",
            Unit.percent,
            Direction.none,
            "100 × women managers / managers",
            ("profession", "age_band", "pay_form"),
            _PCT,
            numerator=Temporal.stock,
            denominator=Temporal.stock,
        ),
        _D(
            "recovery_pct",
            "Recovery",
            "Återhämtning",
            Unit.percent,
            Direction.higher,
            "100 × monthly-paid employees employed all summer with four consecutive weeks of "
            "vacation in June–August / monthly-paid employees employed all summer",
            PERSON_DIMENSIONS,
            _PCT,
            grains=("year",),
        ),
        _D(
            "rest_violations",
            "Rest rule violations",
            "Brott mot dygns- och veckovila",
            Unit.count,
            Direction.lower,
            "daily and weekly rest periods below the working-time rules' minimum",
            ("profession",),
            denominator=None,
        ),
        _D(
            "agency_policy_violation_hours",
            "Agency hours against policy",
            "Timmar inhyrd personal i strid med beslut",
            Unit.hours,
            Direction.lower,
            "agency staff hours worked where a policy bans them, without an exemption",
            ("profession",),
            denominator=None,
        ),
    ]
}


@dataclass(frozen=True)
class Measure:
    """Where a computed KPI's numerator and denominator are stored: expressions over the
    measures of one kind of fact row (models.MEASURES)."""

    kind: str
    numerator: str
    denominator: str | None = None


MEASURE_OF: dict[str, Measure] = {
    "sick_leave_pct": Measure("time", "sick", "scheduled"),
    "sick_leave_short_pct": Measure("time", "sick_short", "scheduled"),
    "sick_leave_long_pct": Measure("time", "sick_long", "scheduled"),
    "sick_leave_60plus_share_pct": Measure("time", "sick_60", "sick"),
    "presence_pct": Measure("time", "present", "scheduled"),
    "absence_pct": Measure("time", "absent", "scheduled"),
    "extended_presence_pct": Measure(
        "time", "overtime + extra_time + worked_hourly", "scheduled_monthly"
    ),
    "overtime_hours": Measure("time", "overtime"),
    "extra_time_hours": Measure("time", "extra_time"),
    "on_call_hours": Measure("time", "on_call"),
    "quick_returns": Measure("time", "quick_returns"),
    "agency_hours_share_pct": Measure("worked", "worked_agency", "worked"),
    "agency_hours": Measure("worked", "worked_agency"),
    "agency_doctor_weeks": Measure("worked", "worked_agency_doctor"),
    "agency_cost_sek": Measure("cost", "cost_agency"),
    "agency_cost_share_pct": Measure("cost", "cost_agency", "cost_total"),
    "personnel_cost_sek": Measure("cost", "cost_total"),
    "consultant_cost_sek": Measure("cost", "cost_consultant"),
    "headcount": Measure("staff", "headcount"),
    "fte": Measure("staff", "fte"),
    "permanent_share_pct": Measure("staff", "permanent", "permanent + fixed_term"),
    "full_time_share_pct": Measure("staff", "full_time", "monthly_paid"),
    "employees_per_manager": Measure("staff", "non_managers", "managers"),
    "turnover_pct": Measure("staff", "ended", "permanent"),
    "new_hires": Measure("staff", "hires"),
    "women_share_pct": Measure("staff", "women", "headcount"),
    "women_managers_share_pct": Measure("staff", "women_managers", "managers"),
    "recovery_pct": Measure("staff", "recovered", "summer_staff"),
    "rest_violations": Measure("rest", "violations"),
    "agency_policy_violation_hours": Measure("agency_policy", "violation_hours"),
}
assert MEASURE_OF.keys() == CATALOGUE.keys(), "every computed KPI needs its measure"


def _weekly(m: Measure) -> bool:
    names = set(re.findall(r"[a-z_0-9]+", f"{m.numerator} {m.denominator or ''}"))
    return names <= set(WEEK_MEASURES.get(m.kind, ()))


# The KPIs with a `week` grain: those whose measures the week facts keep.
WEEKLY = frozenset(code for code, m in MEASURE_OF.items() if _weekly(m))

# The cost KPIs' budgets: the cost facts' measure holding each one's budget.
BUDGET_OF: dict[str, str] = {
    "personnel_cost_sek": "budget_total",
    "agency_cost_sek": "budget_agency",
    "consultant_cost_sek": "budget_consultant",
}
