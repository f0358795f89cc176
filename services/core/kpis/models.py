"""KPI leaf facts and the dirty marks of the cells to recompute, targets, manual KPIs and
recalculation requests."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from services.core.db import (
    NamedCode,
    Versioned,
    identity_pk,
    org_unit_fk,
    timestamptz,
    timestamptz_now,
    touched_at,
    uuid_pk,
)

# What the recalculation measures per cell, by the kind of row that carries it. A KPI reads one
# kind's measures (the catalogue says which): one wide row per cell and split instead of one row
# per KPI keeps the facts about a fifth as many rows, written and read in one go.
MEASURES: dict[str, tuple[str, ...]] = {
    # Own staff's hours (time records).
    "time": (
        "scheduled",
        "sick",
        "sick_short",
        "sick_long",
        "sick_60",
        "absent",
        "overtime",
        "extra_time",
        "on_call",
        # Rest stretches between consecutive shifts shorter than the daily rest rule's minimum,
        # counted at the shift after them (filled by compliance's cell hook).
        "quick_returns",
        # Worked hours inside the schedule (per employee and day, at most the scheduled).
        "present",
        "scheduled_monthly",
        "worked_hourly",
    ),
    # Worked hours of own and agency staff.
    "worked": ("worked", "worked_agency", "worked_agency_doctor"),
    # Employments at the month's end (ended, hires: during the month; summer_staff,
    # recovered: in August, of the summer).
    "staff": (
        "headcount",
        "fte",
        "permanent",
        "fixed_term",
        "monthly_paid",
        "full_time",
        "managers",
        "ended",
        "non_managers",
        "women",
        "women_managers",
        "hires",
        "summer_staff",
        "recovered",
    ),
    # Budgets: a year's spread evenly over its months (`personnel` counts in budget_total).
    "cost": (
        "cost_agency",
        "cost_total",
        "cost_consultant",
        "budget_total",
        "budget_agency",
        "budget_consultant",
    ),
    "rest": ("violations",),
    "agency_policy": ("violation_hours",),
}
MEASURE_COLUMNS: tuple[str, ...] = tuple(m for ms in MEASURES.values() for m in ms)
# The measures kept per ISO week too (kpi_week_facts): plain sums of hours, no sick spells.
WEEK_MEASURES: dict[str, tuple[str, ...]] = {
    "time": (
        "scheduled",
        "sick",
        "absent",
        "overtime",
        "extra_time",
        "on_call",
        "present",
        "scheduled_monthly",
        "worked_hourly",
    ),
    "worked": MEASURES["worked"],
}


class _Measures(SQLModel):
    # Distinct employees behind the row (None for money): for suppression of small groups.
    employees: int | None = Field(default=None, sa_type=sa.Integer)
    scheduled: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    sick: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    sick_short: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    sick_long: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    sick_60: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    absent: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    overtime: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    extra_time: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    on_call: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    quick_returns: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    present: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    scheduled_monthly: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    worked_hourly: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    worked: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    worked_agency: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    worked_agency_doctor: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    headcount: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    fte: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    permanent: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    fixed_term: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    monthly_paid: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    full_time: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    managers: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    ended: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    non_managers: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    women: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    women_managers: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    hires: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    summer_staff: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    recovered: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    cost_agency: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    cost_total: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    cost_consultant: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    budget_total: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    budget_agency: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    budget_consultant: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    violations: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    violation_hours: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    computed_at: datetime | None = Field(
        default=None,
        sa_type=sa.DateTime(timezone=True),
        sa_column_kwargs={"nullable": False, "server_default": sa.func.now()},
    )


class KpiFact(_Measures, table=True):
    """The measures of one kind for one leaf cell: org unit × month × the dimensions the kind
    can be split by ('' where a dimension does not apply or is unknown). Every period and every
    org subtree sums these; nothing else is stored pre-aggregated."""

    __tablename__ = "kpi_facts"

    # Derived data, rewritten wholesale: no foreign key (org units are never hard-deleted and
    # a check per written row would cost more than the row).
    org_unit_id: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True))
    month: date = Field(sa_column=sa.Column(sa.Date, primary_key=True))
    kind: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    profession: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    staff_kind: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    gender: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    age_band: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    # 'monthly' | 'hourly' for staff rows, '' for the others. Hourly-paid rows are left out of
    # every read that does not ask for them (the reports count monthly-paid staff).
    pay_form: str = Field(
        default="", sa_column=sa.Column(sa.Text, primary_key=True, server_default="")
    )

    # The distinct employees behind the row as 32-bit numbers (facts.PERSON_ID, sorted, None
    # for money), so any filter and any combination of rows counts distinct employees, never a
    # sum over split rows: an employee with two professions in a month is one person.
    people: list[int] | None = Field(
        default=None, sa_column=sa.Column(postgresql.ARRAY(sa.Integer))
    )


class KpiWeekFact(_Measures, table=True):
    """The time and worked-hours measures of one leaf unit, ISO week (its Monday) and
    profession: the `week` grain of the time KPIs (seed 003 follows locum use per week). A
    recalculated month recomputes every week it touches, reading the neighbouring months'
    days of the weeks that straddle its ends."""

    __tablename__ = "kpi_week_facts"
    __table_args__ = (sa.Index("ix_kpi_week_facts_kind_week", "kind", "week"),)

    org_unit_id: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True))
    week: date = Field(sa_column=sa.Column(sa.Date, primary_key=True))
    kind: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    profession: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    # As KpiFact's: the distinct employees behind the row, so a week read over professions
    # counts an employee with two of them once.
    people: list[int] | None = Field(
        default=None, sa_column=sa.Column(postgresql.ARRAY(sa.Integer))
    )


class KpiCellTotal(_Measures, table=True):
    """The facts of a cell and kind summed over their dimensions: unfiltered series (the
    dashboards' usual question) read one row per unit and month instead of every split.
    `employees` is the distinct employees of the cell (the union of its facts' `people`)."""

    __tablename__ = "kpi_cell_totals"
    __table_args__ = (sa.Index("ix_kpi_cell_totals_kind_month", "kind", "month"),)

    org_unit_id: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True))
    month: date = Field(sa_column=sa.Column(sa.Date, primary_key=True))
    kind: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))


class KpiFactsVersion(SQLModel, table=True):
    """Which state of the facts readers see: a new random id with every recalculation round,
    committed with its facts, so a process may keep sums it read until the facts change. (An
    id, not a counter: a restored or reset database never repeats one of another state.)"""

    __tablename__ = "kpi_facts_version"
    __table_args__ = (sa.CheckConstraint("id", name="one_row"),)

    id: bool = Field(
        default=True, sa_column=sa.Column(sa.Boolean, primary_key=True, server_default=sa.true())
    )
    version: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, nullable=False))
    changed_at: datetime | None = Field(default=None, sa_column=timestamptz_now())


class KpiTarget(Versioned, table=True):
    __tablename__ = "kpi_targets"
    __table_args__ = (
        sa.CheckConstraint("comparator IN ('lte', 'gte', 'lt', 'gt')", name="comparator"),
        sa.CheckConstraint("bound IN ('absolute', 'baseline', 'count')", name="bound"),
        sa.Index("ix_kpi_targets_kpi", "kpi"),
        sa.Index("ix_kpi_targets_updated_at_id", "updated_at", "id"),
    )

    id: uuid.UUID = uuid_pk()
    kpi: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    org_unit_id: int = Field(sa_column=org_unit_fk(nullable=False))
    include_subtree: bool = Field(
        default=True, sa_column=sa.Column(sa.Boolean, nullable=False, server_default="true")
    )
    profession: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    comparator: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    bound: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    value: Decimal | None = Field(default=None, sa_column=sa.Column(sa.Numeric))
    per_grain: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    baseline_period: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    factor: Decimal | None = Field(default=None, sa_column=sa.Column(sa.Numeric))
    valid_from: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    valid_to: date | None = Field(default=None, sa_column=sa.Column(sa.Date))
    description: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    # A bound to reach by a period: from the KPI's value in `start_period` in a straight line
    # to the bound at `reach_by`, each period judged against the line's value there.
    reach_by: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    start_period: str | None = Field(default=None, sa_column=sa.Column(sa.Text))


class KpiTargetState(SQLModel, table=True):
    """The last status published for a target at its own org unit and a month, so crossing the
    target publishes one event, not one per recomputation."""

    __tablename__ = "kpi_target_states"

    target_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("kpi_targets.id", ondelete="CASCADE"), primary_key=True
        )
    )
    month: date = Field(sa_column=sa.Column(sa.Date, primary_key=True))
    status: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    changed_at: datetime | None = Field(default=None, sa_column=timestamptz_now())


class ManualKpi(Versioned, NamedCode, table=True):
    """A hand-entered KPI (an engagement index, a survey outcome): values are posted, not
    computed."""

    __tablename__ = "manual_kpis"

    unit: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    better: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    grains: list[str] = Field(
        default_factory=list, sa_column=sa.Column(postgresql.ARRAY(sa.Text), nullable=False)
    )
    description: str | None = Field(default=None, sa_column=sa.Column(sa.Text))


class ManualValue(SQLModel, table=True):
    __tablename__ = "manual_kpi_values"

    kpi: str = Field(
        sa_column=sa.Column(sa.Text, sa.ForeignKey("manual_kpis.code"), primary_key=True)
    )
    org_unit_id: int = Field(sa_column=org_unit_fk(primary_key=True))
    month: date = Field(sa_column=sa.Column(sa.Date, primary_key=True))
    value: Decimal = Field(sa_column=sa.Column(sa.Numeric, nullable=False))
    comment: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    entered_by: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    entered_at: datetime | None = Field(default=None, sa_column=timestamptz_now())
    # Its ETag: a later value for the same unit and period replaces it.
    version: int = Field(
        default=1, sa_column=sa.Column(sa.Integer, nullable=False, server_default="1")
    )


class Recalculation(SQLModel, table=True):
    """An admin's request to recompute a scope (all, a subtree, a month range)."""

    __tablename__ = "kpi_recalculations"
    __table_args__ = (sa.Index("ix_kpi_recalculations_updated_at", "updated_at", "id"),)

    id: uuid.UUID = uuid_pk()
    org_unit_id: int | None = Field(default=None, sa_column=org_unit_fk())
    from_month: date | None = Field(default=None, sa_column=sa.Column(sa.Date))
    to_month: date | None = Field(default=None, sa_column=sa.Column(sa.Date))
    status: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    cells: int = Field(
        default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0")
    )
    requested_by: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    error: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    details: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(postgresql.JSONB))
    created_at: datetime | None = Field(default=None, sa_column=timestamptz_now())
    finished_at: datetime | None = Field(default=None, sa_column=timestamptz())
    updated_at: datetime | None = Field(default=None, sa_column=touched_at())


class DirtyCell(SQLModel, table=True):
    """An (org unit, month) whose KPI facts must be recomputed. Written in the same transaction
    as the data change, so a lost Redis job is found again by the sweep."""

    __tablename__ = "kpi_dirty_cells"

    org_unit_id: int = Field(sa_column=org_unit_fk(primary_key=True))
    month: date = Field(sa_column=sa.Column(sa.Date, primary_key=True))
    marked_at: datetime | None = Field(default=None, sa_column=timestamptz_now())
    # Marked by a recalculation because a sick spell it recomputed reaches into this month,
    # not because its data changed: recomputing it marks no further months (or marks would
    # chase each other back and forth along a spell forever).
    spill: bool = Field(
        default=False, sa_column=sa.Column(sa.Boolean, nullable=False, server_default="false")
    )


class KpiAnalysis(SQLModel, table=True):
    """A unit's written analysis of a KPI for a period, printed beside the figure (seed 002).
    Every version is kept; the latest is the current one."""

    __tablename__ = "kpi_analyses"
    __table_args__ = (
        sa.Index("ix_kpi_analyses_kpi_org_unit_id_period", "kpi", "org_unit_id", "period"),
    )

    id: int | None = identity_pk()
    kpi: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    org_unit_id: int = Field(sa_column=org_unit_fk(nullable=False))
    period: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    text: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    author: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    written_at: datetime | None = Field(default=None, sa_column=timestamptz_now())


class KpiPeriodClosure(SQLModel, table=True):
    """A period closed for reporting: its figures were published (`kpi_published`) at
    `closed_at`. Reopening (with a reason) ends the closure; the published figures stay what
    was reported until the period is closed again."""

    __tablename__ = "kpi_period_closures"
    __table_args__ = (
        sa.Index(
            "uq_kpi_period_closures_open",
            "period",
            unique=True,
            postgresql_where=sa.text("reopened_at IS NULL"),
        ),
    )

    id: int | None = identity_pk()
    period: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    closed_by: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    closed_at: datetime | None = Field(default=None, sa_column=timestamptz_now())
    reopened_by: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    reopened_at: datetime | None = Field(default=None, sa_column=timestamptz())
    reopen_reason: str | None = Field(default=None, sa_column=sa.Column(sa.Text))


class KpiPublished(SQLModel, table=True):
    """A computed KPI's point as published when its period was closed: per org unit (its
    subtree pooled, no split), the numerator and denominator, so the report can be reproduced
    while the live figures keep improving."""

    __tablename__ = "kpi_published"

    period: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    kpi: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    org_unit_id: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True))
    numerator: Decimal | None = Field(default=None, sa_column=sa.Column(sa.Numeric))
    denominator: Decimal | None = Field(default=None, sa_column=sa.Column(sa.Numeric))
    published_at: datetime | None = Field(default=None, sa_column=timestamptz_now())
