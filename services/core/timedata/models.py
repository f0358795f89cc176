"""Time data fed by HR and finance systems. Each row is keyed by the sender's
`(source, external_id)`; employees appear only as an HMAC pseudonym, never as the sender's id."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, get_args

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from services.core.db import (
    Mirrored,
    NamedCode,
    Timestamps,
    identity_pk,
    one_of,
    timestamptz,
    timestamptz_now,
    touched_at,
    uuid_pk,
)
from services.core.kpis.catalogue import AbsenceType

# `on_call` (jour, on call at the workplace) is working time and breaks rest; `standby`
# (beredskap, reachable at home) is not working time: time called in is sent as `worked`.
TimeType = Literal[
    "scheduled", "worked", "overtime", "extra_time", "on_call", "standby", AbsenceType
]
TIME_TYPES: tuple[str, ...] = get_args(TimeType)
STAFF_KINDS = ("own", "agency")
CONTRACTS = ("permanent", "fixed_term", "hourly")
END_REASONS = ("resignation", "retirement", "end_of_contract", "internal_transfer", "other")
GENDERS = ("female", "male", "other")
COST_CATEGORIES = ("own_staff", "agency", "consultant")
# `personnel` budgets own staff and agency staff together, as annual reports do.
BUDGET_CATEGORIES = ("personnel", "own_staff", "agency", "consultant")
PAY_FORMS = ("monthly", "hourly")


class _Fed(Mirrored):
    """Columns every fed record has: its key in the sender's system, its org unit and
    profession (and the sender's profession code it was mapped from), and mirror timestamps."""

    source: str = Field(sa_type=sa.Text, nullable=False)
    external_id: str = Field(sa_type=sa.Text, nullable=False)
    org_unit_id: int = Field(sa_type=sa.BigInteger, foreign_key="org_units.id", nullable=False)
    profession: str = Field(sa_type=sa.Text, foreign_key="professions.code", nullable=False)
    profession_code: str | None = Field(default=None, sa_type=sa.Text)
    # A hash of the record as a file sent it: an unchanged line sent again is skipped before
    # validation. NULL when the record came another way (a JSON batch).
    content_hash: int | None = Field(default=None, sa_type=sa.BigInteger)


class Profession(Timestamps, NamedCode, table=True):
    __tablename__ = "professions"


class TimeRecord(_Fed, table=True):
    """Partitioned by month on `work_date` (partitions.py makes and drops the partitions). A
    unique key must hold the partition key, so `(source, external_id)` is unique through
    `time_record_keys`, and here only with the date: the upsert's conflict target."""

    __tablename__ = "time_records"
    __table_args__ = (
        sa.UniqueConstraint("source", "external_id", "work_date"),
        sa.CheckConstraint(one_of("staff_kind", STAFF_KINDS), name="staff_kind"),
        sa.CheckConstraint(one_of("time_type", TIME_TYPES), name="time_type"),
        sa.CheckConstraint("hours > 0 AND hours <= 24", name="hours"),
        sa.CheckConstraint(
            "end_at IS NULL OR start_at IS NULL OR end_at > start_at", name="start_before_end"
        ),
        sa.Index("ix_time_records_org_unit_id_work_date", "org_unit_id", "work_date"),
        sa.Index("ix_time_records_employee_work_date", "employee", "work_date"),
        # The KPI engine numbers sick spells over each affected employee's whole history: only
        # their sick days, not every record of theirs in every month's partition.
        sa.Index(
            "ix_time_records_sick_employee_work_date",
            "employee",
            "work_date",
            postgresql_where=sa.text(
                "time_type = 'sick' AND staff_kind = 'own' AND deleted_at IS NULL"
            ),
        ),
        sa.Index("ix_time_records_updated_at_id", "updated_at", "id"),
        {"postgresql_partition_by": "RANGE (work_date)"},
    )

    id: int | None = identity_pk()
    employee: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    staff_kind: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    time_type: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    work_date: date = Field(sa_column=sa.Column(sa.Date, primary_key=True))
    hours: Decimal = Field(sa_column=sa.Column(sa.Numeric(5, 2), nullable=False))
    start_at: datetime | None = Field(default=None, sa_column=timestamptz())
    end_at: datetime | None = Field(default=None, sa_column=timestamptz())
    cost_sek: Decimal | None = Field(default=None, sa_column=sa.Column(sa.Numeric(14, 2)))
    agency: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    assignment_ref: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    time_code: str | None = Field(default=None, sa_column=sa.Column(sa.Text))


class TimeRecordKey(SQLModel, table=True):
    """Where each `(source, external_id)` of time_records lives: its one month. Its primary key
    is the record key's uniqueness across partitions, and its row lock orders writers of one
    key (a record moved to another month is deleted from the old partition)."""

    __tablename__ = "time_record_keys"

    source: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    external_id: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    work_date: date = Field(sa_column=sa.Column(sa.Date, nullable=False))


class Employment(_Fed, table=True):
    __tablename__ = "employments"
    __table_args__ = (
        sa.UniqueConstraint("source", "external_id"),
        sa.CheckConstraint(one_of("contract", CONTRACTS), name="contract"),
        sa.CheckConstraint(
            f"end_reason IS NULL OR {one_of('end_reason', END_REASONS)}", name="end_reason"
        ),
        sa.CheckConstraint(f"gender IS NULL OR {one_of('gender', GENDERS)}", name="gender"),
        sa.CheckConstraint("fte >= 0 AND fte <= 1", name="fte"),
        sa.CheckConstraint(one_of("pay_form", PAY_FORMS), name="pay_form"),
        sa.CheckConstraint("end_date IS NULL OR end_date >= start_date", name="dates"),
        sa.Index("ix_employments_org_unit_id_start_date", "org_unit_id", "start_date"),
        sa.Index("ix_employments_employee", "employee"),
        sa.Index("ix_employments_updated_at_id", "updated_at", "id"),
    )

    id: int | None = identity_pk()
    employee: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    contract: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    fte: Decimal = Field(sa_column=sa.Column(sa.Numeric(4, 3), nullable=False))
    is_manager: bool = Field(sa_column=sa.Column(sa.Boolean, nullable=False))
    start_date: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    end_date: date | None = Field(default=None, sa_column=sa.Column(sa.Date))
    end_reason: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    gender: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    birth_year: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))
    # Monthly-paid (månadsavlönad) or hourly-paid (timavlönad): the reports count monthly-paid
    # staff. Sent, mapped from the sender's code, or else taken from the contract.
    pay_form: str = Field(
        default="monthly",
        sa_column=sa.Column(sa.Text, nullable=False, server_default="monthly"),
    )
    pay_form_code: str | None = Field(default=None, sa_column=sa.Column(sa.Text))


class PersonnelCost(_Fed, table=True):
    __tablename__ = "personnel_costs"
    __table_args__ = (
        sa.UniqueConstraint("source", "external_id"),
        sa.CheckConstraint(one_of("category", COST_CATEGORIES), name="category"),
        sa.CheckConstraint("extract(day FROM period) = 1", name="period_is_month"),
        sa.Index("ix_personnel_costs_org_unit_id_period", "org_unit_id", "period"),
        sa.Index("ix_personnel_costs_updated_at_id", "updated_at", "id"),
    )

    id: int | None = identity_pk()
    period: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    category: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    amount_sek: Decimal = Field(sa_column=sa.Column(sa.Numeric(16, 2), nullable=False))


class Budget(Mirrored, table=True):
    """A cost budget of an org unit for a year or a month (seed 002's outcome against budget),
    fed like the personnel costs and spread evenly over its months."""

    __tablename__ = "budgets"
    __table_args__ = (
        sa.UniqueConstraint("source", "external_id"),
        sa.CheckConstraint(one_of("category", BUDGET_CATEGORIES), name="category"),
        sa.CheckConstraint("first_month <= last_month", name="months"),
        sa.Index("ix_budgets_org_unit_id_first_month", "org_unit_id", "first_month"),
    )

    id: int | None = identity_pk()
    source: str = Field(sa_type=sa.Text, nullable=False)
    external_id: str = Field(sa_type=sa.Text, nullable=False)
    org_unit_id: int = Field(sa_type=sa.BigInteger, foreign_key="org_units.id", nullable=False)
    period: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    first_month: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    last_month: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    category: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    amount_sek: Decimal = Field(sa_column=sa.Column(sa.Numeric(16, 2), nullable=False))
    content_hash: int | None = Field(default=None, sa_type=sa.BigInteger)


class CodeMapping(SQLModel, table=True):
    """The sender's own codes (pay/absence codes, profession codes) mapped to Puls's."""

    __tablename__ = "code_mappings"
    __table_args__ = (
        sa.CheckConstraint("kind IN ('time', 'profession', 'pay_form')", name="kind"),
    )

    source: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    kind: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    code: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    target: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    updated_at: datetime | None = Field(default=None, sa_column=timestamptz_now())


class Import(SQLModel, table=True):
    """A file sent for import, run by the worker."""

    __tablename__ = "imports"
    __table_args__ = (
        sa.CheckConstraint("status IN ('queued', 'running', 'succeeded', 'failed')", name="status"),
        sa.Index("ix_imports_status_created_at", "status", "created_at"),
        sa.Index("ix_imports_updated_at", "updated_at", "id"),
    )

    id: uuid.UUID = uuid_pk()
    kind: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    source: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    status: str = Field(sa_column=sa.Column(sa.Text, nullable=False, server_default="queued"))
    file_path: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    file_format: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    bytes: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    rows_read: int = Field(
        default=0, sa_column=sa.Column(sa.BigInteger, nullable=False, server_default="0")
    )
    counts: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(postgresql.JSONB))
    errors: list[dict[str, Any]] | None = Field(default=None, sa_column=sa.Column(postgresql.JSONB))
    error_count: int = Field(
        default=0, sa_column=sa.Column(sa.BigInteger, nullable=False, server_default="0")
    )
    failure: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    org_path: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    created_by: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    heartbeat_at: datetime | None = Field(default=None, sa_column=timestamptz())
    attempts: int = Field(
        default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0")
    )
    created_at: datetime | None = Field(default=None, sa_column=timestamptz_now())
    started_at: datetime | None = Field(default=None, sa_column=timestamptz())
    finished_at: datetime | None = Field(default=None, sa_column=timestamptz())
    updated_at: datetime | None = Field(default=None, sa_column=touched_at())
