"""The code catalogues (professions, action areas) keep when each entry was added and last
renamed, so their lists take `updated_since` like every other collection.

Revision ID: 20261206_102_c2_catalogues
Revises: 20261206_101_contract2_agenda
Create Date: 2026-12-06 11:01:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261206_102_c2_catalogues"
down_revision = "20261206_101_contract2_agenda"
branch_labels = None
depends_on = None

TABLES = ("professions", "action_areas")


def upgrade() -> None:
    for table in TABLES:
        for column in ("created_at", "updated_at"):
            op.add_column(
                table,
                sa.Column(
                    column,
                    sa.DateTime(timezone=True),
                    server_default=sa.func.now(),
                    nullable=False,
                ),
            )


def downgrade() -> None:
    for table in TABLES:
        op.drop_column(table, "updated_at")
        op.drop_column(table, "created_at")
