"""plans as seed 000 requires: an explicit "no cost impact" with its reason, follow-ups without
a RAG status, and packages with several owners

- `action_plans.no_cost_impact` (false) and `no_cost_impact_reason`: the third way, besides a
  cost estimate or an expected saving, to give a plan its economic calculation before it is
  decided. A plan marked so must say why (check constraint).
- `follow_ups.rag` may be null: seed 004's reports give ongoing work and a result, no colour.
- `action_packages.owner_ids` (uuid[], in order): seed 003's package 1 has two owners. It is
  filled from `owner_id`, which stays for one version as the first owner (deprecated).

Downgrading keeps the first owner only and gives a follow-up without RAG `amber` (the older
schema needs a colour; amber claims neither success nor failure).

Revision ID: 20261206_1100_meet_plans
Revises: 20261206_0815_sealed_secrets
Create Date: 2026-12-06 11:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "20261206_1100_meet_plans"
down_revision: str | Sequence[str] | None = "20261206_0815_sealed_secrets"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "action_plans",
        sa.Column("no_cost_impact", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.add_column("action_plans", sa.Column("no_cost_impact_reason", sa.Text(), nullable=True))
    op.create_check_constraint(
        op.f("ck_action_plans_no_cost_impact_reason"),
        "action_plans",
        "NOT no_cost_impact OR no_cost_impact_reason IS NOT NULL",
    )
    op.alter_column("follow_ups", "rag", existing_type=sa.Text(), nullable=True)
    op.add_column(
        "action_packages",
        sa.Column(
            "owner_ids",
            postgresql.ARRAY(sa.Uuid()),
            server_default="{}",
            nullable=False,
        ),
    )
    op.execute("UPDATE action_packages SET owner_ids = ARRAY[owner_id] WHERE owner_id IS NOT NULL")


def downgrade() -> None:
    op.execute(
        "UPDATE action_packages SET owner_id = owner_ids[1] "
        "WHERE owner_id IS NULL AND cardinality(owner_ids) > 0"
    )
    op.drop_column("action_packages", "owner_ids")
    op.execute("UPDATE follow_ups SET rag = 'amber' WHERE rag IS NULL")
    op.alter_column("follow_ups", "rag", existing_type=sa.Text(), nullable=False)
    op.drop_constraint(op.f("ck_action_plans_no_cost_impact_reason"), "action_plans", type_="check")
    op.drop_column("action_plans", "no_cost_impact_reason")
    op.drop_column("action_plans", "no_cost_impact")
