"""An agenda item's number is unique among the meeting's live items only: deleting an item
frees its number, and `:reorder` renumbers the live items.

Revision ID: 20261206_101_contract2_agenda
Revises: 20261206_0815_sealed_secrets
Create Date: 2026-12-06 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261206_101_contract2_agenda"
down_revision = "20261206_1100_mail"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_constraint("uq_agenda_items_meeting_id_number", "agenda_items", type_="unique")
    op.create_index(
        "ux_agenda_items_live_number",
        "agenda_items",
        ["meeting_id", "number"],
        unique=True,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ux_agenda_items_live_number", table_name="agenda_items")
    op.create_unique_constraint(
        "uq_agenda_items_meeting_id_number", "agenda_items", ["meeting_id", "number"]
    )
