"""A report-back that is owed: actions and action plans get `follow_up_due_on` (the next
follow-up due, owed by the action's responsible or the plan's owner), and a plan can be
followed or unfollowed for mail like an action.

Revision ID: 20261206_1210_remind
Revises: 20261206_1160_scale_partitions
Create Date: 2026-12-06 12:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261206_1210_remind"
down_revision = "20261206_1160_scale_partitions"
branch_labels = None
depends_on = None

TABLES = ("actions", "action_plans")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("follow_up_due_on", sa.Date(), nullable=True))
        # The reminder scan reads the live report-backs owed, by due date.
        op.create_index(
            op.f(f"ix_{table}_follow_up_due_on"),
            table,
            ["follow_up_due_on"],
            postgresql_where=sa.text("follow_up_due_on IS NOT NULL AND deleted_at IS NULL"),
        )
    op.drop_constraint(op.f("ck_mail_follows_item_type"), "mail_follows", type_="check")
    op.create_check_constraint(
        op.f("ck_mail_follows_item_type"),
        "mail_follows",
        "item_type IN ('action', 'assignment', 'meeting', 'plan')",
    )


def downgrade() -> None:
    op.execute("DELETE FROM mail_follows WHERE item_type = 'plan'")
    op.drop_constraint(op.f("ck_mail_follows_item_type"), "mail_follows", type_="check")
    op.create_check_constraint(
        op.f("ck_mail_follows_item_type"),
        "mail_follows",
        "item_type IN ('action', 'assignment', 'meeting')",
    )
    for table in TABLES:
        op.drop_index(op.f(f"ix_{table}_follow_up_due_on"), table_name=table)
        op.drop_column(table, "follow_up_due_on")
