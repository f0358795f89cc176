"""Delivery from the outbox to subscribers, run by the worker.

1. **Fan-out** reads `events` after a stored cursor and inserts one delivery per matching
   (subscription, event) in one statement. Outbox ids can commit out of order, so ids missing
   behind the cursor are remembered as gaps and fanned out when they appear, or dropped once
   every transaction that could still commit them has ended.
2. **Delivery**: per subscription, one sender at a time (a transaction-scoped advisory lock,
   skipped when taken) sends the oldest pending deliveries in order, then records the attempts
   in the same transaction. A crash before that commit rolls everything back and releases the
   lock, so the messages are sent again with the same `webhook-id` (at-least-once). A retryable
   failure stops the subscription's sequence until its retry is due (order is kept); a final
   failure lets the next message go. Senders of different subscriptions run concurrently,
   bounded by a semaphore, so one slow receiver holds only its own subscription.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.clock import utcnow
from services.core.config import Settings
from services.core.db import transaction
from services.core.events import service as events_service
from services.core.webhooks import repository, secret_box, signing, ssrf, transport
from services.core.webhooks.models import WebhookSubscription
from services.core.webhooks.schemas import message_id, payload

log = logging.getLogger("puls.webhooks")
RETRYABLE_STATUSES = frozenset({408, 429})


class DeliveryMetrics(Protocol):
    """The part of WorkerMetrics this module feeds (absent in some direct test calls)."""

    webhook_deliveries: Any
    webhook_attempt_duration: Any
    webhook_outbox_lag: Any
    webhook_disabled_subscriptions: Any


@dataclass(frozen=True)
class AttemptResult:
    status_code: int | None
    duration: float
    error: str | None
    retry_after: float | None = None
    oversized: bool = False


# ---- fan-out ---------------------------------------------------------------------------------


MAX_GAP_IDS = 10_000


def missing_ids(cursor: int, ids: Sequence[int]) -> list[int]:
    """Ids absent between the cursor and the newest id read: transactions still open (or
    rolled back). A hole wider than MAX_GAP_IDS is not open transactions but history (events
    purged before the first run) or a sequence jump (a restore, setval), and is not tracked."""
    missing: list[int] = []
    previous = cursor
    for event_id in ids:
        hole = event_id - previous - 1
        if 0 < hole <= MAX_GAP_IDS - len(missing):
            missing.extend(range(previous + 1, event_id))
        elif hole > 0:
            log.warning("outbox hole too wide to track; treated as a sequence jump")
        previous = event_id
    return missing


async def fan_out(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> int:
    """Creates deliveries for new outbox events; returns how many. Safe to run concurrently
    (the cursor row is taken with SKIP LOCKED) and twice (deliveries are unique)."""
    made = 0
    async with transaction(sessionmaker) as session:
        cursor = await repository.lock_cursor(session)
        if cursor is None:
            return 0
        # Order matters: decide which gaps expired before looking for their rows.
        expired = await repository.expired_gaps(session, settings.webhooks_outbox_gap_grace_seconds)
        found, made = await repository.fill_gaps(session)
        await repository.drop_gaps(session, sorted(set(found) | set(expired)))
        ids = await repository.next_event_ids(session, cursor, settings.webhooks_fanout_batch)
        if ids:
            missing = missing_ids(cursor, ids)
            made += await repository.fan_out_range(session, cursor, ids[-1])
            await repository.add_gaps(session, missing)
            await repository.set_cursor(session, ids[-1])
    return made


# ---- HTTP ------------------------------------------------------------------------------------


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - utcnow()).total_seconds(), 0.0)


class Sender:
    """Sends one subscription's batch over one kept-alive connection to the checked address."""

    def __init__(self, target: ssrf.Target, address: ssrf.IPAddress, settings: Settings) -> None:
        self.target = target
        self.address = address
        self.settings = settings
        self.connection: transport.Connection | None = None

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    async def _connect(self) -> transport.Connection:
        return await transport.connect(
            self.target,
            self.address,
            self.settings.webhooks_connect_timeout_seconds,
            self.settings.webhooks_ca_file,
        )

    async def _exchange(self, headers: dict[str, str], body: bytes) -> transport.Answer:
        limit = self.settings.webhooks_max_response_bytes
        reused = self.connection is not None
        if self.connection is None:
            self.connection = await self._connect()
        try:
            return await transport.exchange(self.connection, self.target, headers, body, limit)
        except transport.TransportError:
            if not reused:
                raise
            # The receiver closed the idle kept-alive connection: once more on a fresh one.
            self.close()
            self.connection = await self._connect()
            return await transport.exchange(self.connection, self.target, headers, body, limit)

    async def post(self, headers: dict[str, str], body: bytes) -> AttemptResult:
        """One POST. The whole attempt (connect, send, status, at most
        `webhooks_max_response_bytes` of body, never parsed) is bounded by the total timeout."""
        settings = self.settings
        started = time.perf_counter()
        try:
            async with asyncio.timeout(settings.webhooks_timeout_seconds):
                answer = await self._exchange(headers, body)
        except TimeoutError:
            self.close()
            return AttemptResult(
                None,
                time.perf_counter() - started,
                f"timed out after {settings.webhooks_timeout_seconds:g} s",
            )
        except transport.TransportError as exc:
            self.close()
            return AttemptResult(None, time.perf_counter() - started, str(exc)[:500])
        finally:
            if self.connection is not None and not self.connection.reusable:
                self.close()
        duration = time.perf_counter() - started
        code = answer.status
        if answer.oversized:
            return AttemptResult(
                code,
                duration,
                f"HTTP {code} with a response body over {settings.webhooks_max_response_bytes} "
                "bytes (not read, not retried)",
                oversized=True,
            )
        error = None if 200 <= code < 300 else f"HTTP {code}"
        if 300 <= code < 400:
            error = f"HTTP {code}: redirects are not followed"
        return AttemptResult(
            code, duration, error, parse_retry_after(answer.headers.get("retry-after"))
        )


def classify(
    result: AttemptResult, attempt_number: int, settings: Settings
) -> tuple[str, float | None]:
    """(outcome, seconds until the next try): delivered, retry or failed (final)."""
    code = result.status_code
    if result.oversized:
        # A receiver that answers with megabytes misbehaves; it got the message, so no retry.
        return "failed", None
    if code is not None and 200 <= code < 300:
        return "delivered", None
    retryable = code is None or code in RETRYABLE_STATUSES or code >= 500
    schedule = settings.webhooks_retry_schedule_seconds
    if not retryable or attempt_number > len(schedule):
        return "failed", None
    delay = schedule[attempt_number - 1]
    jitter = settings.webhooks_retry_jitter
    delay *= 1 + random.uniform(-jitter, jitter)
    if result.retry_after is not None:
        delay = max(delay, min(result.retry_after, settings.webhooks_max_retry_after_seconds))
    return "retry", delay


# ---- sending ---------------------------------------------------------------------------------


def _body(row: Any) -> bytes:
    if row.event_id is None:  # a test ping carries its own data
        doc = payload(row.event_type, row.created_at, row.payload or {})
    else:
        doc = payload(row.event_type, row.occurred_at, row.data)
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def signing_secrets(sub: WebhookSubscription, now: datetime, settings: Settings) -> list[str]:
    """The secrets that sign now, decrypted: the current one, and the previous one during a
    rotation's overlap."""
    secrets_ = [secret_box.unseal(settings, sub.encrypted_secret)]
    if (
        sub.encrypted_previous_secret
        and sub.previous_secret_expires_at is not None
        and sub.previous_secret_expires_at > now
    ):
        secrets_.append(secret_box.unseal(settings, sub.encrypted_previous_secret))
    return secrets_


async def _disable(
    session: AsyncSession, sub: WebhookSubscription, reason: str, now: datetime
) -> None:
    await repository.disable_subscription(session, sub.id, reason, now)
    await events_service.publish(
        session,
        "webhook.subscription_disabled",
        {"subscription_id": str(sub.id), "reason": reason},
        org_unit_id=sub.org_unit_id,
    )
    log.warning("webhook subscription disabled", extra={"subscription": str(sub.id)})


async def deliver_batch(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    subscription_id: uuid.UUID,
    metrics: DeliveryMetrics | None = None,
) -> tuple[int, bool]:
    """Sends one batch of a subscription's queue in one transaction.
    Returns (attempts made, whether more may be due right away)."""
    async with transaction(sessionmaker) as session:
        if not await repository.try_lock_subscription(session, subscription_id):
            return 0, False
        sub = await repository.sendable_subscription(session, subscription_id)
        if sub is None:
            return 0, False
        batch = await repository.pending_batch(session, sub.id, settings.webhooks_batch_size)
        if not batch:
            return 0, False
        now = utcnow()
        try:
            secrets_ = signing_secrets(sub, now, settings)
        except secret_box.SecretUnreadable:
            # A configuration error: nothing is sent or counted as failed, the messages wait
            # (in order) until the missing key is back in PULS_SECRETS_KEY.
            log.error(
                "webhook secret unreadable with PULS_SECRETS_KEY; subscription skipped",
                extra={"subscription": str(sub.id)},
            )
            return 0, False
        refusal: str | None = None
        target: ssrf.Target | None = None
        address: ssrf.IPAddress | None = None
        try:
            target = ssrf.parse_url(sub.url, allow_http=settings.webhooks_allow_http)
            address = await asyncio.wait_for(
                ssrf.resolve_allowed(
                    target, allow_private=settings.webhooks_allow_private_addresses
                ),
                timeout=settings.webhooks_connect_timeout_seconds,
            )
        except ssrf.UrlRefused as exc:
            refusal = f"refused: {exc}"
        except TimeoutError:
            refusal = "refused: name resolution timed out"

        attempts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        disable_reason: str | None = None
        failing_since = sub.failing_since
        more = True
        deadline = time.monotonic() + settings.webhooks_send_budget_seconds
        sender = (
            Sender(target, address, settings)
            if target is not None and address is not None
            else None
        )
        try:
            for row in batch:
                if row.next_attempt_at > utcnow() or time.monotonic() > deadline:
                    more = False
                    break
                body = _body(row)
                headers = signing.headers(secrets_, message_id(row.id), int(time.time()), body)
                attempted_at = utcnow()
                if refusal is not None or sender is None:
                    result = AttemptResult(None, 0.0, refusal or "refused")
                else:
                    result = await sender.post(headers, body)
                outcome, delay = classify(result, row.attempts + 1, settings)
                next_at = attempted_at + timedelta(seconds=delay) if delay is not None else None
                attempts.append(
                    {
                        "delivery_id": row.id,
                        "attempted_at": attempted_at,
                        "status_code": result.status_code,
                        "duration_ms": int(result.duration * 1000),
                        "outcome": outcome,
                        "error": result.error,
                        "next_retry_at": next_at,
                    }
                )
                updates.append(
                    {
                        "id": row.id,
                        "status": {"retry": "pending"}.get(outcome, outcome),
                        "next_attempt_at": next_at,
                        "attempted_at": attempted_at,
                        "status_code": result.status_code,
                        "error": result.error,
                    }
                )
                if metrics is not None:
                    metrics.webhook_deliveries.labels(outcome).inc()
                    if refusal is None:
                        metrics.webhook_attempt_duration.observe(result.duration)
                if outcome == "delivered":
                    failing_since = None
                else:
                    failing_since = failing_since or attempted_at
                if result.status_code == 410:
                    disable_reason = "the receiver answered 410 Gone"
                    more = False
                    break
                if outcome == "retry":
                    more = False
                    break
                if failing_since is not None and attempted_at - failing_since >= timedelta(
                    seconds=settings.webhooks_disable_after_seconds
                ):
                    break
        finally:
            if sender is not None:
                sender.close()
        if (
            disable_reason is None
            and failing_since is not None
            and utcnow() - failing_since
            >= timedelta(seconds=settings.webhooks_disable_after_seconds)
        ):
            disable_reason = f"failing continuously since {failing_since.isoformat()}"
        await repository.record_attempts(session, attempts)
        await repository.update_deliveries(session, updates)
        if failing_since != sub.failing_since:
            await repository.set_failing_since(session, sub.id, failing_since)
        if disable_reason is not None:
            await _disable(session, sub, disable_reason, utcnow())
            more = False
        return len(attempts), more and len(batch) == settings.webhooks_batch_size


async def drain_subscription(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    subscription_id: uuid.UUID,
    metrics: DeliveryMetrics | None = None,
    *,
    budget_seconds: float = 30.0,
) -> int:
    """Batches of one subscription until nothing is due or the budget is spent."""
    total = 0
    deadline = time.monotonic() + budget_seconds
    while True:
        sent, more = await deliver_batch(sessionmaker, settings, subscription_id, metrics)
        total += sent
        if not more or sent == 0 or time.monotonic() > deadline:
            return total


async def deliver_due(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    metrics: DeliveryMetrics | None = None,
    semaphore: asyncio.Semaphore | None = None,
    *,
    deadline: float | None = None,
) -> int:
    """One pass: every subscription with a due head gets a sender, at most
    `webhooks_max_concurrency` at once (shared by all jobs of the process via `semaphore`).
    No new sender starts after `deadline` (monotonic); the next job or sweep goes on."""
    semaphore = semaphore or asyncio.Semaphore(settings.webhooks_max_concurrency)
    async with transaction(sessionmaker) as session:
        due = await repository.due_subscriptions(session, limit=1000)

    async def one(subscription_id: uuid.UUID) -> int:
        async with semaphore:
            if deadline is not None and time.monotonic() > deadline:
                return 0
            try:
                return await drain_subscription(sessionmaker, settings, subscription_id, metrics)
            except Exception:
                # One subscription's trouble (e.g. a database error) must not stop the others.
                log.exception(
                    "webhook delivery failed", extra={"subscription": str(subscription_id)}
                )
                return 0

    results: Sequence[int] = await asyncio.gather(*(one(s) for s in due))
    return sum(results)


async def run(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    metrics: DeliveryMetrics | None = None,
    semaphore: asyncio.Semaphore | None = None,
    *,
    budget_seconds: float = 50.0,
) -> dict[str, int]:
    """Fan out and deliver until there is nothing left to do now (or the budget is spent): a
    job that keeps looping also picks up events committed while it ran."""
    deadline = time.monotonic() + budget_seconds
    fanned = sent = 0
    while True:
        made = await fan_out(sessionmaker, settings)
        attempts = await deliver_due(sessionmaker, settings, metrics, semaphore, deadline=deadline)
        fanned += made
        sent += attempts
        if (made == 0 and attempts == 0) or time.monotonic() > deadline:
            return {"fanned_out": fanned, "attempts": sent}


async def refresh_gauges(
    sessionmaker: async_sessionmaker[AsyncSession], metrics: DeliveryMetrics
) -> None:
    async with transaction(sessionmaker) as session:
        oldest = await repository.oldest_undelivered_at(session)
        disabled = await repository.count_disabled(session)
    lag = (utcnow() - oldest).total_seconds() if oldest is not None else 0.0
    metrics.webhook_outbox_lag.set(max(lag, 0.0))
    metrics.webhook_disabled_subscriptions.set(disabled)


async def purge_delivery_log(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, *, batch: int = 10_000
) -> int:
    """Removes finished deliveries older than `webhooks_log_retention_days`, in batches."""
    total = 0
    while True:
        async with transaction(sessionmaker) as session:
            purged = await repository.purge_finished(
                session, settings.webhooks_log_retention_days, batch
            )
        total += purged
        if purged < batch:
            return total


async def cancel_deleted(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    """Cancels pending messages of deleted subscriptions. Done here rather than in the API's
    delete, so that no transaction locks a subscription and then its deliveries while a sender
    holds deliveries and then updates the subscription (a lock-order deadlock)."""
    async with transaction(sessionmaker) as session:
        return await repository.cancel_pending_of_deleted(session)
