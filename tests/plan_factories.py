"""Builds seed 003's action plan through the API: Region Jämtland Härjedalen's staffing
project 2016–2018, six action packages with owners and due dates, 65 actions of which 61 are
done (the four left are from the report's "återstående aktiviteter")."""

from __future__ import annotations

from typing import Any

import httpx

REMAINING = {
    "61": "Ta fram bemanningsplan med måltal för antal AT, ST",
    "62": "Öka antalet ST-läkare och sjuksköterskor under specialistutbildning",
    "64": "Definition av oberoende för RJH",
    "65": "Registrering av hyrpersonal i Heroma",
}
AREAS = [
    "task_shifting",
    "technology_support",
    "regional_coordination",
    "municipal_collaboration",
    "capacity_planning",
    "staffing_plan",
    "working_time_models",
    "scheduling",
    "competence_development",
    "leadership",
    "retention",
    "communication",
    "nursing_students",
    "doctor_introduction",
    "recruitment",
    "compensation",
    "risk_analysis",
]
PACKAGES = [
    ("Nära vård i samverkan", "Anna Granevärn", "2018-12-31", None),
    ("Ny struktur för vårdplatser", "Anna-Karin Andersson", "2018-12-31", None),
    ("Genomgång av mottagningar", "Ingela Eckerdal", "2018-06-01", None),
    ("Se över läkarstrukturen på sjukhuset", "Annika Jonsson", "2018-12-31", None),
    ("Inhyrda läkare i primärvården", "Anna Granevärn", "2018-12-31", "Nyttja < 700 veckor"),
    ("Administrativ samordning", None, "2018-12-31", None),
]


async def seed_rjh_tree(client: httpx.AsyncClient) -> None:
    response = await client.put(
        "/v1/org-units",
        json=[
            {"code": "RJH", "name": "Region Jämtland Härjedalen", "kind": "region"},
            {
                "code": "RJH-HS",
                "name": "Hälso- och sjukvårdsförvaltningen",
                "kind": "administration",
                "parent_code": "RJH",
            },
            {"code": "RJH-PV", "name": "Primärvården", "kind": "area", "parent_code": "RJH-HS"},
            {
                "code": "RJH-OSS",
                "name": "Östersunds sjukhus",
                "kind": "area",
                "parent_code": "RJH-HS",
            },
            {"code": "RS", "name": "Region Skåne", "kind": "region"},
        ],
    )
    assert response.status_code == 200, response.text


async def create_person(client: httpx.AsyncClient, name: str, **extra: Any) -> str:
    response = await client.post("/v1/people", json={"name": name, **extra})
    assert response.status_code == 201, response.text
    person_id: str = response.json()["id"]
    return person_id


async def create_plan(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Bemanningsprojektet 2016–2018",
        "purpose": "Minska beroendet av inhyrd personal.",
        "org_unit": "RJH",
        "period_start": "2016-12-01",
        "period_end": "2018-12-31",
        "cost_estimate_sek": "2500000.00",
        "expected_saving_sek": "62000000.00",
        "calculation_basis": "Hyrkostnad 2017 189,9 mkr mot 2015 års nivå 127,9 mkr.",
        **overrides,
    }
    response = await client.post("/v1/action-plans", json=body)
    assert response.status_code == 201, response.text
    plan: dict[str, Any] = response.json()
    return plan


def action_rows(package_ids: list[str]) -> list[dict[str, Any]]:
    """65 actions; each package holds ten of the first sixty, the last five hold none."""
    rows = []
    for number in range(1, 66):
        code = str(number)
        remaining = code in REMAINING
        rows.append(
            {
                "code": code,
                "title": REMAINING.get(code, f"Åtgärd {code}"),
                "area": AREAS[number % len(AREAS)],
                "package_id": package_ids[number % 6] if number <= 60 else None,
                "org_unit": "RJH-PV" if number % 2 else "RJH-OSS",
                "start_date": "2017-01-01",
                "due_date": "2018-12-31",
                "status": "in_progress" if remaining else "done",
                "progress": 50 if remaining else 100,
            }
        )
    return rows


async def build_seed_003_plan(client: httpx.AsyncClient) -> dict[str, Any]:
    """The whole plan, active. Returns ids: plan, packages (in order), people by name."""
    await seed_rjh_tree(client)
    names = {owner for _, owner, _, _ in PACKAGES if owner} | {"Camilla Simonsson"}
    people = {name: await create_person(client, name) for name in sorted(names)}
    plan = await create_plan(client, owner_id=people["Camilla Simonsson"], status="decided")
    packages = []
    for name, owner, due, goal in PACKAGES:
        response = await client.post(
            f"/v1/action-plans/{plan['id']}/packages",
            json={
                "name": name,
                "owner_id": people[owner] if owner else None,
                "due_date": due,
                "cost_goal": goal,
            },
        )
        assert response.status_code == 201, response.text
        packages.append(response.json()["id"])
    synced = await client.put(f"/v1/action-plans/{plan['id']}/actions", json=action_rows(packages))
    assert synced.status_code == 200, synced.text
    assert synced.json()["inserted"] == 65
    active = await client.patch(f"/v1/action-plans/{plan['id']}", json={"status": "active"})
    assert active.status_code == 200, active.text
    return {"plan": active.json(), "packages": packages, "people": people}
