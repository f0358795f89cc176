"""people gain `subject`: the OIDC `sub` a sign-in token maps to (issue 23)

Revision ID: 20261206_1100_oidc_subject
Revises: 20261206_0815_sealed_secrets
Create Date: 2026-12-06 11:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261206_1100_oidc_subject"
down_revision: str | Sequence[str] | None = "20261206_1100_meet_plans"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("people", sa.Column("subject", sa.Text(), nullable=True))
    op.create_index(
        "ux_people_subject",
        "people",
        ["subject"],
        unique=True,
        postgresql_where=sa.text("subject IS NOT NULL AND deleted_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ux_people_subject", table_name="people")
    op.drop_column("people", "subject")
