from __future__ import annotations

import httpx

from tests.factories import seed_tree


async def test_health_and_tree(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    await seed_tree(client)
    response = await client.get("/v1/org-units/SUS/subtree")
    assert response.status_code == 200, response.text
    assert [u["code"] for u in response.json()["items"]][0] == "SUS"
