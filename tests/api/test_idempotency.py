"""Idempotency-Key on creating POSTs: replay, mismatch, in flight, and concurrent duplicates."""

from __future__ import annotations

import asyncio

import httpx
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.idempotency import service as idempotency_service
from tests.conftest import make_client
from tests.problems import assert_problem

UNIT = {"code": "RS", "name": "Region Skåne", "kind": "region"}


async def test_same_key_same_body_replays_the_first_response(client: httpx.AsyncClient) -> None:
    first = await client.post("/v1/org-units", json=UNIT, headers={"Idempotency-Key": "k-1"})
    again = await client.post("/v1/org-units", json=UNIT, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["location"] == "/v1/org-units/RS"
    assert again.headers["idempotent-replayed"] == "true"
    assert len((await client.get("/v1/org-units")).json()["items"]) == 1


async def test_same_key_other_body_is_422(client: httpx.AsyncClient) -> None:
    await client.post("/v1/org-units", json=UNIT, headers={"Idempotency-Key": "k-1"})
    other = {**UNIT, "name": "Region Skåne 2"}
    response = await client.post("/v1/org-units", json=other, headers={"Idempotency-Key": "k-1"})
    assert_problem(response, 422, "idempotency_key_reused")


async def test_failed_request_releases_the_key(client: httpx.AsyncClient) -> None:
    bad = {**UNIT, "parent_code": "MISSING"}
    assert (
        await client.post("/v1/org-units", json=bad, headers={"Idempotency-Key": "k-2"})
    ).status_code == 422
    fixed = await client.post(
        "/v1/org-units", json=bad | {"parent_code": None}, headers={"Idempotency-Key": "k-2"}
    )
    assert fixed.status_code == 201


async def test_in_flight_key_is_409(app: FastAPI, client: httpx.AsyncClient) -> None:
    # Another request holds the claim (it is still running): a duplicate must not run too.
    claim = await idempotency_service.claim(
        app.state.sessionmaker,
        owner="key:bootstrap",
        key="k-3",
        method="POST",
        path="/v1/org-units",
        fingerprint=idempotency_service.request_fingerprint(
            "POST", "/v1/org-units", "", httpx.Request("POST", "/", json=UNIT).read()
        ),
        in_flight_seconds=120,
    )
    assert isinstance(claim, idempotency_service.Claim)
    response = await client.post("/v1/org-units", json=UNIT, headers={"Idempotency-Key": "k-3"})
    assert_problem(response, 409, "idempotency_key_in_flight")
    assert response.headers["retry-after"] == "1"


async def test_keys_belong_to_their_api_key(app: FastAPI, client: httpx.AsyncClient) -> None:
    token = (await client.post("/v1/api-keys", json={"name": "b", "scopes": ["admin"]})).json()
    await client.post("/v1/org-units", json=UNIT, headers={"Idempotency-Key": "shared"})
    async with make_client(app, token["token"]) as other:
        response = await other.post(
            "/v1/org-units", json={**UNIT, "code": "RH"}, headers={"Idempotency-Key": "shared"}
        )
        assert response.status_code == 201
        assert response.json()["code"] == "RH"


async def test_concurrent_duplicates_create_once(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    responses = await asyncio.gather(
        *[
            client.post("/v1/org-units", json=UNIT, headers={"Idempotency-Key": "burst"})
            for _ in range(8)
        ]
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) >= 1
    assert set(statuses) <= {201, 409}
    created = [r.json() for r in responses if r.status_code == 201]
    assert all(c == created[0] for c in created)
    count = (await session.execute(sa.text("SELECT count(*) FROM org_units"))).scalar()
    assert count == 1


async def test_concurrent_edits_with_the_same_etag_one_wins(client: httpx.AsyncClient) -> None:
    await client.post("/v1/org-units", json=UNIT)
    responses = await asyncio.gather(
        *[
            client.patch(
                "/v1/org-units/RS", json={"name": f"Namn {i}"}, headers={"If-Match": '"1"'}
            )
            for i in range(5)
        ]
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 412, 412, 412, 412]
    winner = next(r for r in responses if r.status_code == 200).json()["name"]
    assert (await client.get("/v1/org-units/RS")).json()["name"] == winner
