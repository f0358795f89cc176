"""Engine and session factories, the metadata naming convention and shared column mixins.

Engines are built by the API lifespan, the worker's on_startup and the CLI, never at import."""

from __future__ import annotations

import uuid
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
        # A failed statement's error (logged, and raised into tracebacks) shows its SQL but not
        # its bound values, which may be person-level data (pseudonyms, sick-leave hours).
        hide_parameters=True,
        connect_args={
            "server_settings": {
                "application_name": "puls",
                "statement_timeout": str(settings.db_statement_timeout_ms),
                "timezone": "UTC",
                # PostgreSQL compiles a statement whose estimated cost passes jit_above_cost.
                # Puls's statements over the partitioned table are estimated far above their
                # real cost (a probe per key and month), so a file's unchanged-line lookup spent
                # 230 ms a chunk compiling 236 functions for 20 ms of work; and the KPI engine's
                # full recalculation is no faster with JIT (7.9 s either way at 1 M records).
                "jit": "off",
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


# Column declarations every model repeats. Each call builds a new Column: a Column belongs to
# one table. Pass the column's own options (nullable, index, primary_key) as keyword arguments.


def uuid_pk() -> Any:
    """A uuid primary key: made by the service, or by the database for rows SQL inserts."""
    return Field(
        default_factory=uuid.uuid4,
        sa_column=sa.Column(sa.Uuid, primary_key=True, server_default=sa.text("gen_random_uuid()")),
    )


def identity_pk() -> Any:
    """A bigint primary key the database numbers (rows kept in insertion order)."""
    return Field(default=None, sa_column=sa.Column(sa.BigInteger, sa.Identity(), primary_key=True))


def timestamptz(**kwargs: Any) -> Any:
    """An instant (times are UTC; the column keeps the offset)."""
    return sa.Column(sa.DateTime(timezone=True), **kwargs)


def timestamptz_now(**kwargs: Any) -> Any:
    """An instant the database clock sets on insert, so every writer agrees on it."""
    return timestamptz(nullable=False, server_default=sa.func.now(), **kwargs)


def touched_at() -> Any:
    """When the row last changed: set on insert, and moved by a database trigger on every
    update (`puls_touch_updated_at`), which the ORM then reads back."""
    return timestamptz_now(server_onupdate=sa.FetchedValue())


def org_unit_fk(**kwargs: Any) -> Any:
    """The org unit a row belongs to (org units are never hard-deleted)."""
    return sa.Column(sa.BigInteger, sa.ForeignKey("org_units.id"), **kwargs)


def one_of(column: str, values: tuple[str, ...]) -> str:
    """The SQL of a check constraint that `column` holds one of `values`."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class NamedCode(SQLModel):
    """A catalogue entry: a code and its name in English and Swedish."""

    code: str = Field(sa_type=sa.Text, primary_key=True)
    name_en: str = Field(sa_type=sa.Text, nullable=False)
    name_sv: str = Field(sa_type=sa.Text, nullable=False)


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


class Mirrored(Timestamps):
    """A row `updated_since` mirrors follow: its change time, and `deleted_at` for the
    tombstone a soft-deleted row leaves."""

    deleted_at: datetime | None = Field(
        default=None,
        sa_type=sa.DateTime(timezone=True),
    )


class Versioned(Mirrored):
    """Optimistic concurrency (ETag = version) and soft deletion (tombstones for mirrors)."""

    version: int = Field(default=1, sa_column_kwargs={"server_default": "1", "nullable": False})

    def touch(self) -> None:
        """A change: a new ETag and a new change time (the database's clock)."""
        self.version += 1
        self.updated_at = sa.func.now()  # type: ignore[assignment]

    def mark_deleted(self) -> None:
        """Soft deletion: mirrors see a tombstone, references keep working."""
        self.deleted_at = sa.func.now()  # type: ignore[assignment]
        self.touch()
