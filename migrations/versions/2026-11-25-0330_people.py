"""people

Revision ID: 20261125_0330
Revises: 20261125_0300
Create Date: 2026-11-25 03:28:47.734798+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261125_0330"
down_revision: str | Sequence[str] | None = "20261125_0300"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "people",
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("initials", sa.Text(), nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("org_unit_id", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_unit_id"], ["org_units.id"], name=op.f("fk_people_org_unit_id_org_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_people")),
    )
    op.create_index(op.f("ix_people_org_unit_id"), "people", ["org_unit_id"], unique=False)
    op.create_index("ix_people_updated_at_id", "people", ["updated_at", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_people_updated_at_id", table_name="people")
    op.drop_index(op.f("ix_people_org_unit_id"), table_name="people")
    op.drop_table("people")
