"""kpi_facts gain `people`: the distinct employees of each fact row, so small groups count
distinct employees under any filter (issue 20 point 2)

Revision ID: 20261206_1130_fact_people
Revises: 20261206_1100_rest_windows
Create Date: 2026-12-06 11:30:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "20261206_1130_fact_people"
down_revision: str | Sequence[str] | None = "20261206_1100_rest_windows"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("kpi_facts", sa.Column("people", postgresql.ARRAY(sa.Integer()), nullable=True))
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
    op.drop_column("kpi_facts", "people")
