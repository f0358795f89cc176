"""Function-level authorization (OWASP API5), walked over the whole contract: every operation
that names its required scopes refuses a key holding any other scope with 403, and refuses a
missing key with 401, before it looks at the request."""

from __future__ import annotations

import json
import re
import uuid

import httpx
from fastapi import FastAPI

from services.cli.main import ROOT
from services.core.principal import Scope
from tests.conftest import make_client
from tests.factories import create_key

SPEC = json.loads((ROOT / "openapi" / "openapi.json").read_text())


def _operations() -> list[tuple[str, str, list[str], dict[str, object]]]:
    found = []
    for path, item in SPEC["paths"].items():
        for method, operation in item.items():
            if operation.get("x-scopes"):  # [] is "any credential" (GET /v1/me), walked below
                found.append((method.upper(), path, operation["x-scopes"], operation))
    return found


def _concrete(path: str, operation: dict[str, object]) -> str:
    schemas = {
        p["name"]: p.get("schema", {})
        for p in operation.get("parameters", [])  # type: ignore[attr-defined]
        if p["in"] == "path"
    }

    def value(match: re.Match[str]) -> str:
        schema = schemas.get(match[1], {})
        if schema.get("format") == "uuid":
            return str(uuid.uuid4())
        return "1" if schema.get("type") == "integer" else "X1"

    return re.sub(r"\{(\w+)\}", value, path)


def _request_kwargs(method: str, operation: dict[str, object]) -> dict[str, object]:
    if method not in ("POST", "PUT", "PATCH"):
        return {}
    content = operation.get("requestBody", {}).get("content", {})  # type: ignore[attr-defined]
    if not content or "application/json" in content:
        return {"json": {}}
    media = next(iter(content))
    return {"content": b"", "headers": {"content-type": media}}


async def test_every_scoped_operation_refuses_other_scopes(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    operations = _operations()
    assert len(operations) >= 15
    tokens = {s.value: await create_key(client, [s.value]) for s in Scope if s is not Scope.admin}
    failures = []
    for number, (method, path, required, operation) in enumerate(operations):
        url = _concrete(path, operation)
        kwargs = _request_kwargs(method, operation)
        for scope, token in tokens.items():
            if scope in required:
                continue
            async with make_client(app, token) as c:
                response = await c.request(method, url, **kwargs)  # type: ignore[arg-type]
            if response.status_code != 403:
                failures.append(f"{method} {path} with {scope}: {response.status_code}")
        # Each from its own address: more than PULS_AUTH_FAILURE_LIMIT_PER_MINUTE requests
        # without a key from one address are throttled (429).
        transport = httpx.ASGITransport(
            app=app, client=(f"10.0.{number // 250}.{number % 250 + 1}", 1)
        )
        async with httpx.AsyncClient(transport=transport, base_url="http://puls.test") as anon:
            response = await anon.request(method, url, **kwargs)  # type: ignore[arg-type]
        if response.status_code != 401:
            failures.append(f"{method} {path} without a key: {response.status_code}")
    assert failures == []


def test_every_v1_operation_names_its_scopes() -> None:
    unnamed = [
        f"{method.upper()} {path}"
        for path, item in SPEC["paths"].items()
        for method, operation in item.items()
        if path.startswith("/v1/") and "x-scopes" not in operation
    ]
    assert unnamed == []


async def test_the_operations_without_a_scope_still_need_a_credential(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """`x-scopes: []`: any valid key or token, whatever its scopes, and never none."""
    open_to_all = [
        (method.upper(), path)
        for path, item in SPEC["paths"].items()
        for method, operation in item.items()
        if operation.get("x-scopes") == []
    ]
    assert open_to_all == [("GET", "/v1/me")]
    token = await create_key(client, [Scope.timedata_write.value])
    async with make_client(app, token) as keyed:
        assert (await keyed.get("/v1/me")).status_code == 200
    async with make_client(app, None) as anon:
        assert (await anon.get("/v1/me")).status_code == 401
