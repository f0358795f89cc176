"""Subscription operations for the API. A subscription filtered to an org unit belongs to that
subtree: keys confined to a subtree see and manage only subscriptions inside it (others are 404)
and must give an org unit; unfiltered subscriptions are for region-wide keys."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.core import queue
from services.core.audit import service as audit_service
from services.core.clock import utcnow
from services.core.config import Settings
from services.core.crud import Window, apply_update, page_of, read_as, status_page, visible_or_404
from services.core.errors import ValidationFailed, field_error
from services.core.http import check_if_match
from services.core.orgs import service as orgs_service
from services.core.pagination import Page, Tombstone
from services.core.principal import Principal
from services.core.webhooks import repository, secret_box, signing, ssrf
from services.core.webhooks.errors import (
    DeliveryNotFound,
    WebhookDisabled,
    WebhookNotFound,
    WebhookUrlRefused,
)
from services.core.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from services.core.webhooks.schemas import (
    AttemptRead,
    DeliveryRead,
    RotateSecret,
    SecretRotated,
    WebhookCreate,
    WebhookCreated,
    WebhookRead,
    WebhookUpdate,
    message_id,
)

DELIVER_FUNCTION = "deliver_webhooks"


def request_delivery(session: AsyncSession) -> None:
    """Wakes the worker after commit. One job id per second collapses bursts; a job already
    running keeps looping while it finds work, and the cron sweep catches anything else."""
    queue.defer_job(session, DELIVER_FUNCTION, job_id=f"{DELIVER_FUNCTION}:{int(time.time())}")


def _to_read(sub: WebhookSubscription, org_code: str | None) -> WebhookRead:
    # The old secret's expiry means nothing once the overlap is over and the secret is gone.
    expires = sub.previous_secret_expires_at if sub.encrypted_previous_secret is not None else None
    return read_as(WebhookRead, sub, org_unit=org_code, previous_secret_expires_at=expires)


def _visible(principal: Principal, org_path: str | None) -> bool:
    if principal.org_path is None:
        return True
    return org_path is not None and principal.sees_path(org_path)


async def _get_visible(
    session: AsyncSession, principal: Principal, subscription_id: uuid.UUID, *, for_update: bool
) -> tuple[WebhookSubscription, str | None]:
    row = visible_or_404(
        await repository.get(session, subscription_id, for_update=for_update),
        lambda row: _visible(principal, row[2]),
        WebhookNotFound(f"No webhook subscription with id {subscription_id}"),
    )
    return row[0], row[1]


async def _for_change(
    session: AsyncSession, principal: Principal, subscription_id: uuid.UUID, if_match: str | None
) -> WebhookSubscription:
    """The subscription, locked, if the caller's `If-Match` (when sent) is its current ETag."""
    sub, _ = await _get_visible(session, principal, subscription_id, for_update=True)
    check_if_match(if_match, sub.version)
    return sub


async def _check_url(url: str, settings: Settings) -> None:
    try:
        await ssrf.check_url_at_creation(
            url,
            allow_http=settings.webhooks_allow_http,
            allow_private=settings.webhooks_allow_private_addresses,
        )
    except ssrf.UrlRefused as exc:
        raise WebhookUrlRefused(
            f"The webhook URL is refused: {exc}",
            errors=[field_error(["body", "url"], str(exc), exc.code)],
        ) from None


async def _org_unit(
    session: AsyncSession, principal: Principal, code: str | None
) -> tuple[int | None, str | None]:
    if code is None:
        if principal.org_path is not None:
            raise ValidationFailed(
                "A key confined to an org unit must give org_unit",
                errors=[field_error(["body", "org_unit"], "required for this key", "missing")],
            )
        return None, None
    unit = await orgs_service.get_referenced(
        session, principal, code, ["body", "org_unit"], detail=f"Unknown org unit {code!r}"
    )
    return unit.id, unit.code


async def create(
    session: AsyncSession, principal: Principal, data: WebhookCreate, settings: Settings
) -> WebhookCreated:
    await _check_url(data.url, settings)
    org_unit_id, org_code = await _org_unit(session, principal, data.org_unit)
    secret = signing.generate_secret()
    sub = WebhookSubscription(
        url=data.url,
        event_types=data.event_types,
        org_unit_id=org_unit_id,
        description=data.description,
        enabled=data.enabled,
        encrypted_secret=secret_box.seal(settings, secret),
        starts_after_event_id=await repository.max_event_id(session),
        created_by=principal.actor,
    )
    await audit_service.add_audited(session, principal, sub, "webhook", org_unit_id=org_unit_id)
    return WebhookCreated(**_to_read(sub, org_code).model_dump(), secret=secret)


async def read(
    session: AsyncSession, principal: Principal, subscription_id: uuid.UUID
) -> WebhookRead:
    sub, code = await _get_visible(session, principal, subscription_id, for_update=False)
    return _to_read(sub, code)


async def list_subscriptions(
    session: AsyncSession,
    principal: Principal,
    *,
    enabled: bool | None,
    window: Window,
) -> Page[WebhookRead | Tombstone]:
    rows = await repository.list_page(
        session, scope_path=principal.org_path, enabled=enabled, window=window
    )
    return page_of(rows, window, lambda r: _to_read(r[0], r[1]))


async def update(
    session: AsyncSession,
    principal: Principal,
    subscription_id: uuid.UUID,
    data: WebhookUpdate,
    settings: Settings,
    *,
    if_match: str | None,
) -> WebhookRead:
    sub = await _for_change(session, principal, subscription_id, if_match)
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    for required in ("url", "event_types", "enabled"):
        if required in changes and changes[required] is None:
            raise ValidationFailed(
                f"{required} cannot be null",
                errors=[field_error(["body", required], "cannot be null", "null")],
            )
    if "url" in changes:
        await _check_url(changes["url"], settings)
    if "org_unit" in changes:
        sub.org_unit_id, _ = await _org_unit(session, principal, changes.pop("org_unit"))
    if changes.get("enabled") is True and not sub.enabled:
        # Re-enabled by a person: start afresh.
        sub.disabled_reason = None
        sub.disabled_at = None
        sub.failing_since = None
    if changes.get("enabled") is False and sub.enabled:
        sub.disabled_reason = "disabled by an administrator"
        sub.disabled_at = utcnow()
    await audit_service.update_audited(
        session, principal, sub, changes, "webhook", fields=data.model_fields_set
    )
    if sub.enabled:
        request_delivery(session)
    return await read(session, principal, subscription_id)


async def delete(
    session: AsyncSession, principal: Principal, subscription_id: uuid.UUID, *, if_match: str | None
) -> None:
    sub = await _for_change(session, principal, subscription_id, if_match)
    sub.enabled = False
    # Its pending messages are cancelled by the worker's sweep (see delivery.cancel_deleted).
    await audit_service.delete_audited(session, principal, sub, "webhook")


async def rotate_secret(
    session: AsyncSession,
    principal: Principal,
    subscription_id: uuid.UUID,
    data: RotateSecret,
    settings: Settings,
    *,
    if_match: str | None,
) -> SecretRotated:
    sub = await _for_change(session, principal, subscription_id, if_match)
    overlap = (
        data.overlap_seconds
        if data.overlap_seconds is not None
        else settings.webhooks_secret_overlap_seconds
    )
    new_secret = signing.generate_secret()
    expires = utcnow() + timedelta(seconds=overlap)
    await apply_update(
        session,
        sub,
        {
            # Still encrypted as it was (with an older key, if one was rotated meanwhile).
            "encrypted_previous_secret": sub.encrypted_secret,
            "previous_secret_expires_at": expires,
            "encrypted_secret": secret_box.seal(settings, new_secret),
        },
    )
    await audit_service.record(session, principal, "webhook.rotate_secret", "webhook", str(sub.id))
    return SecretRotated(secret=new_secret, previous_secret_expires_at=expires, version=sub.version)


async def reseal_secrets(session: AsyncSession, settings: Settings) -> int:
    """Re-encrypts every stored signing secret with the newest key of PULS_SECRETS_KEY (the
    middle step of a key rotation: afterwards the older keys can be dropped). Returns how many
    subscriptions it re-encrypted; raises `secret_box.SecretUnreadable` (and changes nothing,
    the caller's transaction rolls back) when a secret is under none of the keys."""
    rows = await repository.all_secrets_for_update(session)
    for subscription_id, secret, previous in rows:
        await repository.set_encrypted_secrets(
            session,
            subscription_id,
            secret_box.reseal(settings, secret),
            None if previous is None else secret_box.reseal(settings, previous),
        )
    return len(rows)


def _delivery_read(delivery: WebhookDelivery, attempts: list[WebhookAttempt]) -> DeliveryRead:
    assert delivery.id is not None and delivery.created_at is not None
    return DeliveryRead(
        id=delivery.id,
        message_id=message_id(delivery.id),
        webhook_id=message_id(delivery.id),
        subscription_id=delivery.subscription_id,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        status=delivery.status,
        attempt_count=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at if delivery.status == "pending" else None,
        delivered_at=delivery.delivered_at,
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
        created_at=delivery.created_at,
        updated_at=delivery.updated_at,
        attempts=[
            AttemptRead(
                attempted_at=a.attempted_at,
                status_code=a.status_code,
                duration_ms=a.duration_ms,
                outcome=a.outcome,
                error=a.error,
                next_retry_at=a.next_retry_at,
            )
            for a in attempts
        ],
    )


async def send_test(
    session: AsyncSession, principal: Principal, subscription_id: uuid.UUID
) -> DeliveryRead:
    sub, _ = await _get_visible(session, principal, subscription_id, for_update=False)
    if not sub.enabled:
        raise WebhookDisabled("Enable the subscription before sending a test ping")
    body = {"subscription_id": str(sub.id), "message": "ping from Puls"}
    delivery = await repository.insert_ping(session, sub.id, body)
    await audit_service.record(session, principal, "webhook.test", "webhook", str(sub.id))
    request_delivery(session)
    return _delivery_read(delivery, [])


DELIVERIES = "webhook_deliveries"


async def list_deliveries(
    session: AsyncSession,
    principal: Principal,
    subscription_id: uuid.UUID,
    *,
    status: str | None,
    window: Window,
) -> Page[DeliveryRead]:
    """Newest first; with `updated_since`, those whose status or attempts changed since, by
    change time. Deliveries past the retention are purged without tombstones (a log)."""
    await _get_visible(session, principal, subscription_id, for_update=False)
    rows = await repository.deliveries_page(
        session, subscription_id, status=status, window=window, name=DELIVERIES
    )
    page = status_page(
        rows,
        window,
        lambda d: d,
        newest=lambda d: (d.id,),
        changed=lambda d: (d.updated_at, d.id),
        name=DELIVERIES,
    )
    kept: list[WebhookDelivery] = page.items
    attempts = await repository.attempts_of(session, [d.id for d in kept if d.id is not None])
    return Page(
        items=[_delivery_read(d, attempts.get(d.id or 0, [])) for d in kept],
        next_cursor=page.next_cursor,
    )


async def _visible_delivery(
    session: AsyncSession, principal: Principal, delivery_id: int, *, for_update: bool
) -> WebhookDelivery:
    delivery: WebhookDelivery = visible_or_404(
        await repository.get_delivery(session, delivery_id, for_update=for_update),
        lambda row: _visible(principal, row[1]),
        DeliveryNotFound(f"No webhook delivery with id {delivery_id}"),
    )[0]
    return delivery


async def read_delivery(
    session: AsyncSession, principal: Principal, delivery_id: int
) -> DeliveryRead:
    """One delivery with its attempts, if the caller sees its subscription."""
    delivery = await _visible_delivery(session, principal, delivery_id, for_update=False)
    attempts = await repository.attempts_of(session, [delivery_id])
    return _delivery_read(delivery, attempts.get(delivery_id, []))


async def redeliver(session: AsyncSession, principal: Principal, delivery_id: int) -> DeliveryRead:
    """Queues the message again with the same `webhook-id`, at the head of its subscription's
    order (it is the oldest pending one), due now."""
    delivery = await _visible_delivery(session, principal, delivery_id, for_update=True)
    delivery.status = "pending"
    delivery.next_attempt_at = sa.func.now()  # type: ignore[assignment]
    await session.flush()
    await session.refresh(delivery)
    await audit_service.record(
        session, principal, "webhook.redeliver", "webhook_delivery", str(delivery_id)
    )
    request_delivery(session)
    attempts = await repository.attempts_of(session, [delivery_id])
    return _delivery_read(delivery, attempts.get(delivery_id, []))
