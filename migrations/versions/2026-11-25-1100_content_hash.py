"""content hash on fed records

Revision ID: 20261125_1100_content_hash
Revises: 20261125_0820_meetings
Create Date: 2026-11-25 08:00:00+00:00

A 64-bit hash of the record as the sender sent it (its file line), so a file sent again is
recognised row by row without validating or converting what did not change.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261125_1100_content_hash"
down_revision: str | Sequence[str] | None = "20261125_0820_meetings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("time_records", "employments", "personnel_costs")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("content_hash", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        op.drop_column(table, "content_hash")
