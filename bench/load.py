"""Mixed load from one machine against real API processes (`--api-workers`, one per core as
deployed: 2) and a worker, for a bounded time.

Phase 1, the working day: a nightly feed posts batches of a few thousand time records (one day
of a region's units each, one batch in flight, the worker recalculating the cells each batch
dirtied), dashboards read 24-month KPI series for the region root and for a unit, scorecards
are read, planners create and edit actions (PATCH with If-Match), and a secretary adds and
edits agenda items. Reported per operation: requests, req/s, p50/p95/p99 and errors (any
answer that is not the expected 2xx). Goal: no errors, and the series p99 under 100 ms while a
feed batch is being ingested (the ratio to that ceiling is printed).

Phase 2, rate limiting: the API restarts with a low per-key limit; one key reads as fast as 8
clients can while a second key reads at a polite pace. The greedy key gets 429 with
Retry-After, the polite one is unaffected, and PostgreSQL's active connections are sampled to
show the 429s cost the database nothing noticeable.

    uv run python bench/load.py [--seconds 25] [--employees 300] [--batch 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.common import (
    bench_database,
    free_port,
    load,
    print_table,
    process,
    recalculate_all,
    wait_until_healthy,
)
from services.cli import demo
from services.core.config import Settings

TOKEN = "puls_bench-admin"
PSEUDONYM_KEY = "bench-pseudonym-key"
SERIES_CEILING_MS = 100.0
SERIES = "/v1/kpis/sick_leave_pct/series?from=2024-01&to=2025-12&org_unit="


@dataclass
class Samples:
    """Latencies and unexpected answers of one operation."""

    latencies: list[float] = field(default_factory=list)
    during_feed: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    retry_after: list[int] = field(default_factory=list)
    refused: list[float] = field(default_factory=list)  # latencies of the 429 answers


def mean(values: Iterable[float]) -> float:
    items = list(values)
    return sum(items) / max(len(items), 1)


def percentile(values: list[float], p: float) -> float:
    """Nearest rank, in milliseconds."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p * len(ordered)) - 1)] * 1000


class Recorder:
    def __init__(self) -> None:
        self.ops: dict[str, Samples] = {}
        self.feeding = 0  # feed batches in flight
        self.server_series_within_ceiling = float("nan")

    async def call(
        self,
        op: str,
        request: Awaitable[httpx.Response],
        expected: tuple[int, ...] = (200, 201),
    ) -> httpx.Response | None:
        """Awaits `request` (a coroutine not yet started) and records how it went."""
        samples = self.ops.setdefault(op, Samples())
        during_feed = self.feeding > 0
        started = time.perf_counter()
        try:
            response = await request
        except httpx.HTTPError as exc:
            samples.errors[type(exc).__name__] += 1
            return None
        elapsed = time.perf_counter() - started
        samples.latencies.append(elapsed)
        if during_feed or self.feeding > 0:
            samples.during_feed.append(elapsed)
        samples.statuses[response.status_code] += 1
        if response.status_code == 429:
            samples.retry_after.append(int(response.headers.get("retry-after", "0")))
            samples.refused.append(elapsed)
        if response.status_code not in expected:
            samples.errors[str(response.status_code)] += 1
        return response


async def load_region(settings: Settings, work: Path) -> None:
    """The demo region stored through the ingest path, and every KPI computed."""
    await load(settings, work)
    await recalculate_all(settings)


def nightly_batch(number: int, size: int, units: int) -> list[dict[str, Any]]:
    """One night of a scheduling system: worked, sick and scheduled hours of one day."""
    day = 1 + number % 28
    month = 1 + (number // 28) % 12
    records = []
    for i in range(size):
        unit = 1 + i % units
        kind = ("worked", "scheduled", "sick", "overtime")[i % 4 if i % 13 else 2]
        records.append(
            {
                "source": "heroma",
                "external_id": f"LOAD-{number}-{i}",
                "org_unit_code": demo.unit_code(unit),
                "employee_ref": f"LOAD-EMP-{unit}-{i // units % 40}",
                "profession": ("nurse", "assistant_nurse", "physician")[i % 3],
                "staff_kind": "own",
                "time_type": kind,
                "work_date": f"2025-{month:02d}-{day:02d}",
                "hours": "8.00" if kind != "overtime" else "2.50",
            }
        )
    return records


async def setup_objects(client: httpx.AsyncClient) -> dict[str, str]:
    """A plan, a body with a meeting, and targets so the scorecard has rows."""
    for kpi, value in (("sick_leave_pct", "6.0"), ("overtime_hours", "2000")):
        response = await client.post(
            "/v1/kpi-targets",
            json={
                "kpi": kpi,
                "org_unit": "REG",
                "comparator": "lte",
                "bound": "absolute",
                "value": value,
                "valid_from": "2024-01",
            },
        )
        assert response.status_code == 201, response.text
    plan = await client.post(
        "/v1/action-plans",
        json={
            "title": "Minskad sjukfrånvaro",
            "org_unit": "REG",
            "period_start": "2025-01-01",
            "period_end": "2026-12-31",
        },
    )
    assert plan.status_code == 201, plan.text
    body = await client.post("/v1/bodies", json={"name": "Ledningsgruppen", "org_unit": "REG"})
    assert body.status_code == 201, body.text
    return {"plan": plan.json()["id"], "body": body.json()["id"]}


async def new_meeting(client: httpx.AsyncClient, body_id: str, number: int) -> str:
    day = 1 + number % 28
    response = await client.post(
        f"/v1/bodies/{body_id}/meetings",
        json={
            "starts_at": f"2026-02-{day:02d}T08:00:00Z",
            "ends_at": f"2026-02-{day:02d}T10:00:00Z",
        },
    )
    assert response.status_code == 201, response.text
    meeting_id: str = response.json()["id"]
    return meeting_id


@dataclass(frozen=True)
class Rates:
    """Requests per second each kind of client aims at (the feed sends back to back)."""

    series: float = 40.0  # dashboards, over 4 clients (root and unit)
    scorecard: float = 2.0
    edits: float = 2.0  # per planner (2) and secretary (1): a create and a patch each time


async def mixed_load(
    url: str, seconds: float, batch: int, units: int, rates: Rates, rec: Recorder
) -> float:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    limits = httpx.Limits(max_connections=20)
    async with httpx.AsyncClient(
        base_url=url, headers=headers, timeout=60, limits=limits
    ) as client:
        ids = await setup_objects(client)
        for _ in range(10):  # warm the API's connections and caches
            await client.get(SERIES + "REG")
        # and its batch validator process, which starts with the first large batch
        warm = await client.post(
            "/v1/time-records:batch", json={"records": nightly_batch(-1, batch, units)}
        )
        assert warm.status_code == 200, warm.text
        # Encoded beforehand, so this client's own CPU goes to the requests it times.
        bodies = [
            json.dumps({"records": nightly_batch(n, batch, units)}).encode() for n in range(100)
        ]
        deadline = time.monotonic() + seconds

        async def paced(per_second: float, step: Callable[[int], Awaitable[None]]) -> None:
            """Calls step(0), step(1), … every 1/per_second s (at once when one ran late)."""
            n = 0
            while time.monotonic() < deadline:
                started = time.monotonic()
                await step(n)
                n += 1
                await asyncio.sleep(max(0.0, 1 / per_second - (time.monotonic() - started)))

        async def feed() -> None:
            number = 0
            while time.monotonic() < deadline:
                body = bodies[number % len(bodies)]
                rec.feeding += 1
                try:
                    await rec.call(
                        "feed batch",
                        client.post(
                            "/v1/time-records:batch",
                            content=body,
                            headers={"content-type": "application/json"},
                        ),
                    )
                finally:
                    rec.feeding -= 1
                number += 1

        def dashboard(unit: str) -> Callable[[int], Awaitable[None]]:
            async def step(_n: int) -> None:
                await rec.call(f"series {unit}", client.get(SERIES + unit))

            return step

        async def scorecard(_n: int) -> None:
            await rec.call(
                "scorecard", client.get("/v1/org-units/REG/scorecard", params={"period": "2025"})
            )

        async def create_and_edit(
            kind: str, create: Awaitable[httpx.Response], edited_at: str, changes: dict[str, Any]
        ) -> None:
            """A create, then a PATCH of what it made with If-Match, as an editor works."""
            created = await rec.call(f"{kind} create", create)
            if created is not None and created.status_code == 201:
                made = created.json()
                await rec.call(
                    f"{kind} patch",
                    client.patch(
                        f"{edited_at}/{made['id']}",
                        json=changes,
                        headers={"If-Match": f'"{made["version"]}"'},
                    ),
                    expected=(200,),
                )

        def planner(who: int) -> Callable[[int], Awaitable[None]]:
            async def step(n: int) -> None:
                code = f"L{who}.{n}"
                await create_and_edit(
                    "action",
                    client.post(
                        f"/v1/action-plans/{ids['plan']}/actions",
                        json={"code": code, "title": f"Åtgärd {code}", "due_date": "2026-06-30"},
                    ),
                    "/v1/actions",
                    {"status": "in_progress", "progress": 40},
                )

            return step

        meetings: list[str] = []

        async def secretary(n: int) -> None:
            number = 1 + n % 999  # agenda item numbers are unique within a meeting
            if number == 1:
                meetings.append(await new_meeting(client, ids["body"], len(meetings)))
            await create_and_edit(
                "agenda item",
                client.post(
                    f"/v1/meetings/{meetings[-1]}/items",
                    json={"number": number, "title": f"Punkt {number}", "kind": "information"},
                ),
                "/v1/agenda-items",
                {"notes": "Underlag bifogat"},
            )

        before = await series_histogram(client)
        started = time.perf_counter()
        await asyncio.gather(
            feed(),
            *(paced(rates.series / 4, dashboard(unit)) for unit in ("REG", "REG", "U007", "U007")),
            paced(rates.scorecard, scorecard),
            paced(rates.edits, planner(1)),
            paced(rates.edits, planner(2)),
            paced(rates.edits, secretary),
        )
        elapsed = time.perf_counter() - started
        after = await series_histogram(client)
        rec.server_series_within_ceiling = (after[0] - before[0]) / max(after[1] - before[1], 1)
        return elapsed


async def series_histogram(client: httpx.AsyncClient) -> tuple[float, float]:
    """The API's own count of series requests answered within 100 ms, and of all of them."""
    text = (await client.get("/metrics")).text
    route = 'method="GET",route="/v1/kpis/{code}/series"'
    within = total = 0.0
    for line in text.splitlines():
        if route in line and 'le="0.1"' in line:
            within = float(line.rsplit(" ", 1)[1])
        elif line.startswith("puls_http_request_duration_seconds_count") and route in line:
            total = float(line.rsplit(" ", 1)[1])
    return within, total


async def sample_database(database_url: str, stop: asyncio.Event) -> list[tuple[int, int]]:
    """Every 100 ms: the database's active connections (this sampler's own excluded) and how
    many of them wait for a lock."""
    conn = await asyncpg.connect(database_url)
    samples: list[tuple[int, int]] = []
    try:
        while not stop.is_set():
            row = await conn.fetchrow(
                "SELECT count(*) AS active, count(*) FILTER (WHERE wait_event_type = 'Lock') "
                "AS waiting FROM pg_stat_activity WHERE datname = current_database() "
                "AND state = 'active' AND pid <> pg_backend_pid()"
            )
            assert row is not None
            samples.append((row["active"], row["waiting"]))
            await asyncio.sleep(0.1)
    finally:
        await conn.close()
    return samples


async def create_key(client: httpx.AsyncClient, name: str) -> str:
    response = await client.post("/v1/api-keys", json={"name": name, "scopes": ["read"]})
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


async def rate_limit_phase(
    url: str, database_url: str, seconds: float, tokens: list[str], rec: Recorder
) -> tuple[list[tuple[int, int]], float]:
    greedy_token, polite_token = tokens
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_database(database_url, stop))
    deadline = time.monotonic() + seconds

    async def greedy(client: httpx.AsyncClient) -> None:
        while time.monotonic() < deadline:
            await rec.call("greedy key: series", client.get(SERIES + "U007"), (200,))

    async def polite(client: httpx.AsyncClient) -> None:
        while time.monotonic() < deadline:
            await rec.call("polite key: series", client.get(SERIES + "U007"), (200,))
            await asyncio.sleep(0.1)

    def keyed(token: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    started = time.perf_counter()
    async with keyed(greedy_token) as g, keyed(polite_token) as p:
        await asyncio.gather(*(greedy(g) for _ in range(8)), polite(p))
    elapsed = time.perf_counter() - started
    stop.set()
    return await sampler, elapsed


def operation_rows(rec: Recorder, elapsed: float) -> list[list[str]]:
    rows = []
    for op, s in rec.ops.items():
        rows.append(
            [
                op,
                f"{len(s.latencies):,}",
                f"{len(s.latencies) / elapsed:.1f}",
                f"{percentile(s.latencies, 0.50):.1f}",
                f"{percentile(s.latencies, 0.95):.1f}",
                f"{percentile(s.latencies, 0.99):.1f}",
                ", ".join(f"{n}× {k}" for k, n in s.errors.items()) or "0",
            ]
        )
    return rows


async def main(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="puls-bench-load-"))
    spec = demo.Spec(employees=args.employees, units=args.units)
    counts = demo.generate(spec, work)
    async with bench_database() as database_url:
        settings = Settings(
            DATABASE_URL=database_url, REDIS_URL=args.redis_url, pseudonym_key=PSEUDONYM_KEY
        )
        started = time.perf_counter()
        await load_region(settings, work)
        conn = await asyncpg.connect(database_url)
        await conn.execute("VACUUM ANALYZE")
        await conn.close()
        print(
            f"loaded {counts.time_records:,} time records over {args.units} units and "
            f"computed their KPIs in {time.perf_counter() - started:.0f} s"
        )
        import redis.asyncio as aioredis

        queue = aioredis.Redis.from_url(args.redis_url)
        await queue.flushdb()
        await queue.aclose()
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": args.redis_url,
            "PULS_BOOTSTRAP_API_KEY": TOKEN,
            "PULS_PSEUDONYM_KEY": PSEUDONYM_KEY,
            "PULS_LOG_LEVEL": "WARNING",
            "PULS_WORKER_METRICS_PORT": "0",
        }
        mix = Recorder()
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with (
            process(
                ["api", "--port", str(port)],
                {
                    **env,
                    "PULS_RATE_LIMIT_PER_MINUTE": "1000000",
                    "PULS_API_WORKERS": str(args.api_workers),
                },
            ),
            process(["worker"], env),
        ):
            wait_until_healthy(url)
            rates = Rates(series=args.series_rate)
            stop = asyncio.Event()
            sampler = asyncio.create_task(sample_database(database_url, stop))
            elapsed = await mixed_load(url, args.seconds, args.batch, args.units, rates, mix)
            stop.set()
            mix_db = await sampler
            conn = await asyncpg.connect(database_url)
            dirty = await conn.fetchval("SELECT count(*) FROM kpi_dirty_cells")
            await conn.close()
            async with httpx.AsyncClient(
                base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
            ) as admin:
                tokens = [await create_key(admin, name) for name in ("greedy", "polite")]

        limited = Recorder()
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        limit_env = {**env, "PULS_RATE_LIMIT_PER_MINUTE": str(args.rate_limit)}
        with process(["api", "--port", str(port)], limit_env):
            wait_until_healthy(url)
            active, limited_elapsed = await rate_limit_phase(
                url, database_url, args.limit_seconds, tokens, limited
            )

    print_table(
        f"Mixed load for {elapsed:.0f} s: {counts.time_records:,} time records, "
        f"{args.api_workers} API process(es), 1 worker, PostgreSQL and this client on the same "
        "machine",
        ["operation", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors"],
        operation_rows(mix, elapsed),
    )
    during = [
        latency for op, s in mix.ops.items() if op.startswith("series") for latency in s.during_feed
    ]
    p99 = percentile(during, 0.99)
    fed = mix.ops["feed batch"]
    records = len(fed.latencies) * args.batch
    print(
        f"\nseries while a feed batch was in flight: {len(during):,} requests, p99 {p99:.1f} ms "
        f"= {p99 / SERIES_CEILING_MS:.2f}× the {SERIES_CEILING_MS:.0f} ms ceiling; "
        f"the API itself answered {mix.server_series_within_ceiling:.1%} of them within 100 ms; "
        f"feed {records / elapsed:,.0f} records/s; {dirty} dirty cells left at the end; "
        f"PostgreSQL: {mean(a for a, _ in mix_db):.2f} active connections on average, "
        f"a lock wait in {sum(1 for _, w in mix_db if w) / max(len(mix_db), 1):.0%} of samples"
    )

    greedy, polite = limited.ops["greedy key: series"], limited.ops["polite key: series"]
    rows = operation_rows(limited, limited_elapsed)
    waits = greedy.retry_after
    refused = greedy.refused
    mean_active = mean(a for a, _ in active)
    print_table(
        f"Rate limit {args.rate_limit}/min per key, {limited_elapsed:.0f} s: a greedy key "
        "(8 clients) and a polite one (10 req/s)",
        ["operation", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "unexpected"],
        rows,
    )
    print(
        f"\ngreedy key: {greedy.statuses[200]:,} × 200, {greedy.statuses[429]:,} × 429 "
        f"(Retry-After {min(waits, default=0)}–{max(waits, default=0)} s, 429 p99 "
        f"{percentile(refused, 0.99):.1f} ms); polite key: {polite.statuses[200]:,} × 200, "
        f"{polite.statuses[429]} × 429, p99 {percentile(polite.latencies, 0.99):.1f} ms; "
        f"PostgreSQL active connections during the phase: mean {mean_active:.2f}, "
        f"max {max((a for a, _ in active), default=0)}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=25, help="length of the mixed phase")
    parser.add_argument("--limit-seconds", type=float, default=8, help="length of phase 2")
    parser.add_argument("--employees", type=int, default=300, help="300 → ~250 000 records")
    parser.add_argument("--units", type=int, default=100)
    parser.add_argument(
        "--api-workers", type=int, default=2, help="API processes (PULS_API_WORKERS): one per core"
    )
    parser.add_argument("--batch", type=int, default=3000, help="records per feed batch")
    parser.add_argument("--series-rate", type=float, default=40, help="series reads per second")
    parser.add_argument("--rate-limit", type=int, default=600, help="per key per minute, phase 2")
    parser.add_argument(
        "--redis-url", default=os.environ.get("PULS_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
    )
    asyncio.run(main(parser.parse_args()))
