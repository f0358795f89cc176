"""wide KPI facts: one row per cell, split and kind of measure instead of one per KPI

Revision ID: 20261125_1200_kpi_wide
Revises: 20261125_1100_content_hash
Create Date: 2026-11-25 12:00:00+00:00

The facts are derived data: the cells they held are marked dirty and recomputed by the worker
in the new shape, so the series come back without anyone asking for a recalculation.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261125_1200_kpi_wide"
down_revision: str | Sequence[str] | None = "20261125_1100_content_hash"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MEASURES = (
    "scheduled",
    "sick",
    "sick_short",
    "sick_long",
    "sick_60",
    "absent",
    "overtime",
    "extra_time",
    "worked",
    "worked_agency",
    "worked_agency_doctor",
    "headcount",
    "fte",
    "permanent",
    "fixed_term",
    "monthly_paid",
    "full_time",
    "managers",
    "ended",
    "cost_agency",
    "cost_total",
    "violations",
    "violation_hours",
)
SPLITS = ("profession", "staff_kind", "gender", "age_band")

_MARK_DIRTY = """
INSERT INTO kpi_dirty_cells (org_unit_id, month)
SELECT DISTINCT org_unit_id, month FROM kpi_cell_totals ORDER BY 1, 2
ON CONFLICT (org_unit_id, month) DO NOTHING
"""


def _computed_at() -> sa.Column:
    return sa.Column(
        "computed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def _wide(name: str, keys: Sequence[str]) -> None:
    op.create_table(
        name,
        sa.Column("employees", sa.Integer(), nullable=True),
        *(sa.Column(m, sa.Numeric(), nullable=True) for m in MEASURES),
        _computed_at(),
        sa.Column("org_unit_id", sa.BigInteger(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        *(sa.Column(k, sa.Text(), nullable=False) for k in keys),
        sa.PrimaryKeyConstraint("org_unit_id", "month", *keys, name=op.f(f"pk_{name}")),
    )


def _narrow(name: str, keys: Sequence[str]) -> None:
    op.create_table(
        name,
        sa.Column("org_unit_id", sa.BigInteger(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        *(sa.Column(k, sa.Text(), nullable=False) for k in keys),
        sa.Column("numerator", sa.Numeric(), nullable=False),
        sa.Column("denominator", sa.Numeric(), nullable=True),
        sa.Column("employees", sa.Integer(), nullable=True),
        _computed_at(),
        sa.PrimaryKeyConstraint("org_unit_id", "month", *keys, name=op.f(f"pk_{name}")),
    )


def upgrade() -> None:
    op.execute(_MARK_DIRTY)
    op.drop_table("kpi_facts")
    op.drop_index("ix_kpi_cell_totals_kpi_month", table_name="kpi_cell_totals")
    op.drop_table("kpi_cell_totals")
    _wide("kpi_cell_totals", ("kind",))
    op.create_index("ix_kpi_cell_totals_kind_month", "kpi_cell_totals", ["kind", "month"])
    _wide("kpi_facts", ("kind", *SPLITS))


def downgrade() -> None:
    op.execute(_MARK_DIRTY)
    op.drop_table("kpi_facts")
    op.drop_index("ix_kpi_cell_totals_kind_month", table_name="kpi_cell_totals")
    op.drop_table("kpi_cell_totals")
    _narrow("kpi_cell_totals", ("kpi",))
    op.create_index("ix_kpi_cell_totals_kpi_month", "kpi_cell_totals", ["kpi", "month"])
    _narrow("kpi_facts", ("kpi", *SPLITS))
