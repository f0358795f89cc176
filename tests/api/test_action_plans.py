"""Action plans through the API: seed 003's plan re-created and summarised, history, ETags
and concurrent edits, the spreadsheet sync and CSV export, org confinement, and every class
of bad input refused whole with the field named."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from datetime import date
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import make_client
from tests.factories import (
    REMAINING,
    action_rows,
    build_seed_003_plan,
    create_key,
    create_person,
    create_plan,
    create_target,
    feed,
    personnel_cost,
    seed_rjh_tree,
)
from tests.jobs import recalculate
from tests.problems import assert_problem


def _csv_table(response: httpx.Response) -> list[dict[str, str]]:
    """A Swedish-spreadsheet CSV answer (BOM, `;`) as rows."""
    text = response.content.decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text), delimiter=";"))


def _locs(problem: dict[str, Any]) -> list[tuple[list[Any], str]]:
    return [(e["loc"], e["code"]) for e in problem["errors"]]


async def _actions(client: httpx.AsyncClient, plan_id: str, **params: Any) -> list[dict[str, Any]]:
    response = await client.get(
        f"/v1/action-plans/{plan_id}/actions", params={"limit": 500, **params}
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_seed_003_plan_and_its_summary(client: httpx.AsyncClient) -> None:
    built = await build_seed_003_plan(client)
    plan_id = built["plan"]["id"]
    assert built["plan"]["status"] == "active" and built["plan"]["decided_at"] is not None

    packages = (await client.get(f"/v1/action-plans/{plan_id}/packages")).json()["items"]
    assert len(packages) == 6
    assert sum(p["owner_id"] is not None for p in packages) == 5  # package 6: "Ej utsedd"
    granevarn = built["people"]["Anna Granevärn"]
    hers = await client.get(f"/v1/action-plans/{plan_id}/packages", params={"owner_id": granevarn})
    assert len(hers.json()["items"]) == 2  # packages 1 and 5
    # Package 1 has two owners, "Anna Granevärn och Anita Secher"; the deprecated single
    # `owner_id` is the first of them.
    secher = built["people"]["Anita Secher"]
    first = next(p for p in packages if p["name"] == "Nära vård i samverkan")
    assert (first["owner_ids"], first["owner_id"]) == ([granevarn, secher], granevarn)
    theirs = await client.get(f"/v1/action-plans/{plan_id}/packages", params={"owner_id": secher})
    assert [p["name"] for p in theirs.json()["items"]] == ["Nära vård i samverkan"]
    assert all(p["due_date"] for p in packages)

    summary = await client.get(f"/v1/action-plans/{plan_id}/summary")
    assert summary.status_code == 200, summary.text
    body = summary.json()
    assert (body["done"], body["actions"]) == (61, 65)
    assert body["by_status"] == {
        "not_started": 0,
        "in_progress": 4,
        "done": 61,
        "postponed": 0,
        "cancelled": 0,
    }
    # Due 2018-12-31 and not done: overdue as of any day since.
    assert body["overdue"] == 4
    codes = {a["id"]: a["code"] for a in await _actions(client, plan_id)}
    assert {codes[i] for i in body["overdue_action_ids"]} == set(REMAINING)
    assert [p["actions"] for p in body["packages"]] == [10] * 6
    # The four left ("61"–"65") are outside the packages, which are all done.
    assert [p["done"] for p in body["packages"]] == [10] * 6
    assert {p["average_progress"] for p in body["packages"]} == {"100.00"}
    assert body["packages"][4]["name"] == "Inhyrda läkare i primärvården"
    assert body["packages"][0]["owner_ids"] == [granevarn, secher]
    assert body["packages"][5]["owner_ids"] == [] and body["packages"][5]["owner_id"] is None
    assert body["cost_estimate_sek"] == "2500000.00"
    assert body["expected_saving_sek"] == "62000000.00"
    assert body["net_saving_sek"] == "59500000.00"
    assert body["targets"] == []


async def test_linked_targets_show_the_plans_effect(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Seed 003: agency costs at HELÄR when the project started and now."""
    await seed_rjh_tree(client)
    costs = [
        personnel_cost(f"{month}/agency", period=month, org_unit_code="RJH-PV", amount_sek=amount)
        for month, amount in (("2016-12", "5000000.00"), (f"{date.today():%Y-%m}", "3500000.00"))
    ]
    await feed(client, "personnel-costs", costs)
    await recalculate(app)
    target = await create_target(client, "agency_cost_sek", "RJH", "4000000", valid_from="2016-01")
    target_id = target.json()["id"]
    unknown = str(uuid.uuid4())
    refused = await client.post(
        "/v1/action-plans",
        json={
            "title": "Bemanningsprojektet",
            "org_unit": "RJH",
            "period_start": "2016-12-01",
            "period_end": "2018-12-31",
            "kpi_target_ids": [unknown],
        },
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["loc"] == ["body", "kpi_target_ids"]
    plan = await create_plan(client, kpi_target_ids=[target_id, target_id])
    assert plan["kpi_target_ids"] == [target_id]
    summary = (await client.get(f"/v1/action-plans/{plan['id']}/summary")).json()
    assert summary["targets"] == [
        {
            "kpi_target_id": target_id,
            "kpi": "agency_cost_sek",
            "value_at_start": "5000000.0",
            "value_now": "3500000.0",
            "change": "-1500000.0",
        }
    ]
    cleared = await client.patch(f"/v1/action-plans/{plan['id']}", json={"kpi_target_ids": []})
    assert cleared.json()["kpi_target_ids"] == []


async def test_history_keeps_who_when_before_and_after(client: httpx.AsyncClient) -> None:
    await seed_rjh_tree(client)
    plan = await create_plan(client)
    plan_id = plan["id"]
    created = await client.post(
        f"/v1/action-plans/{plan_id}/actions",
        json={"code": "3.2", "title": "Bemanningsplan", "status": "in_progress", "progress": 10},
    )
    assert created.status_code == 201, created.text
    action_id = created.json()["id"]
    changed = await client.patch(
        f"/v1/actions/{action_id}", json={"progress": 60}, headers={"If-Match": '"1"'}
    )
    assert changed.status_code == 200, changed.text
    await client.patch(f"/v1/action-plans/{plan_id}", json={"title": "Bemanningsprojektet"})
    synced = await client.put(
        f"/v1/action-plans/{plan_id}/actions",
        json=[{"code": "3.2", "title": "Bemanningsplan", "status": "done", "progress": 100}],
    )
    assert synced.json() == {"inserted": 0, "updated": 1, "unchanged": 0, "actions_version": 4}

    history = (await client.get(f"/v1/action-plans/{plan_id}/history")).json()["items"]
    assert [(h["entity_type"], h["operation"]) for h in history] == [
        ("plan", "create"),
        ("action", "create"),
        ("action", "update"),
        ("plan", "update"),
        ("action", "update"),
    ]
    assert history[0]["before"] is None and history[0]["after"]["org_unit"] == "RJH"
    assert history[2]["before"] == {"progress": 10} and history[2]["after"] == {"progress": 60}
    assert history[3]["before"] == {"title": "Bemanningsprojektet 2016–2018"}
    assert history[4]["before"] == {"status": "in_progress", "progress": 60}
    assert history[4]["after"] == {"status": "done", "progress": 100}
    assert all(h["actor"] == "key:bootstrap" and h["at"] for h in history)

    only_action = await client.get(
        f"/v1/action-plans/{plan_id}/history", params={"entity_id": action_id, "limit": 2}
    )
    page = only_action.json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = await client.get(
        f"/v1/action-plans/{plan_id}/history",
        params={"entity_id": action_id, "cursor": page["next_cursor"]},
    )
    assert [h["operation"] for h in rest.json()["items"]] == ["update"]


async def test_concurrent_edits_the_second_stale_write_gets_412(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await seed_rjh_tree(client)
    plan = await create_plan(client)
    action = (
        await client.post(
            f"/v1/action-plans/{plan['id']}/actions", json={"code": "1", "title": "Åtgärd"}
        )
    ).json()
    url = f"/v1/actions/{action['id']}"
    etag = (await client.get(url)).headers["ETag"]
    async with make_client(app) as other:
        first, second = await asyncio.gather(
            client.patch(url, json={"progress": 30}, headers={"If-Match": etag}),
            other.patch(url, json={"progress": 70}, headers={"If-Match": etag}),
        )
    statuses = sorted([first.status_code, second.status_code])
    assert statuses == [200, 412], (first.text, second.text)
    winner = first if first.status_code == 200 else second
    now = (await client.get(url)).json()
    assert now["progress"] == winner.json()["progress"] and now["version"] == 2

    # The plan itself and the actions collection behave the same way.
    stale_plan = await client.patch(
        f"/v1/action-plans/{plan['id']}", json={"title": "X"}, headers={"If-Match": '"9"'}
    )
    assert_problem(stale_plan, 412)
    listed = await client.get(f"/v1/action-plans/{plan['id']}/actions")
    collection_etag = listed.headers["ETag"]
    await client.patch(url, json={"progress": 90})
    stale_sync = await client.put(
        f"/v1/action-plans/{plan['id']}/actions",
        json=[{"code": "1", "title": "Åtgärd", "progress": 0}],
        headers={"If-Match": collection_etag},
    )
    assert_problem(stale_sync, 412)
    assert (await client.get(url)).json()["progress"] == 90


async def test_bulk_sync_is_set_based_and_idempotent_and_exports_csv(
    client: httpx.AsyncClient,
) -> None:
    built = await build_seed_003_plan(client)
    plan_id = built["plan"]["id"]
    rows = (await client.get(f"/v1/action-plans/{plan_id}/actions", params={"limit": 500})).json()
    assert len(rows["items"]) == 65

    exported = await client.get(
        f"/v1/action-plans/{plan_id}/actions", headers={"Accept": "text/csv"}
    )
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert exported.headers["ETag"]
    table = _csv_table(exported)
    assert [r["code"] for r in table] == [str(n) for n in range(1, 66)]
    assert sum(r["status"] == "done" for r in table) == 61
    assert table[60]["title"] == REMAINING["61"] and table[0]["org_unit"] == "RJH-PV"
    filtered = await client.get(
        f"/v1/action-plans/{plan_id}/actions",
        params={"status": "in_progress"},
        headers={"Accept": "text/csv"},
    )
    assert len(filtered.text.strip().splitlines()) == 1 + 4

    # Sending the same rows again changes nothing and writes no history.

    again = await client.put(
        f"/v1/action-plans/{plan_id}/actions", json=action_rows(built["packages"])
    )
    assert again.json()["unchanged"] == 65
    before = len(
        (await client.get(f"/v1/action-plans/{plan_id}/history", params={"limit": 500})).json()[
            "items"
        ]
    )
    assert before == 1 + 6 + 65 + 1


async def test_csv_export_escapes_cells_a_spreadsheet_would_run(client: httpx.AsyncClient) -> None:
    """CSV injection: text from one user starting with = + - @ opens as text, not a formula,
    on the machine of whoever opens the export."""
    await seed_rjh_tree(client)
    plan = await create_plan(client)
    texts = ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "Vanlig text"]
    for n, title in enumerate(texts, start=1):
        created = await client.post(
            f"/v1/action-plans/{plan['id']}/actions",
            json={"code": str(n), "title": title, "description": title},
        )
        assert created.status_code == 201, created.text
    exported = await client.get(
        f"/v1/action-plans/{plan['id']}/actions", headers={"Accept": "text/csv"}
    )
    table = _csv_table(exported)
    expected = ["'" + t for t in texts[:4]] + ["Vanlig text"]
    assert [r["title"] for r in table] == [r["description"] for r in table] == expected
    assert [r["progress"] for r in table] == ["0"] * 5


async def test_paging_filters_updated_since_and_tombstones(client: httpx.AsyncClient) -> None:
    built = await build_seed_003_plan(client)
    plan_id = built["plan"]["id"]
    first = (await client.get(f"/v1/action-plans/{plan_id}/actions", params={"limit": 50})).json()
    assert len(first["items"]) == 50 and first["next_cursor"]
    second = (
        await client.get(
            f"/v1/action-plans/{plan_id}/actions",
            params={"limit": 50, "cursor": first["next_cursor"]},
        )
    ).json()
    assert len(second["items"]) == 15 and second["next_cursor"] is None
    assert len(await _actions(client, plan_id, status="in_progress")) == 4
    assert len(await _actions(client, plan_id, package_id=built["packages"][5])) == 10
    assert len(await _actions(client, plan_id, area="recruitment")) > 0

    mark = (await client.get(f"/v1/action-plans/{plan_id}")).json()["updated_at"]
    victim = first["items"][0]
    deleted = await client.delete(f"/v1/actions/{victim['id']}")
    assert deleted.status_code == 204
    mirrored = await client.get(
        f"/v1/action-plans/{plan_id}/actions", params={"updated_since": mark}
    )
    assert mirrored.json()["items"] == [
        {
            "id": victim["id"],
            "deleted": True,
            "updated_at": mirrored.json()["items"][0]["updated_at"],
        }
    ]
    # A later sync with the code brings it back.
    revived = await client.put(
        f"/v1/action-plans/{plan_id}/actions",
        json=[{"code": victim["code"], "title": "Tillbaka"}],
    )
    assert revived.json()["inserted"] == 1
    assert (await client.get(f"/v1/actions/{victim['id']}")).json()["title"] == "Tillbaka"

    plans = (await client.get("/v1/action-plans", params={"status": "active"})).json()
    assert [p["id"] for p in plans["items"]] == [plan_id]
    assert (await client.get("/v1/action-plans", params={"status": "draft"})).json()["items"] == []
    by_unit = await client.get("/v1/action-plans", params={"org_unit": "RJH-PV"})
    assert by_unit.json()["items"] == []  # the plan belongs to the region, above PV


async def test_status_transitions_and_the_done_below_100_flag(client: httpx.AsyncClient) -> None:
    await seed_rjh_tree(client)
    plan = await create_plan(client)
    action = (
        await client.post(
            f"/v1/action-plans/{plan['id']}/actions", json={"code": "1", "title": "Åtgärd"}
        )
    ).json()
    url = f"/v1/actions/{action['id']}"
    done = await client.patch(url, json={"status": "done", "progress": 80})
    assert done.status_code == 200
    assert done.json()["warnings"] == ["done_with_progress_below_100"]
    summary = (await client.get(f"/v1/action-plans/{plan['id']}/summary")).json()
    assert summary["done_with_progress_below_100"] == 1

    assert (await client.patch(url, json={"status": "cancelled"})).status_code == 409
    assert (await client.patch(url, json={"status": "in_progress"})).status_code == 200
    assert (await client.patch(url, json={"status": "cancelled"})).status_code == 200
    refused = assert_problem(await client.patch(url, json={"status": "in_progress"}), 409)
    assert _locs(refused) == [(["body", "status"], "invalid_status_transition")]
    assert "reopen" in refused["errors"][0]["msg"]
    assert (await client.get(url)).json()["status"] == "cancelled"
    assert (await client.patch(url, json={"status": "not_started"})).status_code == 200
    assert (await client.patch(url, json={"status": "in_progress"})).status_code == 200

    bad_plan = await client.patch(f"/v1/action-plans/{plan['id']}", json={"status": "completed"})
    assert _locs(assert_problem(bad_plan, 409)) == [
        (["body", "status"], "invalid_status_transition")
    ]
    # Seed 000: a plan is decided with a time plan, a due date on every action included.
    undated = await client.patch(f"/v1/action-plans/{plan['id']}", json={"status": "decided"})
    assert _locs(assert_problem(undated, 422, "action_plan_not_decidable")) == [
        (["actions", "1", "due_date"], "due_date_required")
    ]
    assert (await client.patch(url, json={"due_date": "2018-12-31"})).status_code == 200
    decided = await client.patch(f"/v1/action-plans/{plan['id']}", json={"status": "decided"})
    assert decided.json()["decided_at"] is not None


async def test_follow_ups_on_plan_and_action(client: httpx.AsyncClient) -> None:
    await seed_rjh_tree(client)
    plan = await create_plan(client)
    other = await create_plan(client, title="Annan plan")
    action = (
        await client.post(
            f"/v1/action-plans/{plan['id']}/actions", json={"code": "1", "title": "Åtgärd"}
        )
    ).json()
    unknown = await client.post(
        f"/v1/action-plans/{plan['id']}/follow-ups",
        json={"reported_on": "2017-06-30", "rag": "amber", "meeting_id": str(uuid.uuid4())},
    )
    assert _locs(assert_problem(unknown, 422)) == [(["body", "meeting_id"], "unknown_meeting")]
    body = await client.post(
        "/v1/bodies", json={"name": "Styrgrupp bemanning", "short_name": "SG", "org_unit": "RJH"}
    )
    held = await client.post(
        f"/v1/bodies/{body.json()['id']}/meetings",
        json={"starts_at": "2017-06-30T08:00:00Z", "ends_at": "2017-06-30T10:00:00Z"},
    )
    meeting = held.json()["id"]
    on_plan = await client.post(
        f"/v1/action-plans/{plan['id']}/follow-ups",
        json={
            "reported_on": "2017-06-30",
            "ongoing_work": "Divisionerna arbetar med aktiviteterna.",
            "rag": "amber",
            "meeting_id": meeting,
        },
    )
    assert on_plan.status_code == 201, on_plan.text
    on_action = await client.post(
        f"/v1/action-plans/{plan['id']}/follow-ups",
        json={
            "action_id": action["id"],
            "reported_on": "2018-06-30",
            "result": "Klar.",
            "rag": "green",
        },
    )
    assert on_action.status_code == 201
    wrong_plan = await client.post(
        f"/v1/action-plans/{other['id']}/follow-ups",
        json={"action_id": action["id"], "reported_on": "2018-06-30", "rag": "red"},
    )
    assert _locs(assert_problem(wrong_plan, 422)) == [(["body", "action_id"], "unknown_action")]
    bad_rag = await client.post(
        f"/v1/action-plans/{plan['id']}/follow-ups",
        json={"reported_on": "2018-06-30", "rag": "blue"},
    )
    assert assert_problem(bad_rag, 422)["errors"][0]["loc"] == ["body", "rag"]

    listed = await client.get(
        f"/v1/action-plans/{plan['id']}/follow-ups", params={"action_id": action["id"]}
    )
    assert [f["rag"] for f in listed.json()["items"]] == ["green"]
    amber = await client.get(f"/v1/action-plans/{plan['id']}/follow-ups", params={"rag": "amber"})
    assert [f["id"] for f in amber.json()["items"]] == [on_plan.json()["id"]]
    url = f"/v1/follow-ups/{on_plan.json()['id']}"
    assert (await client.get(url)).json()["meeting_id"] == meeting
    stale = await client.patch(url, json={"rag": "green"}, headers={"If-Match": '"5"'})
    assert_problem(stale, 412)
    assert (await client.patch(url, json={"rag": "green"})).json()["version"] == 2
    assert (await client.delete(url)).status_code == 204
    history = (await client.get(f"/v1/action-plans/{plan['id']}/history")).json()["items"]
    assert [h["operation"] for h in history if h["entity_type"] == "follow_up"] == [
        "create",
        "create",
        "update",
        "delete",
    ]


async def test_another_units_plan_is_not_found(app: FastAPI, client: httpx.AsyncClient) -> None:
    await seed_rjh_tree(client)
    plan = await create_plan(client, org_unit="RJH-OSS")
    action = (
        await client.post(
            f"/v1/action-plans/{plan['id']}/actions", json={"code": "1", "title": "Åtgärd"}
        )
    ).json()
    package = (
        await client.post(f"/v1/action-plans/{plan['id']}/packages", json={"name": "Paket"})
    ).json()
    token = await create_key(client, ["read", "plans:write"], org_unit="RJH-PV")
    async with make_client(app, token) as pv:
        for url in (
            f"/v1/action-plans/{plan['id']}",
            f"/v1/action-plans/{plan['id']}/summary",
            f"/v1/action-plans/{plan['id']}/history",
            f"/v1/action-plans/{plan['id']}/actions",
            f"/v1/actions/{action['id']}",
            f"/v1/action-packages/{package['id']}",
        ):
            assert_problem(await pv.get(url), 404)
        assert_problem(await pv.patch(f"/v1/actions/{action['id']}", json={"progress": 5}), 404)
        assert_problem(
            await pv.put(
                f"/v1/action-plans/{plan['id']}/actions", json=[{"code": "2", "title": "X"}]
            ),
            404,
        )
        assert (await pv.get("/v1/action-plans")).json()["items"] == []
        # Its own unit's plan works, but an action there cannot point at the other unit.
        own = await pv.post(
            "/v1/action-plans",
            json={
                "title": "PV:s plan",
                "org_unit": "RJH-PV",
                "period_start": "2018-01-01",
                "period_end": "2018-12-31",
            },
        )
        assert own.status_code == 201, own.text
        outside = await pv.post(
            f"/v1/action-plans/{own.json()['id']}/actions",
            json={"code": "1", "title": "X", "org_unit": "RJH-OSS"},
        )
        assert _locs(assert_problem(outside, 422)) == [(["body", "org_unit"], "unknown_org_unit")]
        foreign_unit = await pv.post(
            "/v1/action-plans",
            json={
                "title": "X",
                "org_unit": "RJH-OSS",
                "period_start": "2018-01-01",
                "period_end": "2018-12-31",
            },
        )
        assert _locs(assert_problem(foreign_unit, 422)) == [
            (["body", "org_unit"], "unknown_org_unit")
        ]
    async with make_client(app, await create_key(client, ["read"])) as reader:
        assert_problem(await reader.patch(f"/v1/actions/{action['id']}", json={"progress": 5}), 403)


async def test_area_catalogue_is_seeded_and_admin_extendable(client: httpx.AsyncClient) -> None:
    areas = {a["code"]: a for a in (await client.get("/v1/action-areas")).json()["items"]}
    assert {"recruitment", "retention", "competence_development", "task_shifting"} <= set(areas)
    assert {"scheduling", "agency_procurement"} <= set(areas)
    assert areas["scheduling"]["name_sv"] == "Schemaläggning"
    added = await client.put(
        "/v1/action-areas/remote_care", json={"name_en": "Remote care", "name_sv": "Distansvård"}
    )
    assert added.status_code == 200
    await seed_rjh_tree(client)
    plan = await create_plan(client)
    action = await client.post(
        f"/v1/action-plans/{plan['id']}/actions",
        json={"code": "1", "title": "Digitala vårdmöten", "area": "remote_care"},
    )
    assert action.status_code == 201 and action.json()["area"] == "remote_care"


# --- bad input: each a clear 422/409 naming the field, nothing half-written ------------------


async def _count(client: httpx.AsyncClient, plan_id: str) -> int:
    return len(await _actions(client, plan_id))


@pytest.fixture
async def plan_with_two(client: httpx.AsyncClient) -> dict[str, Any]:
    await seed_rjh_tree(client)
    plan = await create_plan(client)
    other = await create_plan(client, title="Annan plan")
    package = (
        await client.post(f"/v1/action-plans/{plan['id']}/packages", json={"name": "Paket 1"})
    ).json()
    foreign = (
        await client.post(f"/v1/action-plans/{other['id']}/packages", json={"name": "Annat"})
    ).json()
    synced = await client.put(
        f"/v1/action-plans/{plan['id']}/actions",
        json=[
            {"code": "1.1", "title": "Första", "package_id": package["id"]},
            {"code": "1.2", "title": "Andra", "status": "cancelled"},
        ],
    )
    assert synced.status_code == 200, synced.text
    return {"plan": plan, "package": package, "foreign_package": foreign}


GOOD = {"code": "9", "title": "Ny åtgärd"}


@pytest.mark.parametrize(
    ("row", "loc", "code"),
    [
        (
            {**GOOD, "start_date": "2018-06-01", "due_date": "2018-05-31"},
            "due_date",
            "due_before_start",
        ),
        ({**GOOD, "progress": 101}, "progress", "less_than_equal"),
        ({**GOOD, "progress": -1}, "progress", "greater_than_equal"),
        ({**GOOD, "progress": 50.5}, "progress", "int_from_float"),
        ({**GOOD, "status": "finished"}, "status", "enum"),
        ({**GOOD, "responsible_id": str(uuid.uuid4())}, "responsible_id", "unknown_person"),
        ({**GOOD, "area": "astrology"}, "area", "unknown_area"),
        ({**GOOD, "org_unit": "NOPE"}, "org_unit", "unknown_org_unit"),
        ({**GOOD, "package_id": str(uuid.uuid4())}, "package_id", "unknown_package"),
        ({**GOOD, "code": "a b"}, "code", "string_pattern_mismatch"),
        ({**GOOD, "due_date": 1546300800}, "due_date", "value_error"),
        ({**GOOD, "start_date": "2018-02-30"}, "start_date", "date_from_datetime_parsing"),
    ],
)
async def test_bad_action_rows_are_refused_alone_and_in_a_list(
    client: httpx.AsyncClient,
    plan_with_two: dict[str, Any],
    row: dict[str, Any],
    loc: str,
    code: str,
) -> None:
    plan_id = plan_with_two["plan"]["id"]
    single = assert_problem(await client.post(f"/v1/action-plans/{plan_id}/actions", json=row), 422)
    assert _locs(single) == [(["body", loc], code)], single
    listed = await client.put(
        f"/v1/action-plans/{plan_id}/actions",
        json=[{"code": "8", "title": "Bra rad"}, row, {"code": "1.1", "title": "Ändrad"}],
    )
    assert _locs(assert_problem(listed, 422)) == [(["body", 1, loc], code)]
    assert await _count(client, plan_id) == 2
    titles = {a["code"]: a["title"] for a in await _actions(client, plan_id)}
    assert titles == {"1.1": "Första", "1.2": "Andra"}


async def test_a_package_of_another_plan_is_refused(
    client: httpx.AsyncClient, plan_with_two: dict[str, Any]
) -> None:
    plan_id = plan_with_two["plan"]["id"]
    foreign = plan_with_two["foreign_package"]["id"]
    row = {**GOOD, "package_id": foreign}
    single = assert_problem(await client.post(f"/v1/action-plans/{plan_id}/actions", json=row), 422)
    assert _locs(single) == [(["body", "package_id"], "package_of_other_plan")]
    listed = assert_problem(
        await client.put(f"/v1/action-plans/{plan_id}/actions", json=[row]), 422
    )
    assert _locs(listed) == [(["body", 0, "package_id"], "package_of_other_plan")]
    first = next(a for a in await _actions(client, plan_id) if a["code"] == "1.1")
    moved = await client.patch(f"/v1/actions/{first['id']}", json={"package_id": foreign})
    assert _locs(assert_problem(moved, 422)) == [(["body", "package_id"], "package_of_other_plan")]
    assert await _count(client, plan_id) == 2


async def test_duplicate_codes_are_refused(
    client: httpx.AsyncClient, plan_with_two: dict[str, Any]
) -> None:
    plan_id = plan_with_two["plan"]["id"]
    taken = await client.post(
        f"/v1/action-plans/{plan_id}/actions", json={"code": "1.1", "title": "Igen"}
    )
    assert _locs(assert_problem(taken, 409)) == [(["body", "code"], "duplicate_code")]
    twice = await client.put(
        f"/v1/action-plans/{plan_id}/actions",
        json=[
            {"code": "5", "title": "A"},
            {"code": "6", "title": "B"},
            {"code": "5", "title": "C"},
        ],
    )
    problem = assert_problem(twice, 422)
    assert _locs(problem) == [(["body", 2, "code"], "duplicate_code")]
    assert "index 0" in problem["errors"][0]["msg"]
    second = next(a for a in await _actions(client, plan_id) if a["code"] == "1.2")
    renamed = await client.patch(f"/v1/actions/{second['id']}", json={"code": "1.1"})
    assert _locs(assert_problem(renamed, 409)) == [(["body", "code"], "duplicate_code")]
    assert await _count(client, plan_id) == 2


async def test_a_senseless_transition_in_a_list_is_refused(
    client: httpx.AsyncClient, plan_with_two: dict[str, Any]
) -> None:
    plan_id = plan_with_two["plan"]["id"]
    listed = await client.put(
        f"/v1/action-plans/{plan_id}/actions",
        json=[
            {"code": "1.1", "title": "Första", "status": "done", "progress": 100},
            {"code": "1.2", "title": "Andra", "status": "in_progress"},
        ],
    )
    assert _locs(assert_problem(listed, 422)) == [
        (["body", 1, "status"], "invalid_status_transition")
    ]
    statuses = {a["code"]: a["status"] for a in await _actions(client, plan_id)}
    assert statuses == {"1.1": "not_started", "1.2": "cancelled"}


async def test_several_bad_rows_are_all_named(
    client: httpx.AsyncClient, plan_with_two: dict[str, Any]
) -> None:
    plan_id = plan_with_two["plan"]["id"]
    listed = await client.put(
        f"/v1/action-plans/{plan_id}/actions",
        json=[
            {"code": "7", "title": "A", "responsible_id": str(uuid.uuid4())},
            {"code": "8", "title": "B"},
            {"code": "9", "title": "C", "start_date": "2018-02-01", "due_date": "2018-01-01"},
        ],
    )
    assert _locs(assert_problem(listed, 422)) == [
        (["body", 0, "responsible_id"], "unknown_person"),
        (["body", 2, "due_date"], "due_before_start"),
    ]
    assert await _count(client, plan_id) == 2


@pytest.mark.parametrize(
    ("override", "loc", "code"),
    [
        ({"period_start": "2018-12-31", "period_end": "2018-01-01"}, "period_end", None),
        ({"owner_id": "00000000-0000-4000-8000-000000000000"}, "owner_id", "unknown_person"),
        ({"cost_estimate_sek": 2500000.5}, "cost_estimate_sek", None),
        ({"cost_estimate_sek": "2 500 000,00"}, "cost_estimate_sek", None),
        ({"expected_saving_sek": "62000000.001"}, "expected_saving_sek", None),
        ({"expected_saving_sek": "sextio miljoner"}, "expected_saving_sek", None),
        ({"org_unit": "NOPE"}, "org_unit", "unknown_org_unit"),
        ({"status": "approved"}, "status", "enum"),
    ],
)
async def test_bad_plans_are_refused(
    client: httpx.AsyncClient, override: dict[str, Any], loc: str, code: str | None
) -> None:
    await seed_rjh_tree(client)
    body = {
        "title": "Plan",
        "org_unit": "RJH",
        "period_start": "2018-01-01",
        "period_end": "2018-12-31",
        **override,
    }
    problem = assert_problem(await client.post("/v1/action-plans", json=body), 422)
    assert problem["errors"][0]["loc"] == ["body", loc], problem
    if code:
        assert problem["errors"][0]["code"] == code
    assert (await client.get("/v1/action-plans")).json()["items"] == []
    history_rows = await client.get(
        "/v1/action-plans", params={"updated_since": "2000-01-01T00:00:00Z"}
    )
    assert history_rows.json()["items"] == []


async def test_money_as_a_whole_number_still_works_with_a_warning(
    client: httpx.AsyncClient,
) -> None:
    """The contract says decimal strings; a whole JSON number is taken for one more version
    and the answer says so (`Warning: 299`). A fractional number never is: floats lose öre."""
    await seed_rjh_tree(client)
    body = {
        "title": "Plan",
        "org_unit": "RJH",
        "period_start": "2018-01-01",
        "period_end": "2018-12-31",
        "cost_estimate_sek": 2500000,
    }
    made = await client.post("/v1/action-plans", json=body)
    assert made.status_code == 201, made.text
    assert made.json()["cost_estimate_sek"] == "2500000.00"
    warning = made.headers["warning"]
    assert warning.startswith('299 - "money as a JSON number is deprecated')
    plan_url = f"/v1/action-plans/{made.json()['id']}"
    as_string = await client.patch(plan_url, json={"expected_saving_sek": "62000000.00"})
    assert as_string.status_code == 200 and "warning" not in as_string.headers
    for number in (2500000.0, 1e6, 2500000.5):
        refused = await client.patch(plan_url, json={"cost_estimate_sek": number})
        assert assert_problem(refused, 422)["errors"][0]["loc"] == ["body", "cost_estimate_sek"]
        assert "warning" not in refused.headers


async def test_bad_package_owner_and_a_bad_plan_patch_change_nothing(
    client: httpx.AsyncClient,
) -> None:
    await seed_rjh_tree(client)
    plan = await create_plan(client)
    ghost = str(uuid.uuid4())
    package = await client.post(
        f"/v1/action-plans/{plan['id']}/packages", json={"name": "Paket", "owner_id": ghost}
    )
    assert _locs(assert_problem(package, 422)) == [(["body", "owner_id"], "unknown_person")]
    assert (await client.get(f"/v1/action-plans/{plan['id']}/packages")).json()["items"] == []
    patch = await client.patch(
        f"/v1/action-plans/{plan['id']}",
        json={"title": "Nytt namn", "period_end": "2016-01-01"},
    )
    assert _locs(assert_problem(patch, 422)) == [(["body", "period_end"], "end_before_start")]
    money = await client.patch(f"/v1/action-plans/{plan['id']}", json={"cost_estimate_sek": 1.5})
    assert assert_problem(money, 422)["errors"][0]["loc"] == ["body", "cost_estimate_sek"]
    unchanged = (await client.get(f"/v1/action-plans/{plan['id']}")).json()
    assert unchanged["title"] == plan["title"] and unchanged["version"] == 1
    person = await create_person(client, "Ulrica Jönsson")
    ok = await client.patch(f"/v1/action-plans/{plan['id']}", json={"owner_id": person})
    assert ok.json()["owner_id"] == person


async def test_package_lifecycle(client: httpx.AsyncClient, plan_with_two: dict[str, Any]) -> None:
    package = plan_with_two["package"]
    url = f"/v1/action-packages/{package['id']}"
    got = await client.get(url)
    assert got.headers["ETag"] == '"1"'
    changed = await client.patch(url, json={"due_date": "2019-03-31"}, headers={"If-Match": '"1"'})
    assert changed.json()["due_date"] == "2019-03-31"
    assert_problem(await client.patch(url, json={"name": "X"}, headers={"If-Match": '"1"'}), 412)
    in_use = assert_problem(await client.delete(url), 409)
    assert in_use["code"] == "action_package_in_use"


async def test_syncs_and_single_edits_at_once_queue_up_without_deadlock(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    built = await build_seed_003_plan(client)
    plan_id = built["plan"]["id"]

    rows = action_rows(built["packages"])
    for row in rows:
        row["description"] = "Synkad"
    ids = [a["id"] for a in (await _actions(client, plan_id))[:6]]
    async with make_client(app) as a, make_client(app) as b:
        results = await asyncio.gather(
            a.put(f"/v1/action-plans/{plan_id}/actions", json=rows),
            *[b.patch(f"/v1/actions/{i}", json={"title": "Ändrad"}) for i in ids],
        )
    assert [r.status_code for r in results] == [200] * 7, [r.text for r in results]
    final = await _actions(client, plan_id)
    assert all(x["description"] == "Synkad" for x in final)


async def test_idempotent_plan_create(client: httpx.AsyncClient) -> None:
    await seed_rjh_tree(client)
    body = {
        "title": "Plan",
        "org_unit": "RJH",
        "period_start": "2018-01-01",
        "period_end": "2018-12-31",
    }
    headers = {"Idempotency-Key": "plan-1"}
    first = await client.post("/v1/action-plans", json=body, headers=headers)
    again = await client.post("/v1/action-plans", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["id"] == first.json()["id"]
    assert len((await client.get("/v1/action-plans")).json()["items"]) == 1


async def test_deleted_plan_is_a_tombstone_and_gone(client: httpx.AsyncClient) -> None:
    await seed_rjh_tree(client)
    plan = await create_plan(client)
    url = f"/v1/action-plans/{plan['id']}"
    assert_problem(await client.delete(url, headers={"If-Match": '"2"'}), 412)
    assert (await client.delete(url, headers={"If-Match": '"1"'})).status_code == 204
    assert_problem(await client.get(url), 404)
    assert_problem(await client.get(f"{url}/summary"), 404)
    mirror = await client.get("/v1/action-plans", params={"updated_since": plan["created_at"]})
    assert [(i["id"], i.get("deleted")) for i in mirror.json()["items"]] == [(plan["id"], True)]


async def test_actions_across_plans_by_person_overdue_and_unit(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await seed_rjh_tree(client)
    person = await create_person(client, "Henrik Wahlström")
    region = await create_plan(client, status="active")
    hospital = await create_plan(client, title="Sjukhusets plan", org_unit="RJH-OSS")
    for plan, code in ((region, "1"), (hospital, "2")):
        response = await client.post(
            f"/v1/action-plans/{plan['id']}/actions",
            json={"code": code, "title": "Uppföljning", "responsible_id": person},
        )
        assert response.status_code == 201
    await client.post(
        f"/v1/action-plans/{region['id']}/actions",
        json={"code": "3", "title": "Annan", "due_date": "2018-01-31"},
    )
    mine = (await client.get("/v1/actions", params={"responsible_id": person})).json()["items"]
    assert sorted(a["code"] for a in mine) == ["1", "2"]
    late = (await client.get("/v1/actions", params={"due_before": "2019-01-01"})).json()
    assert [a["code"] for a in late["items"]] == ["3"]
    in_oss = (await client.get("/v1/actions", params={"org_unit": "RJH-OSS"})).json()["items"]
    assert [a["code"] for a in in_oss] == ["2"]
    token = await create_key(client, ["read"], org_unit="RJH-OSS")
    async with make_client(app, token) as oss:
        seen = (await oss.get("/v1/actions")).json()["items"]
        assert [a["code"] for a in seen] == ["2"]
        assert_problem(await oss.get("/v1/actions", params={"org_unit": "RJH"}), 404)


async def test_a_report_back_owed_goes_through_the_sync_the_csv_and_the_history(
    client: httpx.AsyncClient,
) -> None:
    """`follow_up_due_on` is a field of a sync row like any other (a row without it clears
    it), exported in the CSV, and recording the follow-up that settles it is in the action's
    history and bumps the collection's version."""
    await seed_rjh_tree(client)
    plan = await create_plan(client)
    url = f"/v1/action-plans/{plan['id']}/actions"
    rows = [
        {"code": "1", "title": "Åtgärd 1", "follow_up_due_on": "2017-06-30"},
        {"code": "2", "title": "Åtgärd 2"},
    ]
    synced = await client.put(url, json=rows)
    assert synced.json()["inserted"] == 2, synced.text
    table = _csv_table(await client.get(url, headers={"Accept": "text/csv"}))
    assert [(r["code"], r["follow_up_due_on"]) for r in table] == [("1", "2017-06-30"), ("2", "")]
    again = await client.put(url, json=rows)
    assert again.json()["unchanged"] == 2
    # The list is in id order (random UUIDs): the action is found by its code.
    action = next(a for a in await _actions(client, plan["id"]) if a["code"] == "1")
    assert action["follow_up_due_on"] == "2017-06-30"

    version = (await client.get(url)).headers["ETag"]
    made = await client.post(
        f"/v1/action-plans/{plan['id']}/follow-ups",
        json={
            "action_id": action["id"],
            "reported_on": "2017-06-28",
            "next_follow_up_due_on": "2017-09-30",
        },
    )
    assert made.status_code == 201, made.text
    assert (await client.get(url)).headers["ETag"] != version
    after = (await client.get(f"/v1/actions/{action['id']}")).json()
    assert after["follow_up_due_on"] == "2017-09-30" and after["version"] == action["version"] + 1
    history = (await client.get(f"/v1/action-plans/{plan['id']}/history")).json()["items"]
    [settled] = [h for h in history if h["entity_type"] == "action" and h["operation"] == "update"]
    assert (settled["before"], settled["after"]) == (
        {"follow_up_due_on": "2017-06-30"},
        {"follow_up_due_on": "2017-09-30"},
    )

    # The sync writes what it is sent: a row without the field clears it.
    await client.put(url, json=[rows[0] | {"follow_up_due_on": None}, rows[1]])
    assert (await client.get(f"/v1/actions/{action['id']}")).json()["follow_up_due_on"] is None
