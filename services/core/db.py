"""Engine and session factories, the metadata naming convention and shared column mixins.

Engines are built by the API lifespan, the worker's on_startup and the CLI, never at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlmodel import Field, SQLModel

from services.core.config import Settings

# Stable constraint names so Alembic revisions can name what they drop.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = SQLModel.metadata


def create_engine(settings: Settings, *, pool_size: int | None = None) -> AsyncEngine:
    return create_async_engine(
        settings.async_database_url,
        pool_size=pool_size or settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        # A restarted PostgreSQL leaves dead connections in the pool; pre-ping replaces them.
        pool_pre_ping=True,
        pool_timeout=10,
        connect_args={
            "server_settings": {
                "application_name": "puls",
                "statement_timeout": str(settings.db_statement_timeout_ms),
                "timezone": "UTC",
            },
            "timeout": 10,
        },
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def transaction(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """The one commit boundary used by tasks and the CLI: commit on success, roll back on error."""
    async with sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


def timestamptz(**kwargs: Any) -> Any:
    return Field(sa_type=sa.DateTime(timezone=True), **kwargs)


class Timestamps(SQLModel):
    """created_at / updated_at kept by the database clock, so every writer agrees on them."""

    created_at: datetime | None = Field(
        default=None,
        sa_type=sa.DateTime(timezone=True),
        sa_column_kwargs={"server_default": sa.func.now(), "nullable": False},
    )
    updated_at: datetime | None = Field(
        default=None,
        sa_type=sa.DateTime(timezone=True),
        sa_column_kwargs={"server_default": sa.func.now(), "nullable": False},
    )


class Versioned(Timestamps):
    """Optimistic concurrency (ETag = version) and soft deletion (tombstones for mirrors)."""

    version: int = Field(default=1, sa_column_kwargs={"server_default": "1", "nullable": False})
    deleted_at: datetime | None = Field(
        default=None,
        sa_type=sa.DateTime(timezone=True),
    )

    def touch(self) -> None:
        """A change: a new ETag and a new change time (the database's clock)."""
        self.version += 1
        self.updated_at = sa.func.now()  # type: ignore[assignment]

    def mark_deleted(self) -> None:
        """Soft deletion: mirrors see a tombstone, references keep working."""
        self.deleted_at = sa.func.now()  # type: ignore[assignment]
        self.touch()
