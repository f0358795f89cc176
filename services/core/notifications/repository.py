"""Every SQL statement of the notifications domain."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.core.notifications.models import (
    CalendarFeed,
    MailFollow,
    MailMessage,
    MailPreference,
)

# ---------------------------------------------------------------- preferences and follows


def _uuids(ids: Sequence[uuid.UUID]) -> Any:
    return sa.cast(sa.literal(list(ids), postgresql.ARRAY(sa.Uuid)), postgresql.ARRAY(sa.Uuid))


async def preferences(
    session: AsyncSession, person_ids: Sequence[uuid.UUID] | None = None
) -> dict[uuid.UUID, MailPreference]:
    stmt = sa.select(MailPreference)
    if person_ids is not None:
        # One array parameter, not one per id: a digest asks for every person at once.
        stmt = stmt.where(col(MailPreference.person_id) == sa.any_(_uuids(person_ids)))
    return {p.person_id: p for p in (await session.execute(stmt)).scalars()}


async def upsert_preference(
    session: AsyncSession, person_id: uuid.UUID, language: str, disabled_kinds: list[str]
) -> None:
    stmt = insert(MailPreference).values(
        person_id=person_id, language=language, disabled_kinds=disabled_kinds
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["person_id"],
            set_={
                "language": stmt.excluded.language,
                "disabled_kinds": stmt.excluded.disabled_kinds,
                "updated_at": sa.func.now(),
            },
        )
    )


async def follows(
    session: AsyncSession,
    *,
    person_id: uuid.UUID | None = None,
    item_ids: Sequence[uuid.UUID] | None = None,
) -> Sequence[MailFollow]:
    stmt = sa.select(MailFollow).order_by(
        col(MailFollow.item_type), col(MailFollow.item_id), col(MailFollow.person_id)
    )
    if person_id is not None:
        stmt = stmt.where(col(MailFollow.person_id) == person_id)
    if item_ids is not None:
        stmt = stmt.where(col(MailFollow.item_id) == sa.any_(_uuids(item_ids)))
    return (await session.execute(stmt)).scalars().all()


async def set_follow(
    session: AsyncSession, person_id: uuid.UUID, item_type: str, item_id: uuid.UUID, following: bool
) -> None:
    stmt = insert(MailFollow).values(
        person_id=person_id, item_type=item_type, item_id=item_id, following=following
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["person_id", "item_type", "item_id"],
            set_={"following": stmt.excluded.following},
        )
    )


async def delete_follow(
    session: AsyncSession, person_id: uuid.UUID, item_type: str, item_id: uuid.UUID
) -> bool:
    result: Any = await session.execute(
        sa.delete(MailFollow).where(
            col(MailFollow.person_id) == person_id,
            col(MailFollow.item_type) == item_type,
            col(MailFollow.item_id) == item_id,
        )
    )
    return bool(result.rowcount)


# ---------------------------------------------------------------- the outbox


async def existing_keys(session: AsyncSession, keys: Sequence[str]) -> set[str]:
    if not keys:
        return set()
    rows = await session.execute(
        sa.text("SELECT dedupe_key FROM mail_messages WHERE dedupe_key = ANY(:keys)"),
        {"keys": list(keys)},
    )
    return set(rows.scalars())


async def insert_messages(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Adds messages in batched multi-row statements; a key already there (a concurrent scan)
    is left alone."""
    if rows:
        stmt = insert(MailMessage).on_conflict_do_nothing(index_elements=["dedupe_key"])
        await session.execute(stmt, rows)


async def claim_due(session: AsyncSession, limit: int) -> Sequence[MailMessage]:
    """Pending messages whose time has come, locked for this sender; others skip them."""
    stmt = (
        sa.select(MailMessage)
        .where(
            col(MailMessage.status) == "pending", col(MailMessage.next_attempt_at) <= sa.func.now()
        )
        .order_by(col(MailMessage.next_attempt_at), col(MailMessage.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await session.execute(stmt)).scalars().all()


async def mark_sent(session: AsyncSession, ids: Sequence[uuid.UUID]) -> None:
    if ids:
        await session.execute(
            sa.text(
                "UPDATE mail_messages SET status = 'sent', sent_at = now(), "
                "attempts = attempts + 1, last_error = NULL WHERE id = ANY(:ids)"
            ),
            {"ids": list(ids)},
        )


async def mark_retry(
    session: AsyncSession, updates: Sequence[tuple[uuid.UUID, datetime, str]]
) -> None:
    if updates:
        await session.execute(
            sa.text(
                "UPDATE mail_messages m SET attempts = m.attempts + 1, next_attempt_at = u.at, "
                "last_error = u.error FROM unnest(CAST(:ids AS uuid[]), "
                "CAST(:ats AS timestamptz[]), CAST(:errors AS text[])) AS u(id, at, error) "
                "WHERE m.id = u.id"
            ),
            {
                "ids": [u[0] for u in updates],
                "ats": [u[1] for u in updates],
                "errors": [u[2] for u in updates],
            },
        )


async def mark_failed(session: AsyncSession, failures: Sequence[tuple[uuid.UUID, str]]) -> None:
    if failures:
        await session.execute(
            sa.text(
                "UPDATE mail_messages m SET status = 'failed', attempts = m.attempts + 1, "
                "last_error = u.error FROM unnest(CAST(:ids AS uuid[]), CAST(:errors AS text[])) "
                "AS u(id, error) WHERE m.id = u.id"
            ),
            {"ids": [f[0] for f in failures], "errors": [f[1] for f in failures]},
        )


async def blank_old_bodies(session: AsyncSession, days: int) -> int:
    result: Any = await session.execute(
        sa.text(
            "UPDATE mail_messages SET to_address = NULL, subject = '', body_text = '', "
            "body_html = '' WHERE status <> 'pending' AND body_text <> '' "
            "AND created_at < now() - make_interval(days => :days)"
        ),
        {"days": days},
    )
    return int(result.rowcount or 0)


async def status_counts(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(
        sa.text("SELECT status, count(*) FROM mail_messages GROUP BY status")
    )
    return {status: int(n) for status, n in rows.all()}


# ---------------------------------------------------------------- calendar feeds


async def feed_by_hash(session: AsyncSession, token_hash: str) -> CalendarFeed | None:
    stmt = sa.select(CalendarFeed).where(
        col(CalendarFeed.token_hash) == token_hash, col(CalendarFeed.revoked_at).is_(None)
    )
    return (await session.execute(stmt)).scalars().first()


async def get_feed(
    session: AsyncSession, feed_id: uuid.UUID, *, for_update: bool = False
) -> CalendarFeed | None:
    stmt = sa.select(CalendarFeed).where(
        col(CalendarFeed.id) == feed_id, col(CalendarFeed.revoked_at).is_(None)
    )
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalars().first()


async def list_feeds(session: AsyncSession, created_by: str | None) -> Sequence[CalendarFeed]:
    stmt = sa.select(CalendarFeed).where(col(CalendarFeed.revoked_at).is_(None))
    if created_by is not None:
        stmt = stmt.where(col(CalendarFeed.created_by) == created_by)
    return (await session.execute(stmt.order_by(col(CalendarFeed.created_at)))).scalars().all()


async def invited_before(
    session: AsyncSession, meeting_ids: Sequence[uuid.UUID]
) -> set[tuple[uuid.UUID, uuid.UUID]]:
    """(meeting, person) pairs that got an invitation (or a change) already."""
    if not meeting_ids:
        return set()
    rows = await session.execute(
        sa.text(
            "SELECT item_id, person_id FROM mail_messages "
            "WHERE item_id = ANY(:ids) AND kind = 'invitation'"
        ),
        {"ids": list(meeting_ids)},
    )
    return {(m, p) for m, p in rows.all()}
