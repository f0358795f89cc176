"""timedata

Revision ID: 20261125_0400_timedata
Revises: 20261125_0330
Create Date: 2026-11-25 04:13:17.318435+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "20261125_0400_timedata"
down_revision: str | Sequence[str] | None = "20261125_0330"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "code_mappings",
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("kind IN ('time', 'profession')", name=op.f("ck_code_mappings_kind")),
        sa.PrimaryKeyConstraint("source", "kind", "code", name=op.f("pk_code_mappings")),
    )
    op.create_table(
        "imports",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default="queued", nullable=False),
        sa.Column("file_path", sa.Text(), nullable=False),
        sa.Column("file_format", sa.Text(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("rows_read", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("counts", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("errors", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("error_count", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.Column("org_path", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed')", name=op.f("ck_imports_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_imports")),
    )
    op.create_index(
        "ix_imports_status_created_at", "imports", ["status", "created_at"], unique=False
    )
    professions = op.create_table(
        "professions",
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name_en", sa.Text(), nullable=False),
        sa.Column("name_sv", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_professions")),
    )
    op.create_table(
        "employments",
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("external_id", sa.Text(), nullable=False),
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
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("org_unit_id", sa.BigInteger(), nullable=False),
        sa.Column("employee", sa.Text(), nullable=False),
        sa.Column("profession", sa.Text(), nullable=False),
        sa.Column("contract", sa.Text(), nullable=False),
        sa.Column("fte", sa.Numeric(precision=4, scale=3), nullable=False),
        sa.Column("is_manager", sa.Boolean(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("end_reason", sa.Text(), nullable=True),
        sa.Column("gender", sa.Text(), nullable=True),
        sa.Column("birth_year", sa.Integer(), nullable=True),
        sa.Column("profession_code", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "contract IN ('permanent', 'fixed_term', 'hourly')",
            name=op.f("ck_employments_contract"),
        ),
        sa.CheckConstraint(
            "end_reason IS NULL OR end_reason IN ('resignation', 'retirement', 'end_of_contract', 'internal_transfer', 'other')",
            name=op.f("ck_employments_end_reason"),
        ),
        sa.CheckConstraint(
            "gender IS NULL OR gender IN ('female', 'male', 'other')",
            name=op.f("ck_employments_gender"),
        ),
        sa.CheckConstraint(
            "end_date IS NULL OR end_date >= start_date", name=op.f("ck_employments_dates")
        ),
        sa.CheckConstraint("fte >= 0 AND fte <= 1", name=op.f("ck_employments_fte")),
        sa.ForeignKeyConstraint(
            ["org_unit_id"], ["org_units.id"], name=op.f("fk_employments_org_unit_id_org_units")
        ),
        sa.ForeignKeyConstraint(
            ["profession"], ["professions.code"], name=op.f("fk_employments_profession_professions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_employments")),
        sa.UniqueConstraint(
            "source", "external_id", name=op.f("uq_employments_source_external_id")
        ),
    )
    op.create_index("ix_employments_employee", "employments", ["employee"], unique=False)
    op.create_index(
        "ix_employments_org_unit_id_start_date",
        "employments",
        ["org_unit_id", "start_date"],
        unique=False,
    )
    op.create_index(
        "ix_employments_updated_at_id", "employments", ["updated_at", "id"], unique=False
    )
    op.create_table(
        "kpi_dirty_cells",
        sa.Column("org_unit_id", sa.BigInteger(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column(
            "marked_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["org_unit_id"], ["org_units.id"], name=op.f("fk_kpi_dirty_cells_org_unit_id_org_units")
        ),
        sa.PrimaryKeyConstraint("org_unit_id", "month", name=op.f("pk_kpi_dirty_cells")),
    )
    op.create_table(
        "personnel_costs",
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("external_id", sa.Text(), nullable=False),
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
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("org_unit_id", sa.BigInteger(), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("profession", sa.Text(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("amount_sek", sa.Numeric(precision=16, scale=2), nullable=False),
        sa.Column("profession_code", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "category IN ('own_staff', 'agency')", name=op.f("ck_personnel_costs_category")
        ),
        sa.CheckConstraint(
            "extract(day FROM period) = 1", name=op.f("ck_personnel_costs_period_is_month")
        ),
        sa.ForeignKeyConstraint(
            ["org_unit_id"], ["org_units.id"], name=op.f("fk_personnel_costs_org_unit_id_org_units")
        ),
        sa.ForeignKeyConstraint(
            ["profession"],
            ["professions.code"],
            name=op.f("fk_personnel_costs_profession_professions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_personnel_costs")),
        sa.UniqueConstraint(
            "source", "external_id", name=op.f("uq_personnel_costs_source_external_id")
        ),
    )
    op.create_index(
        "ix_personnel_costs_org_unit_id_period",
        "personnel_costs",
        ["org_unit_id", "period"],
        unique=False,
    )
    op.create_index(
        "ix_personnel_costs_updated_at_id", "personnel_costs", ["updated_at", "id"], unique=False
    )
    op.create_table(
        "time_records",
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("external_id", sa.Text(), nullable=False),
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
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("org_unit_id", sa.BigInteger(), nullable=False),
        sa.Column("employee", sa.Text(), nullable=False),
        sa.Column("profession", sa.Text(), nullable=False),
        sa.Column("staff_kind", sa.Text(), nullable=False),
        sa.Column("time_type", sa.Text(), nullable=False),
        sa.Column("work_date", sa.Date(), nullable=False),
        sa.Column("hours", sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cost_sek", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("agency", sa.Text(), nullable=True),
        sa.Column("assignment_ref", sa.Text(), nullable=True),
        sa.Column("time_code", sa.Text(), nullable=True),
        sa.Column("profession_code", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "staff_kind IN ('own', 'agency')", name=op.f("ck_time_records_staff_kind")
        ),
        sa.CheckConstraint(
            "time_type IN ('scheduled', 'worked', 'overtime', 'extra_time', 'sick', 'vacation', 'parental_leave', 'child_care', 'leave_of_absence', 'training', 'other_absence')",
            name=op.f("ck_time_records_time_type"),
        ),
        sa.CheckConstraint(
            "end_at IS NULL OR start_at IS NULL OR end_at > start_at",
            name=op.f("ck_time_records_start_before_end"),
        ),
        sa.CheckConstraint("hours > 0 AND hours <= 24", name=op.f("ck_time_records_hours")),
        sa.ForeignKeyConstraint(
            ["org_unit_id"], ["org_units.id"], name=op.f("fk_time_records_org_unit_id_org_units")
        ),
        sa.ForeignKeyConstraint(
            ["profession"],
            ["professions.code"],
            name=op.f("fk_time_records_profession_professions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_time_records")),
        sa.UniqueConstraint(
            "source", "external_id", name=op.f("uq_time_records_source_external_id")
        ),
    )
    op.create_index(
        "ix_time_records_employee_work_date",
        "time_records",
        ["employee", "work_date"],
        unique=False,
    )
    op.create_index(
        "ix_time_records_org_unit_id_work_date",
        "time_records",
        ["org_unit_id", "work_date"],
        unique=False,
    )
    op.create_index(
        "ix_time_records_updated_at_id", "time_records", ["updated_at", "id"], unique=False
    )

    # DESIGN.md's profession catalogue; admins extend it with PUT /v1/professions/{code}.
    op.bulk_insert(
        professions,
        [
            {"code": "doctor", "name_en": "Doctor", "name_sv": "Läkare"},
            {"code": "resident_doctor", "name_en": "Resident doctor", "name_sv": "ST-läkare"},
            {"code": "nurse", "name_en": "Nurse", "name_sv": "Sjuksköterska"},
            {"code": "assistant_nurse", "name_en": "Assistant nurse", "name_sv": "Undersköterska"},
            {"code": "administrator", "name_en": "Administrator", "name_sv": "Administratör"},
            {"code": "other", "name_en": "Other", "name_sv": "Övrig personal"},
        ],
    )


def downgrade() -> None:
    op.drop_index("ix_time_records_updated_at_id", table_name="time_records")
    op.drop_index("ix_time_records_org_unit_id_work_date", table_name="time_records")
    op.drop_index("ix_time_records_employee_work_date", table_name="time_records")
    op.drop_table("time_records")
    op.drop_index("ix_personnel_costs_updated_at_id", table_name="personnel_costs")
    op.drop_index("ix_personnel_costs_org_unit_id_period", table_name="personnel_costs")
    op.drop_table("personnel_costs")
    op.drop_table("kpi_dirty_cells")
    op.drop_index("ix_employments_updated_at_id", table_name="employments")
    op.drop_index("ix_employments_org_unit_id_start_date", table_name="employments")
    op.drop_index("ix_employments_employee", table_name="employments")
    op.drop_table("employments")
    op.drop_table("professions")
    op.drop_index("ix_imports_status_created_at", table_name="imports")
    op.drop_table("imports")
    op.drop_table("code_mappings")
