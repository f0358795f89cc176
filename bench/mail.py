"""The weekly digest for 10 000 people: rendered, stored in the mail outbox and handed to a
local SMTP server (aiosmtpd in its own process, accepting everything).

Puls's pipeline is what the worker runs: `mail_service.enqueue_digests` (gather each person's
open items, next meetings and unit's breached targets, render text + HTML in Swedish, store one
outbox row each) and then `delivery.run` until the outbox is empty (claim a batch, send it over
`PULS_MAIL_CONNECTIONS` connections, record the outcomes). The reference is a plain aiosmtplib
send loop (`sendmail`) of the very same message bytes (built beforehand, one connection,
nothing recorded) on the same server. Reported: messages/s end to end, the ratio to the plain
loop (goal >= 0.5x), and the process's peak RSS after the pipeline.

    uv run python bench/mail.py [--people 10000] [--connections 4] [--batch 500]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import time
from datetime import UTC, date, datetime, timedelta
from multiprocessing.sharedctypes import Synchronized
from typing import Any

import aiosmtplib
import asyncpg
import sqlalchemy as sa

from bench.common import bench_database, free_port, peak_rss_mb, print_table
from services.core.config import Settings
from services.core.db import create_engine, create_sessionmaker, transaction
from services.core.notifications import delivery, mail_service
from services.core.notifications.models import MailMessage

GOAL = 0.5
UNITS = 20


def _server_main(port: int, received: Synchronized[int]) -> None:
    from aiosmtpd.controller import Controller

    class Accept:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            with received.get_lock():
                received.value += 1
            return "250 OK"

    controller = Controller(Accept(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


async def _seed(url: str, people: int) -> None:
    """A region of 20 units, `people` people with addresses, two open actions each (some
    overdue), and a body everyone belongs to with two meetings in the coming fortnight."""
    conn = await asyncpg.connect(url)
    try:
        region = await conn.fetchval(
            "INSERT INTO org_units (code, name, kind, path, depth) "
            "VALUES ('RB', 'Region Bench', 'region', '/', 0) RETURNING id"
        )
        await conn.execute("UPDATE org_units SET path = '/' || id || '/' WHERE id = $1", region)
        await conn.execute(
            "INSERT INTO org_units (code, name, kind, parent_id, path, depth) "
            "SELECT 'RB-' || g, 'Enhet ' || g, 'unit', $1, '/', 1 FROM generate_series(1, $2) g",
            region,
            UNITS,
        )
        await conn.execute(
            "UPDATE org_units SET path = '/' || parent_id || '/' || id || '/' WHERE depth = 1"
        )
        await conn.execute(
            """
            INSERT INTO people (name, initials, email, org_unit_id)
            SELECT 'Person ' || g, NULL, 'person' || g || '@example.org',
                (SELECT id FROM org_units WHERE code = 'RB-' || (1 + g % $1))
            FROM generate_series(1, $2) g
            """,
            UNITS,
            people,
        )
        plan = await conn.fetchval(
            "INSERT INTO action_plans (title, org_unit_id, period_start, period_end, status) "
            "VALUES ('Bemanningsprojektet', $1, '2026-01-01', '2027-12-31', 'active') "
            "RETURNING id",
            region,
        )
        await conn.execute(
            """
            INSERT INTO actions (plan_id, code, title, responsible_id, due_date, status, progress)
            SELECT $1, 'A' || row_number() OVER (), 'Minska beroendet av inhyrd personal ' || n,
                p.id, current_date + ((row_number() OVER ()) % 60 - 20)::int, 'in_progress', 0
            FROM people p, generate_series(1, 2) n
            """,
            plan,
        )
        body = await conn.fetchval(
            "INSERT INTO meeting_bodies (name, org_unit_id) VALUES ('Koncernledningen', $1) "
            "RETURNING id",
            region,
        )
        await conn.execute(
            "INSERT INTO meeting_body_members (body_id, person_id, role) "
            "SELECT $1, id, 'member' FROM people",
            body,
        )
        for days in (3, 10):
            starts = datetime.now(UTC).replace(hour=8, minute=0, second=0, microsecond=0)
            starts += timedelta(days=days)
            await conn.execute(
                "INSERT INTO meetings (body_id, starts_at, ends_at, place, kind, status) "
                "VALUES ($1, $2, $3, 'Teams', 'pulse', 'planned')",
                body,
                starts,
                starts + timedelta(hours=3),
            )
    finally:
        await conn.close()


async def _plain_loop(messages: list[tuple[str, bytes]], port: int) -> float:
    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port)
    await smtp.connect()
    started = time.perf_counter()
    for to, message in messages:
        await smtp.sendmail("puls@localhost", [to], message)
    elapsed = time.perf_counter() - started
    await smtp.quit()
    return elapsed


async def run(people: int, connections: int, batch: int) -> list[list[str]]:
    received: Synchronized[int] = multiprocessing.Value("i", 0)
    port = free_port()
    server = multiprocessing.Process(target=_server_main, args=(port, received), daemon=True)
    server.start()
    try:
        async with bench_database() as url:
            await _seed(url, people)
            settings = Settings(
                DATABASE_URL=url,
                smtp_port=port,
                mail_connections=connections,
                mail_batch_size=batch,
            )
            engine = create_engine(settings, pool_size=2)
            sessionmaker = create_sessionmaker(engine)
            await asyncio.sleep(0.5)  # the server is listening

            started = time.perf_counter()
            async with transaction(sessionmaker) as session:
                queued = await mail_service.enqueue_digests(
                    session, settings, date.today(), datetime.now(UTC)
                )
            rendered = time.perf_counter()
            sent = 0
            while result := await delivery.run(sessionmaker, settings, budget_seconds=3600):
                sent += result.get("sent", 0)
                if result.get("retry") or result.get("failed"):
                    raise RuntimeError(f"delivery failed: {result}")
            pipeline = time.perf_counter() - started
            rss = peak_rss_mb(os.getpid())
            assert queued["digest:queued"] == people == sent, (queued, sent)

            async with transaction(sessionmaker) as session:
                rows = (await session.execute(sa.select(MailMessage))).scalars().all()
                messages = [(m.to_address or "", delivery.build(m, settings)) for m in rows]
            size = sum(len(m) for _, m in messages[:200]) / min(len(messages), 200)
            plain = await _plain_loop(messages, port)
            await engine.dispose()
    finally:
        server.terminate()
        server.join(5)
    ours = people / pipeline
    reference = people / plain
    return [
        ["people (digests)", f"{people:,}", f"{size / 1024:.1f} KB a message on average"],
        [
            "render + store (enqueue_digests)",
            f"{rendered - started:.1f} s",
            f"{people / (rendered - started):,.0f} digests/s",
        ],
        [
            "send (delivery.run until empty)",
            f"{pipeline - (rendered - started):.1f} s",
            f"{connections} connections, batches of {batch}",
        ],
        ["Puls end to end, messages/s", f"{ours:,.0f}", f"{pipeline:.1f} s in all"],
        [
            "plain aiosmtplib loop, messages/s",
            f"{reference:,.0f}",
            "same messages, same server, one connection, prebuilt",
        ],
        ["ratio", f"{ours / reference:.2f}x", f"goal >= {GOAL}x"],
        ["peak RSS after the pipeline", f"{rss:,.0f} MB", "bench process (server apart)"],
        ["messages the server accepted", f"{received.value:,}", f"= 2 x {people:,}"],
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=4, help="PULS_MAIL_CONNECTIONS")
    parser.add_argument("--batch", type=int, default=500, help="PULS_MAIL_BATCH_SIZE")
    args = parser.parse_args()
    os.environ.setdefault("PULS_LOG_LEVEL", "WARNING")
    rows = asyncio.run(run(args.people, args.connections, args.batch))
    print_table("Weekly digest by e-mail", ["measure", "value", "note"], rows)


if __name__ == "__main__":
    main()
