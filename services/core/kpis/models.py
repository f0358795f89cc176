"""KPI leaf facts, targets, manual KPIs and recalculation requests."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from services.core.db import Versioned


def _ts(**kwargs: Any) -> Any:
    return sa.Column(sa.DateTime(timezone=True), **kwargs)


class KpiFact(SQLModel, table=True):
    """Numerator and denominator of one KPI for one leaf cell: org unit × month × the
    dimensions the KPI can be split by ('' where a dimension does not apply or is unknown).
    Every period and every org subtree sums these; nothing else is stored pre-aggregated."""

    __tablename__ = "kpi_facts"

    # Derived data, rewritten wholesale: no foreign key (org units are never hard-deleted and
    # a check per written row would cost more than the row).
    org_unit_id: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True))
    month: date = Field(sa_column=sa.Column(sa.Date, primary_key=True))
    kpi: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    profession: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    staff_kind: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    gender: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    age_band: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    numerator: Decimal = Field(sa_column=sa.Column(sa.Numeric, nullable=False))
    denominator: Decimal | None = Field(default=None, sa_column=sa.Column(sa.Numeric))
    # Distinct employees behind the cell (None for money): for suppression of small groups.
    employees: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))
    computed_at: datetime | None = Field(
        default=None, sa_column=_ts(nullable=False, server_default=sa.func.now())
    )


class KpiCellTotal(SQLModel, table=True):
    """The facts of a cell summed over their dimensions: unfiltered series (the dashboards'
    usual question) read a few rows per unit and month instead of every split."""

    __tablename__ = "kpi_cell_totals"
    __table_args__ = (sa.Index("ix_kpi_cell_totals_kpi_month", "kpi", "month"),)

    org_unit_id: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True))
    month: date = Field(sa_column=sa.Column(sa.Date, primary_key=True))
    kpi: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    numerator: Decimal = Field(sa_column=sa.Column(sa.Numeric, nullable=False))
    denominator: Decimal | None = Field(default=None, sa_column=sa.Column(sa.Numeric))
    employees: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))
    computed_at: datetime | None = Field(
        default=None, sa_column=_ts(nullable=False, server_default=sa.func.now())
    )


class KpiTarget(Versioned, table=True):
    __tablename__ = "kpi_targets"
    __table_args__ = (
        sa.CheckConstraint("comparator IN ('lte', 'gte')", name="comparator"),
        sa.CheckConstraint("bound IN ('absolute', 'baseline', 'count')", name="bound"),
        sa.Index("ix_kpi_targets_kpi", "kpi"),
        sa.Index("ix_kpi_targets_updated_at_id", "updated_at", "id"),
    )

    id: uuid.UUID = Field(
        default_factory=uuid.uuid4,
        sa_column=sa.Column(sa.Uuid, primary_key=True, server_default=sa.text("gen_random_uuid()")),
    )
    kpi: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    org_unit_id: int = Field(
        sa_column=sa.Column(sa.BigInteger, sa.ForeignKey("org_units.id"), nullable=False)
    )
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
    changed_at: datetime | None = Field(
        default=None, sa_column=_ts(nullable=False, server_default=sa.func.now())
    )


class ManualKpi(Versioned, table=True):
    """A hand-entered KPI (an engagement index, a survey outcome): values are posted, not
    computed."""

    __tablename__ = "manual_kpis"

    code: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    name_en: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    name_sv: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
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
    org_unit_id: int = Field(
        sa_column=sa.Column(sa.BigInteger, sa.ForeignKey("org_units.id"), primary_key=True)
    )
    month: date = Field(sa_column=sa.Column(sa.Date, primary_key=True))
    value: Decimal = Field(sa_column=sa.Column(sa.Numeric, nullable=False))
    comment: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    entered_by: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    entered_at: datetime | None = Field(
        default=None, sa_column=_ts(nullable=False, server_default=sa.func.now())
    )


class Recalculation(SQLModel, table=True):
    """An admin's request to recompute a scope (all, a subtree, a month range)."""

    __tablename__ = "kpi_recalculations"

    id: uuid.UUID = Field(
        default_factory=uuid.uuid4,
        sa_column=sa.Column(sa.Uuid, primary_key=True, server_default=sa.text("gen_random_uuid()")),
    )
    org_unit_id: int | None = Field(
        default=None, sa_column=sa.Column(sa.BigInteger, sa.ForeignKey("org_units.id"))
    )
    from_month: date | None = Field(default=None, sa_column=sa.Column(sa.Date))
    to_month: date | None = Field(default=None, sa_column=sa.Column(sa.Date))
    status: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    cells: int = Field(
        default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0")
    )
    requested_by: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    error: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    details: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(postgresql.JSONB))
    created_at: datetime | None = Field(
        default=None, sa_column=_ts(nullable=False, server_default=sa.func.now())
    )
    finished_at: datetime | None = Field(default=None, sa_column=_ts())
