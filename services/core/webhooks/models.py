"""Webhook subscriptions, their deliveries (one per subscription and event) and the attempt log,
plus the fan-out cursor over the outbox (`events`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from services.core.db import (
    Versioned,
    identity_pk,
    org_unit_fk,
    timestamptz,
    timestamptz_now,
    touched_at,
    uuid_pk,
)


class WebhookSubscription(Versioned, table=True):
    """Where to send which events. The signing secrets are stored encrypted (`secret_box`: the
    worker must sign with them, so a one-way hash cannot work); they leave the service only in
    the answer to their creation or rotation."""

    __tablename__ = "webhook_subscriptions"
    __table_args__ = (sa.Index("ix_webhook_subscriptions_updated_at_id", "updated_at", "id"),)

    id: uuid.UUID = uuid_pk()
    url: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    event_types: list[str] = Field(sa_column=sa.Column(postgresql.ARRAY(sa.Text), nullable=False))
    org_unit_id: int | None = Field(default=None, sa_column=org_unit_fk(index=True))
    description: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    enabled: bool = Field(
        default=True, sa_column=sa.Column(sa.Boolean, nullable=False, server_default=sa.true())
    )
    encrypted_secret: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    encrypted_previous_secret: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    previous_secret_expires_at: datetime | None = Field(default=None, sa_column=timestamptz())
    disabled_reason: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    disabled_at: datetime | None = Field(default=None, sa_column=timestamptz())
    failing_since: datetime | None = Field(default=None, sa_column=timestamptz())
    # Events up to this outbox id happened before the subscription existed and are not sent.
    starts_after_event_id: int = Field(
        default=0, sa_column=sa.Column(sa.BigInteger, nullable=False, server_default="0")
    )
    created_by: str | None = Field(default=None, sa_column=sa.Column(sa.Text))


class WebhookDelivery(SQLModel, table=True):
    """One message to one subscription: an outbox event, or a ping (`event_id` null, `payload`
    set). Its id is the `webhook-id` (`msg_<id>`), the same on every attempt and redelivery."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        sa.UniqueConstraint("subscription_id", "event_id"),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'failed', 'cancelled')", name="status"
        ),
        sa.Index("ix_webhook_deliveries_subscription_id_id", "subscription_id", "id"),
        # The head of each subscription's queue: one index range probe per subscription.
        sa.Index(
            "ix_webhook_deliveries_pending",
            "subscription_id",
            "id",
            postgresql_where=sa.text("status = 'pending'"),
        ),
        sa.Index("ix_webhook_deliveries_updated_at", "subscription_id", "updated_at", "id"),
    )

    id: int | None = identity_pk()
    subscription_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid,
            sa.ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"),
            nullable=False,
        )
    )
    event_id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.BigInteger, sa.ForeignKey("events.id", ondelete="CASCADE")),
    )
    event_type: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    payload: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(postgresql.JSONB))
    status: str = Field(
        default="pending",
        sa_column=sa.Column(sa.Text, nullable=False, server_default="pending"),
    )
    attempts: int = Field(
        default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0")
    )
    next_attempt_at: datetime | None = Field(default=None, sa_column=timestamptz_now())
    created_at: datetime | None = Field(default=None, sa_column=timestamptz_now())
    last_attempt_at: datetime | None = Field(default=None, sa_column=timestamptz())
    delivered_at: datetime | None = Field(default=None, sa_column=timestamptz())
    last_status_code: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))
    last_error: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    updated_at: datetime | None = Field(default=None, sa_column=touched_at())


class WebhookAttempt(SQLModel, table=True):
    """One HTTP try of a delivery, as recorded after it happened."""

    __tablename__ = "webhook_attempts"

    id: int | None = identity_pk()
    delivery_id: int = Field(
        sa_column=sa.Column(
            sa.BigInteger,
            sa.ForeignKey("webhook_deliveries.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
    )
    attempted_at: datetime = Field(sa_column=timestamptz(nullable=False))
    status_code: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))
    duration_ms: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    outcome: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    error: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    next_retry_at: datetime | None = Field(default=None, sa_column=timestamptz())


class WebhookOutboxCursor(SQLModel, table=True):
    """How far the fan-out has read the outbox. Ids below it that were missing when it passed
    (transactions still open) are kept in `webhook_outbox_gaps` until they appear or expire."""

    __tablename__ = "webhook_outbox_cursor"

    name: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    last_event_id: int = Field(
        default=0, sa_column=sa.Column(sa.BigInteger, nullable=False, server_default="0")
    )


class WebhookOutboxGap(SQLModel, table=True):
    __tablename__ = "webhook_outbox_gaps"

    event_id: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True, autoincrement=False))
    first_seen_at: datetime | None = Field(default=None, sa_column=timestamptz_now())
    # pg_snapshot_xmax when the gap was seen: once every older transaction has ended and the
    # row is still missing, its transaction rolled back and the gap is dropped.
    xmax_at_seen: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
