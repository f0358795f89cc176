"""Per-key rate limits against a real API process under concurrent load (one key over its
limit gets 429 with Retry-After while another key is unaffected), and the stricter limit on
person-level reads (OWASP API6: mass export of pseudonymous records), which are audited."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable
from typing import Any

import httpx
import sqlalchemy as sa

from services.api.app import create_app
from services.core.config import Settings
from tests.api_process import running_api
from tests.conftest import make_client
from tests.factories import create_key, feed, seed_tree, time_record
from tests.harness import ADMIN_TOKEN
from tests.problems import assert_problem

LIMIT = 40


def minute_windows(started: float, finished: float) -> int:
    """How many of the limiter's one-minute windows a burst touched (1, or 2 across a minute)."""
    return int(finished // 60) - int(started // 60) + 1


def assert_rate_limited(response: httpx.Response, answered_at: float) -> None:
    assert_problem(response, 429, "rate_limited")
    # Seconds until the window the answer was given in ends: the next request after it is let
    # through.
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= 60
    assert abs(retry_after - (60 - answered_at % 60)) <= 2 or retry_after == 1


async def answered(request: Awaitable[httpx.Response]) -> tuple[httpx.Response, float]:
    """A response with when it arrived (checking many of them afterwards takes time)."""
    response = await request
    return response, time.time()


async def test_a_key_over_its_limit_gets_429_while_another_key_is_unaffected(
    settings: Settings,
) -> None:
    with running_api(settings, PULS_RATE_LIMIT_PER_MINUTE=str(LIMIT)) as url:
        async with httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        ) as admin:
            await seed_tree(admin)
            greedy_token = await create_key(admin, ["read"], name="greedy dashboard")
            calm_token = await create_key(admin, ["read"], name="calm dashboard")

        limits = httpx.Limits(max_connections=20)
        greedy = httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {greedy_token}"}, limits=limits
        )
        calm = httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {calm_token}"})
        gate = asyncio.Semaphore(20)

        async def greedy_read() -> tuple[httpx.Response, float]:
            async with gate:
                return await answered(greedy.get("/v1/org-units"))

        async def calm_reads() -> list[httpx.Response]:
            answers = []
            for _ in range(LIMIT // 2):
                answers.append(await calm.get("/v1/org-units"))
                await asyncio.sleep(0.01)
            return answers

        async with greedy, calm:
            started = time.time()
            flood, calm_answers = await asyncio.gather(
                asyncio.gather(*(greedy_read() for _ in range(3 * LIMIT))), calm_reads()
            )
            windows = minute_windows(started, time.time())

    statuses = Counter(r.status_code for r, _ in flood)
    assert set(statuses) == {200, 429}, statuses
    assert LIMIT <= statuses[200] <= LIMIT * windows
    for refused, at in flood:
        if refused.status_code == 429:
            assert_rate_limited(refused, at)
    assert [r.status_code for r in calm_answers] == [200] * (LIMIT // 2)


async def test_person_level_reads_have_a_stricter_limit_and_every_page_is_audited(
    settings: Settings,
) -> None:
    app = create_app(
        settings.model_copy(
            update={"rate_limit_per_minute": 1_000, "person_data_rate_limit_per_minute": 5}
        )
    )
    async with app.router.lifespan_context(app), make_client(app) as admin:
        await seed_tree(admin)
        records = [
            time_record(f"X{n}", employee_ref=f"E{n % 30}", work_date=f"2024-03-{1 + n % 28:02d}")
            for n in range(600)
        ]
        await feed(admin, "time-records", records)
        exporter_token = await create_key(admin, ["read", "persondata:read"], name="mass exporter")
        other_token = await create_key(admin, ["persondata:read"], name="other integration")
        async with make_client(app, exporter_token) as exporter:
            started = time.time()
            pages: list[dict[str, Any]] = []
            cursor: str | None = None
            while len(pages) < 5:  # 5 pages of 100: what the limit lets through in a minute
                params = {"limit": "100", **({"cursor": cursor} if cursor else {})}
                page = await exporter.get("/v1/time-records", params=params)
                assert page.status_code == 200, page.text
                pages.append(page.json())
                cursor = page.json()["next_cursor"]
            refused = [
                await answered(exporter.get("/v1/time-records", params={"cursor": cursor})),
                await answered(exporter.get("/v1/employments")),
                await answered(
                    exporter.get("/v1/compliance/violations", params={"org_unit": "RS"})
                ),
            ]
            one_window = minute_windows(started, time.time()) == 1
            if one_window:
                for response, at in refused:
                    assert_rate_limited(response, at)
                    assert "person-level reads" in response.json()["detail"]
            # Aggregated reads of the same key are under the general limit only.
            assert (await exporter.get("/v1/org-units")).status_code == 200
            assert (await exporter.get("/v1/kpis")).status_code == 200
        async with make_client(app, other_token) as other:
            assert (await other.get("/v1/time-records")).status_code == 200

        async with app.state.sessionmaker() as session:
            rows = await session.execute(
                sa.text(
                    "SELECT actor, action, details FROM audit_log WHERE action LIKE '%.read' "
                    "ORDER BY id"
                )
            )
            audited = [(r.actor, r.action, r.details) for r in rows]
    # One audit row per page served (none for the refused requests), naming the key and
    # what it took; the exporter's first rows account for the 500 records it got.
    by_key = Counter(actor for actor, _, _ in audited)
    exporter_rows = [d for actor, _, d in audited if actor == audited[0][0]]
    assert sum(d["returned"] for d in exporter_rows[:5]) == 500
    if one_window:
        assert sorted(by_key.values()) == [1, 5]
    assert {action for _, action, _ in audited} == {"time-records.read"}
