"""Webhook delivery throughput and outbox lag.

A local receiver (its own process, answering 204) and 10 subscriptions to `kpi.*`, every event
going to all 10. Phase 1 puts a backlog of events in the outbox and measures how fast the
delivery engine (`services.core.webhooks.delivery.run`, what the worker's job runs) signs,
sends and records them. Phase 2 publishes at a steady rate and samples the outbox lag (age of
the oldest undelivered event). The ceiling is raw POSTs/s of the same bodies to the same receiver
with the same client and concurrency but no database, signing or log: what the HTTP side alone
allows (httpx's rate is printed for reference).

    uv run python bench/webhooks.py [--events 1000] [--rate 50] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import multiprocessing
import os
import socket
import statistics
import time

import asyncpg
import httpx

from services.cli.main import alembic_upgrade
from services.core.config import Settings
from services.core.db import create_engine, create_sessionmaker
from services.core.webhooks import delivery, secret_box, signing, ssrf, transport
from tests import harness

SUBSCRIPTIONS = 10
GOAL = 500.0


def _receiver_main(port: int) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.readline():
                length = 0
                while (raw := await reader.readline()) not in (b"\r\n", b""):
                    if raw[:15].lower() == b"content-length:":
                        length = int(raw[15:].strip())
                await reader.readexactly(length)
                writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


EVENT_DATA = {"kpi": "sick_leave_pct", "org_unit": "SUS-AKUT", "period": "2026-10", "value": 7.4}


async def _publish(conn: asyncpg.Connection, n: int) -> None:
    await conn.execute(
        "INSERT INTO events (type, data) SELECT 'kpi.target_breached', $1::jsonb "
        "FROM generate_series(1, $2)",
        json.dumps(EVENT_DATA),
        n,
    )


async def _pending(conn: asyncpg.Connection) -> int:
    value = await conn.fetchval(
        "SELECT (SELECT count(*) FROM webhook_deliveries WHERE status = 'pending') + "
        "(SELECT count(*) FROM events WHERE id > coalesce((SELECT last_event_id FROM "
        "webhook_outbox_cursor WHERE name = 'fanout'), 0))"
    )
    return int(value)


async def _lag(conn: asyncpg.Connection) -> float:
    value = await conn.fetchval(
        "SELECT extract(epoch FROM now() - least("
        "(SELECT min(e.occurred_at) FROM webhook_deliveries d JOIN events e ON e.id = d.event_id "
        " WHERE d.status = 'pending'),"
        "(SELECT min(occurred_at) FROM events WHERE id > coalesce((SELECT last_event_id FROM "
        " webhook_outbox_cursor WHERE name = 'fanout'), 0))))"
    )
    return float(value or 0.0)


def _body() -> bytes:
    return json.dumps(
        {"type": "kpi.target_breached", "timestamp": "2026-11-25T08:00:00Z", "data": EVENT_DATA}
    ).encode()


async def _ceiling(port: int, seconds: float, concurrency: int) -> float:
    """Raw POSTs/s with the delivery's own HTTP client: no database, no signing, no records."""
    target = ssrf.parse_url(f"http://127.0.0.1:{port}/hook/c", allow_http=True)
    address = ipaddress.ip_address("127.0.0.1")
    body = _body()
    headers = {"content-type": "application/json"}
    count = 0
    deadline = time.perf_counter() + seconds

    async def one() -> None:
        nonlocal count
        connection = await transport.connect(target, address, 5.0)
        while time.perf_counter() < deadline:
            answer = await transport.exchange(connection, target, headers, body, 65536)
            assert answer.status == 204
            count += 1
        connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(concurrency)))
    return count / (time.perf_counter() - started)


async def _httpx_rate(port: int, seconds: float, concurrency: int) -> float:
    """For reference: the same with httpx (what the first version of delivery used)."""
    body = _body()
    count = 0
    deadline = time.perf_counter() + seconds

    async def one() -> None:
        nonlocal count
        async with httpx.AsyncClient(trust_env=False) as client:
            while time.perf_counter() < deadline:
                response = await client.post(f"http://127.0.0.1:{port}/hook/h", content=body)
                assert response.status_code == 204
                count += 1

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(concurrency)))
    return count / (time.perf_counter() - started)


async def run(
    url: str, events: int, rate: float, seconds: float, batch: int = 100
) -> list[tuple[str, str, str]]:
    port = _free_port()
    receiver = multiprocessing.Process(target=_receiver_main, args=(port,), daemon=True)
    receiver.start()
    try:
        settings = Settings(
            DATABASE_URL=url,
            env="test",
            webhooks_allow_http=True,
            webhooks_allow_private_addresses=True,
            webhooks_max_concurrency=SUBSCRIPTIONS,
            webhooks_batch_size=batch,
            db_pool_size=SUBSCRIPTIONS + 2,
        )
        conn = await asyncpg.connect(url)
        for _ in range(50):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                await asyncio.sleep(0.1)
        for i in range(SUBSCRIPTIONS):
            await conn.execute(
                "INSERT INTO webhook_subscriptions (url, event_types, encrypted_secret) "
                "VALUES ($1, ARRAY['kpi.*'], $2)",
                f"http://127.0.0.1:{port}/hook/{i}",
                secret_box.seal(settings, signing.generate_secret()),
            )
        engine = create_engine(settings)
        sessionmaker = create_sessionmaker(engine)
        semaphore = asyncio.Semaphore(settings.webhooks_max_concurrency)

        # Phase 1: a backlog.
        await _publish(conn, events)
        started = time.perf_counter()
        while await _pending(conn):
            await delivery.run(sessionmaker, settings, semaphore=semaphore)
        drained = time.perf_counter() - started
        delivered = await conn.fetchval(
            "SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered'"
        )
        assert delivered == events * SUBSCRIPTIONS, delivered
        deliveries_per_s = delivered / drained

        # Phase 2: steady publishing, lag sampled while the engine keeps up.
        lags: list[float] = []
        stop = asyncio.Event()

        async def engine_loop() -> None:
            while not stop.is_set():
                result = await delivery.run(sessionmaker, settings, semaphore=semaphore)
                if result["attempts"] == 0:
                    await asyncio.sleep(0.05)

        async def publisher() -> None:
            pub = await asyncpg.connect(url)
            tick = 0.1
            per_tick = max(int(rate * tick), 1)
            end = time.perf_counter() + seconds
            while time.perf_counter() < end:
                await _publish(pub, per_tick)
                lags.append(await _lag(pub))
                await asyncio.sleep(tick)
            await pub.close()

        task = asyncio.create_task(engine_loop())
        await publisher()
        while await _pending(conn):
            await asyncio.sleep(0.1)
        stop.set()
        await task
        await engine.dispose()
        await conn.close()

        ceiling = await _ceiling(port, 5.0, SUBSCRIPTIONS)
        with_httpx = await _httpx_rate(port, 3.0, SUBSCRIPTIONS)
        events_per_s = deliveries_per_s / SUBSCRIPTIONS
        lags.sort()
        p95 = lags[int(len(lags) * 0.95) - 1] if lags else 0.0
        return [
            ("backlog", f"{events} events × {SUBSCRIPTIONS} subscriptions", ""),
            (
                "deliveries/s (signed POST + recorded)",
                f"{deliveries_per_s:,.0f}",
                f"{deliveries_per_s / GOAL:.2f}× goal {GOAL:.0f}; "
                f"{deliveries_per_s / ceiling:.0%} of ceiling",
            ),
            (
                "events/s fully delivered to all 10",
                f"{events_per_s:,.0f}",
                f"{events_per_s / GOAL:.2f}× goal {GOAL:.0f}",
            ),
            (
                "ceiling: raw POSTs/s, same client, no DB",
                f"{ceiling:,.0f}",
                "same receiver, bodies and concurrency",
            ),
            (
                "for reference: httpx POSTs/s",
                f"{with_httpx:,.0f}",
                "why delivery has its own client",
            ),
            (
                f"outbox lag at {rate:g} events/s ({rate * SUBSCRIPTIONS:g} deliveries/s)",
                f"median {statistics.median(lags):.2f} s, p95 {p95:.2f} s, max {lags[-1]:.2f} s",
                f"{len(lags)} samples over {seconds:g} s",
            ),
        ]
    finally:
        receiver.terminate()
        receiver.join(5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--batch", type=int, default=100, help="webhooks_batch_size")
    args = parser.parse_args()
    os.environ.setdefault("PULS_LOG_LEVEL", "WARNING")
    server = harness.server_database_url()
    name = harness.unique_database_name("bench_webhooks")
    url = harness.create_database(server, name)
    try:
        alembic_upgrade(url, "heads")
        rows = asyncio.run(run(url, args.events, args.rate, args.seconds, args.batch))
    finally:
        harness.drop_database(server, name)
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    header = ("measure", "value", "ratio / note")
    widths = [max(w, len(h)) for w, h in zip(widths, header, strict=True)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |"
    print(line)
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")


if __name__ == "__main__":
    main()
