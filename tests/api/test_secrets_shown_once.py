"""A secret in an answer (a new API key's token, a webhook signing secret) is shown once: the
idempotency store keeps the answer without it, and a replay of the same `Idempotency-Key` gives
the resource with the secret null and `Secret-Redacted` naming the field."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.app import create_app
from services.core.auth.schemas import ApiKeyCreated
from services.core.config import Settings
from services.core.notifications.schemas import CalendarFeedCreated
from services.core.webhooks.schemas import SecretRotated, WebhookCreated
from tests.conftest import make_client

URL = "https://hooks.example.org/puls"


async def _stored_answers(session: AsyncSession) -> list[tuple[bytes, dict[str, Any]]]:
    rows = await session.execute(
        sa.text("SELECT response_body, response_headers FROM idempotency_keys")
    )
    return [(bytes(body), headers) for body, headers in rows.all()]


async def test_a_replayed_api_key_answer_has_no_token(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    body = {"name": "Heroma nattlig", "scopes": ["read"]}
    headers = {"Idempotency-Key": "key-1"}
    first = await client.post("/v1/api-keys", json=body, headers=headers)
    again = await client.post("/v1/api-keys", json=body, headers=headers)
    assert first.status_code == again.status_code == 201, again.text
    token = first.json()["token"]
    assert token.startswith("puls_") and "secret-redacted" not in first.headers

    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["secret-redacted"] == "token"
    assert again.headers["location"] == first.headers["location"]
    assert again.json() == {**first.json(), "token": None}

    ((stored, stored_headers),) = await _stored_answers(session)
    assert token.encode() not in stored and token[len("puls_") :].encode() not in stored
    assert stored_headers["Secret-Redacted"] == "token"
    # One key was made, and its token (shown once) works.
    assert len((await client.get("/v1/api-keys")).json()["items"]) == 1
    async with make_client(app, token) as c:
        assert (await c.get("/v1/events")).status_code == 200


async def test_a_replayed_subscription_answer_has_no_secret(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    body = {"url": URL, "event_types": ["kpi.*"]}
    headers = {"Idempotency-Key": "hook-1"}
    first = await client.post("/v1/webhooks", json=body, headers=headers)
    again = await client.post("/v1/webhooks", json=body, headers=headers)
    assert first.status_code == again.status_code == 201, again.text
    secret = first.json()["secret"]
    assert secret.startswith("whsec_")
    assert again.headers["secret-redacted"] == "secret"
    assert again.headers["etag"] == first.headers["etag"]
    assert again.json() == {**first.json(), "secret": None}
    ((stored, _),) = await _stored_answers(session)
    assert secret.removeprefix("whsec_").encode() not in stored


async def test_rotation_takes_an_idempotency_key_and_its_replay_has_no_secret(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    sub = (await client.post("/v1/webhooks", json={"url": URL, "event_types": ["*"]})).json()
    rotate = f"/v1/webhooks/{sub['id']}:rotate-secret"
    headers = {"Idempotency-Key": "rot-1"}
    first = await client.post(rotate, json={"overlap_seconds": 60}, headers=headers)
    again = await client.post(rotate, json={"overlap_seconds": 60}, headers=headers)
    assert first.status_code == again.status_code == 200, again.text
    secret = first.json()["secret"]
    assert secret.startswith("whsec_") and secret != sub["secret"]
    assert first.headers["etag"] == again.headers["etag"] == '"2"'
    assert again.headers["secret-redacted"] == "secret"
    assert again.json() == {**first.json(), "secret": None}
    # The retry did not rotate a second time.
    assert (await client.get(f"/v1/webhooks/{sub['id']}")).json()["version"] == 2
    ((stored, _),) = await _stored_answers(session)
    assert secret.removeprefix("whsec_").encode() not in stored

    # Without a key, each call rotates (and shows its secret).
    plain = await client.post(rotate, json={})
    assert plain.status_code == 200 and plain.json()["secret"] not in (None, secret)
    assert "secret-redacted" not in plain.headers


async def test_answers_without_secrets_are_stored_whole(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    unit = {"code": "RS", "name": "Region Skåne", "kind": "region"}
    first = await client.post("/v1/org-units", json=unit, headers={"Idempotency-Key": "u-1"})
    again = await client.post("/v1/org-units", json=unit, headers={"Idempotency-Key": "u-1"})
    assert again.json() == first.json() and "secret-redacted" not in again.headers
    ((_, stored_headers),) = await _stored_answers(session)
    assert "Secret-Redacted" not in stored_headers


SECRET_NAMES = {"secret", "token", "password", "private_key"}


def test_every_answer_with_a_secret_declares_it() -> None:
    """Every answer in the contract with a field that holds a secret comes from a model that
    names it in `secret_fields`, so the idempotency store cannot keep one by oversight when a
    new operation returns a secret."""
    spec = create_app(Settings(docs_enabled=True)).openapi()
    schemas = spec["components"]["schemas"]
    found: dict[str, set[str]] = {}
    for item in spec["paths"].values():
        for op in item.values():
            for status, response in op["responses"].items():
                ref = (
                    response.get("content", {}).get("application/json", {}).get("schema", {})
                ).get("$ref")
                if status.startswith("2") and ref:
                    name = ref.rsplit("/", 1)[1]
                    secret = SECRET_NAMES & set(schemas[name].get("properties", {}))
                    if secret:
                        found[name] = secret
    models = {
        m.__name__: m for m in (ApiKeyCreated, WebhookCreated, SecretRotated, CalendarFeedCreated)
    }
    assert set(found) == set(models)
    for name, fields in found.items():
        # A model may redact more than the secret-named fields (a feed's `url` holds its token).
        assert fields <= set(models[name].secret_fields), name
