from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from services.core.db import identity_pk, timestamptz, timestamptz_now


class IdempotencyRecord(SQLModel, table=True):
    __tablename__ = "idempotency_keys"
    __table_args__ = (sa.UniqueConstraint("owner", "key"),)

    id: int | None = identity_pk()
    owner: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    key: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    method: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    path: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    request_hash: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    state: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    response_status: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))
    response_body: bytes | None = Field(default=None, sa_column=sa.Column(sa.LargeBinary))
    response_headers: dict[str, Any] | None = Field(
        default=None, sa_column=sa.Column(postgresql.JSONB)
    )
    created_at: datetime = Field(sa_column=timestamptz_now(index=True))
    completed_at: datetime | None = Field(default=None, sa_column=timestamptz())
