"""The follow-up report of seed 003's plan (65 actions, 61 done, six packages, package 1 with two
owners) with seed 004's columns (ärende, pågående arbete, resultat) and seed 003's agency cost
as the linked KPI target, in JSON, HTML and Markdown; text entered into Puls stays text."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
from fastapi import FastAPI

from tests.conftest import make_client
from tests.factories import (
    build_seed_003_plan,
    create_key,
    create_target,
    created_body,
    feed,
    personnel_cost,
    seed_rjh_tree,
)
from tests.jobs import recalculate
from tests.problems import assert_problem

HOSTILE = "<img src=x onerror=alert(1)> [länk](https://evil.test) **fet** & | tabell"
# Seed 004, "Åtstramning inhyrd personal efter sommaren".
ONGOING = (
    "Arbete med nedtrappning av inhyrda grundutbildade sjuksköterskor pågår, dock har vissa "
    "enheter på Sunderbyn aviserat att de har svårt att klara sig helt utan grundutbildade "
    "sjuksköterskor under Q1 2017."
)
# Seed 003, 4 Fortsatt arbete.
PLAN_RESULT = "Av 65 åtgärder i planen är 61 klara i projektets mening."


async def _report(client: httpx.AsyncClient, plan_id: str, accept: str) -> httpx.Response:
    return await client.get(f"/v1/action-plans/{plan_id}/report", headers={"Accept": accept})


async def _seed_003_with_follow_ups(app: FastAPI, client: httpx.AsyncClient) -> dict[str, Any]:
    # Seed 003: agency costs when the project started (December 2016) and this month.
    await seed_rjh_tree(client)
    costs = [
        personnel_cost(f"{month}/agency", period=month, org_unit_code="RJH-PV", amount_sek=amount)
        for month, amount in (("2016-12", "5000000.00"), (f"{date.today():%Y-%m}", "3500000.00"))
    ]
    await feed(client, "personnel-costs", costs)
    await recalculate(app)
    target = await create_target(client, "agency_cost_sek", "RJH", "4000000", valid_from="2016-01")
    built = await build_seed_003_plan(client)
    plan_id = built["plan"]["id"]
    linked = await client.patch(
        f"/v1/action-plans/{plan_id}", json={"kpi_target_ids": [target.json()["id"]]}
    )
    assert linked.status_code == 200, linked.text

    actions = (
        await client.get(f"/v1/action-plans/{plan_id}/actions", params={"limit": 500})
    ).json()["items"]
    by_code = {a["code"]: a["id"] for a in actions}
    follow_ups = f"/v1/action-plans/{plan_id}/follow-ups"
    for body in (
        # An older report on action 61, then the newest: the report prints the newest.
        {"action_id": by_code["61"], "reported_on": "2017-06-30", "ongoing_work": "Gammalt."},
        {"action_id": by_code["61"], "reported_on": "2018-11-30", "ongoing_work": ONGOING},
        {"action_id": by_code["6"], "reported_on": "2018-11-30", "result": HOSTILE, "rag": "red"},
        {"reported_on": "2018-12-31", "result": PLAN_RESULT},
    ):
        created_body(await client.post(follow_ups, json=body))
    return {"plan_id": plan_id, "target_id": target.json()["id"]}


async def test_the_seed_003_report_as_json(app: FastAPI, client: httpx.AsyncClient) -> None:
    seeded = await _seed_003_with_follow_ups(app, client)
    response = await _report(client, seeded["plan_id"], "application/json")
    assert response.status_code == 200, response.text
    report = response.json()

    assert (report["done"], report["actions"], report["summary"]) == (61, 65, "61 av 65 klara")
    names = [p["name"] for p in report["packages"]]
    assert names == [
        "Nära vård i samverkan",
        "Ny struktur för vårdplatser",
        "Genomgång av mottagningar",
        "Se över läkarstrukturen på sjukhuset",
        "Inhyrda läkare i primärvården",
        "Administrativ samordning",
        "Övriga åtgärder",
    ]
    first, *_, sixth, rest = report["packages"]
    assert first["owners"] == ["Anna Granevärn", "Anita Secher"]
    assert sixth["owners"] == []  # "Ansvarig: Ej utsedd"
    # Package 1 holds actions 6, 12 … 60, in number order (not text order: 6 before 12).
    assert [i["code"] for i in first["items"]] == [str(n) for n in range(6, 61, 6)]
    assert (first["actions"], first["done"]) == (10, 10)
    assert sum(p["actions"] for p in report["packages"]) == 65
    assert [i["code"] for i in rest["items"]] == ["61", "62", "63", "64", "65"]
    assert (rest["package_id"], rest["done"]) == (None, 1)

    remaining = next(i for i in rest["items"] if i["code"] == "61")
    assert remaining["title"] == "Ta fram bemanningsplan med måltal för antal AT, ST"
    assert (remaining["status"], remaining["ongoing_work"]) == ("in_progress", ONGOING)
    assert (remaining["reported_on"], remaining["rag"]) == ("2018-11-30", None)
    assert first["items"][0]["result"] == HOSTILE and first["items"][0]["rag"] == "red"
    assert report["plan_follow_up"]["result"] == PLAN_RESULT

    assert report["targets"] == [
        {
            "kpi_target_id": seeded["target_id"],
            "kpi": "agency_cost_sek",
            "name": "Kostnad för inhyrd personal",
            "unit": "sek",
            "value_at_start": "5000000.0",
            "value_now": "3500000.0",
            "change": "-1500000.0",
        }
    ]


async def test_the_seed_003_report_in_html_and_markdown(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    seeded = await _seed_003_with_follow_ups(app, client)

    html = await _report(client, seeded["plan_id"], "text/html")
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    page = html.text
    assert '<html lang="sv">' in page and "<strong>Sammanfattning:</strong> 61 av 65 klara" in page
    assert "<h2>1. Nära vård i samverkan</h2>" in page
    assert "<strong>Ansvariga:</strong> Anna Granevärn och Anita Secher" in page
    assert "<strong>Ansvariga:</strong> Ej utsedd" in page
    assert "<th>Ärende</th><th>Pågående arbete</th><th>Resultat</th>" in page
    assert "<h2>Övriga åtgärder</h2>" in page
    assert "<strong>61</strong> Ta fram bemanningsplan med måltal för antal AT, ST" in page
    assert ONGOING in page and "Gammalt." not in page
    assert "Kostnad för inhyrd personal</td><td>5 000 000 kr</td><td>3 500 000 kr</td>" in page
    assert "<td>−1 500 000 kr</td>" in page
    # User text is escaped by the template.
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and "<img" not in page
    assert page.index("1. Nära vård") < page.index("2. Ny struktur") < page.index("Övriga")

    md = await _report(client, seeded["plan_id"], "text/markdown")
    assert md.status_code == 200 and md.headers["content-type"].startswith("text/markdown")
    text = md.text
    assert text.startswith("# Uppföljning: Bemanningsprojektet 2016–2018\n")
    assert "- **Sammanfattning:** 61 av 65 klara" in text
    assert "## 1. Nära vård i samverkan" in text
    assert "- **Ansvariga:** Anna Granevärn och Anita Secher" in text
    assert "### 61 Ta fram bemanningsplan med måltal för antal AT, ST" in text
    assert f"**Pågående arbete:**\n\n{ONGOING}" in text
    assert "| Kostnad för inhyrd personal | 5 000 000 kr | 3 500 000 kr | −1 500 000 kr |" in text
    assert f"**Resultat:**\n\n{PLAN_RESULT}" in text
    escaped = (
        "\\<img src=x onerror=alert(1)\\> \\[länk\\](https://evil.test) \\*\\*fet\\*\\* "
        "\\& \\| tabell"
    )
    assert escaped in text and "[länk](" not in text
    assert "<img" not in text.replace("\\<img", ""), "only the escaped tag is left"


async def test_the_report_refuses_other_formats_unknown_plans_and_other_units(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await seed_rjh_tree(client)
    plan = created_body(
        await client.post(
            "/v1/action-plans",
            json={
                "title": "Tom plan",
                "org_unit": "RJH",
                "period_start": "2024-01-01",
                "period_end": "2024-12-31",
            },
        )
    )
    empty = (await _report(client, plan["id"], "application/json")).json()
    assert (empty["summary"], empty["packages"], empty["targets"]) == ("0 av 0 klara", [], [])
    assert "0 av 0 klara" in (await _report(client, plan["id"], "text/markdown")).text
    assert_problem(await _report(client, plan["id"], "image/png"), 406, "not_acceptable")
    unknown = "00000000-0000-4000-8000-000000000000"
    assert_problem(await _report(client, unknown, "text/html"), 404, "action_plan_not_found")

    # A key confined to Primärvården does not see a region-level plan: the same 404.
    token = await create_key(client, ["read"], org_unit="RJH-PV")
    async with make_client(app, token) as pv:
        hidden = await _report(pv, plan["id"], "text/html")
        assert_problem(hidden, 404, "action_plan_not_found")
