"""plans: action plans, packages, actions, follow-ups, linked KPI targets, history, areas

Revision ID: 20261125_0810_plans
Revises: 20261125_0900_compliance
Create Date: 2026-11-25 05:44:02.093645+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "20261125_0810_plans"
down_revision: str | Sequence[str] | None = "20261125_0900_compliance"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    areas = op.create_table(
        "action_areas",
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name_en", sa.Text(), nullable=False),
        sa.Column("name_sv", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_action_areas")),
    )
    op.create_table(
        "action_plans",
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=True),
        sa.Column("org_unit_id", sa.BigInteger(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("cost_estimate_sek", sa.Numeric(precision=16, scale=2), nullable=True),
        sa.Column("expected_saving_sek", sa.Numeric(precision=16, scale=2), nullable=True),
        sa.Column("calculation_basis", sa.Text(), nullable=True),
        sa.Column("actions_version", sa.Integer(), server_default="1", nullable=False),
        sa.CheckConstraint(
            "status IN ('draft', 'decided', 'active', 'completed', 'cancelled')",
            name=op.f("ck_action_plans_status"),
        ),
        sa.CheckConstraint("period_end >= period_start", name=op.f("ck_action_plans_period")),
        sa.ForeignKeyConstraint(
            ["org_unit_id"], ["org_units.id"], name=op.f("fk_action_plans_org_unit_id_org_units")
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["people.id"], name=op.f("fk_action_plans_owner_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_action_plans")),
    )
    op.create_index(
        op.f("ix_action_plans_org_unit_id"), "action_plans", ["org_unit_id"], unique=False
    )
    op.create_index(op.f("ix_action_plans_owner_id"), "action_plans", ["owner_id"], unique=False)
    op.create_index(
        "ix_action_plans_updated_at_id", "action_plans", ["updated_at", "id"], unique=False
    )
    op.create_table(
        "action_packages",
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("cost_goal", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["people.id"], name=op.f("fk_action_packages_owner_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["action_plans.id"], name=op.f("fk_action_packages_plan_id_action_plans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_action_packages")),
    )
    op.create_index(
        op.f("ix_action_packages_plan_id"), "action_packages", ["plan_id"], unique=False
    )
    op.create_index(
        "ix_action_packages_updated_at_id", "action_packages", ["updated_at", "id"], unique=False
    )
    op.create_table(
        "action_plan_history",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("entity_type", sa.Text(), nullable=False),
        sa.Column("entity_id", sa.Uuid(), nullable=False),
        sa.Column("operation", sa.Text(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("request_id", sa.Text(), nullable=True),
        sa.Column("before", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("after", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["action_plans.id"],
            name=op.f("fk_action_plan_history_plan_id_action_plans"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_action_plan_history")),
    )
    op.create_index(
        "ix_action_plan_history_plan_id_id", "action_plan_history", ["plan_id", "id"], unique=False
    )
    op.create_table(
        "action_plan_targets",
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("kpi_target_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["action_plans.id"],
            name=op.f("fk_action_plan_targets_plan_id_action_plans"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["kpi_target_id"],
            ["kpi_targets.id"],
            name=op.f("fk_action_plan_targets_kpi_target_id_kpi_targets"),
        ),
        sa.PrimaryKeyConstraint("plan_id", "kpi_target_id", name=op.f("pk_action_plan_targets")),
    )
    op.create_table(
        "actions",
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("area_code", sa.Text(), nullable=True),
        sa.Column("package_id", sa.Uuid(), nullable=True),
        sa.Column("responsible_id", sa.Uuid(), nullable=True),
        sa.Column("org_unit_id", sa.BigInteger(), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("progress", sa.SmallInteger(), nullable=False),
        sa.Column("overdue_since", sa.Date(), nullable=True),
        sa.Column("due_soon_notified_for", sa.Date(), nullable=True),
        sa.CheckConstraint(
            "status IN ('not_started', 'in_progress', 'done', 'postponed', 'cancelled')",
            name=op.f("ck_actions_status"),
        ),
        sa.CheckConstraint(
            "due_date IS NULL OR start_date IS NULL OR due_date >= start_date",
            name=op.f("ck_actions_dates"),
        ),
        sa.CheckConstraint("progress BETWEEN 0 AND 100", name=op.f("ck_actions_progress")),
        sa.ForeignKeyConstraint(
            ["area_code"], ["action_areas.code"], name=op.f("fk_actions_area_code_action_areas")
        ),
        sa.ForeignKeyConstraint(
            ["org_unit_id"], ["org_units.id"], name=op.f("fk_actions_org_unit_id_org_units")
        ),
        sa.ForeignKeyConstraint(
            ["package_id"],
            ["action_packages.id"],
            name=op.f("fk_actions_package_id_action_packages"),
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["action_plans.id"], name=op.f("fk_actions_plan_id_action_plans")
        ),
        sa.ForeignKeyConstraint(
            ["responsible_id"], ["people.id"], name=op.f("fk_actions_responsible_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_actions")),
        sa.UniqueConstraint("plan_id", "code", name=op.f("uq_actions_plan_id_code")),
    )
    op.create_index(
        "ix_actions_due_date_open",
        "actions",
        ["due_date"],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NULL AND status NOT IN ('done', 'cancelled')"),
    )
    op.create_index(op.f("ix_actions_package_id"), "actions", ["package_id"], unique=False)
    op.create_index("ix_actions_updated_at_id", "actions", ["updated_at", "id"], unique=False)
    op.create_table(
        "follow_ups",
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("action_id", sa.Uuid(), nullable=True),
        sa.Column("reported_on", sa.Date(), nullable=False),
        sa.Column("ongoing_work", sa.Text(), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("rag", sa.Text(), nullable=False),
        sa.Column("meeting_id", sa.Uuid(), nullable=True),
        sa.CheckConstraint("rag IN ('green', 'amber', 'red')", name=op.f("ck_follow_ups_rag")),
        sa.ForeignKeyConstraint(
            ["action_id"], ["actions.id"], name=op.f("fk_follow_ups_action_id_actions")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["action_plans.id"], name=op.f("fk_follow_ups_plan_id_action_plans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_follow_ups")),
    )
    op.create_index(op.f("ix_follow_ups_action_id"), "follow_ups", ["action_id"], unique=False)
    op.create_index(op.f("ix_follow_ups_plan_id"), "follow_ups", ["plan_id"], unique=False)
    op.create_index("ix_follow_ups_updated_at_id", "follow_ups", ["updated_at", "id"], unique=False)
    # No foreign keys yet on action_plan_targets.kpi_target_id (issue 5's kpi_targets),
    # action_plans.decided_by (issue 7's decisions) and follow_ups.meeting_id (issue 7's
    # meetings): those tables arrive with their branches and the merge adds the constraints.

    # Seed 003's areas (the staffing plan's 17) and the ones its report names besides;
    # admins extend the catalogue with PUT /v1/action-areas/{code}.
    op.bulk_insert(areas, [{"code": c, "name_en": en, "name_sv": sv} for c, en, sv in AREAS])


AREAS = [
    (
        "task_shifting",
        "Changed ways of working / task shifting",
        "Förändrade arbetssätt/kompetensförskjutning",
    ),
    (
        "technology_support",
        "Technology support for new ways of working",
        "Teknikstöd för ändrade arbetssätt",
    ),
    (
        "regional_coordination",
        "Structure / coordination within the region",
        "Struktur/samordning inom regionen",
    ),
    (
        "municipal_collaboration",
        "Division of work / collaboration with municipalities",
        "Arbetsfördelning/samarbete mellan region och kommun",
    ),
    (
        "capacity_planning",
        "Production and capacity planning",
        "Produktions- och kapacitetsplanering",
    ),
    ("staffing_plan", "Dimensioning / staffing plan", "Dimensionering – bemanningsplan"),
    ("working_time_models", "Working time models", "Arbetstidsmodeller"),
    ("scheduling", "Scheduling", "Schemaläggning"),
    ("competence_development", "Competence supply and development", "Kompetensförsörjning"),
    ("leadership", "Leadership", "Ledarskap"),
    ("retention", "Attractive employer / retention", "Attraktiv arbetsgivare"),
    ("communication", "Communication", "Kommunikation"),
    (
        "nursing_students",
        "Introduction of nursing students and newly graduated nurses",
        "Introduktion och åtgärder för sjuksköterskeelever/nyexaminerade sjuksköterskor",
    ),
    (
        "doctor_introduction",
        "Introduction and supervision of doctors",
        "Introduktion/handledning läkare",
    ),
    ("recruitment", "Recruitment", "Rekrytering"),
    ("compensation", "Compensation", "Ersättningsfrågor"),
    ("risk_analysis", "Risk and consequence analyses", "Risk- och konsekvensanalyser"),
    (
        "agency_procurement",
        "Procurement and call-off of agency staff",
        "Upphandling och avrop av hyrpersonal",
    ),
]


def downgrade() -> None:
    op.drop_index("ix_follow_ups_updated_at_id", table_name="follow_ups")
    op.drop_index(op.f("ix_follow_ups_plan_id"), table_name="follow_ups")
    op.drop_index(op.f("ix_follow_ups_action_id"), table_name="follow_ups")
    op.drop_table("follow_ups")
    op.drop_index("ix_actions_updated_at_id", table_name="actions")
    op.drop_index(op.f("ix_actions_package_id"), table_name="actions")
    op.drop_index(
        "ix_actions_due_date_open",
        table_name="actions",
        postgresql_where=sa.text("deleted_at IS NULL AND status NOT IN ('done', 'cancelled')"),
    )
    op.drop_table("actions")
    op.drop_table("action_plan_targets")
    op.drop_index("ix_action_plan_history_plan_id_id", table_name="action_plan_history")
    op.drop_table("action_plan_history")
    op.drop_index("ix_action_packages_updated_at_id", table_name="action_packages")
    op.drop_index(op.f("ix_action_packages_plan_id"), table_name="action_packages")
    op.drop_table("action_packages")
    op.drop_index("ix_action_plans_updated_at_id", table_name="action_plans")
    op.drop_index(op.f("ix_action_plans_owner_id"), table_name="action_plans")
    op.drop_index(op.f("ix_action_plans_org_unit_id"), table_name="action_plans")
    op.drop_table("action_plans")
    op.drop_table("action_areas")
