"""E-mail end to end against a real SMTP server on 127.0.0.1: the scans write each message
once, the worker sends it with its Message-ID, a person without an address is skipped and
counted, a server that is down keeps the mail queued and gets it later, a 550 gives up with
the reason, preferences and follows pick the recipients, invitations carry the agenda and
follow changes and cancellations, and the digest gathers a person's week."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from aiosmtpd.smtp import AuthResult
from fastapi import FastAPI
from pydantic import SecretStr

from services.core import clock
from services.core.config import Settings
from services.core.db import transaction
from services.core.metrics import WorkerMetrics
from services.core.notifications import preference_service
from services.core.notifications.schemas import ItemType, MailKind, SubscriptionsUpdate
from services.core.principal import Principal, Scope
from services.worker.tasks.notifications import (
    deliver_mail,
    forget_mail_bodies,
    scan_mail,
    send_digests,
)
from tests.factories import (
    JH_EMAIL,
    body_with_meeting,
    create_action,
    create_person,
    create_target,
    feed,
    plan_with_actions,
    seed_tree,
    shifts,
)
from tests.jobs import recalculate
from tests.smtp_server import free_port, self_signed, server_tls, smtp_server

SetClock = Callable[[str], None]


@pytest.fixture
def set_clock(monkeypatch: pytest.MonkeyPatch) -> SetClock:
    def set_to(when: str) -> None:
        fixed = datetime.fromisoformat(when).astimezone(UTC)
        monkeypatch.setattr(clock, "utcnow", lambda: fixed)

    return set_to


def _ctx(app: FastAPI, settings: Settings, port: int, **changes: Any) -> dict[str, Any]:
    mail_settings = settings.model_copy(
        update={"smtp_port": port, "frontend_url": "https://puls.example.org", **changes}
    )
    return {
        "settings": mail_settings,
        "sessionmaker": app.state.sessionmaker,
        "arq": app.state.arq,
        "metrics": WorkerMetrics(),
    }


def _metric(ctx: dict[str, Any], kind: str, outcome: str) -> float:
    value = ctx["metrics"].registry.get_sample_value(
        "puls_mail_messages_total", {"kind": kind, "outcome": outcome}
    )
    return float(value or 0)


async def _outbox(app: FastAPI) -> list[dict[str, Any]]:
    async with transaction(app.state.sessionmaker) as session:
        rows = await session.execute(
            sa.text(
                "SELECT id, kind, person_id, status, attempts, last_error, dedupe_key, "
                "next_attempt_at FROM mail_messages ORDER BY dedupe_key"
            )
        )
        return [dict(r._mapping) for r in rows]


def _text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


def _html(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


async def test_a_reminder_is_sent_once_with_its_message_id(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, set_clock: SetClock
) -> None:
    ids = await plan_with_actions(client)
    with smtp_server() as (catcher, port):
        ctx = _ctx(app, settings, port)
        set_clock("2026-12-05T09:00:00+01:00")  # five days before: not yet (3 days)
        assert await scan_mail(ctx) == {}

        set_clock("2026-12-08T07:00:00+01:00")  # two days before
        assert await scan_mail(ctx) == {"reminder:queued": 1, "reminder:skipped": 1}
        assert await scan_mail(ctx) == {}, "a second scan adds nothing"
        assert await deliver_mail(ctx) == {"sent": 1}
        assert await deliver_mail(ctx) == {}

    assert len(catcher.messages) == 1
    message = catcher.messages[0]
    outbox = {row["status"]: row for row in await _outbox(app)}
    assert set(outbox) == {"sent", "skipped"}
    assert message["Message-ID"] == f"<{outbox['sent']['id']}@localhost>"
    assert catcher.recipients[0] == [JH_EMAIL]
    assert message["Subject"] == (
        "Påminnelse: 1.1 Hyrstopp för sjuksköterskor <inom> Region Skåne ska vara klar 2026-12-10"
    )
    assert "Det här ska vara klart om 2 dagar (2026-12-10)" in _text(message)
    link = f"https://puls.example.org/actions/{ids['jh_action']}"
    assert link in _text(message)
    assert f'href="{link}"' in _html(message)
    assert "&lt;inom&gt;" in _html(message), "HTML escapes what people typed"
    # The person without an address: skipped, counted, never retried.
    assert outbox["skipped"]["last_error"] == "no_email"
    assert outbox["skipped"]["attempts"] == 0
    assert _metric(ctx, "reminder", "skipped") == 1
    assert _metric(ctx, "reminder", "queued") == 1
    assert _metric(ctx, "reminder", "sent") == 1


async def test_overdue_notice_once_in_the_persons_language(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, set_clock: SetClock
) -> None:
    ids = await plan_with_actions(client)
    me = Principal(None, "JH", frozenset({Scope.admin.value}), person_id=_uuid(ids["jh"]))
    async with transaction(app.state.sessionmaker) as session:
        await preference_service.update(session, me, settings, SubscriptionsUpdate(language="en"))
    # Late for more than PULS_MAIL_OVERDUE_MAX_DAYS (30): left to the digest, no notice.
    await create_action(client, ids["plan"], "0.9", ids["jh"], "2026-11-10")
    with smtp_server() as (catcher, port):
        ctx = _ctx(app, settings, port)
        set_clock("2026-12-11T09:00:00+01:00")  # the day after the due date
        assert await scan_mail(ctx) == {"overdue:queued": 1, "overdue:skipped": 1}
        set_clock("2026-12-12T09:00:00+01:00")
        assert await scan_mail(ctx) == {}
        assert await deliver_mail(ctx) == {"sent": 1}
    message = catcher.messages[0]
    assert message["Subject"].startswith("Overdue: 1.1 Hyrstopp")
    assert "This was due 2026-12-10 and is still open" in _text(message)


def _uuid(value: str) -> Any:
    import uuid

    return uuid.UUID(value)


async def test_a_server_that_is_down_keeps_the_mail_queued_until_it_is_back(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, set_clock: SetClock
) -> None:
    await plan_with_actions(client)
    port = free_port()  # nothing listens here yet
    ctx = _ctx(app, settings, port, mail_retry_schedule_seconds=[60.0, 60.0])
    set_clock("2026-12-08T07:00:00+01:00")
    await scan_mail(ctx)
    assert await deliver_mail(ctx) == {"retry": 1}
    [queued] = [r for r in await _outbox(app) if r["status"] == "pending"]
    assert queued["attempts"] == 1
    assert queued["last_error"] == "connect: SMTPConnectError"
    assert queued["next_attempt_at"] > datetime.now(UTC)
    assert await deliver_mail(ctx) == {}, "not before its retry time"
    assert _metric(ctx, "reminder", "retry") == 1

    async with transaction(app.state.sessionmaker) as session:
        await session.execute(sa.text("UPDATE mail_messages SET next_attempt_at = now()"))
    with smtp_server(port) as (catcher, _):
        assert await deliver_mail(ctx) == {"sent": 1}
    assert len(catcher.messages) == 1
    assert catcher.messages[0]["Message-ID"] == f"<{queued['id']}@localhost>"


async def test_retries_end_when_the_schedule_is_used_up(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, set_clock: SetClock
) -> None:
    await plan_with_actions(client)
    ctx = _ctx(app, settings, free_port(), mail_retry_schedule_seconds=[0.0])
    set_clock("2026-12-08T07:00:00+01:00")
    await scan_mail(ctx)
    assert await deliver_mail(ctx) == {"retry": 1}
    assert await deliver_mail(ctx) == {"failed": 1}
    [row] = [r for r in await _outbox(app) if r["kind"] == "reminder" and r["attempts"]]
    assert row["status"] == "failed"
    assert row["last_error"] == "gave up after 2 attempts: connect: SMTPConnectError"


@pytest.mark.parametrize(
    ("reply", "status", "outcome"),
    [
        ("550 5.1.1 Mailbox unavailable", "failed", "failed"),
        ("451 4.3.0 Try again later", "pending", "retry"),
    ],
)
async def test_a_permanent_refusal_gives_up_with_the_reason_a_temporary_one_retries(
    app: FastAPI,
    client: httpx.AsyncClient,
    settings: Settings,
    set_clock: SetClock,
    reply: str,
    status: str,
    outcome: str,
) -> None:
    await plan_with_actions(client)
    with smtp_server() as (catcher, port):
        catcher.reply = reply
        ctx = _ctx(app, settings, port)
        set_clock("2026-12-08T07:00:00+01:00")
        await scan_mail(ctx)
        assert await deliver_mail(ctx) == {outcome: 1}
    [row] = [r for r in await _outbox(app) if r["status"] != "skipped"]
    assert row["status"] == status
    assert row["last_error"] == reply
    assert _metric(ctx, "reminder", outcome) == 1


async def test_kinds_turned_off_and_items_unfollowed_or_followed(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, set_clock: SetClock
) -> None:
    ids = await plan_with_actions(client)
    pl = await create_person(client, "Pia Lundbom", initials="PLu", email="pia@example.org")
    second = await create_action(client, ids["plan"], "1.3", ids["jh"], "2026-12-09")

    def as_person(person: str) -> Principal:
        return Principal(None, person, frozenset({Scope.admin.value}), person_id=_uuid(person))

    async with transaction(app.state.sessionmaker) as session:
        jh = as_person(ids["jh"])
        # JH unfollows her second action; PLu follows JH's first.
        await preference_service.follow(
            session, jh, settings, ItemType.action, _uuid(second), False
        )
        await preference_service.follow(
            session, as_person(pl), settings, ItemType.action, _uuid(ids["jh_action"]), True
        )
    with smtp_server() as (catcher, port):
        ctx = _ctx(app, settings, port)
        set_clock("2026-12-08T07:00:00+01:00")
        assert await scan_mail(ctx) == {"reminder:queued": 2, "reminder:skipped": 1}
        await deliver_mail(ctx)
    assert sorted(r[0] for r in catcher.recipients) == sorted([JH_EMAIL, "pia@example.org"])
    assert all("1.1 Hyrstopp" in m["Subject"] for m in catcher.messages)

    # Reminders off: the next due date brings JH nothing.
    async with transaction(app.state.sessionmaker) as session:
        await preference_service.update(
            session,
            as_person(ids["jh"]),
            settings,
            SubscriptionsUpdate(kinds={MailKind.reminder: False}),
        )
    await create_action(client, ids["plan"], "1.4", ids["jh"], "2026-12-09")
    assert await scan_mail(ctx) == {"reminder:disabled": 1}


async def test_invitations_with_the_agenda_then_changes_and_cancellation(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, set_clock: SetClock
) -> None:
    ids = await plan_with_actions(client)
    made = await body_with_meeting(client, ids)
    meeting_id = made["meeting"]["id"]
    set_clock("2026-12-01T07:00:00+01:00")
    with smtp_server() as (catcher, port):
        ctx = _ctx(app, settings, port)
        assert await scan_mail(ctx) == {"invitation:queued": 1, "invitation:skipped": 1}
        await deliver_mail(ctx)
        assert await scan_mail(ctx) == {}

        version = (await client.get(f"/v1/meetings/{meeting_id}")).json()["version"]
        changed = await client.patch(
            f"/v1/meetings/{meeting_id}",
            json={"place": "Sal 4, Regionhuset"},
            headers={"If-Match": f'"{version}"'},
        )
        assert changed.status_code == 200, changed.text
        assert (await scan_mail(ctx))["invitation:queued"] == 1
        await deliver_mail(ctx)

        cancelled = await client.patch(
            f"/v1/meetings/{meeting_id}",
            json={"status": "cancelled"},
            headers={"If-Match": f'"{changed.json()["version"]}"'},
        )
        assert cancelled.status_code == 200, cancelled.text
        assert (await scan_mail(ctx))["invitation:queued"] == 1
        await deliver_mail(ctx)

    subjects = [m["Subject"] for m in catcher.messages]
    assert subjects == [
        "Kallelse: Koncernledningen 2026-12-15 09:00",
        "Ändrad kallelse: Koncernledningen 2026-12-15 09:00",
        "Inställt möte: Koncernledningen 2026-12-15 09:00",
    ]
    first = _text(catcher.messages[0])
    assert "§1 Hyrstopp: dispenser" in first
    assert "2026-12-15 09:00 – 13:00" in first, "local time"
    assert "Sal 4, Regionhuset" in _text(catcher.messages[1])
    assert f"https://puls.example.org/meetings/{meeting_id}" in first


async def test_the_weekly_digest_gathers_a_persons_week_once(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, set_clock: SetClock
) -> None:
    ids = await plan_with_actions(client)
    await create_action(client, ids["plan"], "2.1", ids["jh"], "2026-12-01")  # overdue by then
    await body_with_meeting(client, ids)
    set_clock("2026-12-07T06:00:00+01:00")  # Monday of week 50
    with smtp_server() as (catcher, port):
        ctx = _ctx(app, settings, port)
        result = await send_digests(ctx)
        assert result == {"digest:queued": 1, "digest:skipped": 1}
        assert await send_digests(ctx) == {}
        await deliver_mail(ctx)
    [message] = catcher.messages
    assert message["Subject"] == "Din vecka i Puls, vecka 50"
    text = _text(message)
    overdue, rest = text.split("Dina öppna uppgifter:")
    assert "2.1 Hyrstopp" in overdue and "klar 2026-12-01" in overdue
    assert "1.1 Hyrstopp" in rest.split("Dina nästa möten:")[0]
    assert "2026-12-15 09:00 Koncernledningen, Teams" in rest
    assert "Nyckeltal i din enhet som inte når målet:\n  Inget." in text


async def test_the_digest_names_the_units_breached_targets(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, set_clock: SetClock
) -> None:
    await seed_tree(client)
    await create_person(
        client, "Thorbjörn Lindhqvist", initials="TL", email="tl@example.org", org_unit="SUS"
    )
    await create_target(client, "sick_leave_pct", "SUS", "5")
    march = [date(2024, 3, d) for d in range(1, 11)]
    records = []
    for n in range(5):
        records += shifts("P", f"E{n}", march, "scheduled", "8")
    records += shifts("P", "E0", march[:4], "sick", "8")  # 8 % sick leave against at most 5 %
    await feed(client, "time-records", records)
    await recalculate(app)
    set_clock("2024-04-01T06:00:00+02:00")
    with smtp_server() as (catcher, port):
        ctx = _ctx(app, settings, port)
        assert await send_digests(ctx) == {"digest:queued": 1}
        await deliver_mail(ctx)
    text = _text(catcher.messages[0])
    assert "Nyckeltal i din enhet som inte når målet:\n  - sick_leave_pct (SUS, 2024-03)" in text


def _login(password: str) -> Any:
    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth: Any) -> Any:
        ok = auth.login == b"puls" and auth.password == password.encode()
        return AuthResult(success=ok, handled=False)

    return authenticate


# aiosmtpd warns that its implicit-TLS server has AUTH without (what it counts as) TLS.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_tls_and_login_as_configured(
    app: FastAPI,
    client: httpx.AsyncClient,
    settings: Settings,
    set_clock: SetClock,
    tmp_path: Path,
    security: str,
) -> None:
    await plan_with_actions(client)
    cert, key = self_signed(tmp_path)
    tls = server_tls(cert, key)
    options: dict[str, Any] = (
        {"tls_context": tls, "require_starttls": True}
        if security == "starttls"
        # aiosmtpd does not count TLS from the first byte as TLS for its AUTH rule.
        else {"ssl_context": tls, "auth_require_tls": False}
    )
    set_clock("2026-12-08T07:00:00+01:00")
    with smtp_server(authenticator=_login("hemligt"), auth_required=True, **options) as (
        catcher,
        port,
    ):
        base = {
            "smtp_security": security,
            "smtp_ca_file": str(cert),
            "smtp_username": "puls",
            "mail_retry_schedule_seconds": [0.0, 0.0],
        }
        wrong = _ctx(app, settings, port, **base, smtp_password=SecretStr("gissat"))
        await scan_mail(wrong)
        assert await deliver_mail(wrong) == {"retry": 1}
        [row] = [r for r in await _outbox(app) if r["status"] == "pending"]
        assert row["last_error"] == "535 authentication failed"

        # Without the region's CA the server's certificate is not trusted: nothing is sent.
        untrusted = {**base, "smtp_ca_file": None, "smtp_password": SecretStr("hemligt")}
        assert await deliver_mail(_ctx(app, settings, port, **untrusted)) == {"retry": 1}
        [row] = [r for r in await _outbox(app) if r["status"] == "pending"]
        assert row["last_error"].startswith("connect: ")
        assert catcher.messages == []

        right = _ctx(app, settings, port, **base, smtp_password=SecretStr("hemligt"))
        assert await deliver_mail(right) == {"sent": 1}
    assert len(catcher.messages) == 1


async def test_no_address_subject_or_body_reaches_the_log(
    app: FastAPI,
    client: httpx.AsyncClient,
    settings: Settings,
    set_clock: SetClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await plan_with_actions(client)
    caplog.set_level(logging.DEBUG)
    set_clock("2026-12-08T07:00:00+01:00")
    with smtp_server() as (catcher, port):
        catcher.reply = "550 5.1.1 <johanna.holmberg@example.org> unknown"
        ctx = _ctx(app, settings, port, smtp_username="puls", smtp_password=SecretStr("hemligt"))
        await scan_mail(ctx)
        await deliver_mail(ctx)
    ours = [r for r in caplog.records if r.name.startswith("puls")]
    assert any(r.getMessage() == "mail delivered" for r in ours)
    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in ours)
    for secret in (JH_EMAIL, "Hyrstopp", "Påminnelse", "hemligt", "Hej Johanna"):
        assert secret not in logged


async def test_old_mail_keeps_its_key_but_not_its_content(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, set_clock: SetClock
) -> None:
    await plan_with_actions(client)
    set_clock("2026-12-08T07:00:00+01:00")
    with smtp_server() as (_, port):
        ctx = _ctx(app, settings, port)
        await scan_mail(ctx)
        await deliver_mail(ctx)
    assert await forget_mail_bodies(ctx) == 0, "not yet 30 days old"
    async with transaction(app.state.sessionmaker) as session:
        await session.execute(
            sa.text("UPDATE mail_messages SET created_at = now() - interval '31 days'")
        )
    assert await forget_mail_bodies(ctx) == 1  # the sent one; the skipped one had none
    async with transaction(app.state.sessionmaker) as session:
        rows = (
            await session.execute(
                sa.text(
                    "SELECT status, to_address, subject, body_text, body_html FROM mail_messages"
                )
            )
        ).all()
    assert sorted(rows) == [("sent", None, "", "", ""), ("skipped", None, "", "", "")]
    assert await scan_mail(ctx) == {}, "the key still stands: nothing is sent again"


# ---------------------------------------------------------------- report-backs (follow-ups)


async def _owe(client: httpx.AsyncClient, path: str, due: str, **more: Any) -> None:
    """Sets the report-back owed on an action or plan (`follow_up_due_on`)."""
    patched = await client.patch(path, json={"follow_up_due_on": due, **more})
    assert patched.status_code == 200, patched.text


def _as_person(person: str) -> Principal:
    return Principal(None, person, frozenset({Scope.admin.value}), person_id=_uuid(person))


async def test_owed_report_backs_are_reminded_then_overdue_each_once(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, set_clock: SetClock
) -> None:
    """The plan's owner and each action's responsible are reminded 3 days before the
    report-back is due and told once it is overdue; a report-back made settles it; a person
    without an address is skipped and counted; followers hear too; a kind turned off is
    respected."""
    ids = await plan_with_actions(client)
    plan = ids["plan"]
    pl = await create_person(client, "Pia Lundbom", initials="PLu", email="pia@example.org")
    await _owe(client, f"/v1/action-plans/{plan}", "2026-12-03", owner_id=ids["jh"])
    await _owe(client, f"/v1/actions/{ids['jh_action']}", "2026-12-05")
    await _owe(client, f"/v1/actions/{ids['ap_action']}", "2026-12-05")
    async with transaction(app.state.sessionmaker) as session:
        # PLu follows JH's action; JH turns overdue notices off.
        await preference_service.follow(
            session, _as_person(pl), settings, ItemType.action, _uuid(ids["jh_action"]), True
        )
    with smtp_server() as (catcher, port):
        ctx = _ctx(app, settings, port)
        set_clock("2026-12-01T09:00:00+01:00")  # the plan's in 2 days, the actions' in 4
        assert await scan_mail(ctx) == {"reminder:queued": 1}
        assert await scan_mail(ctx) == {}, "a second scan adds nothing"
        await deliver_mail(ctx)
        set_clock("2026-12-03T09:00:00+01:00")  # the actions' in 2 days; the plan's today
        assert await scan_mail(ctx) == {"reminder:queued": 2, "reminder:skipped": 1}
        assert await scan_mail(ctx) == {}
        await deliver_mail(ctx)

        # JH reports back on the plan (nothing more owed) and on nothing else.
        made = await client.post(
            f"/v1/action-plans/{plan}/follow-ups", json={"reported_on": "2026-12-03"}
        )
        assert made.status_code == 201, made.text
        async with transaction(app.state.sessionmaker) as session:
            await preference_service.update(
                session,
                _as_person(ids["jh"]),
                settings,
                SubscriptionsUpdate(kinds={MailKind.overdue: False}),
            )
        set_clock("2026-12-06T09:00:00+01:00")  # the actions' report-backs are a day late
        assert await scan_mail(ctx) == {
            "overdue:queued": 1,
            "overdue:skipped": 1,
            "overdue:disabled": 1,
        }
        set_clock("2026-12-06T18:00:00+01:00")
        # Turned off, JH's is not written (so it is counted again); the others are not resent.
        assert await scan_mail(ctx) == {"overdue:disabled": 1}, "an overdue notice is sent once"
        assert await deliver_mail(ctx) == {"sent": 1}

    keys = [r["dedupe_key"] for r in await _outbox(app)]
    assert all(k.split(":")[1] == "report_back" for k in keys)
    assert _metric(ctx, "reminder", "skipped") == 1
    assert _metric(ctx, "overdue", "skipped") == 1
    subjects = sorted((m["To"], m["Subject"]) for m in catcher.messages)
    title = "1.1 Hyrstopp för sjuksköterskor <inom> Region Skåne"
    assert subjects == [
        (JH_EMAIL, f"Påminnelse: återrapportering om {title} senast 2026-12-05"),
        (
            JH_EMAIL,
            "Påminnelse: återrapportering om Bemanningsprojektet 2016–2018 senast 2026-12-03",
        ),
        ("pia@example.org", f"Försenad återrapportering: {title} (senast 2026-12-05)"),
        ("pia@example.org", f"Påminnelse: återrapportering om {title} senast 2026-12-05"),
    ]
    by_subject = {(m["To"], m["Subject"]): m for m in catcher.messages}
    plan_reminder = by_subject[subjects[1]]
    action_reminder = by_subject[subjects[0]]
    overdue = by_subject[subjects[2]]
    assert "En återrapportering ska lämnas om 2 dagar (2026-12-03)" in _text(plan_reminder)
    assert f"https://puls.example.org/action-plans/{plan}" in _text(plan_reminder)
    assert f"Återrapportering: {title} (Bemanningsprojektet 2016–2018)" in _text(action_reminder)
    assert f'href="https://puls.example.org/actions/{ids["jh_action"]}"' in _html(action_reminder)
    assert "skulle ha lämnats 2026-12-05 och har inte kommit in" in _text(overdue)


async def test_presenting_a_follow_up_is_reminded_to_its_presenters_once(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, set_clock: SetClock
) -> None:
    """A follow-up agenda item reminds its presenters 3 days before the meeting, once; one
    who unfollowed the meeting is left out, and a follower of the meeting who does not
    present gets its invitation but no such reminder."""
    ids = await plan_with_actions(client)
    made = await body_with_meeting(client, ids)
    meeting_id = made["meeting"]["id"]
    pl = await create_person(client, "Pia Lundbom", initials="PLu", email="pia@example.org")
    ka = await create_person(client, "Karin Ahl", initials="KA", email="karin@example.org")
    item = await client.post(
        f"/v1/meetings/{meeting_id}/items",
        json={
            "number": 2,
            "title": "Återrapport: bemanningsläget",
            "kind": "follow_up",
            "presenter_ids": [ids["jh"], ids["ap"], pl],
        },
    )
    assert item.status_code == 201, item.text
    async with transaction(app.state.sessionmaker) as session:
        meeting = _uuid(meeting_id)
        await preference_service.follow(
            session, _as_person(pl), settings, ItemType.meeting, meeting, False
        )
        await preference_service.follow(
            session, _as_person(ka), settings, ItemType.meeting, meeting, True
        )

    def presentations(rows: list[dict[str, Any]]) -> list[tuple[Any, str]]:
        return sorted(
            (str(r["person_id"]), r["status"])
            for r in rows
            if r["dedupe_key"].startswith("reminder:presentation:")
        )

    with smtp_server() as (catcher, port):
        ctx = _ctx(app, settings, port)
        set_clock("2026-12-11T09:00:00+01:00")  # four days before the meeting: not yet
        await scan_mail(ctx)
        assert presentations(await _outbox(app)) == []
        set_clock("2026-12-12T09:00:00+01:00")  # three days before
        await scan_mail(ctx)
        await scan_mail(ctx)
        expected = sorted([(ids["jh"], "pending"), (ids["ap"], "skipped")])
        assert presentations(await _outbox(app)) == expected
        await deliver_mail(ctx)

    [message] = [m for m in catcher.messages if "på mötet" in str(m["Subject"])]
    assert message["To"] == JH_EMAIL
    assert message["Subject"] == (
        "Påminnelse: återrapportera Återrapport: bemanningsläget på mötet 2026-12-15"
    )
    text = _text(message)
    assert "Uppföljningen ska presenteras på mötet om 3 dagar (2026-12-15)" in text
    assert "Uppföljning att presentera: Återrapport: bemanningsläget" in text
    assert "(Koncernledningen 2026-12-15 09:00)" in text
    assert f"https://puls.example.org/meetings/{meeting_id}" in text
    # KA follows the meeting: its invitation, not the presenters' reminder.
    assert {m["To"] for m in catcher.messages if "karin" in str(m["To"])} == {"karin@example.org"}
    assert all(
        "presentera" not in str(m["Subject"]) for m in catcher.messages if m["To"] != JH_EMAIL
    )


async def test_the_digest_lists_owed_report_backs(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, set_clock: SetClock
) -> None:
    ids = await plan_with_actions(client)
    await _owe(client, f"/v1/actions/{ids['jh_action']}", "2026-12-01")
    await _owe(client, f"/v1/action-plans/{ids['plan']}", "2026-12-20", owner_id=ids["jh"])
    set_clock("2026-12-07T06:00:00+01:00")  # Monday of week 50
    with smtp_server() as (catcher, port):
        ctx = _ctx(app, settings, port)
        assert await send_digests(ctx) == {"digest:queued": 1, "digest:skipped": 1}
        await deliver_mail(ctx)
    [message] = [m for m in catcher.messages if m["To"] == JH_EMAIL]
    text = _text(message)
    overdue, rest = text.split("Dina öppna uppgifter:")
    assert (
        "Återrapportering: 1.1 Hyrstopp för sjuksköterskor <inom> Region Skåne, klar 2026-12-01"
        in overdue
    )
    open_items = rest.split("Dina nästa möten:")[0]
    assert "Återrapportering: Bemanningsprojektet 2016–2018, klar 2026-12-20" in open_items
    assert "Åtgärd: 1.1 Hyrstopp" in open_items
    assert "<strong>Återrapportering</strong>: <a" in _html(message)
