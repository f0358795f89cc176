"""the facts' version, for readers that keep sums until the facts change

Revision ID: 20261125_1300_facts_version
Revises: 20261125_1200_kpi_wide
Create Date: 2026-11-25 13:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261125_1300_facts_version"
down_revision: str | Sequence[str] | None = "20261125_1200_kpi_wide"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "kpi_facts_version",
        sa.Column("id", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("version", sa.Uuid(), nullable=False),
        sa.Column(
            "changed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("id", name=op.f("ck_kpi_facts_version_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kpi_facts_version")),
    )


def downgrade() -> None:
    op.drop_table("kpi_facts_version")
