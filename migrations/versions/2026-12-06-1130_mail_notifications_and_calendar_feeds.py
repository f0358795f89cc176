"""mail outbox, mail preferences and item follows, calendar feed tokens (issue 23, 4-5)

`mail_messages` is the mail outbox (one row per e-mail, its id the Message-ID, `dedupe_key`
unique so the scans are idempotent); `mail_preferences` and `mail_follows` are what
`/v1/me/subscriptions` sets; `calendar_feeds` keeps the SHA-256 of each feed's secret token.
People already have an `email` column (the people migration), so none is added here.

Revision ID: 20261206_1100_mail
Revises: 20261206_0815_sealed_secrets
Create Date: 2026-12-06 11:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "20261206_1100_mail"
down_revision: str | Sequence[str] | None = "20261206_1100_rest_windows"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "calendar_feeds",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("token_hash", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("body_id", sa.Uuid(), nullable=True),
        sa.Column("person_id", sa.Uuid(), nullable=True),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(kind = 'body') = (body_id IS NOT NULL) AND (kind = 'person') = (person_id IS NOT NULL)",
            name=op.f("ck_calendar_feeds_target"),
        ),
        sa.CheckConstraint("kind IN ('body', 'person')", name=op.f("ck_calendar_feeds_kind")),
        sa.ForeignKeyConstraint(
            ["body_id"],
            ["meeting_bodies.id"],
            name=op.f("fk_calendar_feeds_body_id_meeting_bodies"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_calendar_feeds_person_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_feeds")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_calendar_feeds_token_hash")),
    )
    op.create_table(
        "mail_follows",
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("item_type", sa.Text(), nullable=False),
        sa.Column("item_id", sa.Uuid(), nullable=False),
        sa.Column("following", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "item_type IN ('action', 'assignment', 'meeting')",
            name=op.f("ck_mail_follows_item_type"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_mail_follows_person_id_people")
        ),
        sa.PrimaryKeyConstraint("person_id", "item_type", "item_id", name=op.f("pk_mail_follows")),
    )
    op.create_table(
        "mail_messages",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("dedupe_key", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("item_id", sa.Uuid(), nullable=True),
        sa.Column("to_address", sa.Text(), nullable=True),
        sa.Column("language", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('reminder', 'overdue', 'invitation', 'digest')",
            name=op.f("ck_mail_messages_kind"),
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'sent', 'failed', 'skipped')",
            name=op.f("ck_mail_messages_status"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_mail_messages_person_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_messages")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_mail_messages_dedupe_key")),
    )
    op.create_index(
        "ix_mail_messages_pending",
        "mail_messages",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        op.f("ix_mail_messages_person_id"), "mail_messages", ["person_id"], unique=False
    )
    op.create_index(op.f("ix_mail_messages_item_id"), "mail_messages", ["item_id"], unique=False)
    op.create_table(
        "mail_preferences",
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("language", sa.Text(), nullable=False),
        sa.Column(
            "disabled_kinds", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("language IN ('sv', 'en')", name=op.f("ck_mail_preferences_language")),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_mail_preferences_person_id_people")
        ),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_mail_preferences")),
    )


def downgrade() -> None:
    op.drop_table("mail_preferences")
    op.drop_index(op.f("ix_mail_messages_item_id"), table_name="mail_messages")
    op.drop_index(op.f("ix_mail_messages_person_id"), table_name="mail_messages")
    op.drop_index(
        "ix_mail_messages_pending",
        table_name="mail_messages",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_table("mail_messages")
    op.drop_table("mail_follows")
    op.drop_table("calendar_feeds")
