"""The rules of delivery as plain functions: what is retried and when, which addresses are
refused, how messages are signed, which event types a subscription may name."""

from __future__ import annotations

import email.utils
import ipaddress
from datetime import timedelta

import pytest
import standardwebhooks
from fastapi import FastAPI
from pydantic import ValidationError

from services.core.clock import utcnow
from services.core.config import Settings
from services.core.webhooks import signing, ssrf
from services.core.webhooks.delivery import AttemptResult, classify, parse_retry_after
from services.core.webhooks.schemas import WebhookCreate

SETTINGS = Settings(webhooks_retry_jitter=0.0)


@pytest.mark.parametrize(
    ("code", "outcome"),
    [(200, "delivered"), (204, "delivered"), (408, "retry"), (429, "retry"), (500, "retry")]
    + [(503, "retry"), (None, "retry"), (400, "failed"), (404, "failed"), (410, "failed")]
    + [(301, "failed"), (422, "failed")],
)
def test_what_is_retried(code: int | None, outcome: str) -> None:
    assert classify(AttemptResult(code, 0.1, None), 1, SETTINGS)[0] == outcome


def test_the_schedule_spans_about_a_day_then_fails() -> None:
    delays = [classify(AttemptResult(503, 0.1, None), n, SETTINGS)[1] for n in range(1, 7)]
    assert delays == [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0]
    assert 16 * 3600 < sum(d or 0 for d in delays) < 26 * 3600
    assert classify(AttemptResult(503, 0.1, None), 7, SETTINGS) == ("failed", None)


def test_jitter_stays_within_bounds() -> None:
    jittery = Settings(webhooks_retry_jitter=0.2)
    for _ in range(50):
        delay = classify(AttemptResult(500, 0.1, None), 2, jittery)[1]
        assert delay is not None and 240 <= delay <= 360


def test_retry_after_is_honoured_when_later_and_capped() -> None:
    assert classify(AttemptResult(429, 0.1, None, retry_after=60), 1, SETTINGS)[1] == 60
    assert classify(AttemptResult(429, 0.1, None, retry_after=1), 1, SETTINGS)[1] == 5
    capped = classify(AttemptResult(503, 0.1, None, retry_after=10**9), 1, SETTINGS)[1]
    assert capped == SETTINGS.webhooks_max_retry_after_seconds


def test_an_oversized_answer_is_a_final_failure() -> None:
    assert classify(AttemptResult(200, 0.1, "big", oversized=True), 1, SETTINGS) == ("failed", None)


def test_parse_retry_after() -> None:
    assert parse_retry_after("120") == 120
    when = email.utils.format_datetime(utcnow() + timedelta(seconds=90), usegmt=True)
    parsed = parse_retry_after(when)
    assert parsed is not None and 80 <= parsed <= 91
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


@pytest.mark.parametrize(
    ("address", "refused_when_private_allowed", "refused"),
    [
        ("93.184.216.34", False, False),
        ("2606:2800:220:1:248:1893:25c8:1946", False, False),
        ("127.0.0.1", False, True),
        ("10.0.0.1", False, True),
        ("172.16.5.4", False, True),
        ("192.168.1.1", False, True),
        ("100.64.0.1", False, True),  # carrier-grade NAT
        ("169.254.1.1", False, True),
        ("169.254.169.254", True, True),
        ("fd00:ec2::254", True, True),
        ("::1", False, True),
        ("fe80::1", False, True),
        ("::ffff:10.0.0.1", False, True),
        ("224.0.0.251", True, True),
        ("0.0.0.0", True, True),
        ("240.0.0.1", False, True),
    ],
)
def test_address_rules(address: str, refused_when_private_allowed: bool, refused: bool) -> None:
    ip = ipaddress.ip_address(address)
    assert (ssrf.address_refusal(ip, allow_private=False) is not None) is refused
    allowed = ssrf.address_refusal(ip, allow_private=True)
    assert (allowed is not None) is refused_when_private_allowed


def test_our_signatures_verify_with_the_standard_library() -> None:
    old, new = signing.generate_secret(), signing.generate_secret()
    assert old.startswith("whsec_") and len(signing.secret_key(old)) == 32
    body = b'{"type":"kpi.target_breached","timestamp":"2026-11-25T08:00:00Z","data":{}}'
    now = int(utcnow().timestamp())
    headers = signing.headers([new, old], "msg_9", now, body)
    for secret in (old, new):
        assert standardwebhooks.Webhook(secret).verify(body, headers)["type"] == (
            "kpi.target_breached"
        )
        assert signing.verify(secret, body, headers)
    assert not signing.verify(signing.generate_secret(), body, headers)
    assert not signing.verify(new, body + b" ", headers)


@pytest.mark.parametrize(
    "types", [["*"], ["kpi.*"], ["kpi.target_breached", "action.overdue"], ["webhook.*"]]
)
def test_valid_event_types(types: list[str]) -> None:
    assert WebhookCreate(url="https://x.example.org/", event_types=types).event_types == types


@pytest.mark.parametrize(
    "types", [[], ["foo.*"], ["kpi"], ["kpi.*.*"], ["Kpi.*"], ["*.*"], ["kpi. x"], [""]]
)
def test_invalid_event_types(types: list[str]) -> None:
    with pytest.raises(ValidationError):
        WebhookCreate(url="https://x.example.org/", event_types=types)


def test_duplicate_types_collapse() -> None:
    made = WebhookCreate(url="https://x.example.org/", event_types=["kpi.*", "kpi.*"])
    assert made.event_types == ["kpi.*"]


async def test_the_log_is_purged_after_retention(app: FastAPI, settings: Settings) -> None:
    import sqlalchemy as sa

    from services.core.webhooks import delivery, secret_box

    async with app.state.sessionmaker() as session:
        sub_id = (
            await session.execute(
                sa.text(
                    "INSERT INTO webhook_subscriptions (url, event_types, encrypted_secret) "
                    "VALUES ('https://x.example.org/', ARRAY['*'], :secret) RETURNING id"
                ),
                {"secret": secret_box.seal(settings, signing.generate_secret())},
            )
        ).scalar()
        await session.execute(
            sa.text(
                "INSERT INTO webhook_deliveries (subscription_id, event_type, status, created_at) "
                "VALUES (:s, 'webhook.ping', 'delivered', now() - interval '40 days'), "
                "(:s, 'webhook.ping', 'pending', now() - interval '40 days'), "
                "(:s, 'webhook.ping', 'failed', now() - interval '2 days')"
            ),
            {"s": sub_id},
        )
        await session.commit()
    assert await delivery.purge_delivery_log(app.state.sessionmaker, settings) == 1
    async with app.state.sessionmaker() as session:
        left = (
            await session.execute(sa.text("SELECT status FROM webhook_deliveries ORDER BY id"))
        ).scalars()
        assert list(left) == ["pending", "failed"]


def test_missing_outbox_ids() -> None:
    from services.core.webhooks.delivery import MAX_GAP_IDS, missing_ids

    assert missing_ids(10, [11, 12, 15, 17]) == [13, 14, 16]
    assert missing_ids(10, [13]) == [11, 12]
    assert missing_ids(0, [2]) == [1]
    assert missing_ids(0, [5_000_000, 5_000_002]) == [5_000_001]  # history before is no gap
    assert missing_ids(1, [10**9, 10**9 + 2]) == [10**9 + 1]  # nor is a sequence jump
    assert len(missing_ids(0, list(range(2, 2 * MAX_GAP_IDS, 2)))) == MAX_GAP_IDS - 1
