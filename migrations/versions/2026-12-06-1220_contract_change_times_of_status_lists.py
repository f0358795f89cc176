"""Change times for the lists a client syncs with `updated_since` (issue #26): violations,
webhook deliveries, imports and recalculations get `updated_at` with an index in change order,
and a manual KPI value a `version` (its `ETag`; a later value for the same unit and period
replaces it).

Deliveries, imports and recalculations change status in many statements (the worker's
set-based ones included), so a trigger moves `updated_at` on every update rather than each
statement remembering to. Violations are replaced cell by cell by detection, which keeps the
change time of those it finds unchanged itself (no trigger there). Existing rows take the
migration's time: these lists had no `updated_since` before, so no mirror holds older times.

Revision ID: 20261206_1220_contract_sync
Revises: 20261206_1210_remind
Create Date: 2026-12-06 12:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261206_1220_contract_sync"
down_revision: str | Sequence[str] | None = "20261206_1210_remind"
branch_labels = None
depends_on = None

# table: (the index's leading columns before the change time, the columns whose change moves it)
TOUCHED: dict[str, tuple[tuple[str, ...], str | None]] = {
    "webhook_deliveries": (("subscription_id",), None),
    # Not the heartbeat alone: a running import's liveness is no change a reader sees.
    "imports": (
        (),
        "status, rows_read, counts, errors, error_count, failure, started_at, finished_at",
    ),
    "kpi_recalculations": ((), None),
}


def _updated_at() -> sa.Column[object]:
    return sa.Column(
        "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
    )


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION puls_touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.updated_at := now();
            RETURN NEW;
        END $$
        """
    )
    for table, (leading, columns) in TOUCHED.items():
        op.add_column(table, _updated_at())
        op.create_index(f"ix_{table}_updated_at", table, [*leading, "updated_at", "id"])
        of = f"OF {columns} " if columns else ""
        op.execute(
            f"CREATE TRIGGER {table}_touch_updated_at BEFORE UPDATE {of}ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION puls_touch_updated_at()"
        )
    op.add_column("compliance_violations", _updated_at())
    op.create_index(
        "ix_compliance_violations_updated_at", "compliance_violations", ["updated_at", "id"]
    )
    # Tombstones of withdrawn violations, in change order.
    op.create_index(
        "ix_compliance_violation_history_withdrawn_at",
        "compliance_violation_history",
        ["withdrawn_at", "violation_id"],
    )
    op.add_column(
        "manual_kpi_values",
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
    )


def downgrade() -> None:
    op.drop_column("manual_kpi_values", "version")
    op.drop_index(
        "ix_compliance_violation_history_withdrawn_at", table_name="compliance_violation_history"
    )
    op.drop_index("ix_compliance_violations_updated_at", table_name="compliance_violations")
    op.drop_column("compliance_violations", "updated_at")
    for table in TOUCHED:
        op.execute(f"DROP TRIGGER {table}_touch_updated_at ON {table}")
        op.drop_index(f"ix_{table}_updated_at", table_name=table)
        op.drop_column(table, "updated_at")
    op.execute("DROP FUNCTION puls_touch_updated_at()")
