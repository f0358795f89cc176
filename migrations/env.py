"""Async Alembic environment. The URL comes from the `sqlalchemy.url` option when a caller
(tests, the CLI) sets it, else from Puls settings (DATABASE_URL)."""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from services.core.config import get_settings
from services.core.models import metadata
from services.core.timedata.partitions import PARTITION_NAME

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = metadata


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or get_settings().async_database_url


def _include_name(name: str | None, type_: str, _parents: object) -> bool:
    # The monthly partitions of time_records are made at run time (partitions.py), not by
    # migrations: they are not drift.
    return not (type_ == "table" and name is not None and PARTITION_NAME.fullmatch(name))


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_name=_include_name,
        compare_type=True,
        compare_server_default=False,
        transaction_per_migration=True,
    )


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def _run_sync(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_sync(connection)
        return
    engine = create_async_engine(_url())
    async with engine.connect() as conn:
        await conn.run_sync(_run_sync)
        await conn.commit()
    await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
