"""The subscription API: CRUD with ETags, secrets shown once, scopes and org confinement, and
the refusals of bad input at creation."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import make_client
from tests.factories import create_key, seed_tree, subscribe
from tests.problems import assert_problem

URL = "https://hooks.example.org/puls"


async def test_create_read_update_delete(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/v1/webhooks",
        json={"url": URL, "event_types": ["kpi.*", "action.overdue"], "description": "Intranät"},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["secret"].startswith("whsec_")
    assert created.headers["ETag"] == '"1"'
    assert created.headers["Location"] == f"/v1/webhooks/{body['id']}"
    assert body["enabled"] is True and body["event_types"] == ["kpi.*", "action.overdue"]

    got = await client.get(f"/v1/webhooks/{body['id']}")
    assert got.status_code == 200 and "secret" not in got.json()
    listed = (await client.get("/v1/webhooks")).json()
    assert [w["id"] for w in listed["items"]] == [body["id"]]
    assert all("secret" not in w for w in listed["items"])

    stale = await client.patch(
        f"/v1/webhooks/{body['id']}", json={"enabled": False}, headers={"If-Match": '"7"'}
    )
    assert_problem(stale, 412)
    changed = await client.patch(
        f"/v1/webhooks/{body['id']}", json={"enabled": False}, headers={"If-Match": '"1"'}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["enabled"] is False and changed.headers["ETag"] == '"2"'
    assert changed.json()["disabled_reason"] == "disabled by an administrator"

    deleted = await client.delete(f"/v1/webhooks/{body['id']}", headers={"If-Match": '"2"'})
    assert deleted.status_code == 204
    assert_problem(await client.get(f"/v1/webhooks/{body['id']}"), 404)
    mirror = await client.get("/v1/webhooks", params={"updated_since": "2000-01-01T00:00:00Z"})
    assert mirror.json()["items"] == [
        {"id": body["id"], "deleted": True, "updated_at": mirror.json()["items"][0]["updated_at"]}
    ]


async def test_idempotent_create(client: httpx.AsyncClient) -> None:
    body = {"url": URL, "event_types": ["kpi.*"]}
    headers = {"Idempotency-Key": "create-hook-1"}
    first = await client.post("/v1/webhooks", json=body, headers=headers)
    again = await client.post("/v1/webhooks", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["id"] == first.json()["id"]
    assert len((await client.get("/v1/webhooks")).json()["items"]) == 1


async def test_rotate_returns_a_new_secret_once(client: httpx.AsyncClient) -> None:
    sub = (await client.post("/v1/webhooks", json={"url": URL, "event_types": ["*"]})).json()
    rotated = await client.post(
        f"/v1/webhooks/{sub['id']}:rotate-secret", json={"overlap_seconds": 3600}
    )
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["secret"] != sub["secret"]
    assert rotated.headers["ETag"] == '"2"' and rotated.json()["version"] == 2
    state = (await client.get(f"/v1/webhooks/{sub['id']}")).json()
    assert state["previous_secret_expires_at"] is not None and state["version"] == 2


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"url": "ftp://hooks.example.org/x", "event_types": ["kpi.*"]}, "unsupported_scheme"),
        ({"url": "http://hooks.example.org/x", "event_types": ["kpi.*"]}, "https_required"),
        (
            {"url": "https://user:pw@hooks.example.org/x", "event_types": ["kpi.*"]},
            "credentials_in_url",
        ),
        ({"url": "https://127.0.0.1/x", "event_types": ["kpi.*"]}, "forbidden_address"),
        ({"url": "https://localhost:8443/x", "event_types": ["kpi.*"]}, "forbidden_address"),
        ({"url": "https://10.1.2.3/x", "event_types": ["kpi.*"]}, "forbidden_address"),
        ({"url": "https://192.168.0.10/x", "event_types": ["kpi.*"]}, "forbidden_address"),
        ({"url": "https://169.254.169.254/latest", "event_types": ["kpi.*"]}, "forbidden_address"),
        ({"url": "https://[::1]/x", "event_types": ["kpi.*"]}, "forbidden_address"),
        ({"url": "https://[fd00:ec2::254]/x", "event_types": ["kpi.*"]}, "forbidden_address"),
        ({"url": "https://[::ffff:127.0.0.1]/x", "event_types": ["kpi.*"]}, "forbidden_address"),
        ({"url": "https://224.0.0.1/x", "event_types": ["kpi.*"]}, "forbidden_address"),
        ({"url": "https://0.0.0.0/x", "event_types": ["kpi.*"]}, "forbidden_address"),
        ({"url": "not a url", "event_types": ["kpi.*"]}, "invalid_url"),
        ({"url": "https://hooks.example.org/a\r\nX-Evil: 1", "event_types": ["*"]}, "invalid_url"),
        ({"url": "https://hooks.example.org:99999/", "event_types": ["*"]}, "invalid_url"),
        ({"url": "https:///nohost", "event_types": ["*"]}, "invalid_url"),
    ],
)
async def test_refused_urls(client: httpx.AsyncClient, body: dict[str, Any], code: str) -> None:
    problem = assert_problem(await client.post("/v1/webhooks", json=body), 422)
    assert problem["errors"][0]["loc"] == ["body", "url"]
    assert problem["errors"][0]["code"] == code, problem


@pytest.mark.parametrize(
    "types",
    [[], ["nonsense.*"], ["kpi"], ["KPI.*"], ["kpi.target_breached", 3], ["kpi.*.x"]],
)
async def test_refused_event_types(client: httpx.AsyncClient, types: list[Any]) -> None:
    problem = assert_problem(
        await client.post("/v1/webhooks", json={"url": URL, "event_types": types}), 422
    )
    assert problem["errors"][0]["loc"][:2] == ["body", "event_types"]


async def test_unknown_fields_and_missing_fields_are_refused(client: httpx.AsyncClient) -> None:
    assert_problem(await client.post("/v1/webhooks", json={"url": URL}), 422)
    assert_problem(
        await client.post(
            "/v1/webhooks", json={"url": URL, "event_types": ["kpi.*"], "secret": "whsec_x"}
        ),
        422,
    )


async def test_changing_to_a_forbidden_url_is_refused(client: httpx.AsyncClient) -> None:
    sub = (await client.post("/v1/webhooks", json={"url": URL, "event_types": ["*"]})).json()
    problem = assert_problem(
        await client.patch(f"/v1/webhooks/{sub['id']}", json={"url": "https://10.0.0.1/"}), 422
    )
    assert problem["errors"][0]["code"] == "forbidden_address"


async def test_http_and_private_addresses_when_allowed(wh_client: httpx.AsyncClient) -> None:
    sub = await subscribe(wh_client, "http://127.0.0.1:9/hook")
    assert sub["url"] == "http://127.0.0.1:9/hook"
    # Metadata addresses stay refused even in development.
    problem = assert_problem(
        await wh_client.post(
            "/v1/webhooks",
            json={"url": "http://169.254.169.254/latest/meta-data", "event_types": ["*"]},
        ),
        422,
    )
    assert "metadata" in problem["errors"][0]["msg"]


async def test_scopes_and_org_confinement(app: FastAPI, client: httpx.AsyncClient) -> None:
    await seed_tree(client)
    region = (await client.post("/v1/webhooks", json={"url": URL, "event_types": ["*"]})).json()
    sus = (
        await client.post(
            "/v1/webhooks", json={"url": URL, "event_types": ["*"], "org_unit": "SUS"}
        )
    ).json()
    reader = await create_key(client, ["read"])
    async with make_client(app, reader) as c:
        assert_problem(await c.get("/v1/webhooks"), 403)
        assert_problem(await c.post("/v1/webhooks", json={"url": URL, "event_types": ["*"]}), 403)
    pv_admin = await create_key(client, ["webhooks:admin"], org_unit="PV")
    async with make_client(app, pv_admin) as c:
        assert (await c.get("/v1/webhooks")).json()["items"] == []
        assert_problem(await c.get(f"/v1/webhooks/{region['id']}"), 404)
        assert_problem(await c.get(f"/v1/webhooks/{sus['id']}"), 404)
        assert_problem(await c.get(f"/v1/webhooks/{sus['id']}/deliveries"), 404)
        assert_problem(await c.post(f"/v1/webhooks/{sus['id']}:rotate-secret", json={}), 404)
        assert_problem(await c.post(f"/v1/webhooks/{sus['id']}/test"), 404)
        assert_problem(await c.delete(f"/v1/webhooks/{sus['id']}"), 404)
        assert_problem(await c.post("/v1/webhooks", json={"url": URL, "event_types": ["*"]}), 422)
        assert_problem(
            await c.post(
                "/v1/webhooks", json={"url": URL, "event_types": ["*"], "org_unit": "SUS"}
            ),
            422,
        )
        own = await c.post(
            "/v1/webhooks", json={"url": URL, "event_types": ["*"], "org_unit": "PV-MALMO"}
        )
        assert own.status_code == 201, own.text
        assert [w["id"] for w in (await c.get("/v1/webhooks")).json()["items"]] == [
            own.json()["id"]
        ]


async def test_test_ping_on_a_disabled_subscription_is_a_conflict(
    client: httpx.AsyncClient,
) -> None:
    sub = (
        await client.post("/v1/webhooks", json={"url": URL, "event_types": ["*"], "enabled": False})
    ).json()
    problem = assert_problem(await client.post(f"/v1/webhooks/{sub['id']}/test"), 409)
    assert problem["code"] == "webhook_disabled"


async def test_deliveries_page(client: httpx.AsyncClient) -> None:
    sub = (await client.post("/v1/webhooks", json={"url": URL, "event_types": ["*"]})).json()
    for _ in range(3):
        assert (await client.post(f"/v1/webhooks/{sub['id']}/test")).status_code == 202
    first = (await client.get(f"/v1/webhooks/{sub['id']}/deliveries", params={"limit": 2})).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = (
        await client.get(
            f"/v1/webhooks/{sub['id']}/deliveries", params={"cursor": first["next_cursor"]}
        )
    ).json()
    ids = [d["id"] for d in first["items"] + rest["items"]]
    assert ids == sorted(ids, reverse=True) and len(ids) == 3
    assert rest["next_cursor"] is None
    assert_problem(
        await client.get(f"/v1/webhooks/{sub['id']}/deliveries", params={"cursor": "garbage"}),
        422,
    )
