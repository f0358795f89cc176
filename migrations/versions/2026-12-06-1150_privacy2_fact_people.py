"""kpi_facts and kpi_week_facts gain `people`: the distinct employees of each fact row, so small
groups count distinct employees under any filter (issue 20 point 2)

Revision ID: 20261206_1130_fact_people
Revises: 20261206_1100_kpi_report_figures
Create Date: 2026-12-06 11:50:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "20261206_1130_fact_people"
down_revision: str | Sequence[str] | None = "20261206_1100_kpi_report_figures"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("kpi_facts", "kpi_week_facts"):
        op.add_column(table, sa.Column("people", postgresql.ARRAY(sa.Integer()), nullable=True))
    # Until recomputed, a fact row without `people` counts no one (its groups are hidden), and
    # the cell totals still sum employees over splits: every cell with facts is recomputed.
    op.execute(
        """
        INSERT INTO kpi_dirty_cells (org_unit_id, month)
        SELECT DISTINCT org_unit_id, month FROM kpi_cell_totals
        ORDER BY 1, 2
        ON CONFLICT (org_unit_id, month) DO NOTHING
        """
    )


def downgrade() -> None:
    for table in ("kpi_week_facts", "kpi_facts"):
        op.drop_column(table, "people")
