"""The headers the contract documents are the ones Puls sends: `X-Request-ID` on every answer,
`ETag` ("<version>") on versioned resources, `Location` on 201/202, `Retry-After` on 429/503,
and `Idempotency-Key` on every creating POST, with one spelling of each header."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from services.cli.main import render_openapi
from tests.factories import create_unit
from tests.problems import assert_problem

SPEC = json.loads(render_openapi())
ETAG = re.compile(r'^"[0-9]+"$')
# `Puls-Seen-Facts-Changed-At`: the read replica's consistency token (docs/scaling.md).
CANONICAL = {"Idempotency-Key", "If-Match", "X-Edit-Reason", "Accept", "Puls-Seen-Facts-Changed-At"}


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [(m, p, op) for p, item in SPEC["paths"].items() for m, op in item.items()]


def test_every_v1_operation_documents_429_500_503_and_every_answer_its_request_id() -> None:
    for method, path, op in _operations():
        where = f"{method.upper()} {path}"
        for status, response in op["responses"].items():
            assert "X-Request-ID" in response.get("headers", {}), f"{where} {status}"
        if path.startswith("/v1/"):
            assert {"429", "500", "503"} <= set(op["responses"]), where
            for status in ("429", "503"):
                assert "Retry-After" in op["responses"][status]["headers"], f"{where} {status}"


def test_every_creating_post_takes_an_idempotency_key_in_one_spelling() -> None:
    creating = 0
    for method, path, op in _operations():
        headers = {p["name"] for p in op.get("parameters", []) if p["in"] == "header"}
        assert headers <= CANONICAL, f"{method.upper()} {path}: {headers - CANONICAL}"
        created = {"201", "202"} & set(op["responses"])
        if method == "post" and created and not path.endswith(":redeliver"):
            creating += 1
            assert "Idempotency-Key" in headers, f"POST {path} creates without Idempotency-Key"
            for status in created:
                assert "Location" in op["responses"][status]["headers"], f"POST {path}"
    assert creating >= 20


async def test_sent_headers_match_the_documented_ones(client: httpx.AsyncClient) -> None:
    mine = await client.get("/v1/org-units", headers={"X-Request-ID": "trace-1"})
    assert mine.headers["x-request-id"] == "trace-1"
    await create_unit(client, "RS", kind="region", name="Region Skåne")
    unit = await client.get("/v1/org-units/RS")
    assert (
        ETAG.match(unit.headers["etag"]) and unit.headers["etag"] == f'"{unit.json()["version"]}"'
    )
    missing = await client.get("/v1/org-units/NOPE")
    assert_problem(missing, 404, "org_unit_not_found")
    assert missing.headers["x-request-id"] == missing.json()["request_id"]


async def test_the_creating_posts_that_lacked_it_replay_with_an_idempotency_key(
    client: httpx.AsyncClient,
) -> None:
    await create_unit(client, "RS", kind="region", name="Region Skåne")
    posts: list[tuple[str, dict[str, Any], int]] = [
        ("/v1/bodies", {"name": "Koncernledningen", "org_unit": "RS"}, 201),
        (
            "/v1/compliance/rules",
            {
                "kind": "overtime_month",
                "name": "Övertid",
                "max_hours": "50",
                "valid_from": "2024-01-01",
            },
            201,
        ),
        ("/v1/recalculations", {"org_unit": "RS", "from": "2024-01"}, 202),
    ]
    for path, body, status in posts:
        headers = {"Idempotency-Key": f"once-{path}"}
        first = await client.post(path, json=body, headers=headers)
        again = await client.post(path, json=body, headers=headers)
        assert first.status_code == again.status_code == status, first.text
        assert again.json() == first.json()
        assert again.headers["idempotent-replayed"] == "true"
        assert again.headers["location"] == first.headers["location"]
        assert (await client.get(first.headers["location"])).status_code == 200
        if "version" in first.json():
            assert ETAG.match(first.headers["etag"])
        changed = {**body, "from": "2024-02"} if "from" in body else {**body, "name": "Annan"}
        other = await client.post(path, json=changed, headers=headers)
        assert_problem(other, 422, "idempotency_key_reused")
    bodies = (await client.get("/v1/bodies")).json()["items"]
    assert len(bodies) == 1
