"""cells whose stored figures the fixes of 2026-12-06 change, marked for recalculation

The worked-hours facts held the agency hours and the total in each other's columns (so
`agency_hours_share_pct` read total/agency); the rest rules took a stretch off for too short
when a shift inside a longer one was the last before it; an employment arriving after an
employee's time records did not give the records in other units and months its gender and age
band; and a month checked against the rules without a violation had no compliance fact rows,
so it read as no data instead of 0. The facts and violations are derived: every cell with
time-data facts or rest violations is marked dirty, and the worker computes them again with the
fixed SQL (at once when it next runs, or at the nightly sweep): one full recalculation of the
time data. Agency policies created through the API as a ban at every hour stored a JSON null
for their windows, which made detection fail: those become SQL NULL. No schema change.

Revision ID: 20261206_0200_recheck_figures
Revises: 20261125_1300_facts_version
Create Date: 2026-12-06 02:00:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "20261206_0200_recheck_figures"
down_revision: str | Sequence[str] | None = "20261125_1300_facts_version"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("UPDATE agency_policies SET banned_windows = NULL WHERE banned_windows = 'null'")
    op.execute(
        """
        INSERT INTO kpi_dirty_cells (org_unit_id, month)
        SELECT org_unit_id, month FROM kpi_cell_totals WHERE kind IN ('time', 'worked')
        UNION
        SELECT org_unit_id, date_trunc('month', work_date)::date FROM compliance_violations
        WHERE kind IN ('daily_rest', 'weekly_rest')
        ORDER BY 1, 2
        ON CONFLICT (org_unit_id, month) DO NOTHING
        """
    )


def downgrade() -> None:
    # The marks are work for the worker, not schema: nothing to undo.
    pass
