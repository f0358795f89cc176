from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from services.core.db import identity_pk, timestamptz_now


class AuditEntry(SQLModel, table=True):
    """Who did what: every change, and every read of person-level data."""

    __tablename__ = "audit_log"

    id: int | None = identity_pk()
    at: datetime = Field(sa_column=timestamptz_now(index=True))
    actor: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    action: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    resource_type: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    resource_id: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    org_unit_id: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger))
    request_id: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    details: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(postgresql.JSONB))
