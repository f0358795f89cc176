"""Every SQL statement of webhooks: subscriptions, the outbox fan-out, the delivery queue."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.core.crud import (
    Window,
    fetch_mirrored,
    insert,
    live_row,
    newest_first_or_changed,
    scoped,
)
from services.core.events.models import Event
from services.core.tree import OrgUnit, in_subtree_sql, with_unit
from services.core.webhooks.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)

# Namespace of the per-subscription advisory locks (one sender per subscription at a time).
LOCK_NAMESPACE = 808


async def get(
    session: AsyncSession, subscription_id: uuid.UUID, *, for_update: bool = False
) -> Any:
    return await live_row(
        session,
        with_unit(WebhookSubscription, outer=True),
        WebhookSubscription,
        subscription_id,
        for_update=for_update,
    )


async def list_page(
    session: AsyncSession,
    *,
    scope_path: str | None,
    enabled: bool | None,
    window: Window,
) -> Sequence[Any]:
    stmt = scoped(with_unit(WebhookSubscription, outer=True), scope_path)
    if enabled is not None:
        stmt = stmt.where(col(WebhookSubscription.enabled).is_(enabled))
    return await fetch_mirrored(session, stmt, WebhookSubscription, window)


async def all_secrets_for_update(session: AsyncSession) -> Sequence[Any]:
    """Every subscription's encrypted secrets (deleted ones too), locked, for re-encryption."""
    rows = await session.execute(
        sa.select(
            col(WebhookSubscription.id),
            col(WebhookSubscription.encrypted_secret),
            col(WebhookSubscription.encrypted_previous_secret),
        )
        .order_by(col(WebhookSubscription.id))
        .with_for_update()
    )
    return rows.all()


async def set_encrypted_secrets(
    session: AsyncSession, subscription_id: uuid.UUID, secret: str, previous: str | None
) -> None:
    """Re-encrypted secrets: the same values, so the subscription's version stays."""
    await session.execute(
        sa.update(WebhookSubscription)
        .where(col(WebhookSubscription.id) == subscription_id)
        .values(encrypted_secret=secret, encrypted_previous_secret=previous)
    )


async def max_event_id(session: AsyncSession) -> int:
    value = (await session.execute(sa.select(sa.func.max(col(Event.id))))).scalar()
    return int(value or 0)


async def cancel_pending_of_deleted(session: AsyncSession) -> int:
    result: Any = await session.execute(
        sa.text("""
            UPDATE webhook_deliveries SET status = 'cancelled'
            WHERE status = 'pending' AND subscription_id IN (
                SELECT id FROM webhook_subscriptions WHERE deleted_at IS NOT NULL
            )
        """)
    )
    return int(result.rowcount or 0)


async def insert_ping(
    session: AsyncSession, subscription_id: uuid.UUID, payload: dict[str, Any]
) -> WebhookDelivery:
    return await insert(
        session,
        WebhookDelivery(
            subscription_id=subscription_id, event_type="webhook.ping", payload=payload
        ),
    )


async def get_delivery(session: AsyncSession, delivery_id: int, *, for_update: bool = False) -> Any:
    stmt: Any = (
        sa.select(WebhookDelivery, col(OrgUnit.path))
        .join(
            WebhookSubscription,
            col(WebhookSubscription.id) == col(WebhookDelivery.subscription_id),
        )
        .outerjoin(OrgUnit, col(OrgUnit.id) == col(WebhookSubscription.org_unit_id))
        .where(
            col(WebhookDelivery.id) == delivery_id,
            col(WebhookSubscription.deleted_at).is_(None),
        )
    )
    if for_update:
        stmt = stmt.with_for_update(of=WebhookDelivery)
    return (await session.execute(stmt)).first()


async def deliveries_page(
    session: AsyncSession,
    subscription_id: uuid.UUID,
    *,
    status: str | None,
    window: Window,
    name: str,
) -> Sequence[WebhookDelivery]:
    """Newest first, or with `updated_since` those changed since, by change time."""
    stmt = sa.select(WebhookDelivery).where(col(WebhookDelivery.subscription_id) == subscription_id)
    if status is not None:
        stmt = stmt.where(col(WebhookDelivery.status) == status)
    paged = newest_first_or_changed(
        stmt,
        window,
        newest=[col(WebhookDelivery.id)],
        changed=col(WebhookDelivery.updated_at),
        key=col(WebhookDelivery.id),
        name=name,
    )
    return list((await session.execute(paged)).scalars().all())


async def attempts_of(
    session: AsyncSession, delivery_ids: Sequence[int], per_delivery: int = 50
) -> dict[int, list[WebhookAttempt]]:
    if not delivery_ids:
        return {}
    ranked = (
        sa.select(
            WebhookAttempt,
            sa.func.row_number()
            .over(
                partition_by=col(WebhookAttempt.delivery_id),
                order_by=col(WebhookAttempt.id).desc(),
            )
            .label("rn"),
        )
        .where(col(WebhookAttempt.delivery_id).in_(delivery_ids))
        .subquery()
    )
    attempt = sa.orm.aliased(WebhookAttempt, ranked)
    rows = await session.execute(
        sa.select(attempt).where(ranked.c.rn <= per_delivery).order_by(ranked.c.id)
    )
    out: dict[int, list[WebhookAttempt]] = {}
    for a in rows.scalars():
        out.setdefault(a.delivery_id, []).append(a)
    return out


# ---- the outbox fan-out ------------------------------------------------------------------

_MATCH = f"""
    s.enabled AND s.deleted_at IS NULL AND e.id > s.starts_after_event_id
    AND ('*' = ANY(s.event_types) OR e.type = ANY(s.event_types)
         OR (split_part(e.type, '.', 1) || '.*') = ANY(s.event_types))
    AND (s.org_unit_id IS NULL
         OR ({in_subtree_sql("eo.path", "so.path")}))
"""


def _fan_out(events: str) -> sa.TextClause:
    """One delivery per (matching subscription, event) for the `events` condition."""
    return sa.text(f"""
INSERT INTO webhook_deliveries (subscription_id, event_id, event_type)
SELECT s.id, e.id, e.type
FROM events e
LEFT JOIN org_units eo ON eo.id = e.org_unit_id
JOIN webhook_subscriptions s ON true
LEFT JOIN org_units so ON so.id = s.org_unit_id
WHERE {events} AND {_MATCH}
ORDER BY e.id, s.id
ON CONFLICT (subscription_id, event_id) DO NOTHING
""")


_FAN_OUT_RANGE = _fan_out("e.id > :after AND e.id <= :upto")
_FAN_OUT_IDS = _fan_out("e.id = ANY(CAST(:ids AS bigint[]))")


async def lock_cursor(session: AsyncSession) -> int | None:
    """The fan-out cursor, locked; None when another worker is fanning out right now."""
    await session.execute(
        sa.text(
            "INSERT INTO webhook_outbox_cursor (name, last_event_id) VALUES ('fanout', 0) "
            "ON CONFLICT (name) DO NOTHING"
        )
    )
    value = (
        await session.execute(
            sa.text(
                "SELECT last_event_id FROM webhook_outbox_cursor WHERE name = 'fanout' "
                "FOR UPDATE SKIP LOCKED"
            )
        )
    ).scalar()
    return None if value is None else int(value)


async def set_cursor(session: AsyncSession, last_event_id: int) -> None:
    await session.execute(
        sa.text("UPDATE webhook_outbox_cursor SET last_event_id = :v WHERE name = 'fanout'"),
        {"v": last_event_id},
    )


async def expired_gaps(session: AsyncSession, grace_seconds: float) -> list[int]:
    """Gaps whose transactions have all ended (every xid below the one seen then is finished)
    and that are older than the grace: a row that is still missing was rolled back."""
    rows = await session.execute(
        sa.text(
            "SELECT event_id FROM webhook_outbox_gaps "
            "WHERE xmax_at_seen <= pg_snapshot_xmin(pg_current_snapshot())::text::bigint "
            "AND first_seen_at < now() - make_interval(secs => :grace)"
        ),
        {"grace": grace_seconds},
    )
    return [int(r[0]) for r in rows.all()]


async def fill_gaps(session: AsyncSession) -> tuple[list[int], int]:
    """Fans out gap events that have appeared since; returns (found ids, deliveries made)."""
    gap_ids = [
        int(r[0])
        for r in (await session.execute(sa.text("SELECT event_id FROM webhook_outbox_gaps"))).all()
    ]
    if not gap_ids:
        return [], 0
    found = [
        int(r[0] or 0)
        for r in (
            await session.execute(sa.select(col(Event.id)).where(col(Event.id).in_(gap_ids)))
        ).all()
    ]
    made = 0
    if found:
        result: Any = await session.execute(_FAN_OUT_IDS, {"ids": found})
        made = int(result.rowcount or 0)
    return found, made


async def drop_gaps(session: AsyncSession, ids: Sequence[int]) -> None:
    if ids:
        await session.execute(
            sa.text("DELETE FROM webhook_outbox_gaps WHERE event_id = ANY(CAST(:ids AS bigint[]))"),
            {"ids": list(ids)},
        )


async def next_event_ids(session: AsyncSession, after: int, limit: int) -> list[int]:
    rows = await session.execute(
        sa.select(col(Event.id)).where(col(Event.id) > after).order_by(col(Event.id)).limit(limit)
    )
    return [int(r[0] or 0) for r in rows.all()]


async def fan_out_range(session: AsyncSession, after: int, upto: int) -> int:
    result: Any = await session.execute(_FAN_OUT_RANGE, {"after": after, "upto": upto})
    return int(result.rowcount or 0)


async def add_gaps(session: AsyncSession, ids: Sequence[int]) -> None:
    if ids:
        await session.execute(
            sa.text(
                "INSERT INTO webhook_outbox_gaps (event_id, xmax_at_seen) "
                "SELECT unnest(CAST(:ids AS bigint[])), "
                "pg_snapshot_xmax(pg_current_snapshot())::text::bigint "
                "ON CONFLICT (event_id) DO NOTHING"
            ),
            {"ids": list(ids)},
        )


# ---- the delivery queue ------------------------------------------------------------------


async def due_subscriptions(session: AsyncSession, limit: int) -> list[uuid.UUID]:
    """Enabled subscriptions whose oldest pending delivery is due (per-subscription order:
    only the head of a subscription's queue can make it due)."""
    rows = await session.execute(
        sa.text("""
            SELECT s.id FROM webhook_subscriptions s
            CROSS JOIN LATERAL (
                SELECT d.next_attempt_at FROM webhook_deliveries d
                WHERE d.subscription_id = s.id AND d.status = 'pending'
                ORDER BY d.id LIMIT 1
            ) head
            WHERE s.enabled AND s.deleted_at IS NULL AND head.next_attempt_at <= now()
            ORDER BY head.next_attempt_at
            LIMIT :limit
        """),
        {"limit": limit},
    )
    return [r[0] for r in rows.all()]


async def try_lock_subscription(session: AsyncSession, subscription_id: uuid.UUID) -> bool:
    """Transaction-scoped: released at commit or when a crashed worker's connection closes."""
    value = (
        await session.execute(
            sa.text("SELECT pg_try_advisory_xact_lock(:ns, hashtext(:id))"),
            {"ns": LOCK_NAMESPACE, "id": str(subscription_id)},
        )
    ).scalar()
    return bool(value)


async def sendable_subscription(
    session: AsyncSession, subscription_id: uuid.UUID
) -> WebhookSubscription | None:
    stmt = sa.select(WebhookSubscription).where(
        col(WebhookSubscription.id) == subscription_id,
        col(WebhookSubscription.enabled),
        col(WebhookSubscription.deleted_at).is_(None),
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def pending_batch(
    session: AsyncSession, subscription_id: uuid.UUID, limit: int
) -> Sequence[Any]:
    """The subscription's oldest pending deliveries with their events, in order, locked."""
    rows = await session.execute(
        sa.text("""
            SELECT d.id, d.event_id, d.event_type, d.payload, d.attempts, d.next_attempt_at,
                   d.created_at, e.occurred_at, e.data
            FROM webhook_deliveries d
            LEFT JOIN events e ON e.id = d.event_id
            WHERE d.subscription_id = :sid AND d.status = 'pending'
            ORDER BY d.id
            LIMIT :limit
            FOR UPDATE OF d
        """),
        {"sid": subscription_id, "limit": limit},
    )
    return rows.all()


async def record_attempts(session: AsyncSession, attempts: list[dict[str, Any]]) -> None:
    if attempts:
        await session.execute(sa.insert(WebhookAttempt), attempts)


async def update_deliveries(session: AsyncSession, updates: list[dict[str, Any]]) -> None:
    if not updates:
        return
    await session.execute(
        sa.text("""
            UPDATE webhook_deliveries d SET
                status = u.status,
                attempts = d.attempts + 1,
                next_attempt_at = coalesce(u.next_attempt_at, d.next_attempt_at),
                last_attempt_at = u.attempted_at,
                delivered_at = CASE WHEN u.status = 'delivered' THEN u.attempted_at
                                    ELSE d.delivered_at END,
                last_status_code = u.status_code,
                last_error = u.error
            FROM unnest(
                CAST(:ids AS bigint[]), CAST(:statuses AS text[]),
                CAST(:next_attempts AS timestamptz[]), CAST(:attempted AS timestamptz[]),
                CAST(:codes AS int[]), CAST(:errors AS text[])
            ) AS u(id, status, next_attempt_at, attempted_at, status_code, error)
            WHERE d.id = u.id
        """),
        {
            "ids": [u["id"] for u in updates],
            "statuses": [u["status"] for u in updates],
            "next_attempts": [u["next_attempt_at"] for u in updates],
            "attempted": [u["attempted_at"] for u in updates],
            "codes": [u["status_code"] for u in updates],
            "errors": [u["error"] for u in updates],
        },
    )


async def oldest_undelivered_at(session: AsyncSession) -> datetime | None:
    """When the oldest event still waiting for a webhook happened: pending deliveries of
    enabled subscriptions, and events the fan-out has not read yet."""
    value = (
        await session.execute(
            sa.text("""
                SELECT least(
                    (SELECT min(e.occurred_at) FROM webhook_deliveries d
                     JOIN webhook_subscriptions s ON s.id = d.subscription_id
                     JOIN events e ON e.id = d.event_id
                     WHERE d.status = 'pending' AND s.enabled AND s.deleted_at IS NULL),
                    (SELECT min(e.occurred_at) FROM events e
                     WHERE e.id > coalesce((SELECT last_event_id FROM webhook_outbox_cursor
                                            WHERE name = 'fanout'), 0)
                       AND EXISTS (SELECT 1 FROM webhook_subscriptions s
                                   WHERE s.enabled AND s.deleted_at IS NULL))
                )
            """)
        )
    ).scalar()
    return value


async def count_disabled(session: AsyncSession) -> int:
    value = (
        await session.execute(
            sa.select(sa.func.count()).where(
                col(WebhookSubscription.enabled).is_(False),
                col(WebhookSubscription.deleted_at).is_(None),
            )
        )
    ).scalar()
    return int(value or 0)


async def purge_finished(session: AsyncSession, older_than_days: int, limit: int) -> int:
    """Deletes finished deliveries (and, by cascade, their attempts) older than the retention,
    at most `limit` at a time so the sweep never holds long locks."""
    result: Any = await session.execute(
        sa.text("""
            DELETE FROM webhook_deliveries WHERE id IN (
                SELECT id FROM webhook_deliveries
                WHERE status <> 'pending'
                  AND created_at < now() - make_interval(days => :days)
                LIMIT :limit
            )
        """),
        {"days": older_than_days, "limit": limit},
    )
    return int(result.rowcount or 0)


async def disable_subscription(
    session: AsyncSession, subscription_id: uuid.UUID, reason: str, now: datetime
) -> None:
    """A new version too: a client holding the old ETag must see that the subscription changed."""
    await session.execute(
        sa.update(WebhookSubscription)
        .where(col(WebhookSubscription.id) == subscription_id)
        .values(
            enabled=False,
            disabled_reason=reason,
            disabled_at=now,
            version=WebhookSubscription.version + 1,
            updated_at=sa.func.now(),
        )
    )


async def set_failing_since(
    session: AsyncSession, subscription_id: uuid.UUID, since: datetime | None
) -> None:
    await session.execute(
        sa.update(WebhookSubscription)
        .where(col(WebhookSubscription.id) == subscription_id)
        .values(failing_since=since)
    )
