from __future__ import annotations

import httpx
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.events import service as events_service
from tests.conftest import make_client
from tests.factories import create_key, seed_tree


async def test_feed_lists_events_in_order_after_a_cursor(client: httpx.AsyncClient) -> None:
    await client.post("/v1/org-units", json={"code": "RS", "name": "Region", "kind": "region"})
    await client.patch("/v1/org-units/RS", json={"name": "Region Skåne"})
    feed = (await client.get("/v1/events")).json()
    assert [e["type"] for e in feed["items"]] == ["org_unit.created", "org_unit.updated"]
    assert feed["items"][0]["org_unit"] == "RS"
    assert feed["next_after"] == feed["items"][-1]["id"]
    later = (await client.get("/v1/events", params={"after": feed["next_after"]})).json()
    assert later == {"items": [], "next_cursor": None, "next_after": feed["next_after"]}


async def test_types_filter_with_family_wildcard(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await events_service.publish(session, "kpi.target_breached", {"kpi": "sick_leave_pct"})
    await events_service.publish(session, "action.overdue", {"action": "3.2"})
    await events_service.publish(session, "kpi.target_recovered", {"kpi": "sick_leave_pct"})
    await session.commit()
    kpi = (await client.get("/v1/events", params={"types": "kpi.*"})).json()
    assert [e["type"] for e in kpi["items"]] == ["kpi.target_breached", "kpi.target_recovered"]
    exact = (await client.get("/v1/events", params={"types": "action.overdue"})).json()
    assert [e["data"] for e in exact["items"]] == [{"action": "3.2"}]


async def test_rolled_back_change_publishes_nothing(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await events_service.publish(session, "kpi.target_breached", {"kpi": "rolled back"})
    await session.rollback()
    await events_service.publish(session, "kpi.target_breached", {"kpi": "committed"})
    await session.commit()
    items = (await client.get("/v1/events")).json()["items"]
    assert [e["data"] for e in items] == [{"kpi": "committed"}]


async def test_scoped_key_sees_only_its_subtree_events(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await seed_tree(client)
    await client.patch("/v1/org-units/SUS-MED", json={"name": "Medicin"})
    await client.patch("/v1/org-units/PV-MALMO", json={"name": "VC Malmö"})
    token = await create_key(client, ["read"], org_unit="SUS")
    async with make_client(app, token) as scoped:
        items = (await scoped.get("/v1/events")).json()["items"]
        assert [(e["type"], e["org_unit"]) for e in items] == [("org_unit.updated", "SUS-MED")]


async def test_a_scan_publishes_any_number_of_events_in_order(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    # More than a statement's parameters allow as rows (asyncpg: 32 767), in the given order,
    # their data (nested, non-ASCII, null) and org units as given.
    await seed_tree(client)
    unit = (await session.execute(sa.text("SELECT min(id) FROM org_units"))).scalar_one()
    assert unit is not None
    events = [
        (
            "kpi.target_breached" if i % 3 else "kpi.target_recovered",
            {"n": i, "name": "Överläkare ÅÄÖ", "nested": {"ok": i % 2 == 0}, "value": None},
            unit if i % 2 else None,
        )
        for i in range(12_000)
    ]
    await events_service.publish_all(session, events)
    await session.commit()
    rows = (
        await session.execute(sa.text("SELECT type, data, org_unit_id FROM events ORDER BY id"))
    ).all()
    assert [tuple(r) for r in rows[-12_000:]] == events
