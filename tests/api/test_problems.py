"""Every error class is an RFC 9457 problem document, and a refused request changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from services.api.app import create_app
from services.core.config import Settings
from tests.conftest import make_client
from tests.factories import create_key, create_unit, seed_tree
from tests.problems import assert_problem


async def unit_count(client: httpx.AsyncClient) -> int:
    return len((await client.get("/v1/org-units")).json()["items"])


async def test_400_malformed_json(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/org-units", content=b'{"code": "A",', headers={"content-type": "application/json"}
    )
    assert_problem(response, 400, "malformed_json")
    assert await unit_count(client) == 0


async def test_400_duplicate_json_keys(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/org-units",
        content=b'{"code": "A", "code": "B", "name": "x", "kind": "unit"}',
        headers={"content-type": "application/json"},
    )
    body = assert_problem(response, 400, "malformed_json")
    assert "duplicate key 'code'" in str(body["detail"])
    assert await unit_count(client) == 0


async def test_400_deeply_nested_json_is_refused_quickly(client: httpx.AsyncClient) -> None:
    payload = b"[" * 100_000 + b"]" * 100_000
    response = await client.put(
        "/v1/org-units", content=payload, headers={"content-type": "application/json"}
    )
    assert_problem(response, 400, "malformed_json")


async def test_401_missing_and_invalid_key(anon: httpx.AsyncClient) -> None:
    missing = await anon.get("/v1/org-units")
    assert_problem(missing, 401, "invalid_api_key")
    assert missing.headers["www-authenticate"].startswith("Bearer")
    invalid = await anon.get("/v1/org-units", headers={"Authorization": "Bearer puls_nope"})
    assert_problem(invalid, 401, "invalid_api_key")
    basic = await anon.get("/v1/org-units", headers={"Authorization": "Basic dXNlcjpwdw=="})
    assert_problem(basic, 401, "invalid_api_key")


async def test_403_wrong_scope(app: FastAPI, client: httpx.AsyncClient) -> None:
    token = await create_key(client, ["read"])
    async with make_client(app, token) as reader:
        response = await reader.post(
            "/v1/org-units", json={"code": "A", "name": "A", "kind": "unit"}
        )
        assert_problem(response, 403, "missing_scope")
    assert await unit_count(client) == 0


async def test_404_unknown_resource_and_route(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/v1/org-units/NOPE"), 404, "org_unit_not_found")
    assert_problem(await client.get("/v1/nothing-here"), 404, "not_found")


async def test_405_method_not_allowed(client: httpx.AsyncClient) -> None:
    assert_problem(await client.post("/v1/events", json={}), 405, "method_not_allowed")


async def test_409_conflict(client: httpx.AsyncClient) -> None:
    await create_unit(client, "A")
    assert_problem(
        await client.post("/v1/org-units", json={"code": "A", "name": "A", "kind": "unit"}),
        409,
        "org_unit_code_taken",
    )


async def test_412_stale_if_match_changes_nothing(client: httpx.AsyncClient) -> None:
    await create_unit(client, "A", name="Före")
    await client.patch("/v1/org-units/A", json={"name": "Efter"}, headers={"If-Match": '"1"'})
    stale = await client.patch(
        "/v1/org-units/A", json={"name": "Försent"}, headers={"If-Match": '"1"'}
    )
    assert_problem(stale, 412, "precondition_failed")
    stale_delete = await client.delete("/v1/org-units/A", headers={"If-Match": '"1"'})
    assert_problem(stale_delete, 412, "precondition_failed")
    current = await client.get("/v1/org-units/A")
    assert current.json()["name"] == "Efter" and current.headers["etag"] == '"2"'


async def test_413_body_over_the_limit_before_reading_it(client: httpx.AsyncClient) -> None:
    # Content-Length alone decides: a 2 GB declaration is refused without reading a byte.
    async def never_sent() -> AsyncIterator[bytes]:
        raise AssertionError("the body must not be read")
        yield b""  # pragma: no cover

    response = await client.put(
        "/v1/org-units",
        content=never_sent(),
        headers={"content-type": "application/json", "content-length": str(2 * 1024**3)},
    )
    assert_problem(response, 413, "payload_too_large")


async def test_413_chunked_body_growing_past_the_limit(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"["
        for _ in range(30):
            yield b'{"code": "A", "name": "' + b"x" * (1024 * 1024) + b'", "kind": "unit"},'
        yield b"{}]"

    response = await client.put(
        "/v1/org-units", content=chunks(), headers={"content-type": "application/json"}
    )
    assert_problem(response, 413, "payload_too_large")
    assert await unit_count(client) == 0


async def test_413_batch_over_10000_records(client: httpx.AsyncClient) -> None:
    units = [{"code": f"U{i}", "name": "x", "kind": "unit"} for i in range(10_001)]
    response = await client.put("/v1/org-units", json=units)
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "too_long"


async def test_415_wrong_content_type(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/org-units", content=b"code=A", headers={"content-type": "text/plain"}
    )
    assert_problem(response, 415, "unsupported_media_type")
    assert await unit_count(client) == 0


async def test_422_unknown_fields_and_wrong_types(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/org-units",
        json={"code": "A", "name": "A", "kind": "castle", "is_admin": True, "valid_from": 5},
    )
    body = assert_problem(response, 422, "validation_failed")
    locs = {tuple(e["loc"]): e["code"] for e in body["errors"]}
    assert locs[("body", "kind")] == "literal_error"
    assert locs[("body", "is_admin")] == "extra_forbidden"
    assert ("body", "valid_from") in locs
    assert await unit_count(client) == 0


async def test_422_control_and_bidi_characters_in_names(client: httpx.AsyncClient) -> None:
    for name in ["Enhet\x00", "Enhet \u202eevil", "x" * 201]:
        response = await client.post(
            "/v1/org-units", json={"code": "A", "name": name, "kind": "unit"}
        )
        assert_problem(response, 422, "validation_failed")
    for code in ["A B", "", "ä" * 65, "A\u200f"]:
        response = await client.post(
            "/v1/org-units", json={"code": code, "name": "A", "kind": "unit"}
        )
        assert_problem(response, 422, "validation_failed")
    assert await unit_count(client) == 0


@pytest.fixture
async def limited_app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings.model_copy(update={"rate_limit_per_minute": 3}))

    @application.get("/v1/boom", tags=["ops"], summary="raises")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    async with application.router.lifespan_context(application):
        yield application


async def test_429_over_the_rate_with_retry_after(limited_app: FastAPI) -> None:
    async with make_client(limited_app) as client:
        statuses = [(await client.get("/v1/events")).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        response = await client.get("/v1/events")
        assert_problem(response, 429, "rate_limited")
        assert 1 <= int(response.headers["retry-after"]) <= 60


async def test_500_without_internals(limited_app: FastAPI) -> None:
    async with make_client(limited_app, raise_app_exceptions=False) as client:
        response = await client.get("/v1/boom")
        body = assert_problem(response, 500, "internal_error")
        assert "secret internals" not in response.text
        assert "request id" in str(body["detail"])


async def test_security_headers_and_request_id(client: httpx.AsyncClient) -> None:
    await seed_tree(client)
    response = await client.get("/v1/org-units", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    forged = await client.get("/v1/org-units", headers={"X-Request-ID": "bad id\nx"})
    assert forged.headers["x-request-id"] != "bad id\nx"
    assert "access-control-allow-origin" not in response.headers


async def test_values_the_database_cannot_hold_are_422_not_500(
    client: httpx.AsyncClient,
) -> None:
    too_big = await client.get("/v1/events", params={"after": str(2**70)})
    assert_problem(too_big, 422, "validation_failed")


async def test_405_lists_every_method_of_the_path(client: httpx.AsyncClient) -> None:
    response = await client.request("OPTIONS", "/v1/api-keys")
    assert_problem(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "GET, POST"


async def test_422_unknown_query_parameter_names_it(client: httpx.AsyncClient) -> None:
    # A misspelt filter must not quietly return everything.
    response = await client.get("/v1/time-records", params={"update_since": "2024-01-01"})
    assert response.status_code == 422
    body = response.json()
    assert body["errors"] == [
        {"loc": ["query", "update_since"], "msg": "unknown parameter", "code": "unknown"}
    ]
    assert "updated_since" in body["detail"]


async def test_422_a_date_that_is_not_yyyy_mm_dd(client: httpx.AsyncClient) -> None:
    for bad in ("0", "1700000000", "2024-3-1", "2024-02-30"):
        response = await client.get("/v1/time-records", params={"to": bad})
        assert_problem(response, 422, "validation_failed")


def test_a_deadlock_is_a_retryable_503_not_a_500() -> None:
    import asyncpg
    from sqlalchemy.exc import DBAPIError

    from services.api.problems import unexpected_problem

    error = DBAPIError("INSERT …", {}, Exception("deadlock detected"))
    error.__cause__ = asyncpg.DeadlockDetectedError("deadlock detected")
    status, code, _title, _detail, headers = unexpected_problem(error)
    assert (status, code, headers) == (503, "write_conflict", {"Retry-After": "1"})


async def test_a_json_body_of_the_wrong_shape_is_422_naming_the_shape(
    client: httpx.AsyncClient,
) -> None:
    # Sent as JSON, so not a media-type problem: the client gets what shape was expected.
    unit = {"code": "A", "name": "A", "kind": "unit"}
    response = await client.post("/v1/org-units", json=[unit])
    body = assert_problem(response, 422, "body_shape")
    assert body["detail"] == "The body must be a JSON object (OrgUnitCreate), not a JSON array"
    assert body["errors"] == [{"loc": ["body"], "msg": body["detail"], "code": "body_shape"}]
    for value, sent in (("A", "a JSON string"), (5, "a JSON number"), (None, "null")):
        response = await client.post("/v1/org-units", json=value)
        if value is None:
            # `null` is no body at all: the object is missing.
            assert_problem(response, 422, "validation_failed")
            continue
        assert assert_problem(response, 422, "body_shape")["detail"].endswith(sent)
    response = await client.put("/v1/org-units", json=unit)
    body = assert_problem(response, 422, "body_shape")
    assert body["detail"].startswith("The body must be a JSON array")
    assert body["detail"].endswith("not a JSON object")
    batch = await client.post("/v1/time-records:batch", json=[{"records": []}])
    assert "(TimeRecordsBatch)" in assert_problem(batch, 422, "body_shape")["detail"]
    assert await unit_count(client) == 0
