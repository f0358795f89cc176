"""Working-time rules, agency-staff policies with exemptions, and the violations the worker
finds in the time data."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from services.core.db import (
    Versioned,
    identity_pk,
    one_of,
    org_unit_fk,
    timestamptz,
    timestamptz_now,
    uuid_pk,
)

REST_PERIODS = ("rolling", "fixed")
HOLIDAY_CALENDARS = ("sweden",)
EXEMPTION_STATUSES = ("requested", "granted", "rejected")


class WorkingTimeRule(Versioned, table=True):
    __tablename__ = "working_time_rules"
    __table_args__ = (
        sa.CheckConstraint(
            "kind IN ('daily_rest', 'weekly_rest', 'overtime_month', 'overtime_year')",
            name="kind",
        ),
        sa.CheckConstraint(one_of("period", REST_PERIODS), name="period"),
    )

    id: uuid.UUID = uuid_pk()
    kind: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    name: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    # Rest rules: the least consecutive rest in each window. `rolling`: the 24 hours (7 × 24
    # for weekly rest) from every shift's start; `fixed`: local days (weeks from Monday)
    # starting at `period_start_hour`, the "dygnsbryt".
    min_rest_hours: Decimal | None = Field(default=None, sa_column=sa.Column(sa.Numeric(5, 2)))
    period: str = Field(
        default="rolling",
        sa_column=sa.Column(sa.Text, nullable=False, server_default="rolling"),
    )
    period_start_hour: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))
    # Before this day a breach is an `agreement_deviation` (reported, lower severity), not a
    # violation: an agreement's transition, e.g. the doctors' rules from 2024-02-01.
    enforced_from: date | None = Field(default=None, sa_column=sa.Column(sa.Date))
    # Overtime caps: the most overtime hours in the calendar month or year.
    max_hours: Decimal | None = Field(default=None, sa_column=sa.Column(sa.Numeric(7, 2)))
    professions: list[str] | None = Field(
        default=None, sa_column=sa.Column(postgresql.ARRAY(sa.Text))
    )
    org_unit_id: int | None = Field(default=None, sa_column=org_unit_fk())
    valid_from: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    valid_to: date | None = Field(default=None, sa_column=sa.Column(sa.Date))
    enabled: bool = Field(
        default=True, sa_column=sa.Column(sa.Boolean, nullable=False, server_default="true")
    )


class AgencyPolicy(Versioned, table=True):
    """Agency staff of `professions` in an org subtree are banned from `valid_from`, entirely
    or only within `banned_windows` (local weekday/time windows)."""

    __tablename__ = "agency_policies"
    __table_args__ = (
        sa.CheckConstraint(
            f"holidays IS NULL OR {one_of('holidays', HOLIDAY_CALENDARS)}", name="holidays"
        ),
    )

    id: uuid.UUID = uuid_pk()
    name: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    professions: list[str] = Field(sa_column=sa.Column(postgresql.ARRAY(sa.Text), nullable=False))
    org_unit_id: int = Field(sa_column=org_unit_fk(nullable=False))
    valid_from: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    valid_to: date | None = Field(default=None, sa_column=sa.Column(sa.Date))
    # [{"weekdays": [1, 2, 3, 4, 5], "from": "07:00", "to": "18:00"}]; null bans every hour.
    banned_windows: list[dict[str, Any]] | None = Field(
        # None as SQL NULL (a ban at all hours), not a JSON null that detection would take
        # for a list of windows.
        default=None,
        sa_column=sa.Column(postgresql.JSONB(none_as_null=True)),
    )
    decision_ref: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    # A public-holiday calendar: its holidays count as Sundays (isodow 7) and their eves as
    # Saturdays (6) in `banned_windows`; null: plain weekdays.
    holidays: str | None = Field(default=None, sa_column=sa.Column(sa.Text))


class AgencyExemption(Versioned, table=True):
    """An application for an exemption (`requested`), then `granted` or `rejected`: only a
    granted one allows what the policy bans."""

    __tablename__ = "agency_exemptions"
    __table_args__ = (
        sa.CheckConstraint(one_of("status", EXEMPTION_STATUSES), name="status"),
        sa.CheckConstraint(
            "(status = 'requested') = (decided_by IS NULL)", name="decided_when_decided"
        ),
    )

    id: uuid.UUID = uuid_pk()
    policy_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("agency_policies.id"), nullable=False)
    )
    org_unit_id: int = Field(sa_column=org_unit_fk(nullable=False))
    valid_from: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    valid_to: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    status: str = Field(
        default="granted",
        sa_column=sa.Column(sa.Text, nullable=False, server_default="granted"),
    )
    # Who applied, and why the exemption is needed.
    requested_by: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    reason: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    # The decision: who, when and why (null while requested).
    decided_by: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    decided_at: datetime | None = Field(default=None, sa_column=timestamptz())
    decision_reason: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    decision_ref: str | None = Field(default=None, sa_column=sa.Column(sa.Text))


class Violation(SQLModel, table=True):
    __tablename__ = "compliance_violations"
    __table_args__ = (
        sa.UniqueConstraint("kind", "source_id", "employee", "work_date", "org_unit_id"),
        sa.Index("ix_compliance_violations_unit_date", "org_unit_id", "work_date"),
        sa.Index("ix_compliance_violations_updated_at", "updated_at", "id"),
    )

    id: int | None = identity_pk()
    kind: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    # The rule or policy broken.
    source_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, nullable=False))
    org_unit_id: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    work_date: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    employee: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    profession: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    hours: Decimal = Field(sa_column=sa.Column(sa.Numeric(8, 2), nullable=False))
    cost_sek: Decimal | None = Field(default=None, sa_column=sa.Column(sa.Numeric(14, 2)))
    details: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(postgresql.JSONB))
    detected_at: datetime | None = Field(default=None, sa_column=timestamptz_now())
    # When a reader last saw it change: detection keeps it (and the id) for a violation it
    # finds again unchanged.
    updated_at: datetime | None = Field(default=None, sa_column=timestamptz_now())


class ViolationHistory(SQLModel, table=True):
    """Violations a recalculation no longer finds (a corrected record, a changed rule), as
    they were: a rule change re-checks the cells but never erases what was reported."""

    __tablename__ = "compliance_violation_history"
    __table_args__ = (
        sa.Index("ix_compliance_violation_history_unit_date", "org_unit_id", "work_date"),
        sa.Index("ix_compliance_violation_history_withdrawn_at", "withdrawn_at", "violation_id"),
    )

    id: int | None = identity_pk()
    violation_id: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    kind: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    source_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, nullable=False))
    org_unit_id: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    work_date: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    employee: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    profession: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    hours: Decimal = Field(sa_column=sa.Column(sa.Numeric(8, 2), nullable=False))
    cost_sek: Decimal | None = Field(default=None, sa_column=sa.Column(sa.Numeric(14, 2)))
    details: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(postgresql.JSONB))
    detected_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    withdrawn_at: datetime | None = Field(default=None, sa_column=timestamptz_now())


class Uncheckable(SQLModel, table=True):
    """Shifts in a cell that the rest rules could not check (no start/end times)."""

    __tablename__ = "compliance_uncheckable"

    org_unit_id: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True))
    month: date = Field(sa_column=sa.Column(sa.Date, primary_key=True))
    records: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    hours: Decimal = Field(sa_column=sa.Column(sa.Numeric(10, 2), nullable=False))
