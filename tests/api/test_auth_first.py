"""No work before authentication (OWASP API2/API4): a request without a valid key, or without
the route's scope, is refused before a byte of its body is read, whatever it declares or
sends; and an address that keeps sending bad keys is throttled (429 with Retry-After)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.api import deps
from services.api.app import create_app
from services.core.config import Settings
from services.core.validation import loads_strict
from tests.conftest import make_client
from tests.factories import create_key, seed_tree
from tests.harness import ADMIN_TOKEN
from tests.problems import assert_problem

# Routes that take a JSON body, one of each kind (a batch, a bulk upsert, a create, a change).
BODY_ROUTES = [
    ("POST", "/v1/time-records:batch"),
    ("PUT", "/v1/org-units"),
    ("POST", "/v1/org-units"),
    ("PATCH", "/v1/org-units/SUS"),
    ("POST", "/v1/people"),
    ("PUT", "/v1/sources/heroma/code-mappings"),
]


def unreadable(declared: int) -> dict[str, Any]:
    """Request arguments whose body fails the test if the server reads any of it."""

    async def never_sent() -> AsyncIterator[bytes]:
        raise AssertionError("the body must not be read")
        yield b""  # pragma: no cover

    return {
        "content": never_sent(),
        "headers": {"content-type": "application/json", "content-length": str(declared)},
    }


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every body the strict JSON parser is asked to parse."""
    seen: list[bytes] = []

    def counting(raw: bytes) -> Any:
        seen.append(raw)
        return loads_strict(raw)

    monkeypatch.setattr(deps, "loads_strict", counting)
    return seen


@pytest.mark.parametrize("method,path", BODY_ROUTES)
async def test_no_key_is_401_before_the_body_is_read(
    app: FastAPI, method: str, path: str, parses: list[bytes]
) -> None:
    for token in (None, "puls_not-a-key", "Basic"):
        async with make_client(app, token) as anon:
            huge = await anon.request(method, path, **unreadable(2 * 1024**3))
            assert_problem(huge, 401, "invalid_api_key")
            small = await anon.request(method, path, **unreadable(12))
            assert_problem(small, 401, "invalid_api_key")
            malformed = await anon.request(
                method, path, content=b'{"records": [', headers={"content-type": "application/json"}
            )
            assert_problem(malformed, 401, "invalid_api_key")
    assert parses == []


async def test_a_key_without_the_scope_is_403_before_the_body_is_read(
    app: FastAPI, client: httpx.AsyncClient, parses: list[bytes]
) -> None:
    reader = await create_key(client, ["read"])
    parses.clear()  # creating the key parsed its own body
    async with make_client(app, reader) as c:
        for method, path in BODY_ROUTES:
            response = await c.request(method, path, **unreadable(2 * 1024**3))
            assert_problem(response, 403, "missing_scope")
            malformed = await c.request(
                method, path, content=b"{", headers={"content-type": "application/json"}
            )
            assert_problem(malformed, 403, "missing_scope")
    assert parses == []


async def test_with_a_valid_key_the_body_is_read_and_refused_as_before(
    client: httpx.AsyncClient, parses: list[bytes]
) -> None:
    too_large = await client.put("/v1/org-units", **unreadable(2 * 1024**3))
    assert_problem(too_large, 413, "payload_too_large")
    malformed = await client.post(
        "/v1/org-units", content=b"{", headers={"content-type": "application/json"}
    )
    assert_problem(malformed, 400, "malformed_json")
    assert parses == [b"{"]


async def test_an_unknown_query_parameter_without_a_key_is_401(anon: httpx.AsyncClient) -> None:
    assert_problem(await anon.get("/v1/org-units", params={"x": "1"}), 401, "invalid_api_key")
    response = await anon.post("/v1/time-records:batch", params={"atomc": "true"}, json={})
    assert_problem(response, 401, "invalid_api_key")


# --- throttling of failed authentication ----------------------------------------------------

LIMIT = 3


def from_address(app: FastAPI, address: str, token: str | None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(address, 40000)),
        base_url="http://puls.test",
        headers=headers,
    )


async def wait_for_a_fresh_minute() -> None:
    """The failures are counted per minute: start far enough from the end of one."""
    if time.time() % 60 > 50:
        await asyncio.sleep(60 - time.time() % 60 + 0.1)


async def test_repeated_401s_from_one_address_are_throttled(settings: Settings) -> None:
    strict = settings.model_copy(update={"auth_failure_limit_per_minute": LIMIT})
    app, other_process = create_app(strict), create_app(strict)
    async with (
        app.router.lifespan_context(app),
        other_process.router.lifespan_context(other_process),
    ):
        await wait_for_a_fresh_minute()
        async with from_address(app, "203.0.113.7", "puls_guessed") as guesser:
            statuses = [(await guesser.get("/v1/org-units")).status_code for _ in range(LIMIT)]
            assert statuses == [401] * LIMIT
            refused = await guesser.get("/v1/org-units")
            problem = assert_problem(refused, 429, "auth_failures_throttled")
            assert str(LIMIT) in problem["detail"]
            assert 1 <= int(refused.headers["retry-after"]) <= 60
            # Refused before the body too, and before the key is looked at: the right key
            # from the same address waits like the wrong ones.
            batch = await guesser.post("/v1/time-records:batch", **unreadable(2 * 1024**3))
            assert_problem(batch, 429, "auth_failures_throttled")
        async with from_address(app, "203.0.113.7", ADMIN_TOKEN) as same_address:
            assert_problem(await same_address.get("/v1/org-units"), 429)
        # Another address is not affected.
        async with from_address(app, "198.51.100.9", ADMIN_TOKEN) as elsewhere:
            assert (await elsewhere.get("/v1/org-units")).status_code == 200
        # The count lives in Redis: another API process refuses the address's next bad key
        # instead of granting an allowance of its own.
        async with from_address(other_process, "203.0.113.7", "puls_guessed") as guesser:
            assert_problem(await guesser.get("/v1/org-units"), 429, "auth_failures_throttled")


async def test_valid_keys_and_missing_scopes_do_not_count(settings: Settings) -> None:
    strict = settings.model_copy(update={"auth_failure_limit_per_minute": LIMIT})
    app = create_app(strict)
    async with app.router.lifespan_context(app):
        await wait_for_a_fresh_minute()
        async with from_address(app, "203.0.113.8", ADMIN_TOKEN) as admin:
            await seed_tree(admin)
            reader = await create_key(admin, ["read"])
        async with from_address(app, "203.0.113.8", reader) as c:
            for _ in range(2 * LIMIT):
                assert (await c.get("/v1/org-units")).status_code == 200
                assert_problem(await c.put("/v1/org-units", json=[]), 403, "missing_scope")
        async with from_address(app, "203.0.113.8", "puls_guessed") as guesser:
            assert_problem(await guesser.get("/v1/org-units"), 401, "invalid_api_key")
