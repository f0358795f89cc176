"""Rules, policies and exemptions through the API, and the violation reads."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import make_client
from tests.factories import create_key, feed, seed_tree, shift
from tests.jobs import recalculate
from tests.problems import assert_problem

WEEKDAY_DAYTIME = [{"weekdays": [1, 2, 3, 4, 5], "from": "07:00", "to": "18:00"}]


async def _rest_breakers(client: httpx.AsyncClient, employees: int) -> None:
    records = []
    for n in range(employees):
        records += [
            shift(f"N{n}", datetime(2024, 3, 4, 21, 30), 10),
            shift(f"N{n}", datetime(2024, 3, 5, 15, 30), 8),
            shift(f"N{n}", datetime(2024, 3, 6, 7, 30), 8),
        ]
    await feed(client, "time-records", records)


async def test_the_working_hours_act_is_seeded_and_rules_are_validated(
    client: httpx.AsyncClient,
) -> None:
    rules = (await client.get("/v1/compliance/rules")).json()["items"]
    assert sorted(r["kind"] for r in rules) == [
        "daily_rest",
        "overtime_month",
        "overtime_year",
        "weekly_rest",
    ]
    daily = next(r for r in rules if r["kind"] == "daily_rest")
    assert daily["min_rest_hours"] == "11.00"
    bad: list[dict[str, Any]] = [
        {"kind": "daily_rest", "name": "x", "min_rest_hours": "25", "period_start_hour": 0},
        {"kind": "weekly_rest", "name": "x", "min_rest_hours": "36"},
        {"kind": "overtime_month", "name": "x"},
        {"kind": "daily_rest", "name": "x", "min_rest_hours": "11", "period_start_hour": 24},
        {"kind": "overtime_year", "name": "x", "max_hours": "200", "valid_to": "1999-01-01"},
    ]
    for body in bad:
        response = await client.post(
            "/v1/compliance/rules", json={"valid_from": "2024-01-01", **body}
        )
        assert response.status_code == 422, (body, response.text)
    stale = await client.patch(
        f"/v1/compliance/rules/{daily['id']}",
        json={"period_start_hour": 7},
        headers={"If-Match": '"9"'},
    )
    assert stale.status_code == 412
    moved = await client.patch(
        f"/v1/compliance/rules/{daily['id']}",
        json={"period_start_hour": 7},
        headers={"If-Match": '"1"'},
    )
    assert moved.status_code == 200 and moved.json()["period_start_hour"] == 7


async def test_a_disabled_rule_finds_nothing_after_the_recheck(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await seed_tree(client)
    await _rest_breakers(client, 1)
    await recalculate(app)
    listed = await client.get("/v1/compliance/violations", params={"org_unit": "RS"})
    assert [v["kind"] for v in listed.json()["items"]] == ["daily_rest"]
    rules = (await client.get("/v1/compliance/rules")).json()["items"]
    daily = next(r for r in rules if r["kind"] == "daily_rest")
    await client.patch(f"/v1/compliance/rules/{daily['id']}", json={"enabled": False})
    await recalculate(app)
    again = await client.get("/v1/compliance/violations", params={"org_unit": "RS"})
    assert again.json()["items"] == []


async def test_policies_and_exemptions(app: FastAPI, client: httpx.AsyncClient) -> None:
    await seed_tree(client)
    policy = await client.post(
        "/v1/compliance/agency-policies",
        json={
            "name": "Hyrsjuksköterskor endast kvällar, nätter och helger",
            "professions": ["nurse"],
            "org_unit": "RS",
            "valid_from": "2023-10-01",
            "banned_windows": WEEKDAY_DAYTIME,
        },
    )
    assert policy.status_code == 201, policy.text
    url = policy.headers["location"]
    agency = {"staff": "agency", "profession": "nurse"}
    await feed(client, "time-records", [shift("A1", datetime(2023, 11, 8, 15, 0), 6, **agency)])
    await recalculate(app)
    summary = (await client.get("/v1/compliance/summary", params={"org_unit": "RS"})).json()
    assert [(r["kind"], r["violations"], r["hours"]) for r in summary["rows"]] == [
        ("agency_policy", 1, "3.00")
    ]
    exemption = {
        "org_unit": "SUS",
        "valid_from": "2023-11-01",
        "valid_to": "2023-11-30",
        "decided_by": "Koncernledningen",
        "reason": "Influensasäsong",
    }
    created = await client.post(f"{url}/exemptions", json=exemption)
    assert created.status_code == 201, created.text
    overlapping = await client.post(
        f"{url}/exemptions", json={**exemption, "org_unit": "SUS-AKUT", "valid_from": "2023-11-20"}
    )
    assert overlapping.status_code == 409
    await recalculate(app)
    assert (await client.get("/v1/compliance/summary", params={"org_unit": "RS"})).json()[
        "rows"
    ] == []
    assert len((await client.get(f"{url}/exemptions")).json()["items"]) == 1
    gone = await client.delete(f"/v1/compliance/exemptions/{created.json()['id']}")
    assert gone.status_code == 204
    await recalculate(app)
    assert (
        len((await client.get("/v1/compliance/summary", params={"org_unit": "RS"})).json()["rows"])
        == 1
    )
    bad_windows = [
        [{"weekdays": [1], "from": "07:00", "to": "07:00"}],
        [{"weekdays": [], "from": "07:00", "to": "18:00"}],
        [{"weekdays": [8], "from": "07:00", "to": "18:00"}],
        [{"weekdays": [1], "from": "7", "to": "18:00"}],
    ]
    for windows in bad_windows:
        response = await client.post(
            "/v1/compliance/agency-policies",
            json={
                "name": "x",
                "professions": ["nurse"],
                "org_unit": "RS",
                "valid_from": "2024-01-01",
                "banned_windows": windows,
            },
        )
        assert response.status_code == 422, windows
    assert (await client.delete(url, headers={"If-Match": '"1"'})).status_code == 204


async def test_violations_need_persondata_read_show_per_key_pseudonyms_and_are_audited(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await seed_tree(client)
    await _rest_breakers(client, 3)
    await recalculate(app)
    admin = (await client.get("/v1/compliance/violations", params={"org_unit": "RS"})).json()
    assert len(admin["items"]) == 3 and all(v["employee"] for v in admin["items"])
    stored = set(
        (await session.execute(sa.text("SELECT employee FROM compliance_violations"))).scalars()
    )
    reader = await create_key(client, ["read"])
    async with make_client(app, reader) as c:
        # Each row is one employee's working time: `read` gets 403 and keeps the aggregates.
        refused = await c.get("/v1/compliance/violations", params={"org_unit": "RS"})
        assert_problem(refused, 403, "missing_scope")
        summary = await c.get("/v1/compliance/summary", params={"org_unit": "RS"})
        assert summary.status_code == 200
    token = await create_key(client, ["persondata:read"])
    async with make_client(app, token) as c:
        # Fewer employees than the minimum group size: a person-level key sees them all.
        first = (
            await c.get("/v1/compliance/violations", params={"org_unit": "RS", "limit": 2})
        ).json()
        assert len(first["items"]) == 2 and first["next_cursor"]
        rest = (
            await c.get(
                "/v1/compliance/violations",
                params={"org_unit": "RS", "limit": 2, "cursor": first["next_cursor"]},
            )
        ).json()
        assert len(rest["items"]) == 1 and rest["next_cursor"] is None
        mine = {v["id"]: v["employee"] for v in first["items"] + rest["items"]}
        again = (await c.get("/v1/compliance/violations", params={"org_unit": "RS"})).json()
        assert {v["id"]: v["employee"] for v in again["items"]} == mine
        assert (await c.post("/v1/compliance/rules", json={})).status_code == 403
    theirs = {v["id"]: v["employee"] for v in admin["items"]}
    assert len(set(mine.values())) == 3
    assert all(mine[i] != theirs[i] for i in mine) and not stored & set(mine.values())
    reads = await session.execute(
        sa.text(
            "SELECT details->>'rows' FROM audit_log "
            "WHERE action = 'compliance.violations.read' ORDER BY id"
        )
    )
    assert reads.scalars().all() == ["3", "2", "1", "3"]


async def test_another_units_key_gets_404(app: FastAPI, client: httpx.AsyncClient) -> None:
    await seed_tree(client)
    policy = await client.post(
        "/v1/compliance/agency-policies",
        json={
            "name": "Stopp",
            "professions": ["nurse"],
            "org_unit": "SUS",
            "valid_from": "2024-01-15",
        },
    )
    token = await create_key(client, ["read", "persondata:read"], org_unit="PV")
    async with make_client(app, token) as pv:
        assert (await pv.get(policy.headers["location"])).status_code == 404
        hidden = await pv.get("/v1/compliance/violations", params={"org_unit": "SUS"})
        assert hidden.status_code == 404
        assert (await pv.get("/v1/compliance/agency-policies")).json()["items"] == []


@pytest.mark.parametrize(
    "values",
    [["x"], [None], [1.5], [True], [-1], [2**63], ["1"], [{"id": 1}]],
)
async def test_a_malformed_violations_cursor_is_422_not_500(
    client: httpx.AsyncClient, values: list[Any]
) -> None:
    """A cursor that decodes to something other than a violation id (a forged or garbled one)
    is the same problem as any malformed cursor."""
    await seed_tree(client)
    forged = base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")
    for cursor in (forged, "not base64 at all!"):
        response = await client.get(
            "/v1/compliance/violations", params={"org_unit": "RS", "cursor": cursor}
        )
        problem = assert_problem(response, 422, "validation_failed")
        assert problem["errors"][0]["code"] == "invalid_cursor"
