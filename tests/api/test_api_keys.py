from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.auth.service import hash_token
from tests.conftest import make_client
from tests.factories import create_key, seed_tree


async def test_token_shown_once_and_stored_only_as_hash(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    created = await client.post(
        "/v1/api-keys", json={"name": "Heroma nattlig", "scopes": ["timedata:write", "read"]}
    )
    assert created.status_code == 201, created.text
    body = created.json()
    token = body["token"]
    assert token.startswith("puls_") and len(token) > 40
    assert body["token_prefix"] == token[:11]
    assert body["scopes"] == ["read", "timedata:write"]

    listed = (await client.get("/v1/api-keys")).json()["items"]
    assert all("token" not in k and "token_hash" not in k for k in listed)
    fetched = await client.get(f"/v1/api-keys/{body['id']}")
    assert "token" not in fetched.json()

    stored = (await session.execute(sa.text("SELECT token_hash FROM api_keys"))).scalars().all()
    assert stored == [hash_token(token)]
    assert token not in str(stored)


async def test_scopes_are_enforced(app: FastAPI, client: httpx.AsyncClient) -> None:
    await seed_tree(client)
    writer = await create_key(client, ["timedata:write"])
    async with make_client(app, writer) as c:
        denied = await c.get("/v1/org-units")
        assert denied.status_code == 403
        assert denied.json()["detail"] == "This operation needs the 'read' scope"
        assert (await c.get("/v1/api-keys")).status_code == 403
    reader = await create_key(client, ["read"])
    async with make_client(app, reader) as c:
        assert (await c.get("/v1/org-units")).status_code == 200
        assert (
            await c.post("/v1/api-keys", json={"name": "x", "scopes": ["admin"]})
        ).status_code == 403


async def test_revoked_key_fails_at_once(app: FastAPI, client: httpx.AsyncClient) -> None:
    created = (await client.post("/v1/api-keys", json={"name": "x", "scopes": ["read"]})).json()
    async with make_client(app, created["token"]) as c:
        assert (await c.get("/v1/events")).status_code == 200
        assert (await client.delete(f"/v1/api-keys/{created['id']}")).status_code == 204
        assert (await c.get("/v1/events")).status_code == 401
    revoked = (await client.get(f"/v1/api-keys/{created['id']}")).json()
    assert revoked["revoked_at"] is not None


async def test_expired_key_fails(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    created = (
        await client.post(
            "/v1/api-keys", json={"name": "x", "scopes": ["read"], "expires_at": soon}
        )
    ).json()
    await session.execute(
        sa.text("UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = :id"),
        {"id": created["id"]},
    )
    await session.commit()
    async with make_client(app, created["token"]) as c:
        response = await c.get("/v1/events")
        assert response.status_code == 401
        assert response.json()["detail"] == "The API key has expired"
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    refused = await client.post(
        "/v1/api-keys", json={"name": "x", "scopes": ["read"], "expires_at": past}
    )
    assert refused.status_code == 422


async def test_unknown_scope_and_unknown_org_unit(client: httpx.AsyncClient) -> None:
    bad_scope = await client.post("/v1/api-keys", json={"name": "x", "scopes": ["root"]})
    assert bad_scope.status_code == 422
    bad_unit = await client.post(
        "/v1/api-keys", json={"name": "x", "scopes": ["read"], "org_unit": "NOPE"}
    )
    assert bad_unit.status_code == 404


async def test_scoped_admin_only_manages_keys_inside_its_subtree(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await seed_tree(client)
    outside = (
        await client.post("/v1/api-keys", json={"name": "pv", "scopes": ["read"], "org_unit": "PV"})
    ).json()
    scoped_admin = await create_key(client, ["admin"], org_unit="SUS")
    async with make_client(app, scoped_admin) as c:
        assert (await c.get(f"/v1/api-keys/{outside['id']}")).status_code == 404
        assert (await c.delete(f"/v1/api-keys/{outside['id']}")).status_code == 404
        unscoped = await c.post("/v1/api-keys", json={"name": "x", "scopes": ["read"]})
        assert unscoped.status_code == 422
        inside = await c.post(
            "/v1/api-keys", json={"name": "x", "scopes": ["read"], "org_unit": "SUS-MED"}
        )
        assert inside.status_code == 201
        assert {k["org_unit"] for k in (await c.get("/v1/api-keys")).json()["items"]} == {
            "SUS",
            "SUS-MED",
        }


async def test_changes_are_audited_without_secrets(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await seed_tree(client)
    token = await create_key(client, ["read"], name="Dashboard")
    await client.patch("/v1/org-units/SUS", json={"name": "SUS Lund"})
    rows = (
        await session.execute(
            sa.text("SELECT actor, action, resource_id, details::text FROM audit_log ORDER BY id")
        )
    ).all()
    actions = [r.action for r in rows]
    assert actions == ["org_unit.bulk_upsert", "api_key.create", "org_unit.update"]
    assert all(r.actor == "key:bootstrap" for r in rows)
    assert token not in str(rows)
    update = rows[-1]
    assert update.resource_id == "SUS" and "SUS Lund" in update.details
