from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, Field, JsonValue, StringConstraints

from services.core.contract import VERSIONED_EXAMPLE, request_config, response_config
from services.core.validation import Code, Text

# Families of events Puls publishes (DESIGN.md and the issues that publish them). A subscription
# may name a family (`kpi.*`), any type of a known family (`kpi.target_breached`), or `*`.
EVENT_FAMILIES: dict[str, str] = {
    "org_unit": "org_unit.created, org_unit.updated, org_unit.deleted",
    "import": "import.completed, import.failed",
    "kpi": "kpi.target_breached, kpi.target_recovered",
    "target": "targets changed",
    "plan": "action plans changed",
    "action": "action.due_soon, action.overdue",
    "meeting": "meetings changed",
    "decision": "decision.made",
    "assignment": "assignment.due_soon, assignment.overdue",
    "compliance": "compliance.violation_detected, compliance.exemption_decided",
    "webhook": "webhook.subscription_disabled (admin events about subscriptions)",
}
_TYPE = re.compile(r"^([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*|\*)$")


def _event_type(value: str) -> str:
    if value == "*":
        return value
    match = _TYPE.match(value)
    if match is None:
        raise ValueError("an event type looks like 'family.name', 'family.*' or '*'")
    if match.group(1) not in EVENT_FAMILIES:
        known = ", ".join(sorted(EVENT_FAMILIES))
        raise ValueError(f"unknown event family {match.group(1)!r}; known: {known}")
    return value


def _distinct(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


EventType = Annotated[
    str, StringConstraints(min_length=1, max_length=100), AfterValidator(_event_type)
]
EventTypes = Annotated[
    list[EventType],
    Field(min_length=1, max_length=50, examples=[["kpi.*", "action.overdue"]]),
    AfterValidator(_distinct),
]
WebhookUrl = Annotated[
    str,
    StringConstraints(min_length=1, max_length=2000),
    Field(examples=["https://intranet.example.org/hooks/puls"]),
]
Description = Annotated[Text, StringConstraints(max_length=1000)]


class WebhookCreate(BaseModel):
    model_config = request_config(
        {
            "url": "https://intranet.example.org/hooks/puls",
            "event_types": ["kpi.*", "action.overdue"],
            "org_unit": "SUS",
            "description": "Intranet news for Skånes universitetssjukhus",
        }
    )

    url: WebhookUrl = Field(description="https URL receiving POSTs (http only in development).")
    event_types: EventTypes = Field(description="Types to send; `kpi.*` matches a family.")
    org_unit: Code | None = Field(
        default=None, description="Only events of this org unit's subtree."
    )
    description: Description | None = None
    enabled: bool = True


class WebhookUpdate(BaseModel):
    model_config = request_config({"enabled": True, "event_types": ["kpi.*"]})

    url: WebhookUrl | None = None
    event_types: EventTypes | None = None
    org_unit: Code | None = None
    description: Description | None = None
    enabled: bool | None = Field(
        default=None, description="Re-enabling a disabled subscription clears its failure state."
    )


class RotateSecret(BaseModel):
    """A request for a new signing secret; the old one keeps signing for an overlap."""

    model_config = request_config({"overlap_seconds": 86400})

    overlap_seconds: int | None = Field(
        default=None,
        ge=0,
        le=30 * 86400,
        description="How long the old secret keeps signing too (default 24 h).",
    )


_WEBHOOK_EXAMPLE: dict[str, JsonValue] = {
    "id": "4f0c9a52-3f0e-4d7b-9a55-6f0d1f6d8e21",
    "url": "https://intranet.example.org/hooks/puls",
    "event_types": ["kpi.*"],
    "org_unit": "SUS",
    "description": "Intranet",
    "enabled": True,
    "disabled_reason": None,
    "disabled_at": None,
    "failing_since": None,
    "previous_secret_expires_at": None,
    **VERSIONED_EXAMPLE,
}


class WebhookRead(BaseModel):
    model_config = response_config(_WEBHOOK_EXAMPLE)

    id: uuid.UUID
    url: str
    event_types: list[str]
    org_unit: str | None
    description: str | None
    enabled: bool
    disabled_reason: str | None = Field(description="Why Puls disabled it (410, failing).")
    disabled_at: datetime | None
    failing_since: datetime | None = Field(
        description="First failed attempt since the last success."
    )
    previous_secret_expires_at: datetime | None = Field(
        description="Until then the previous secret signs too (after a rotation)."
    )
    created_at: datetime
    updated_at: datetime
    version: int


class WebhookCreated(WebhookRead):
    """A new subscription, with its signing secret (shown only in this answer)."""

    model_config = response_config(
        {
            **_WEBHOOK_EXAMPLE,
            "event_types": ["kpi.*", "action.overdue"],
            "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwJCNvdTR0Gfo=",
        }
    )

    # The idempotency store keeps this answer with these fields null (see `Secret-Redacted`).
    secret_fields: ClassVar[tuple[str, ...]] = ("secret",)

    secret: str | None = Field(
        description="The signing secret (`whsec_…`). Shown only now; rotate to get a new one. "
        "null in a replay of the same `Idempotency-Key` (header `Secret-Redacted: secret`).",
        examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwJCNvdTR0Gfo="],
    )


class SecretRotated(BaseModel):
    """The new signing secret after a rotation, and until when the previous one signs too."""

    model_config = response_config(
        {
            "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwJCNvdTR0Gfo=",
            "previous_secret_expires_at": "2026-11-26T08:00:00Z",
            "version": 3,
        }
    )

    secret_fields: ClassVar[tuple[str, ...]] = ("secret",)

    secret: str | None = Field(
        description="The new secret. Shown only now: null in a replay of the same "
        "`Idempotency-Key` (header `Secret-Redacted: secret`)."
    )
    version: int = Field(description="The subscription's new version (its ETag).")
    previous_secret_expires_at: datetime = Field(
        description="Until then messages carry two signatures, one per secret."
    )


DeliveryStatus = Literal["pending", "delivered", "failed", "cancelled"]


class AttemptRead(BaseModel):
    attempted_at: datetime = Field(description="When the request was sent.")
    status_code: int | None = Field(description="The receiver's status; null when none came.")
    duration_ms: int = Field(description="How long the attempt took, in milliseconds.")
    outcome: Literal["delivered", "retry", "failed"] = Field(
        description="`delivered` (a 2xx answer), `retry` (another attempt is scheduled) or "
        "`failed` (final: no more attempts)."
    )
    error: str | None
    next_retry_at: datetime | None = Field(
        description="When the next attempt is due after a `retry`; null otherwise."
    )


class DeliveryRead(BaseModel):
    model_config = response_config(
        {
            "id": 812,
            "message_id": "msg_812",
            "webhook_id": "msg_812",
            "subscription_id": "4f0c9a52-3f0e-4d7b-9a55-6f0d1f6d8e21",
            "event_id": 4711,
            "event_type": "kpi.target_breached",
            "status": "pending",
            "attempt_count": 2,
            "next_attempt_at": "2026-11-25T08:35:05Z",
            "delivered_at": None,
            "last_status_code": 503,
            "last_error": "HTTP 503",
            "created_at": "2026-11-25T08:00:00Z",
            "updated_at": "2026-11-25T08:00:00Z",
            "attempts": [
                {
                    "attempted_at": "2026-11-25T08:00:00Z",
                    "status_code": 503,
                    "duration_ms": 41,
                    "outcome": "retry",
                    "error": "HTTP 503",
                    "next_retry_at": "2026-11-25T08:00:05Z",
                }
            ],
        }
    )

    id: int
    message_id: str = Field(
        description="The message's id, sent as the `webhook-id` header: the same on every "
        "attempt and redelivery (receivers deduplicate on it)."
    )
    webhook_id: str = Field(
        deprecated=True,
        description="Deprecated: the same as `message_id` (it is not a subscription's id); "
        "removed in the next version.",
    )
    subscription_id: uuid.UUID
    event_id: int | None = Field(description="The outbox event; null for a test ping.")
    event_type: str
    status: DeliveryStatus
    attempt_count: int = Field(description="How many attempts were made so far.")
    next_attempt_at: datetime | None = Field(description="Next retry while pending.")
    delivered_at: datetime | None = Field(
        description="When the receiver accepted it (a 2xx answer); null until then."
    )
    last_status_code: int | None = Field(
        description="The receiver's status in the latest attempt; null when none came."
    )
    last_error: str | None = Field(
        description="What went wrong in the latest attempt; null if nothing did."
    )
    created_at: datetime
    updated_at: datetime = Field(
        description="When its status or attempts last changed; what `updated_since` compares."
    )
    attempts: list[AttemptRead] = Field(description="Every attempt, oldest first (up to 50).")


def message_id(delivery_id: int) -> str:
    return f"msg_{delivery_id}"


def payload(type_: str, timestamp: datetime, data: dict[str, Any]) -> dict[str, Any]:
    """The Standard Webhooks body: `{type, timestamp, data}`."""
    return {"type": type_, "timestamp": timestamp.isoformat().replace("+00:00", "Z"), "data": data}
