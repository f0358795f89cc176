"""The monthly partitions of time_records: made ahead by the worker's cron and by ingest when a
record needs one, dropped past the retention.

A partition is made as a plain table and then attached: ATTACH PARTITION takes only a SHARE
UPDATE EXCLUSIVE lock on time_records, so it waits for no reader or writer (CREATE TABLE …
PARTITION OF would take ACCESS EXCLUSIVE and queue every query behind the longest read). It
runs in its own short transaction, so a batch's open transaction never holds the DDL."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from services.core.config import Settings
from services.core.timedata.errors import PartitionUnavailable

TABLE = "time_records"
PARTITION_NAME = re.compile(r"time_records_p(\d{4})(\d{2})")
# A partition waits this long for a lock before the batch is refused (503, nothing stored).
LOCK_TIMEOUT = "5s"
_LOCK_KEY = "puls:time_records:partitions"


def month_of(day: date) -> date:
    return day.replace(day=1)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def months_between(first: date, last: date) -> list[date]:
    """The months from `first`'s through `last`'s."""
    months, month = [], month_of(first)
    while month <= last:
        months.append(month)
        month = next_month(month)
    return months


def partition_name(month: date) -> str:
    return f"{TABLE}_p{month:%Y%m}"


_EXISTING = sa.text(
    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
    "WHERE i.inhparent = CAST(:table AS regclass)"
)


async def existing(conn: AsyncConnection | AsyncSession) -> set[date]:
    """The months that have a partition."""
    names = (await conn.execute(_EXISTING, {"table": TABLE})).scalars()
    months = set()
    for name in names:
        if match := PARTITION_NAME.fullmatch(name):
            months.add(date(int(match[1]), int(match[2]), 1))
    return months


async def _create(conn: AsyncConnection, month: date) -> bool:
    """Makes `month`'s partition unless another process just did; whether this one did."""
    await conn.execute(sa.text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
    # One maker at a time: two batches needing the same month both end with it made once.
    await conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": _LOCK_KEY})
    if month in await existing(conn):
        return False
    name = partition_name(month)
    await conn.execute(
        sa.text(f"CREATE TABLE {name} (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    )
    await conn.execute(
        sa.text(
            f"ALTER TABLE {TABLE} ATTACH PARTITION {name} "
            f"FOR VALUES FROM ('{month.isoformat()}') TO ('{next_month(month).isoformat()}')"
        )
    )
    return True


async def ensure(engine: AsyncEngine, months: Iterable[date], *, have: set[date]) -> int:
    """Makes the partitions of `months` missing from `have`, each committed on its own
    connection; raises PartitionUnavailable when one cannot be made. How many were made."""
    missing = sorted({month_of(m) for m in months} - have)
    made = 0
    for month in missing:
        try:
            async with engine.begin() as conn:
                made += await _create(conn, month)
        except (DBAPIError, OSError, TimeoutError) as exc:
            raise PartitionUnavailable(
                f"the partition of time records for {month:%Y-%m} could not be created; "
                "nothing of this batch was stored, send it again later"
            ) from exc
    return made


async def ensure_for_session(session: AsyncSession, months: Iterable[date]) -> int:
    """Ingest's call: the partitions the batch's months need, made outside its transaction."""
    wanted = {month_of(m) for m in months}
    have = await existing(session)
    if wanted <= have:
        return 0
    bind = session.bind
    assert isinstance(bind, AsyncEngine)
    return await ensure(bind, wanted, have=have)


async def drop_older_than(engine: AsyncEngine, cutoff: date) -> list[str]:
    """Detaches and drops the partitions wholly before `cutoff`'s month; their names. The
    records go with them (the retention the region chose)."""
    async with engine.connect() as conn:
        have = await existing(conn)
    dropped = []
    for month in sorted(m for m in have if next_month(m) <= month_of(cutoff)):
        name = partition_name(month)
        async with engine.begin() as conn:
            await conn.execute(sa.text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
            await conn.execute(
                sa.text("DELETE FROM time_record_keys WHERE work_date >= :lo AND work_date < :hi"),
                {"lo": month, "hi": next_month(month)},
            )
            await conn.execute(sa.text(f"ALTER TABLE {TABLE} DETACH PARTITION {name}"))
            await conn.execute(sa.text(f"DROP TABLE {name}"))
        dropped.append(name)
    return dropped


async def maintain(engine: AsyncEngine, settings: Settings, today: date) -> tuple[int, list[str]]:
    """The cron's work: every month of the accepted window ahead of today has its partition
    (ingest then rarely makes one), and partitions past the retention are dropped."""
    async with engine.connect() as conn:
        have = await existing(conn)
    ahead = months_between(today, today + timedelta(days=settings.accepted_days_ahead))
    made = await ensure(engine, ahead, have=have)
    dropped: list[str] = []
    if settings.time_records_retention_years is not None:
        years = settings.time_records_retention_years
        cutoff = month_of(today).replace(year=today.year - years)
        dropped = await drop_older_than(engine, cutoff)
    return made, dropped
