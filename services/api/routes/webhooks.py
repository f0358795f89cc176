from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import Query, Response
from fastapi.responses import JSONResponse

from services.api.deps import (
    IdempotencyDep,
    IfMatch,
    PageDep,
    SessionDep,
    SettingsDep,
    UpdatedSince,
    WebhooksAdmin,
    api_router,
    secret_shown_once,
)
from services.api.operations import acts_on, creates, deletes, lists, operation, reads, updates
from services.api.responses import created, no_content, versioned
from services.core.http import etag
from services.core.pagination import Page, Tombstone
from services.core.webhooks import service as webhooks_service
from services.core.webhooks.schemas import (
    DeliveryRead,
    RotateSecret,
    SecretRotated,
    WebhookCreate,
    WebhookCreated,
    WebhookRead,
    WebhookUpdate,
)

router = api_router(tags=["webhooks"])


@router.post(
    "/webhooks",
    **creates(
        "Subscribe a URL to events",
        WebhookCreated,
        409,
        responses=secret_shown_once(201, "secret"),
    ),
)
async def create_webhook(
    data: WebhookCreate,
    session: SessionDep,
    principal: WebhooksAdmin,
    settings: SettingsDep,
    idem: IdempotencyDep,
) -> Response:
    """Needs `webhooks:admin`. Puls POSTs each matching event to `url`, signed per the Standard
    Webhooks specification (`webhook-id`, `webhook-timestamp`, `webhook-signature`), with the
    body `{"type", "timestamp", "data"}`, at least once and in order per subscription.

    The response holds the signing `secret` (`whsec_…`): it is shown only here (a replay of the
    same `Idempotency-Key` answers with `secret: null` and `Secret-Redacted: secret`). The URL
    must be https and must not point to loopback, private, link-local or metadata addresses; it
    may not contain credentials. `event_types` takes exact types (`kpi.target_breached`),
    families (`kpi.*`) or `*`. Accepts `Idempotency-Key`."""
    if (replay := await idem.replay()) is not None:
        return replay
    webhook = await webhooks_service.create(session, principal, data, settings)
    return await created(idem, session, webhook, f"/v1/webhooks/{webhook.id}")


@router.get("/webhooks", **lists("List webhook subscriptions", Page[WebhookRead | Tombstone]))
async def list_webhooks(
    session: SessionDep,
    principal: WebhooksAdmin,
    page: PageDep,
    updated_since: UpdatedSince = None,
    enabled: Annotated[bool | None, Query(description="Only enabled or disabled ones.")] = None,
) -> Page[WebhookRead | Tombstone]:
    """Secrets are never listed."""
    return await webhooks_service.list_subscriptions(
        session,
        principal,
        enabled=enabled,
        window=page.window(updated_since),
    )


@router.get("/webhooks/{webhook_id:uuid}", **reads("Get a webhook subscription", WebhookRead))
async def get_webhook(webhook_id: uuid.UUID, session: SessionDep, principal: WebhooksAdmin) -> Any:
    return versioned(await webhooks_service.read(session, principal, webhook_id))


@router.patch(
    "/webhooks/{webhook_id:uuid}", **updates("Change a webhook subscription", WebhookRead)
)
async def update_webhook(
    webhook_id: uuid.UUID,
    data: WebhookUpdate,
    session: SessionDep,
    principal: WebhooksAdmin,
    settings: SettingsDep,
    if_match: IfMatch = None,
) -> Any:
    """Set `enabled: true` to re-enable a subscription Puls disabled (after a 410 or days of
    failures); messages still pending are then sent."""
    webhook = await webhooks_service.update(
        session, principal, webhook_id, data, settings, if_match=if_match
    )
    return versioned(webhook)


@router.delete("/webhooks/{webhook_id:uuid}", **deletes("Delete a webhook subscription", 412))
async def delete_webhook(
    webhook_id: uuid.UUID, session: SessionDep, principal: WebhooksAdmin, if_match: IfMatch = None
) -> Response:
    """Pending messages are cancelled; mirrors see a tombstone."""
    await webhooks_service.delete(session, principal, webhook_id, if_match=if_match)
    return no_content()


@router.post(
    "/webhooks/{webhook_id}:rotate-secret",
    **operation(
        "Rotate the signing secret",
        SecretRotated,
        problems=(400, 401, 403, 404, 409, 412, 415, 422),
        responses=secret_shown_once(200, "secret"),
    ),
)
async def rotate_webhook_secret(
    webhook_id: uuid.UUID,
    session: SessionDep,
    principal: WebhooksAdmin,
    settings: SettingsDep,
    idem: IdempotencyDep,
    data: RotateSecret | None = None,
    if_match: IfMatch = None,
) -> Response:
    """Returns the new secret once. Until `previous_secret_expires_at` every message carries
    two signatures (`v1,<new> v1,<old>`), so receivers can switch secrets without losing any.
    Accepts `Idempotency-Key`, so a retry does not rotate twice; its replay answers with
    `secret: null` and `Secret-Redacted: secret` (rotate again if the first answer was lost)."""
    if (replay := await idem.replay()) is not None:
        return replay
    rotated = await webhooks_service.rotate_secret(
        session, principal, webhook_id, data or RotateSecret(), settings, if_match=if_match
    )
    return await idem.respond(session, 200, rotated, {"ETag": etag(rotated.version)})


@router.post(
    "/webhooks/{webhook_id}/test", **acts_on("Send a test ping", DeliveryRead, 409, status=202)
)
async def test_webhook(
    webhook_id: uuid.UUID, session: SessionDep, principal: WebhooksAdmin, idem: IdempotencyDep
) -> Response:
    """Queues a `webhook.ping` message (`data: {"subscription_id", "message"}`) to the URL,
    signed like every other; follow it in the delivery log. Accepts `Idempotency-Key`."""
    if (replay := await idem.replay()) is not None:
        return replay
    delivery = await webhooks_service.send_test(session, principal, webhook_id)
    return await idem.respond(session, 202, delivery, {"Location": f"/v1/deliveries/{delivery.id}"})


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    **lists("List a subscription's deliveries and attempts", Page[DeliveryRead], 404),
)
async def list_webhook_deliveries(
    webhook_id: uuid.UUID,
    session: SessionDep,
    principal: WebhooksAdmin,
    page: PageDep,
    status: Annotated[
        Literal["pending", "delivered", "failed", "cancelled"] | None,
        Query(description="Only deliveries in this state."),
    ] = None,
    updated_since: UpdatedSince = None,
) -> Page[DeliveryRead]:
    """Newest first. Each delivery lists its attempts: status code, duration, error and when
    the next retry is due. With `updated_since`: the deliveries whose status or attempts
    changed since, by change time (`updated_at`), so a dashboard follows them without reading
    the whole log again. Deliveries are purged after the retention
    (`PULS_WEBHOOKS_LOG_RETENTION_DAYS`) without tombstones: this is a log, not a set of
    resources to keep in step."""
    return await webhooks_service.list_deliveries(
        session, principal, webhook_id, status=status, window=page.window(updated_since)
    )


# `:int`, so `/deliveries/{id}:redeliver` is not also this path (a 405's `Allow` would list GET).
@router.get("/deliveries/{delivery_id:int}", **reads("Get a webhook delivery", DeliveryRead))
async def get_webhook_delivery(
    delivery_id: int, session: SessionDep, principal: WebhooksAdmin
) -> DeliveryRead:
    """One message to one subscription, with its attempts (status code, duration, error and
    when the next retry is due)."""
    return await webhooks_service.read_delivery(session, principal, delivery_id)


@router.post(
    "/deliveries/{delivery_id}:redeliver",
    **acts_on("Send a delivery again", DeliveryRead, status=202),
)
async def redeliver_webhook_delivery(
    delivery_id: int, session: SessionDep, principal: WebhooksAdmin
) -> Any:
    """Queues the message again with the same `webhook-id` (receivers deduplicating on it see
    a repeat). It goes first in its subscription's order; `Location` is the delivery, to
    follow its attempts."""
    delivery = await webhooks_service.redeliver(session, principal, delivery_id)
    return JSONResponse(
        delivery.model_dump(mode="json"),
        status_code=202,
        headers={"Location": f"/v1/deliveries/{delivery.id}"},
    )
