"""Person-level data behind its own scope (issue 20, point 1): time records, employments and
violations need `persondata:read`, which `read` and the write scopes do not imply; each key sees
its own pseudonyms, stable for it and unrelated to every other key's; every read is audited."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import httpx
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import make_client
from tests.factories import create_key, employment, feed, personnel_cost, seed_tree, time_record
from tests.harness import PSEUDONYM_KEY
from tests.problems import assert_problem

PERSON_LEVEL = [
    ("/v1/time-records", {}),
    ("/v1/employments", {}),
    ("/v1/compliance/violations", {"org_unit": "RS"}),
]
# Every scope but the two that may read person-level records.
OTHER_SCOPES = [
    "read",
    "timedata:write",
    "plans:write",
    "meetings:write",
    "kpis:write",
    "webhooks:admin",
]


async def _key(client: httpx.AsyncClient, scopes: list[str], name: str) -> tuple[str, str]:
    created = await client.post("/v1/api-keys", json={"name": name, "scopes": scopes})
    assert created.status_code == 201, created.text
    return created.json()["token"], created.json()["id"]


async def _person_data(client: httpx.AsyncClient) -> None:
    await seed_tree(client)
    await feed(
        client,
        "time-records",
        [
            time_record("A1", employee_ref="19790312-1234", work_date="2024-03-04"),
            time_record("A2", employee_ref="19790312-1234", work_date="2024-03-05"),
            time_record("B1", employee_ref="19850101-5678", work_date="2024-03-04"),
        ],
    )
    await feed(client, "employments", [employment("EA", employee_ref="19790312-1234")])
    await feed(client, "personnel-costs", [personnel_cost("C1")])


def _by_record(items: list[dict[str, Any]]) -> dict[str, str]:
    return {r["external_id"]: r["employee"] for r in items}


async def test_person_level_lists_need_persondata_read(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await _person_data(client)
    # No other scope implies it, alone or all together.
    for scopes in ([s] for s in OTHER_SCOPES):
        token = await create_key(client, scopes, name=f"only {scopes[0]}")
        async with make_client(app, token) as c:
            for path, params in PERSON_LEVEL:
                refused = await c.get(path, params=params)
                body = assert_problem(refused, 403, "missing_scope")
                assert "'persondata:read'" in body["detail"], (scopes, path)
                assert "employee" not in refused.text
    everything_else = await create_key(client, OTHER_SCOPES)
    async with make_client(app, everything_else) as c:
        for path, params in PERSON_LEVEL:
            assert_problem(await c.get(path, params=params), 403, "missing_scope")
        # Costs are amounts per group, not per employee: `read` reads them.
        costs = await c.get("/v1/personnel-costs")
        assert costs.status_code == 200 and len(costs.json()["items"]) == 1

    persondata = await create_key(client, ["persondata:read"])
    async with make_client(app, persondata) as c:
        records = await c.get("/v1/time-records")
        assert records.status_code == 200, records.text
        assert sorted(_by_record(records.json()["items"])) == ["A1", "A2", "B1"]
        employments = await c.get("/v1/employments")
        assert [r["external_id"] for r in employments.json()["items"]] == ["EA"]
        violations = await c.get("/v1/compliance/violations", params={"org_unit": "RS"})
        assert violations.status_code == 200 and violations.json()["items"] == []
        # It is not `read`: the aggregated reads stay with that scope.
        assert_problem(await c.get("/v1/org-units"), 403, "missing_scope")


async def test_each_key_sees_its_own_stable_pseudonyms(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await _person_data(client)
    rows = await session.execute(sa.text("SELECT external_id, employee FROM time_records"))
    stored: dict[str, str] = {r.external_id: r.employee for r in rows}
    first_token, first_id = await _key(client, ["persondata:read"], "statistics extract")
    second_token, _ = await _key(client, ["persondata:read", "read"], "HR audit extract")
    seen: dict[str, dict[str, str]] = {}
    for name, token in (("first", first_token), ("second", second_token)):
        async with make_client(app, token) as c:
            records = (await c.get("/v1/time-records")).json()["items"]
            again = (await c.get("/v1/time-records", params={"limit": 1})).json()
            rest = await c.get("/v1/time-records", params={"cursor": again["next_cursor"]})
            employments = (await c.get("/v1/employments")).json()["items"]
        seen[name] = _by_record(records)
        # The same key sees the same value on every request and page, and one employee is one
        # value across the key's own extracts (its time records and employments join).
        assert _by_record(again["items"] + rest.json()["items"]) == seen[name]
        assert seen[name]["A1"] == seen[name]["A2"] == employments[0]["employee"]
        assert seen[name]["A1"] != seen[name]["B1"]
    seen["admin"] = _by_record((await client.get("/v1/time-records")).json()["items"])

    # Two keys (the bootstrap admin too) cannot join their extracts on the employee, and
    # none sees the stored pseudonym or the sender's id.
    for record in ("A1", "B1"):
        values = [seen[name][record] for name in ("first", "second", "admin")]
        assert len(set(values)) == 3 and stored[record] not in values
    assert "19790312" not in str(seen)
    # The value is the documented derivation, so it holds across restarts and API processes.
    secret = PSEUDONYM_KEY.encode()
    viewer = hmac.digest(secret, b"puls:viewer-pseudonym:v1\x00key:" + first_id.encode(), "sha256")
    expected = hmac.new(viewer, stored["A1"].encode(), hashlib.sha256).hexdigest()
    assert seen["first"]["A1"] == expected


async def test_every_person_level_read_is_audited_with_the_key(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await _person_data(client)
    token, key_id = await _key(client, ["persondata:read"], "exporter")
    reader, _ = await _key(client, ["read"], "dashboard")
    async with make_client(app, token) as c:
        for path, params in PERSON_LEVEL:
            assert (await c.get(path, params=params)).status_code == 200
    async with make_client(app, reader) as c:
        for path, params in PERSON_LEVEL:
            assert (await c.get(path, params=params)).status_code == 403
    rows = await session.execute(
        sa.text(
            "SELECT actor, action, details FROM audit_log WHERE action LIKE '%.read' ORDER BY id"
        )
    )
    audited = [(r.actor, r.action, r.details) for r in rows]
    # One row per answered read, naming the key; refused reads leave none.
    assert [(actor, action) for actor, action, _ in audited] == [
        (f"key:{key_id}", "time-records.read"),
        (f"key:{key_id}", "employments.read"),
        (f"key:{key_id}", "compliance.violations.read"),
    ]
    assert audited[0][2]["returned"] == 3 and audited[1][2]["returned"] == 1
