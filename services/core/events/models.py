from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from services.core.db import identity_pk, org_unit_fk, timestamptz_now


class Event(SQLModel, table=True):
    """The outbox: one row per domain event, written in the transaction of the change that
    caused it. The feed (`GET /v1/events`) and webhook delivery both read from here."""

    __tablename__ = "events"
    __table_args__ = (sa.Index("ix_events_type_id", "type", "id"),)

    id: int | None = identity_pk()
    type: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    occurred_at: datetime = Field(sa_column=timestamptz_now())
    org_unit_id: int | None = Field(default=None, sa_column=org_unit_fk(index=True))
    data: dict[str, Any] = Field(sa_column=sa.Column(postgresql.JSONB, nullable=False))
