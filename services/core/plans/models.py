"""Action plans (handlingsplaner): plans, their packages and actions, follow-ups, the KPI
targets a plan is meant to move, the area catalogue and the per-plan change history."""

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
    Timestamps,
    Versioned,
    identity_pk,
    one_of,
    org_unit_fk,
    timestamptz,
    timestamptz_now,
    uuid_pk,
)

PLAN_STATUSES = ("draft", "decided", "active", "completed", "cancelled")
ACTION_STATUSES = ("not_started", "in_progress", "done", "postponed", "cancelled")
RAG_STATUSES = ("green", "amber", "red")


def _money() -> Any:
    return Field(default=None, sa_column=sa.Column(sa.Numeric(16, 2)))


def _follow_up_due_index(table: str) -> sa.Index:
    # The reminder scan reads the live report-backs owed, by due date.
    return sa.Index(
        f"ix_{table}_follow_up_due_on",
        "follow_up_due_on",
        postgresql_where=sa.text("follow_up_due_on IS NOT NULL AND deleted_at IS NULL"),
    )


def _follow_up_due_on() -> Any:
    # The next report-back (återrapportering) due, owed by the action's responsible or the
    # plan's owner; recording a follow-up settles it (and may set the next one).
    return Field(default=None, sa_column=sa.Column(sa.Date))


class ActionArea(Timestamps, NamedCode, table=True):
    """The area catalogue (seed 003's 17 areas are seeded); admins extend it."""

    __tablename__ = "action_areas"


class ActionPlan(Versioned, table=True):
    __tablename__ = "action_plans"
    __table_args__ = (
        sa.CheckConstraint(one_of("status", PLAN_STATUSES), name="status"),
        sa.CheckConstraint("period_end >= period_start", name="period"),
        sa.CheckConstraint(
            "NOT no_cost_impact OR no_cost_impact_reason IS NOT NULL",
            name="no_cost_impact_reason",
        ),
        sa.Index("ix_action_plans_updated_at_id", "updated_at", "id"),
        _follow_up_due_index("action_plans"),
    )

    id: uuid.UUID = uuid_pk()
    title: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    purpose: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    org_unit_id: int = Field(sa_column=org_unit_fk(nullable=False, index=True))
    owner_id: uuid.UUID | None = Field(
        default=None, sa_column=sa.Column(sa.Uuid, sa.ForeignKey("people.id"), index=True)
    )
    period_start: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    period_end: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    status: str = Field(default="draft", sa_column=sa.Column(sa.Text, nullable=False))
    decided_at: datetime | None = Field(default=None, sa_column=timestamptz())
    # The meeting decision that adopted the plan.
    decided_by: uuid.UUID | None = Field(
        default=None, sa_column=sa.Column(sa.Uuid, sa.ForeignKey("decisions.id"))
    )
    cost_estimate_sek: Decimal | None = _money()
    expected_saving_sek: Decimal | None = _money()
    calculation_basis: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    # The economic calculation's third form (seed 000: every plan needs one before it is
    # decided): the plan neither costs nor saves, and why.
    no_cost_impact: bool = Field(
        default=False,
        sa_column=sa.Column(sa.Boolean, nullable=False, server_default=sa.false()),
    )
    no_cost_impact_reason: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    # Bumped by every change to the plan's actions: the ETag of the actions collection, so a
    # spreadsheet sync (PUT …/actions) cannot overwrite edits it has not seen.
    actions_version: int = Field(
        default=1, sa_column=sa.Column(sa.Integer, nullable=False, server_default="1")
    )
    follow_up_due_on: date | None = _follow_up_due_on()


class ActionPlanTarget(SQLModel, table=True):
    """A KPI target the plan is meant to move."""

    __tablename__ = "action_plan_targets"

    plan_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("action_plans.id", ondelete="CASCADE"), primary_key=True
        )
    )
    kpi_target_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("kpi_targets.id"), primary_key=True)
    )


class ActionPackage(Versioned, table=True):
    __tablename__ = "action_packages"
    __table_args__ = (sa.Index("ix_action_packages_updated_at_id", "updated_at", "id"),)

    id: uuid.UUID = uuid_pk()
    plan_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("action_plans.id"), nullable=False, index=True)
    )
    name: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    description: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    # Deprecated (one version): the first of `owner_ids`, kept for readers of the old field.
    owner_id: uuid.UUID | None = Field(
        default=None, sa_column=sa.Column(sa.Uuid, sa.ForeignKey("people.id"))
    )
    # In order; seed 003's package 1 has two ("Anna Granevärn och Anita Secher"). People are
    # only ever soft-deleted, so an id here never dangles.
    owner_ids: list[uuid.UUID] = Field(
        default_factory=list,
        sa_column=sa.Column(postgresql.ARRAY(sa.Uuid), nullable=False, server_default="{}"),
    )
    due_date: date | None = Field(default=None, sa_column=sa.Column(sa.Date))
    cost_goal: str | None = Field(default=None, sa_column=sa.Column(sa.Text))


class Action(Versioned, table=True):
    __tablename__ = "actions"
    __table_args__ = (
        sa.UniqueConstraint("plan_id", "code"),
        sa.CheckConstraint(one_of("status", ACTION_STATUSES), name="status"),
        sa.CheckConstraint("progress BETWEEN 0 AND 100", name="progress"),
        sa.CheckConstraint(
            "due_date IS NULL OR start_date IS NULL OR due_date >= start_date", name="dates"
        ),
        sa.Index("ix_actions_updated_at_id", "updated_at", "id"),
        # The overdue scan reads open actions by due date.
        sa.Index(
            "ix_actions_due_date_open",
            "due_date",
            postgresql_where=sa.text("deleted_at IS NULL AND status NOT IN ('done', 'cancelled')"),
        ),
        _follow_up_due_index("actions"),
    )

    id: uuid.UUID = uuid_pk()
    plan_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("action_plans.id"), nullable=False)
    )
    code: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    title: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    description: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    area_code: str | None = Field(
        default=None, sa_column=sa.Column(sa.Text, sa.ForeignKey("action_areas.code"))
    )
    package_id: uuid.UUID | None = Field(
        default=None, sa_column=sa.Column(sa.Uuid, sa.ForeignKey("action_packages.id"), index=True)
    )
    responsible_id: uuid.UUID | None = Field(
        default=None, sa_column=sa.Column(sa.Uuid, sa.ForeignKey("people.id"))
    )
    org_unit_id: int | None = Field(default=None, sa_column=org_unit_fk())
    start_date: date | None = Field(default=None, sa_column=sa.Column(sa.Date))
    due_date: date | None = Field(default=None, sa_column=sa.Column(sa.Date))
    status: str = Field(default="not_started", sa_column=sa.Column(sa.Text, nullable=False))
    progress: int = Field(default=0, sa_column=sa.Column(sa.SmallInteger, nullable=False))
    # Set by the overdue scan (and cleared when the action is finished or its due date moves);
    # `action.overdue` is published when it goes from null to set, so once per overdue spell.
    overdue_since: date | None = Field(default=None, sa_column=sa.Column(sa.Date))
    # The due date `action.due_soon` was published for: once per due date.
    due_soon_notified_for: date | None = Field(default=None, sa_column=sa.Column(sa.Date))
    follow_up_due_on: date | None = _follow_up_due_on()


class FollowUp(Versioned, table=True):
    """A report-back on a plan or one of its actions (seed 004: ongoing work / result)."""

    __tablename__ = "follow_ups"
    __table_args__ = (
        sa.CheckConstraint(one_of("rag", RAG_STATUSES), name="rag"),
        sa.Index("ix_follow_ups_updated_at_id", "updated_at", "id"),
    )

    id: uuid.UUID = uuid_pk()
    plan_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("action_plans.id"), nullable=False, index=True)
    )
    action_id: uuid.UUID | None = Field(
        default=None, sa_column=sa.Column(sa.Uuid, sa.ForeignKey("actions.id"), index=True)
    )
    reported_on: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    ongoing_work: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    result: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    # Optional: seed 004's reports give ongoing work and a result without a colour.
    rag: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    # The meeting it was reported in.
    meeting_id: uuid.UUID | None = Field(
        default=None, sa_column=sa.Column(sa.Uuid, sa.ForeignKey("meetings.id"))
    )


class PlanHistory(SQLModel, table=True):
    """Every change to a plan and what hangs on it: who, when, and the changed fields before
    and after. Kept apart from the audit log, which names operations but not values, and is
    read per plan here."""

    __tablename__ = "action_plan_history"
    __table_args__ = (sa.Index("ix_action_plan_history_plan_id_id", "plan_id", "id"),)

    id: int | None = identity_pk()
    plan_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("action_plans.id"), nullable=False)
    )
    entity_type: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    entity_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, nullable=False))
    operation: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    actor: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    at: datetime = Field(sa_column=timestamptz_now())
    request_id: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    before: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(postgresql.JSONB))
    after: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(postgresql.JSONB))
