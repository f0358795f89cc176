"""Plain factory functions that build data through the public API (or the service layer)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.harness import ADMIN_TOKEN

__all__ = ["ADMIN_TOKEN", "create_key", "create_unit", "seed_tree"]


async def create_unit(
    client: httpx.AsyncClient,
    code: str,
    *,
    parent: str | None = None,
    kind: str = "unit",
    name: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "name": name or f"Enhet {code}", "kind": kind}
    if parent:
        body["parent_code"] = parent
    response = await client.post("/v1/org-units", json=body)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def seed_tree(client: httpx.AsyncClient) -> None:
    """Region Skåne's top: RS → two administrations → units (seed 000's region)."""
    response = await client.put(
        "/v1/org-units",
        json=[
            {"code": "RS", "name": "Region Skåne", "kind": "region"},
            {
                "code": "SUS",
                "name": "Skånes universitetssjukhus",
                "kind": "administration",
                "parent_code": "RS",
            },
            {"code": "PV", "name": "Primärvården", "kind": "administration", "parent_code": "RS"},
            {"code": "SUS-AKUT", "name": "Akutmottagningen", "kind": "unit", "parent_code": "SUS"},
            {"code": "SUS-MED", "name": "Medicinkliniken", "kind": "unit", "parent_code": "SUS"},
            {"code": "PV-MALMO", "name": "Vårdcentral Malmö", "kind": "unit", "parent_code": "PV"},
        ],
    )
    assert response.status_code == 200, response.text


async def create_key(
    client: httpx.AsyncClient,
    scopes: list[str],
    *,
    org_unit: str | None = None,
    name: str = "test key",
) -> str:
    response = await client.post(
        "/v1/api-keys", json={"name": name, "scopes": scopes, "org_unit": org_unit}
    )
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token
