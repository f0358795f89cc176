"""Notifications: the mail outbox (one row per message), each person's mail preferences and
item follows, and the secret tokens of calendar feeds."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from services.core.db import one_of, timestamptz, timestamptz_now, uuid_pk

MAIL_KINDS = ("reminder", "overdue", "invitation", "digest")
MAIL_STATUSES = ("pending", "sent", "failed", "skipped")
LANGUAGES = ("sv", "en")
ITEM_TYPES = ("action", "assignment", "meeting", "plan")
FEED_KINDS = ("body", "person")


class MailMessage(SQLModel, table=True):
    """One e-mail to one person. `dedupe_key` says what it is about (kind, item, due date or
    version, person), so a scan that runs again finds it and adds nothing; its id is the
    `Message-ID`, the same on every attempt, so a resend after a crash is recognisable."""

    __tablename__ = "mail_messages"
    __table_args__ = (
        sa.CheckConstraint(one_of("kind", MAIL_KINDS), name="kind"),
        sa.CheckConstraint(one_of("status", MAIL_STATUSES), name="status"),
        # The sender's queue: pending rows by when they are due.
        sa.Index(
            "ix_mail_messages_pending",
            "next_attempt_at",
            postgresql_where=sa.text("status = 'pending'"),
        ),
    )

    id: uuid.UUID = uuid_pk()
    dedupe_key: str = Field(sa_column=sa.Column(sa.Text, nullable=False, unique=True))
    kind: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    person_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("people.id"), nullable=False, index=True)
    )
    # The action, assignment or meeting it is about (none for a digest): the invitation scan
    # looks up who was invited to which meetings by it.
    item_id: uuid.UUID | None = Field(default=None, sa_column=sa.Column(sa.Uuid, index=True))
    to_address: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    language: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    subject: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    body_text: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    body_html: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    status: str = Field(default="pending", sa_column=sa.Column(sa.Text, nullable=False))
    attempts: int = Field(
        default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0")
    )
    created_at: datetime | None = Field(default=None, sa_column=timestamptz_now())
    next_attempt_at: datetime | None = Field(default=None, sa_column=timestamptz_now())
    sent_at: datetime | None = Field(default=None, sa_column=timestamptz())
    # Why it was given up or skipped, or the last temporary error (an SMTP reply or 'no_email').
    last_error: str | None = Field(default=None, sa_column=sa.Column(sa.Text))


class MailPreference(SQLModel, table=True):
    """A person's mail settings; a person without a row gets every kind in the default
    language."""

    __tablename__ = "mail_preferences"
    __table_args__ = (sa.CheckConstraint(one_of("language", LANGUAGES), name="language"),)

    person_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("people.id"), primary_key=True)
    )
    language: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    disabled_kinds: list[str] = Field(
        default_factory=list,
        sa_column=sa.Column(postgresql.ARRAY(sa.Text), nullable=False, server_default="{}"),
    )
    updated_at: datetime | None = Field(default=None, sa_column=timestamptz_now())


class MailFollow(SQLModel, table=True):
    """A person following (mail about an item that is not theirs) or unfollowing (no mail about
    one that is) a single item."""

    __tablename__ = "mail_follows"
    __table_args__ = (sa.CheckConstraint(one_of("item_type", ITEM_TYPES), name="item_type"),)

    person_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("people.id"), primary_key=True)
    )
    item_type: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    item_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, primary_key=True))
    following: bool = Field(sa_column=sa.Column(sa.Boolean, nullable=False))
    created_at: datetime | None = Field(default=None, sa_column=timestamptz_now())


class CalendarFeed(SQLModel, table=True):
    """A secret calendar URL for a body's meetings or a person's meetings and due dates. Only
    the token's SHA-256 is kept; revoking keeps the row (so the id still names it)."""

    __tablename__ = "calendar_feeds"
    __table_args__ = (
        sa.CheckConstraint(one_of("kind", FEED_KINDS), name="kind"),
        sa.CheckConstraint(
            "(kind = 'body') = (body_id IS NOT NULL) "
            "AND (kind = 'person') = (person_id IS NOT NULL)",
            name="target",
        ),
    )

    id: uuid.UUID = uuid_pk()
    token_hash: str = Field(sa_column=sa.Column(sa.Text, nullable=False, unique=True))
    kind: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    body_id: uuid.UUID | None = Field(
        default=None, sa_column=sa.Column(sa.Uuid, sa.ForeignKey("meeting_bodies.id"))
    )
    person_id: uuid.UUID | None = Field(
        default=None, sa_column=sa.Column(sa.Uuid, sa.ForeignKey("people.id"))
    )
    created_by: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    created_at: datetime | None = Field(default=None, sa_column=timestamptz_now())
    revoked_at: datetime | None = Field(default=None, sa_column=timestamptz())
