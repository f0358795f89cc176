from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field

from services.core.db import Timestamps


class ApiKey(Timestamps, table=True):
    __tablename__ = "api_keys"

    id: uuid.UUID = Field(
        default_factory=uuid.uuid4,
        primary_key=True,
        sa_column_kwargs={"server_default": sa.text("gen_random_uuid()")},
    )
    name: str = Field(max_length=200)
    # The first characters of the token, so an operator can tell keys apart without the secret.
    token_prefix: str = Field(max_length=16)
    token_hash: str = Field(max_length=64, unique=True)
    scopes: list[str] = Field(sa_type=postgresql.ARRAY(sa.Text()))
    org_unit_id: int | None = Field(
        default=None, foreign_key="org_units.id", sa_type=sa.BigInteger, index=True
    )
    expires_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    revoked_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    created_by: str | None = Field(default=None, max_length=200)
