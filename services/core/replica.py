"""Reads from a streaming replica (DATABASE_READ_URL) when it is close enough to the primary.

A read goes to the replica only when the replica streams from the primary, has replayed
within `read_replica_max_lag_seconds`, and holds the facts of the last recalculation the
client says it has seen; otherwise to the primary, with the reason. A replica that does not
answer sends reads to the primary for `read_replica_retry_seconds`, then is tried again: the
replica being down never fails a read."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, InterfaceError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.core.config import Settings
from services.core.db import create_engine, create_sessionmaker

# Replay lag is 0 while everything received is replayed (an idle primary sends nothing, and
# the last replayed transaction's age would grow without the replica being behind).
_STATE = sa.text("""
SELECT pg_is_in_recovery(),
    EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming'),
    CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
        ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0) END,
    (SELECT changed_at FROM kpi_facts_version)
""")
_FACTS_CHANGED_AT = sa.text("SELECT changed_at FROM kpi_facts_version")


@dataclass(frozen=True)
class Choice:
    """Where a read goes: the replica's session, or None and why not."""

    session: AsyncSession | None
    reason: str | None
    facts_changed_at: datetime | None


class Replica:
    def __init__(self, settings: Settings) -> None:
        assert settings.database_read_url is not None
        self.settings = settings
        self.engine: AsyncEngine = create_engine(
            settings.model_copy(update={"database_url": settings.database_read_url}),
            pool_size=max(2, settings.db_pool_size // 2),
        )
        self.sessionmaker: async_sessionmaker[AsyncSession] = create_sessionmaker(self.engine)
        self._down_until = 0.0

    async def choose(self, seen: datetime | None) -> Choice:
        """The replica's session if it may answer a client that has seen the facts of
        `seen` (a recalculation's `changed_at`); the caller closes it."""
        if time.monotonic() < self._down_until:
            return Choice(None, "unavailable", None)
        session = self.sessionmaker()
        try:
            standby, streaming, lag, changed_at = (await session.execute(_STATE)).one()
        except (DBAPIError, InterfaceError, OSError, TimeoutError):
            await session.close()
            self._down_until = time.monotonic() + self.settings.read_replica_retry_seconds
            return Choice(None, "unavailable", None)
        reason = None
        if not standby or not streaming or lag > self.settings.read_replica_max_lag_seconds:
            reason = "lag"
        elif seen is not None and (changed_at is None or changed_at < seen):
            reason = "behind"
        if reason is not None:
            await session.close()
            return Choice(None, reason, None)
        return Choice(session, None, changed_at)

    async def dispose(self) -> None:
        await self.engine.dispose()


async def facts_changed_at(session: AsyncSession) -> datetime | None:
    """When the facts a primary read sees were committed (the clients' `seen` bound)."""
    value = (await session.execute(_FACTS_CHANGED_AT)).scalar_one_or_none()
    return value if isinstance(value, datetime) else None
