"""Plans as seed 000 requires them ("Handlingsplanerna måste tidsättas och förses med en
ekonomisk kalkyl"): deciding a plan needs a time plan and an economic calculation, and the 422
names what is missing; follow-ups without a RAG colour (seed 004); packages with several owners
(seed 003's package 1), the single `owner_id` still working for one version."""

from __future__ import annotations

from typing import Any

import httpx

from tests.factories import create_person, create_plan, created_body, seed_rjh_tree
from tests.problems import assert_problem

NO_CALCULATION = {"cost_estimate_sek": None, "expected_saving_sek": None}


def _locs(problem: dict[str, Any]) -> list[tuple[list[Any], str]]:
    return [(e["loc"], e["code"]) for e in problem["errors"]]


async def _actions(client: httpx.AsyncClient, plan_id: str, *rows: dict[str, Any]) -> None:
    for row in rows:
        made = await client.post(
            f"/v1/action-plans/{plan_id}/actions", json={"title": "Åtgärd", **row}
        )
        assert made.status_code == 201, made.text


async def test_deciding_needs_due_dates_and_an_economic_calculation(
    client: httpx.AsyncClient,
) -> None:
    await seed_rjh_tree(client)
    plan = await create_plan(client, **NO_CALCULATION)
    url = f"/v1/action-plans/{plan['id']}"
    await _actions(
        client,
        plan["id"],
        {"code": "1", "due_date": "2018-12-31"},
        {"code": "2"},
        {"code": "3"},
        # A cancelled action is not part of the time plan.
        {"code": "4", "status": "cancelled"},
    )

    refused = assert_problem(
        await client.patch(url, json={"status": "decided"}), 422, "action_plan_not_decidable"
    )
    assert _locs(refused) == [
        (["actions", "2", "due_date"], "due_date_required"),
        (["actions", "3", "due_date"], "due_date_required"),
        (["body", "cost_estimate_sek"], "economic_calculation_required"),
    ]
    assert "economic_calculation_required" in refused["detail"]
    assert (await client.get(url)).json()["status"] == "draft"

    actions = (await client.get(f"{url}/actions")).json()["items"]
    for action in actions:
        if action["code"] in ("2", "3"):
            dated = await client.patch(
                f"/v1/actions/{action['id']}", json={"due_date": "2018-06-01"}
            )
            assert dated.status_code == 200, dated.text
    # Seed 003's calculation: agency cost 2017 189,9 mkr against the 2015 level 127,9 mkr.
    decided = await client.patch(
        url, json={"status": "decided", "expected_saving_sek": "62000000.00"}
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["decided_at"] is not None

    # A decided plan keeps its calculation.
    dropped = await client.patch(url, json={"expected_saving_sek": None})
    assert _locs(assert_problem(dropped, 422, "action_plan_not_decidable")) == [
        (["body", "cost_estimate_sek"], "economic_calculation_required")
    ]


async def test_no_cost_impact_is_a_calculation_with_a_reason(client: httpx.AsyncClient) -> None:
    await seed_rjh_tree(client)
    body: dict[str, Any] = {
        "title": "Chefsforum 2024",
        "org_unit": "RJH",
        "period_start": "2024-01-01",
        "period_end": "2024-12-31",
    }
    # Created straight as decided without any calculation: the same refusal.
    straight = await client.post("/v1/action-plans", json={**body, "status": "decided"})
    assert _locs(assert_problem(straight, 422, "action_plan_not_decidable")) == [
        (["body", "cost_estimate_sek"], "economic_calculation_required")
    ]
    no_reason = await client.post("/v1/action-plans", json={**body, "no_cost_impact": True})
    assert _locs(assert_problem(no_reason, 422, "action_plan_invalid")) == [
        (["body", "no_cost_impact_reason"], "required")
    ]
    both = await client.post(
        "/v1/action-plans",
        json={
            **body,
            "no_cost_impact": True,
            "no_cost_impact_reason": "Inom befintlig ram.",
            "cost_estimate_sek": "500000.00",
        },
    )
    assert _locs(assert_problem(both, 422, "action_plan_invalid")) == [
        (["body", "no_cost_impact"], "conflicts_with_calculation")
    ]

    plan = created_body(await client.post("/v1/action-plans", json=body))
    url = f"/v1/action-plans/{plan['id']}"
    decided = await client.patch(
        url,
        json={
            "status": "decided",
            "no_cost_impact": True,
            "no_cost_impact_reason": "Genomförs inom befintlig ram, digitalt.",
        },
    )
    assert decided.status_code == 200, decided.text
    assert (decided.json()["no_cost_impact"], decided.json()["no_cost_impact_reason"]) == (
        True,
        "Genomförs inom befintlig ram, digitalt.",
    )
    cleared = await client.patch(url, json={"no_cost_impact_reason": None})
    assert _locs(assert_problem(cleared, 422)) == [(["body", "no_cost_impact_reason"], "required")]
    history = (await client.get(f"{url}/history")).json()["items"]
    assert history[-1]["after"]["no_cost_impact"] is True


async def test_a_follow_up_may_have_no_rag(client: httpx.AsyncClient) -> None:
    """Seed 004: "Vårdtider – översyn Kiruna", ongoing work and a result, no colour."""
    await seed_rjh_tree(client)
    plan = await create_plan(client)
    made = await client.post(
        f"/v1/action-plans/{plan['id']}/follow-ups",
        json={
            "reported_on": "2016-12-15",
            "ongoing_work": "Fortsatt arbete med att följa upp vårdtider per avdelning.",
            "result": "Medelvårdtiden har sjunkit från 6 dagar i okt till 5 dagar för november.",
        },
    )
    assert made.status_code == 201, made.text
    assert made.json()["rag"] is None
    coloured = await client.patch(f"/v1/follow-ups/{made.json()['id']}", json={"rag": "green"})
    assert coloured.json()["rag"] == "green"
    listed = await client.get(f"/v1/action-plans/{plan['id']}/follow-ups", params={"rag": "red"})
    assert listed.json()["items"] == []


async def test_a_package_with_two_owners_and_the_deprecated_single_owner(
    client: httpx.AsyncClient,
) -> None:
    await seed_rjh_tree(client)
    granevarn = await create_person(client, "Anna Granevärn")
    secher = await create_person(client, "Anita Secher")
    plan = await create_plan(client)
    packages = f"/v1/action-plans/{plan['id']}/packages"

    both = created_body(
        await client.post(
            packages, json={"name": "Nära vård i samverkan", "owner_ids": [granevarn, secher]}
        )
    )
    assert (both["owner_ids"], both["owner_id"]) == ([granevarn, secher], granevarn)
    # The old field alone still works: one owner.
    old = created_body(
        await client.post(packages, json={"name": "Ny struktur", "owner_id": secher})
    )
    assert (old["owner_ids"], old["owner_id"]) == ([secher], secher)
    # Sent together they must agree.
    agreeing = await client.post(
        packages, json={"name": "Paket", "owner_ids": [secher, granevarn], "owner_id": secher}
    )
    assert agreeing.status_code == 201, agreeing.text

    hers = await client.get(packages, params={"owner_id": secher})
    assert sorted(p["name"] for p in hers.json()["items"]) == [
        "Ny struktur",
        "Nära vård i samverkan",
        "Paket",
    ]

    url = f"/v1/action-packages/{both['id']}"
    swapped = await client.patch(url, json={"owner_ids": [secher]})
    assert (swapped.json()["owner_ids"], swapped.json()["owner_id"]) == ([secher], secher)
    cleared = await client.patch(url, json={"owner_id": None})
    assert (cleared.json()["owner_ids"], cleared.json()["owner_id"]) == ([], None)

    ghost = "00000000-0000-4000-8000-000000000000"
    for body, expected in [
        (
            {"owner_ids": [granevarn], "owner_id": secher},
            [(["body", "owner_id"], "owner_conflict")],
        ),
        ({"owner_ids": [granevarn, granevarn]}, [(["body", "owner_ids", 1], "duplicate")]),
        ({"owner_ids": [granevarn, ghost]}, [(["body", "owner_ids", 1], "unknown_person")]),
        ({"owner_ids": None}, [(["body", "owner_ids"], "null")]),
    ]:
        refused = await client.patch(url, json=body)
        assert _locs(assert_problem(refused, 422)) == expected, body
    created = await client.post(packages, json={"name": "X", "owner_ids": [ghost]})
    assert _locs(assert_problem(created, 422)) == [(["body", "owner_ids", 0], "unknown_person")]
