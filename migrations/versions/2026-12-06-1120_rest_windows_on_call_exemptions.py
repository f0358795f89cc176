"""rest as the agreements count it, on-call time, holiday-aware agency windows, exemption
applications

Rest rules get `period` (`rolling`: the 24 hours, or 7 × 24, from every shift's start; `fixed`:
periods from `period_start_hour`, the "dygnsbryt") and `enforced_from` (before it a breach is an
`agreement_deviation`). The seeded rest rules become rolling, and the doctors' daily rest of the
2023 agreement is seeded as seed 000 has it: enforced from 2024-02-01. Time records may be
`on_call` (jour) and `standby` (beredskap); the KPI facts carry `on_call` hours and
`quick_returns`. Agency policies may count a holiday calendar's days as weekend. Exemptions are
applied for, then granted or rejected: existing ones were recorded decisions, so `granted`.
Every cell is marked dirty so the violations are found again under the new reading.

Revision ID: 20261206_1100_rest_windows
Revises: 20261206_0815_sealed_secrets
Create Date: 2026-12-06 11:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261206_1100_rest_windows"
down_revision: str | Sequence[str] | None = "20261206_1100_oidc_subject"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_TYPES = (
    "'scheduled', 'worked', 'overtime', 'extra_time', 'sick', 'vacation', 'parental_leave', "
    "'child_care', 'leave_of_absence', 'training', 'other_absence'"
)
_NEW_TYPES = (
    "'scheduled', 'worked', 'overtime', 'extra_time', 'on_call', 'standby', 'sick', "
    "'vacation', 'parental_leave', 'child_care', 'leave_of_absence', 'training', "
    "'other_absence'"
)
_DOCTORS_RULE = "Dygnsvila för läkare: nya arbetstidsregler från 1 februari 2024"


def upgrade() -> None:
    op.add_column(
        "working_time_rules",
        sa.Column("period", sa.Text(), server_default="rolling", nullable=False),
    )
    op.add_column("working_time_rules", sa.Column("enforced_from", sa.Date(), nullable=True))
    op.create_check_constraint(
        op.f("ck_working_time_rules_period"),
        "working_time_rules",
        "period IN ('rolling', 'fixed')",
    )
    op.execute(
        """
        UPDATE working_time_rules SET period_start_hour = NULL,
               name = CASE kind WHEN 'daily_rest'
                   THEN 'Dygnsvila: 11 timmar i de 24 timmarna från varje pass'
                   ELSE 'Veckovila: 36 timmar i de 7 × 24 timmarna från varje pass' END
        WHERE kind IN ('daily_rest', 'weekly_rest') AND period_start_hour = 0
          AND valid_from = '2000-01-01' AND professions IS NULL AND org_unit_id IS NULL
        """
    )
    op.execute(
        f"""
        INSERT INTO working_time_rules
            (kind, name, min_rest_hours, professions, valid_from, enforced_from)
        VALUES ('daily_rest', '{_DOCTORS_RULE}', 11, ARRAY['doctor', 'resident_doctor'],
                '2000-01-01', '2024-02-01')
        """
    )
    op.drop_constraint(op.f("ck_time_records_time_type"), "time_records", type_="check")
    op.create_check_constraint(
        op.f("ck_time_records_time_type"), "time_records", f"time_type IN ({_NEW_TYPES})"
    )
    for table in ("kpi_facts", "kpi_cell_totals"):
        op.add_column(table, sa.Column("on_call", sa.Numeric(), nullable=True))
        op.add_column(table, sa.Column("quick_returns", sa.Numeric(), nullable=True))
    op.add_column("agency_policies", sa.Column("holidays", sa.Text(), nullable=True))
    op.create_check_constraint(
        op.f("ck_agency_policies_holidays"),
        "agency_policies",
        "holidays IS NULL OR holidays IN ('sweden')",
    )
    op.add_column(
        "agency_exemptions",
        sa.Column("status", sa.Text(), server_default="granted", nullable=False),
    )
    op.add_column("agency_exemptions", sa.Column("requested_by", sa.Text(), nullable=True))
    op.add_column(
        "agency_exemptions", sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("agency_exemptions", sa.Column("decision_reason", sa.Text(), nullable=True))
    op.alter_column("agency_exemptions", "decided_by", existing_type=sa.Text(), nullable=True)
    op.execute("UPDATE agency_exemptions SET decided_at = created_at")
    op.create_check_constraint(
        op.f("ck_agency_exemptions_status"),
        "agency_exemptions",
        "status IN ('requested', 'granted', 'rejected')",
    )
    op.create_check_constraint(
        op.f("ck_agency_exemptions_decided_when_decided"),
        "agency_exemptions",
        "(status = 'requested') = (decided_by IS NULL)",
    )
    op.create_table(
        "compliance_violation_history",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("violation_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("source_id", sa.Uuid(), nullable=False),
        sa.Column("org_unit_id", sa.BigInteger(), nullable=False),
        sa.Column("work_date", sa.Date(), nullable=False),
        sa.Column("employee", sa.Text(), nullable=False),
        sa.Column("profession", sa.Text(), nullable=False),
        sa.Column("hours", sa.Numeric(8, 2), nullable=False),
        sa.Column("cost_sek", sa.Numeric(14, 2), nullable=True),
        sa.Column("details", sa.dialects.postgresql.JSONB(), nullable=True),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "withdrawn_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compliance_violation_history")),
    )
    op.create_index(
        "ix_compliance_violation_history_unit_date",
        "compliance_violation_history",
        ["org_unit_id", "work_date"],
    )
    # Every cell with time figures is checked again under the new reading.
    op.execute(
        """
        INSERT INTO kpi_dirty_cells (org_unit_id, month)
        SELECT org_unit_id, month FROM kpi_cell_totals WHERE kind IN ('time', 'worked')
        ORDER BY 1, 2
        ON CONFLICT (org_unit_id, month) DO NOTHING
        """
    )


def downgrade() -> None:
    op.drop_index(
        "ix_compliance_violation_history_unit_date", table_name="compliance_violation_history"
    )
    op.drop_table("compliance_violation_history")
    op.execute("DELETE FROM agency_exemptions WHERE status <> 'granted'")
    op.drop_constraint(
        op.f("ck_agency_exemptions_decided_when_decided"), "agency_exemptions", type_="check"
    )
    op.drop_constraint(op.f("ck_agency_exemptions_status"), "agency_exemptions", type_="check")
    op.alter_column("agency_exemptions", "decided_by", existing_type=sa.Text(), nullable=False)
    for column in ("decision_reason", "decided_at", "requested_by", "status"):
        op.drop_column("agency_exemptions", column)
    op.drop_constraint(op.f("ck_agency_policies_holidays"), "agency_policies", type_="check")
    op.drop_column("agency_policies", "holidays")
    for table in ("kpi_facts", "kpi_cell_totals"):
        op.drop_column(table, "quick_returns")
        op.drop_column(table, "on_call")
    op.execute("DELETE FROM time_records WHERE time_type IN ('on_call', 'standby')")
    op.drop_constraint(op.f("ck_time_records_time_type"), "time_records", type_="check")
    op.create_check_constraint(
        op.f("ck_time_records_time_type"), "time_records", f"time_type IN ({_OLD_TYPES})"
    )
    op.execute(
        f"""
        DELETE FROM working_time_rules WHERE name = '{_DOCTORS_RULE}'
        """
    )
    op.execute(
        """
        UPDATE working_time_rules SET period_start_hour = coalesce(period_start_hour, 0)
        WHERE kind IN ('daily_rest', 'weekly_rest')
        """
    )
    op.drop_constraint(op.f("ck_working_time_rules_period"), "working_time_rules", type_="check")
    op.drop_column("working_time_rules", "enforced_from")
    op.drop_column("working_time_rules", "period")
