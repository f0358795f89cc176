"""Sending the mail outbox over SMTP. Like webhook delivery, each batch is one transaction:
the rows are claimed with `FOR UPDATE SKIP LOCKED`, sent, and their outcome recorded before the
commit, so a crash mid-batch sends those messages again (at least once) with the same
`Message-ID` (the row's id), by which a receiving system can tell the copy. A temporary SMTP
error (4xx, a server that is down or drops the line) waits for the retry schedule; a permanent
one (5xx) gives the message up with the server's reply stored."""

from __future__ import annotations

import asyncio
import base64
import logging
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.header import Header
from email.utils import formataddr, formatdate, parseaddr
from typing import Any

import aiosmtplib
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.config import Settings
from services.core.db import transaction
from services.core.metrics import WorkerMetrics
from services.core.notifications import repository
from services.core.notifications.models import MailMessage

log = logging.getLogger("puls.mail")


@dataclass(frozen=True)
class Outcome:
    message: MailMessage
    # sent | retry | failed
    result: str
    reason: str | None = None


def _sender(settings: Settings) -> tuple[str, str]:
    """The `From` header (a non-ASCII name RFC 2047-encoded) and the envelope sender."""
    name, address = parseaddr(settings.mail_from)
    return formataddr((name, address), charset="utf-8"), address


def _header(value: str) -> str:
    # Encoded and folded (RFC 2047) when it is not ASCII or longer than a line should be.
    return Header(value, "us-ascii" if value.isascii() else "utf-8").encode(linesep="\r\n")


def _base64(text: str) -> bytes:
    return base64.encodebytes(text.encode()).replace(b"\n", b"\r\n")


def build(message: MailMessage, settings: Settings) -> bytes:
    """The e-mail of an outbox row, as sent: text and HTML alternatives (base64, so no line is
    too long), its Message-ID the row's id. Written out directly rather than through
    `email.message.EmailMessage`, whose header parsing and generator cost more than the send
    itself (docs/benchmarks.md, E-mail digest)."""
    from_header, address = _sender(settings)
    domain = address.rpartition("@")[2] or "puls.invalid"
    boundary = f"=_puls_{message.id.hex}"
    head = (
        f"From: {from_header}\r\n"
        f"To: {message.to_address}\r\n"
        f"Subject: {_header(message.subject)}\r\n"
        f"Date: {formatdate(localtime=False)}\r\n"
        f"Message-ID: <{message.id}@{domain}>\r\n"
        # Tells auto-responders not to answer (RFC 3834).
        "Auto-Submitted: auto-generated\r\n"
        "MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'
    )
    part = (
        '--{}\r\nContent-Type: text/{}; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n"
    )
    return b"".join(
        [
            head.encode(),
            part.format(boundary, "plain").encode(),
            _base64(message.body_text),
            part.format(boundary, "html").encode(),
            _base64(message.body_html),
            f"--{boundary}--\r\n".encode(),
        ]
    )


def client(settings: Settings) -> aiosmtplib.SMTP:
    return aiosmtplib.SMTP(
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        use_tls=settings.smtp_security == "tls",
        # "none" never upgrades, even when the server offers STARTTLS (a local relay).
        start_tls=settings.smtp_security == "starttls",
        timeout=settings.smtp_timeout_seconds,
        cert_bundle=settings.smtp_ca_file,
    )


def _reply(code: int, text: str) -> str:
    return f"{code} {text}"[:500]


async def _send_chunk(messages: Sequence[MailMessage], settings: Settings) -> list[Outcome]:
    """Sends a chunk over one connection. A refusal of one message is that message's outcome;
    a lost connection makes the rest temporary failures (the next run tries them again)."""
    outcomes: list[Outcome] = []
    sender = _sender(settings)[1]
    smtp = client(settings)
    try:
        await smtp.connect()
        if settings.smtp_username and settings.smtp_password:
            await smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
    except aiosmtplib.SMTPAuthenticationError as exc:
        return [Outcome(m, "retry", _reply(exc.code, "authentication failed")) for m in messages]
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        return [Outcome(m, "retry", f"connect: {type(exc).__name__}") for m in messages]
    try:
        for message in messages:
            try:
                await smtp.sendmail(sender, [message.to_address or ""], build(message, settings))
            except aiosmtplib.SMTPRecipientsRefused as exc:
                refused = exc.recipients[0]
                permanent = refused.code >= 500
                outcomes.append(
                    Outcome(
                        message,
                        "failed" if permanent else "retry",
                        _reply(refused.code, refused.message),
                    )
                )
            except aiosmtplib.SMTPResponseException as exc:
                if exc.code >= 500:
                    outcomes.append(Outcome(message, "failed", _reply(exc.code, exc.message)))
                else:
                    outcomes.append(Outcome(message, "retry", _reply(exc.code, exc.message)))
                if isinstance(exc, aiosmtplib.SMTPServerDisconnected) or exc.code == 421:
                    raise
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                outcomes.append(Outcome(message, "retry", f"send: {type(exc).__name__}"))
                raise
            else:
                outcomes.append(Outcome(message, "sent"))
    except (aiosmtplib.SMTPException, OSError, TimeoutError):
        done = {o.message.id for o in outcomes}
        outcomes += [Outcome(m, "retry", "connection lost") for m in messages if m.id not in done]
        return outcomes
    finally:
        if smtp.is_connected:
            try:
                await smtp.quit()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                smtp.close()
    return outcomes


async def send(messages: Sequence[MailMessage], settings: Settings) -> list[Outcome]:
    """Spreads the messages over `mail_connections` connections side by side."""
    lanes = max(1, min(settings.mail_connections, len(messages)))
    chunks = [messages[i::lanes] for i in range(lanes)]
    results = await asyncio.gather(*(_send_chunk(c, settings) for c in chunks if c))
    return [o for chunk in results for o in chunk]


async def _record(session: AsyncSession, outcomes: Sequence[Outcome], settings: Settings) -> None:
    schedule = settings.mail_retry_schedule_seconds
    now = datetime.now(UTC)
    retries: list[tuple[Any, datetime, str]] = []
    failures: list[tuple[Any, str]] = []
    for o in outcomes:
        if o.result == "failed":
            failures.append((o.message.id, o.reason or "refused"))
        elif o.result == "retry":
            if o.message.attempts >= len(schedule):
                failures.append(
                    (o.message.id, f"gave up after {o.message.attempts + 1} attempts: {o.reason}")
                )
            else:
                wait = schedule[o.message.attempts] * (1 + random.uniform(0, 0.1))
                retries.append((o.message.id, now + timedelta(seconds=wait), o.reason or ""))
    await repository.mark_sent(session, [o.message.id for o in outcomes if o.result == "sent"])
    await repository.mark_retry(session, retries)
    await repository.mark_failed(session, failures)


def _final(outcome: Outcome, settings: Settings) -> str:
    """What became of a message: a retry with the schedule used up is a failure."""
    if outcome.result == "retry" and outcome.message.attempts >= len(
        settings.mail_retry_schedule_seconds
    ):
        return "failed"
    return outcome.result


async def run(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    metrics: WorkerMetrics | None = None,
    *,
    budget_seconds: float = 60.0,
) -> dict[str, int]:
    """Sends what is due, batch after batch, until nothing is or the budget is spent. Returns
    counts by outcome (sent, retry, failed)."""
    totals: Counter[str] = Counter()
    if not settings.mail_enabled:
        return dict(totals)
    deadline = time.monotonic() + budget_seconds
    while time.monotonic() < deadline:
        async with transaction(sessionmaker) as session:
            batch = await repository.claim_due(session, settings.mail_batch_size)
            if not batch:
                break
            outcomes = await send(batch, settings)
            await _record(session, outcomes, settings)
            # Read before the commit expires the rows.
            results = [(o.message.kind, _final(o, settings)) for o in outcomes]
        for kind, result in results:
            totals[result] += 1
            if metrics is not None:
                metrics.mail_messages.labels(kind, result).inc()
        if totals["retry"] and not totals["sent"]:
            break  # the server is down: wait for the schedule instead of spinning
        if len(batch) < settings.mail_batch_size:
            break
    if totals:
        # Counts only: addresses and bodies never reach the log.
        log.info("mail delivered", extra=dict(totals))
    return dict(totals)


async def refresh_gauges(
    sessionmaker: async_sessionmaker[AsyncSession], metrics: WorkerMetrics
) -> None:
    async with transaction(sessionmaker) as session:
        counts = await repository.status_counts(session)
    for status in ("pending", "sent", "failed", "skipped"):
        metrics.mail_outbox.labels(status).set(counts.get(status, 0))
