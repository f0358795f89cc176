from __future__ import annotations

import asyncio
import json

import httpx
from fastapi import FastAPI

from tests.conftest import make_client
from tests.factories import create_key, create_unit, seed_tree
from tests.problems import assert_problem


async def codes(client: httpx.AsyncClient, url: str) -> list[str]:
    response = await client.get(url)
    assert response.status_code == 200, response.text
    return [item["code"] for item in response.json()["items"]]


async def test_create_read_update_delete(client: httpx.AsyncClient) -> None:
    await create_unit(client, "RS", kind="region", name="Region Skåne")
    created = await client.post(
        "/v1/org-units",
        json={
            "code": "RS-MED",
            "name": "Medicinsk service",
            "kind": "administration",
            "parent_code": "RS",
            "valid_from": "2024-01-01",
        },
    )
    assert created.status_code == 201, created.text
    assert created.headers["location"] == "/v1/org-units/RS-MED"
    assert created.headers["etag"] == '"1"'
    body = created.json()
    assert body["parent_code"] == "RS" and body["depth"] == 1 and body["valid_from"] == "2024-01-01"

    fetched = await client.get("/v1/org-units/RS-MED")
    assert fetched.json() == body and fetched.headers["etag"] == '"1"'

    patched = await client.patch(
        "/v1/org-units/RS-MED", json={"name": "Medicinsk service Syd"}, headers={"If-Match": '"1"'}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "Medicinsk service Syd"
    assert patched.headers["etag"] == '"2"'

    deleted = await client.delete("/v1/org-units/RS-MED", headers={"If-Match": '"2"'})
    assert deleted.status_code == 204
    assert (await client.get("/v1/org-units/RS-MED")).status_code == 404


async def test_subtree_is_depth_first_and_scoped_to_the_unit(client: httpx.AsyncClient) -> None:
    await seed_tree(client)
    assert await codes(client, "/v1/org-units/SUS/subtree") == ["SUS", "SUS-AKUT", "SUS-MED"]
    assert len(await codes(client, "/v1/org-units/RS/subtree")) == 6
    assert await codes(client, "/v1/org-units/PV-MALMO/subtree") == ["PV-MALMO"]


async def test_moving_a_unit_moves_its_subtree(client: httpx.AsyncClient) -> None:
    await seed_tree(client)
    moved = await client.patch("/v1/org-units/SUS", json={"parent_code": "PV"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["depth"] == 2
    assert await codes(client, "/v1/org-units/PV/subtree") == [
        "PV",
        "SUS",
        "SUS-AKUT",
        "SUS-MED",
        "PV-MALMO",
    ]
    akut = (await client.get("/v1/org-units/SUS-AKUT")).json()
    assert akut["depth"] == 3


async def test_moving_under_own_descendant_is_a_cycle(client: httpx.AsyncClient) -> None:
    await seed_tree(client)
    response = await client.patch("/v1/org-units/SUS", json={"parent_code": "SUS-AKUT"})
    assert assert_problem(response, 422)["errors"][0]["code"] == "cycle"
    assert (await client.get("/v1/org-units/SUS")).json()["parent_code"] == "RS"


async def test_duplicate_code_is_409_and_changes_nothing(client: httpx.AsyncClient) -> None:
    await create_unit(client, "RS", kind="region", name="Region Skåne")
    again = await client.post(
        "/v1/org-units", json={"code": "RS", "name": "Annan", "kind": "region"}
    )
    assert_problem(again, 409, "org_unit_code_taken")
    assert (await client.get("/v1/org-units/RS")).json()["name"] == "Region Skåne"


async def test_unknown_parent_is_422_naming_the_field(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/org-units", json={"code": "X", "name": "X", "kind": "unit", "parent_code": "NOPE"}
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"loc": ["body", "parent_code"], "msg": "unknown org unit 'NOPE'", "code": "unknown_parent"}
    ]
    assert (await client.get("/v1/org-units/X")).status_code == 404


async def test_deleting_a_unit_with_children_is_409(client: httpx.AsyncClient) -> None:
    await seed_tree(client)
    response = await client.delete("/v1/org-units/SUS")
    assert_problem(response, 409, "org_unit_has_children")


async def test_bulk_upsert_with_parents_later_in_the_list(client: httpx.AsyncClient) -> None:
    units = [
        {"code": "U1", "name": "Enhet 1", "kind": "unit", "parent_code": "ADM"},
        {"code": "ADM", "name": "Förvaltning", "kind": "administration", "parent_code": "REG"},
        {"code": "REG", "name": "Region", "kind": "region"},
    ]
    first = await client.put("/v1/org-units", json=units)
    assert first.status_code == 200, first.text
    assert first.json() == {"inserted": 3, "updated": 0, "unchanged": 0}
    assert await codes(client, "/v1/org-units/REG/subtree") == ["REG", "ADM", "U1"]

    units[0]["name"] = "Enhet 1 (ny)"
    second = await client.put("/v1/org-units", json=units)
    assert second.json() == {"inserted": 0, "updated": 1, "unchanged": 2}
    u1 = (await client.get("/v1/org-units/U1")).json()
    assert u1["name"] == "Enhet 1 (ny)" and u1["depth"] == 2 and u1["version"] == 2


async def test_bulk_upsert_rejects_cycles_unknown_parents_and_duplicates_atomically(
    client: httpx.AsyncClient,
) -> None:
    await seed_tree(client)
    response = await client.put(
        "/v1/org-units",
        json=[
            {"code": "NEW", "name": "Ny", "kind": "unit", "parent_code": "RS"},
            {"code": "RS", "name": "Region Skåne", "kind": "region", "parent_code": "SUS-AKUT"},
            {"code": "ORPHAN", "name": "Föräldralös", "kind": "unit", "parent_code": "MISSING"},
            {"code": "NEW", "name": "Dubblett", "kind": "unit", "parent_code": "RS"},
        ],
    )
    assert response.status_code == 422, response.text
    errors = {(tuple(e["loc"]), e["code"]) for e in response.json()["errors"]}
    assert (("body", 1, "parent_code"), "cycle") in errors
    assert (("body", 2, "parent_code"), "unknown_parent") in errors
    assert (("body", 3, "code"), "duplicate_code") in errors
    assert (await client.get("/v1/org-units/NEW")).status_code == 404
    assert (await client.get("/v1/org-units/RS")).json()["parent_code"] is None


async def test_list_pages_with_a_cursor(client: httpx.AsyncClient) -> None:
    await client.put(
        "/v1/org-units",
        json=[{"code": f"U{i:02d}", "name": f"Enhet {i}", "kind": "unit"} for i in range(25)],
    )
    seen: list[str] = []
    url = "/v1/org-units?limit=10"
    while True:
        page = (await client.get(url)).json()
        seen += [u["code"] for u in page["items"]]
        if page["next_cursor"] is None:
            break
        url = f"/v1/org-units?limit=10&cursor={page['next_cursor']}"
    assert seen == [f"U{i:02d}" for i in range(25)]


async def test_updated_since_lists_changes_and_tombstones(client: httpx.AsyncClient) -> None:
    await seed_tree(client)
    since = (await client.get("/v1/org-units/RS")).json()["updated_at"]
    await asyncio.sleep(0.01)
    await client.patch("/v1/org-units/SUS-MED", json={"name": "Medicin"})
    await client.delete("/v1/org-units/PV-MALMO")
    page = (await client.get("/v1/org-units", params={"updated_since": since})).json()
    assert [i.get("code", i.get("id")) for i in page["items"]] == ["SUS-MED", "PV-MALMO"]
    tombstone = page["items"][1]
    assert tombstone["deleted"] is True and tombstone["id"] == "PV-MALMO"
    assert "name" not in tombstone


async def test_a_bad_cursor_is_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/org-units", params={"cursor": "not-a-cursor"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "invalid_cursor"


async def test_key_confined_to_a_subtree_sees_only_it(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await seed_tree(client)
    token = await create_key(client, ["read", "admin"], org_unit="SUS")
    async with make_client(app, token) as scoped:
        assert set(await codes(scoped, "/v1/org-units")) == {"SUS", "SUS-AKUT", "SUS-MED"}
        assert (await scoped.get("/v1/org-units/PV-MALMO")).status_code == 404
        assert (await scoped.get("/v1/org-units/RS/subtree")).status_code == 404
        assert (await scoped.patch("/v1/org-units/PV", json={"name": "x"})).status_code == 404
        moved = await scoped.post(
            "/v1/org-units", json={"code": "X", "name": "X", "kind": "unit", "parent_code": "PV"}
        )
        assert moved.status_code == 422  # the parent outside the subtree does not exist for it
        created = await scoped.post(
            "/v1/org-units", json={"code": "X", "name": "X", "kind": "unit", "parent_code": "SUS"}
        )
        assert created.status_code == 201


async def test_a_confined_key_cannot_take_a_code_from_outside_its_subtree(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    # A deleted unit keeps its id and its records; reviving it under another parent would
    # carry another subtree's data into the confined key's reach (OWASP API1).
    await seed_tree(client)
    lund = await create_unit(client, "PV-LUND", parent="PV")
    assert (await client.delete("/v1/org-units/PV-LUND")).status_code == 204
    token = await create_key(client, ["admin"], org_unit="SUS")
    async with make_client(app, token) as scoped:
        problems: dict[str, str] = {}
        for code in ("PV-LUND", "PV-MALMO", "RS"):  # deleted, live, an ancestor: all outside
            response = await scoped.post(
                "/v1/org-units",
                json={"code": code, "name": "Tagen", "kind": "unit", "parent_code": "SUS-MED"},
            )
            problem = assert_problem(response, 422, "org_tree_invalid")
            problems[code] = json.dumps([problem["detail"], problem["errors"]]).replace(code, "?")
        # Nothing tells a live unit from a deleted one, or from one above the key's subtree.
        assert problems["PV-LUND"] == problems["PV-MALMO"] == problems["RS"]
        assert json.loads(problems["RS"])[1] == [
            {
                "loc": ["body", "code"],
                "msg": "code '?' cannot be used by this key",
                "code": "code_unavailable",
            }
        ]
        assert set(await codes(scoped, "/v1/org-units")) == {"SUS", "SUS-AKUT", "SUS-MED"}
        # Inside its own subtree a live code is still a plain conflict.
        taken = await scoped.post(
            "/v1/org-units",
            json={"code": "SUS-AKUT", "name": "x", "kind": "unit", "parent_code": "SUS"},
        )
        assert_problem(taken, 409, "org_unit_code_taken")
    # Nothing moved: the deleted unit is still deleted, and comes back only where it was.
    assert (await client.get("/v1/org-units/PV-LUND")).status_code == 404
    assert (await client.get("/v1/org-units/PV-MALMO")).json()["parent_code"] == "PV"
    revived = await create_unit(client, "PV-LUND", parent="PV")
    assert revived["created_at"] == lund["created_at"]


async def test_a_confined_key_revives_a_deleted_code_of_its_own_subtree(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await seed_tree(client)
    first = await create_unit(client, "SUS-IVA", parent="SUS-MED")
    assert (await client.delete("/v1/org-units/SUS-IVA")).status_code == 204
    token = await create_key(client, ["admin"], org_unit="SUS")
    async with make_client(app, token) as scoped:
        revived = await create_unit(scoped, "SUS-IVA", parent="SUS")
    assert revived["created_at"] == first["created_at"]
    assert revived["parent_code"] == "SUS"
