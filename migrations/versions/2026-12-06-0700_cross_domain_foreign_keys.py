"""foreign keys between plans and meetings: a plan's deciding decision, a follow-up's meeting,
an assignment's action

They were left out while the two domains were built apart; the services already refuse a
reference that does not exist or is not visible, and both sides only soft-delete, so stored rows
satisfy them. A reference that points nowhere (possible only through direct SQL) is cleared
first, since the constraint cannot be added over it and it names nothing anyone can read.

Revision ID: 20261206_0700_cross_domain_fks
Revises: 20261206_0200_recheck_figures
Create Date: 2026-12-06 07:00:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "20261206_0700_cross_domain_fks"
down_revision: str | Sequence[str] | None = "20261206_0200_recheck_figures"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column, referred table, constraint name by the metadata's naming convention)
_KEYS = (
    ("action_plans", "decided_by", "decisions", "fk_action_plans_decided_by_decisions"),
    ("follow_ups", "meeting_id", "meetings", "fk_follow_ups_meeting_id_meetings"),
    ("assignments", "action_id", "actions", "fk_assignments_action_id_actions"),
)


def upgrade() -> None:
    for table, column, referred, name in _KEYS:
        op.execute(
            f"UPDATE {table} t SET {column} = NULL WHERE {column} IS NOT NULL "
            f"AND NOT EXISTS (SELECT FROM {referred} r WHERE r.id = t.{column})"
        )
        op.create_foreign_key(name, table, referred, [column], ["id"])


def downgrade() -> None:
    for table, _, _, name in _KEYS:
        op.drop_constraint(name, table, type_="foreignkey")
