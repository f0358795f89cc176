"""People as owners and responsible persons of plans: the one registry of named officials
(not a second table), its ETags and mirror, and how plans treat removed or hidden people."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from fastapi import FastAPI

from tests.conftest import make_client
from tests.factories import create_key, create_person, create_plan, seed_rjh_tree


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    first: dict[str, Any] = response.json()["errors"][0]
    return first


async def test_person_crud_with_etags_and_tombstones(client: httpx.AsyncClient) -> None:
    await seed_rjh_tree(client)
    created = await client.post(
        "/v1/people",
        json={
            "name": "Camilla Simonsson",
            "initials": "CS",
            "title": "Projektledare",
            "email": "camilla.simonsson@example.org",
            "org_unit": "RJH",
        },
    )
    assert created.status_code == 201 and created.headers["ETag"] == '"1"'
    url = f"/v1/people/{created.json()['id']}"
    stale = await client.patch(url, json={"title": "X"}, headers={"If-Match": '"3"'})
    assert stale.status_code == 412
    changed = await client.patch(
        url, json={"title": "Utvecklingschef"}, headers={"If-Match": '"1"'}
    )
    assert changed.json()["title"] == "Utvecklingschef" and changed.headers["ETag"] == '"2"'
    found = await client.get("/v1/people", params={"q": "CS"})
    assert [p["name"] for p in found.json()["items"]] == ["Camilla Simonsson"]
    assert (await client.delete(url)).status_code == 204
    mirror = await client.get("/v1/people", params={"updated_since": "2000-01-01T00:00:00Z"})
    assert mirror.json()["items"][0]["deleted"] is True


async def test_a_removed_person_keeps_old_references_but_takes_no_new_ones(
    client: httpx.AsyncClient,
) -> None:
    await seed_rjh_tree(client)
    owner = await create_person(client, "Anna Granevärn")
    plan = await create_plan(client, owner_id=owner)
    assert (await client.delete(f"/v1/people/{owner}")).status_code == 204
    assert (await client.get(f"/v1/action-plans/{plan['id']}")).json()["owner_id"] == owner
    refused = await client.post(
        f"/v1/action-plans/{plan['id']}/packages", json={"name": "Paket", "owner_id": owner}
    )
    assert _error(refused, 422) == {
        "loc": ["body", "owner_id"],
        "msg": f"unknown person {owner}",
        "code": "unknown_person",
    }
    # Unrelated edits of the plan still work while its owner is gone.
    assert (
        await client.patch(f"/v1/action-plans/{plan['id']}", json={"purpose": "Ny"})
    ).status_code == 200


async def test_a_confined_key_cannot_name_people_it_cannot_see(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await seed_rjh_tree(client)
    hidden = await create_person(client, "Ingela Eckerdal", org_unit="RJH-OSS")
    shared = await create_person(client, "Regiondirektören")  # no unit: visible to all
    token = await create_key(client, ["read", "plans:write"], org_unit="RJH-PV")
    async with make_client(app, token) as pv:
        body = {
            "title": "PV:s plan",
            "org_unit": "RJH-PV",
            "period_start": "2018-01-01",
            "period_end": "2018-12-31",
        }
        refused = await pv.post("/v1/action-plans", json={**body, "owner_id": hidden})
        assert _error(refused, 422)["code"] == "unknown_person"
        accepted = await pv.post("/v1/action-plans", json={**body, "owner_id": shared})
        assert accepted.status_code == 201, accepted.text
        action = await pv.post(
            f"/v1/action-plans/{accepted.json()['id']}/actions",
            json={"code": "1", "title": "X", "responsible_id": str(uuid.uuid4())},
        )
        assert _error(action, 422)["loc"] == ["body", "responsible_id"]
