"""Region-wide objects bind every subtree, so a key confined to one may read them but never
create or change them (OWASP API5): each refusal is the same 403 `region_wide_write`, and
nothing stored changes. The key here holds every scope the operations ask for."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from tests.conftest import make_client
from tests.factories import create_key, create_person, seed_tree
from tests.problems import assert_problem

RULE = {
    "kind": "daily_rest",
    "name": "Dygnsvila",
    "min_rest_hours": "11",
    "period_start_hour": 7,
    "valid_from": "2024-01-15",
}


async def _confined(app: FastAPI, client: httpx.AsyncClient) -> httpx.AsyncClient:
    token = await create_key(
        client, ["admin", "plans:write", "meetings:write", "read"], org_unit="SUS"
    )
    return make_client(app, token)


async def _state(client: httpx.AsyncClient) -> dict[str, Any]:
    """What the refused requests could have changed, read by the region's admin."""
    rules = (await client.get("/v1/compliance/rules")).json()["items"]
    people = (await client.get("/v1/people")).json()["items"]
    return {
        "rules": sorted((r["id"], r["version"], r["org_unit"]) for r in rules),
        "people": sorted((p["id"], p["version"], p["org_unit"]) for p in people),
        "professions": (await client.get("/v1/professions")).json()["items"],
        "areas": (await client.get("/v1/action-areas")).json()["items"],
        "kpis": [k["code"] for k in (await client.get("/v1/kpis")).json()["items"]],
        "mappings": (await client.get("/v1/sources/heroma/code-mappings")).json(),
    }


async def test_a_confined_key_cannot_create_or_change_region_wide_objects(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await seed_tree(client)
    shared = await create_person(client, "Regiondirektör")  # no unit: a shared official
    region_rule = await client.post("/v1/compliance/rules", json=RULE)
    assert region_rule.status_code == 201, region_rule.text
    rule_id = region_rule.json()["id"]
    local_rule = await client.post("/v1/compliance/rules", json={**RULE, "org_unit": "SUS-AKUT"})
    local = await create_person(client, "Enhetschef", org_unit="SUS-AKUT")
    before = await _state(client)
    refused: list[tuple[str, str, dict[str, Any] | None]] = [
        ("POST", "/v1/compliance/rules", RULE),
        ("PATCH", f"/v1/compliance/rules/{rule_id}", {"enabled": False}),
        ("PATCH", f"/v1/compliance/rules/{rule_id}", {"org_unit": "SUS"}),
        ("PATCH", f"/v1/compliance/rules/{local_rule.json()['id']}", {"org_unit": None}),
        ("PUT", "/v1/sources/heroma/code-mappings", {"time_codes": {"SJK": "sick"}}),
        ("PUT", "/v1/professions/midwife", {"name_en": "Midwife", "name_sv": "Barnmorska"}),
        ("PUT", "/v1/professions/nurse", {"name_en": "Nurse", "name_sv": "Syster"}),
        ("PUT", "/v1/action-areas/recruitment", {"name_en": "R", "name_sv": "R"}),
        (
            "POST",
            "/v1/kpis",
            {
                "code": "engagement_index",
                "name_en": "Engagement index",
                "name_sv": "HME",
                "unit": "ratio",
                "better": "higher",
                "grains": ["year"],
            },
        ),
        ("POST", "/v1/recalculations", {}),
        ("POST", "/v1/people", {"name": "Ny regionchef"}),
        ("PATCH", f"/v1/people/{shared}", {"name": "Annan"}),
        ("PATCH", f"/v1/people/{shared}", {"org_unit": "SUS"}),
        ("PATCH", f"/v1/people/{local}", {"org_unit": None}),
        ("DELETE", f"/v1/people/{shared}", None),
    ]
    async with await _confined(app, client) as confined:
        # What it refuses to change, it can still read.
        rules = (await confined.get("/v1/compliance/rules")).json()["items"]
        assert rule_id in {rule["id"] for rule in rules}
        assert (await confined.get(f"/v1/people/{shared}")).status_code == 200
        answers = [await confined.request(method, url, json=body) for method, url, body in refused]
        wrong = [
            (method, url, body, answer.status_code)
            for (method, url, body), answer in zip(refused, answers, strict=True)
            if answer.status_code != 403
        ]
        assert wrong == []
        for answer in answers:
            assert "confined to SUS" in assert_problem(answer, 403, "region_wide_write")["detail"]
        # Inside its subtree the same key still works.
        own = await confined.post("/v1/compliance/rules", json={**RULE, "org_unit": "SUS-MED"})
        assert own.status_code == 201, own.text
        recalculation = await confined.post("/v1/recalculations", json={"org_unit": "SUS"})
        assert recalculation.status_code == 202, recalculation.text
        person = await confined.patch(f"/v1/people/{local}", json={"name": "Ny chef"})
        assert person.status_code == 200, person.text
    after = await _state(client)
    assert after["rules"] == sorted([*before["rules"], (own.json()["id"], 1, "SUS-MED")])
    assert [p[:1] + p[2:] for p in after["people"]] == [p[:1] + p[2:] for p in before["people"]]
    for name in ("professions", "areas", "kpis", "mappings"):
        assert after[name] == before[name], name


async def test_a_key_of_the_whole_region_still_writes_them(client: httpx.AsyncClient) -> None:
    profession = await client.put(
        "/v1/professions/midwife", json={"name_en": "Midwife", "name_sv": "Barnmorska"}
    )
    assert profession.status_code == 200, profession.text
    area = await client.put("/v1/action-areas/housing", json={"name_en": "H", "name_sv": "B"})
    assert area.status_code == 200, area.text
    rule = await client.post("/v1/compliance/rules", json=RULE)
    assert rule.status_code == 201, rule.text
    everything = await client.post("/v1/recalculations", json={})
    assert everything.status_code == 202, everything.text
    assert (await client.post("/v1/people", json={"name": "Regiondirektör"})).status_code == 201
