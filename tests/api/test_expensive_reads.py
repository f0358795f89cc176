"""Expensive reads are bounded (OWASP API4): a `children=true` series and the scorecard cost
`PULS_EXPENSIVE_READ_COST` units of the key's per-minute limit, so a key making them reaches 429
sooner than with cheap reads; `children=true` is refused (422 naming the cap) above
`PULS_MAX_CHILD_SERIES` child units."""

from __future__ import annotations

import asyncio
import time

from services.api.app import create_app
from services.core.config import Settings
from tests.api.test_rate_limits import assert_rate_limited
from tests.conftest import make_client
from tests.factories import create_key, seed_tree
from tests.problems import assert_problem

LIMIT, COST = 30, 10
SERIES = "/v1/kpis/sick_leave_pct/series"
MONTH = {"from": "2024-03", "to": "2024-03"}


async def _start_of_a_window() -> None:
    """The counts below must fall in one of the limiter's one-minute windows."""
    if time.time() % 60 > 50:
        await asyncio.sleep(61 - time.time() % 60)


async def test_expensive_reads_reach_429_sooner_than_cheap_ones(settings: Settings) -> None:
    app = create_app(
        settings.model_copy(update={"rate_limit_per_minute": LIMIT, "expensive_read_cost": COST})
    )
    async with app.router.lifespan_context(app), make_client(app) as admin:
        await seed_tree(admin)
        cheap_token = await create_key(admin, ["read"], name="cheap dashboard")
        children_token = await create_key(admin, ["read"], name="children dashboard")
        card_token = await create_key(admin, ["read"], name="scorecard dashboard")
        await _start_of_a_window()
        async with make_client(app, cheap_token) as cheap:
            # As many plain series as the expensive keys get before their 429, and more.
            for _ in range(2 * LIMIT // COST):
                plain = await cheap.get(SERIES, params={"org_unit": "RS", **MONTH})
                assert plain.status_code == 200, plain.text
        async with make_client(app, children_token) as children:
            params = {"org_unit": "RS", "children": "true", **MONTH}
            for _ in range(LIMIT // COST):
                ok = await children.get(SERIES, params=params)
                assert ok.status_code == 200, ok.text
                assert {s["org_unit"] for s in ok.json()["series"]} == {"SUS", "PV"}
            refused = await children.get(SERIES, params=params)
            assert_rate_limited(refused, time.time())
        async with make_client(app, card_token) as card:
            for _ in range(LIMIT // COST):
                ok = await card.get("/v1/org-units/SUS/scorecard", params={"period": "2024"})
                assert ok.status_code == 200, ok.text
            refused = await card.get("/v1/org-units/SUS/scorecard", params={"period": "2024"})
            assert_rate_limited(refused, time.time())


async def test_children_over_the_cap_is_422_naming_it(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"max_child_series": 1}))
    async with app.router.lifespan_context(app), make_client(app) as admin:
        await seed_tree(admin)
        over = await admin.get(SERIES, params={"org_unit": "SUS", "children": "true", **MONTH})
        body = assert_problem(over, 422, "validation_failed")
        assert body["errors"][0]["code"] == "too_many_children"
        assert body["errors"][0]["loc"] == ["query", "children"]
        assert "2 child units" in body["detail"] and "cap of 1" in body["detail"]
        assert "PULS_MAX_CHILD_SERIES" in body["detail"]
        # At the cap it works, and without children the same unit is one series.
        at_cap = await admin.get(SERIES, params={"org_unit": "PV", "children": "true", **MONTH})
        assert at_cap.status_code == 200, at_cap.text
        assert [s["org_unit"] for s in at_cap.json()["series"]] == ["PV-MALMO"]
        alone = await admin.get(SERIES, params={"org_unit": "SUS", **MONTH})
        assert alone.status_code == 200 and alone.json()["org_unit"] == "SUS"


async def test_a_key_with_cheap_reads_is_not_charged_more(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"rate_limit_per_minute": LIMIT}))
    async with app.router.lifespan_context(app), make_client(app) as admin:
        await seed_tree(admin)
        token = await create_key(admin, ["read"], name="plain dashboard")
        await _start_of_a_window()
        async with make_client(app, token) as reader:
            statuses = [
                (await reader.get(SERIES, params={"org_unit": "RS", **MONTH})).status_code
                for _ in range(LIMIT + 1)
            ]
    assert statuses == [200] * LIMIT + [429]
