"""Every collection in one page shape (`items`, `next_cursor`, `limit`, `cursor`,
`updated_since`): the catalogues, manual KPI values read back, imports, recalculations, API keys,
the event feed; one webhook delivery by id; `sort` and `q` on plans and actions."""

from __future__ import annotations

import base64
import csv
import io
from datetime import date
from typing import Any

import httpx
from fastapi import FastAPI

from services.core.config import Settings
from services.worker.tasks import kpis as kpi_tasks
from services.worker.tasks import timedata as timedata_tasks
from tests.conftest import make_client
from tests.factories import (
    create_key,
    create_person,
    create_plan,
    feed,
    seed_rjh_tree,
    seed_tree,
    shifts,
    upload,
)
from tests.jobs import deliver, worker_ctx
from tests.problems import assert_problem

SINCE_EVER = "2000-01-01T00:00:00Z"


async def _all(client: httpx.AsyncClient, url: str, key: str = "code", **params: Any) -> list[Any]:
    """Every entry of a list, two at a time (so each cursor is used)."""
    found: list[Any] = []
    cursor = None
    while True:
        query = {"limit": 2, **params} | ({"cursor": cursor} if cursor else {})
        r = await client.get(url, params=query)
        assert r.status_code == 200, r.text
        found += [i[key] for i in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return found


def _server_now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat()


async def test_catalogues_page_and_mirror(client: httpx.AsyncClient) -> None:
    professions = await _all(client, "/v1/professions")
    assert professions == sorted(professions) and "nurse" in professions
    nurse = await client.get("/v1/professions/nurse")
    assert nurse.status_code == 200 and nurse.json()["name_sv"] == "Sjuksköterska"
    assert_problem(await client.get("/v1/professions/wizard"), 404, "profession_not_found")

    since = _server_now()
    assert (await client.get("/v1/professions", params={"updated_since": since})).json() == {
        "items": [],
        "next_cursor": None,
    }
    renamed = await client.put(
        "/v1/professions/midwife", json={"name_en": "Midwife", "name_sv": "Barnmorska"}
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["updated_at"] >= renamed.json()["created_at"]
    changed = (await client.get("/v1/professions", params={"updated_since": since})).json()
    assert [p["code"] for p in changed["items"]] == ["midwife"]

    areas = await _all(client, "/v1/action-areas")
    assert areas == sorted(areas) and "recruitment" in areas
    await client.put(
        "/v1/action-areas/recruitment", json={"name_en": "Hiring", "name_sv": "Rekrytering"}
    )
    assert await _all(client, "/v1/action-areas", updated_since=since) == ["recruitment"]

    kpis = await _all(client, "/v1/kpis")
    assert kpis == sorted(kpis) and "sick_leave_pct" in kpis
    assert await _all(client, "/v1/kpis", updated_since=since) == []  # computed: release-bound


async def test_manual_kpi_values_are_readable_back(client: httpx.AsyncClient, app: FastAPI) -> None:
    await seed_tree(client)
    created = await client.post(
        "/v1/kpis",
        json={
            "code": "engagement_index",
            "name_en": "Engagement index",
            "name_sv": "Hållbart medarbetarengagemang",
            "unit": "ratio",
            "better": "higher",
            "grains": ["year"],
        },
    )
    assert created.status_code == 201, created.text
    for unit, period, value in [
        ("SUS-AKUT", "2024", "78.5"),
        ("SUS-AKUT", "2023", "75"),
        ("PV", "2024", "81"),
    ]:
        posted = await client.post(
            "/v1/kpis/engagement_index/values",
            json={"org_unit": unit, "period": period, "value": value, "comment": "HME"},
        )
        assert posted.status_code == 201, posted.text
    url = "/v1/kpis/engagement_index/values"
    values = (await client.get(url)).json()["items"]
    assert {(v["org_unit"], v["period"], v["value"]) for v in values} == {
        ("SUS-AKUT", "2024", "78.5"),
        ("SUS-AKUT", "2023", "75"),
        ("PV", "2024", "81"),
    }
    assert all(v["entered_by"] and v["entered_at"] for v in values)
    assert len(await _all(client, url, key="period")) == 3
    akut = (await client.get(url, params={"org_unit": "SUS-AKUT"})).json()["items"]
    assert [v["period"] for v in akut] == ["2023", "2024"]
    since = _server_now()
    replaced = await client.post(url, json={"org_unit": "PV", "period": "2024", "value": "82"})
    again = (await client.get(url, params={"updated_since": since})).json()["items"]
    assert [(v["org_unit"], v["value"]) for v in again] == [("PV", "82")]
    # One value by unit and period, where `Location` points, with its ETag.
    assert replaced.headers["location"] == f"{url}/PV/2024"
    assert (replaced.json()["version"], replaced.headers["etag"]) == (2, '"2"')
    one = await client.get(f"{url}/PV/2024")
    assert (one.json(), one.headers["etag"]) == (replaced.json(), '"2"')
    assert_problem(await client.get(f"{url}/PV/2023"), 404, "manual_value_not_found")
    assert_problem(await client.get(f"{url}/PV/2024-03"), 422)  # a year's KPI
    assert_problem(await client.get(f"{url}/NOPE/2024"), 404)
    # `If-Match`: only the version read is replaced.
    stale = await client.post(
        url, json={"org_unit": "PV", "period": "2024", "value": "90"}, headers={"If-Match": '"1"'}
    )
    assert_problem(stale, 412)
    fresh = await client.post(
        url, json={"org_unit": "PV", "period": "2024", "value": "90"}, headers={"If-Match": '"2"'}
    )
    assert (fresh.status_code, fresh.json()["version"]) == (201, 3)
    none_yet = await client.post(
        url, json={"org_unit": "PV", "period": "2022", "value": "1"}, headers={"If-Match": '"1"'}
    )
    assert_problem(none_yet, 412)
    assert_problem(await client.get(f"{url}/PV/2022"), 404)

    assert_problem(await client.get("/v1/kpis/sick_leave_pct/values"), 422)
    assert_problem(await client.get("/v1/kpis/nope/values"), 404, "kpi_not_found")
    assert_problem(await client.get(url, params={"org_unit": "NOPE"}), 404)
    token = await create_key(client, ["read"], org_unit="PV")
    async with make_client(app, token) as pv:
        assert [v["org_unit"] for v in (await pv.get(url)).json()["items"]] == ["PV"]
        assert_problem(await pv.get(url, params={"org_unit": "SUS-AKUT"}), 404)


async def test_imports_recalculations_and_keys_are_listed(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await seed_tree(client)
    sent = []
    for _ in range(3):
        r = await upload(client, b"source;external_id\n")
        assert r.status_code == 202, r.text
        sent.append(r.json()["id"])
    listed = await _all(client, "/v1/imports", key="id")
    assert listed == sent[::-1]  # newest first
    assert (
        await _all(client, "/v1/imports", key="id", status="queued", kind="time-records") == listed
    )
    assert (await client.get("/v1/imports", params={"kind": "employments"})).json()["items"] == []
    assert_problem(await client.get("/v1/imports", params={"status": "done"}), 422)

    everything = await client.post("/v1/recalculations", json={})
    sus = await client.post("/v1/recalculations", json={"org_unit": "SUS"})
    assert everything.status_code == sus.status_code == 202
    recalcs = await _all(client, "/v1/recalculations", key="id")
    assert recalcs == [sus.json()["id"], everything.json()["id"]]
    token = await create_key(client, ["admin"], org_unit="SUS")
    async with make_client(app, token) as confined:
        assert await _all(confined, "/v1/recalculations", key="id") == [sus.json()["id"]]
        assert await _all(confined, "/v1/imports", key="id") == []

    keys = (await client.get("/v1/api-keys")).json()["items"]
    assert [k["org_unit"] for k in keys] == ["SUS"]
    since = _server_now()
    assert (await client.get("/v1/api-keys", params={"updated_since": since})).json()["items"] == []
    assert (await client.delete(f"/v1/api-keys/{keys[0]['id']}")).status_code == 204
    revoked = (await client.get("/v1/api-keys", params={"updated_since": since})).json()["items"]
    assert [(k["id"], bool(k["revoked_at"])) for k in revoked] == [(keys[0]["id"], True)]


async def test_status_lists_follow_changes_with_updated_since(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings
) -> None:
    """Imports, recalculations and webhook deliveries change status in the worker: with
    `updated_since` a client sees the ones that changed, by change time, without polling each."""
    await seed_tree(client)
    sent = [(await upload(client, b"source;external_id\n")).json()["id"] for _ in range(2)]
    # Oldest change first (the opposite of the list's own order), every cursor used.
    assert await _all(client, "/v1/imports", key="id", updated_since=SINCE_EVER) == sent
    since = _server_now()
    assert await _all(client, "/v1/imports", key="id", updated_since=since) == []
    await timedata_tasks.run_import(worker_ctx(app), sent[0])
    changed = (await client.get("/v1/imports", params={"updated_since": since})).json()
    assert [(i["id"], i["status"]) for i in changed["items"]] == [(sent[0], "succeeded")]
    assert changed["items"][0]["updated_at"] > since
    # A cursor of the change order is not one of the list's own order.
    paged = await client.get("/v1/imports", params={"updated_since": SINCE_EVER, "limit": 1})
    assert_problem(
        await client.get("/v1/imports", params={"cursor": paged.json()["next_cursor"]}), 400
    )

    recalc = (await client.post("/v1/recalculations", json={"org_unit": "SUS"})).json()
    since = _server_now()
    assert await _all(client, "/v1/recalculations", key="id", updated_since=since) == []
    await kpi_tasks.run_recalculation(worker_ctx(app), recalc["id"])
    done = (await client.get("/v1/recalculations", params={"updated_since": since})).json()
    assert [(r["id"], r["status"]) for r in done["items"]] == [(recalc["id"], "succeeded")]

    sub = (
        await client.post(
            "/v1/webhooks", json={"url": "https://hooks.example.org/puls", "event_types": ["*"]}
        )
    ).json()
    url = f"/v1/webhooks/{sub['id']}/deliveries"
    ping = (await client.post(f"/v1/webhooks/{sub['id']}/test")).json()
    since = _server_now()
    assert await _all(client, url, key="id", updated_since=since) == []
    await deliver(app, settings)
    tried = (await client.get(url, params={"updated_since": since})).json()["items"]
    assert [d["id"] for d in tried] == [ping["id"]] and tried[0]["attempt_count"] == 1
    # A forged cursor of the id order (text where an id belongs) is a bad cursor, not a 500.
    forged = base64.urlsafe_b64encode(b'{"on":"webhook_deliveries","after":["x"]}').decode()
    refused = assert_problem(await client.get(url, params={"cursor": forged}), 422)
    assert refused["errors"][0]["code"] == "invalid_cursor"


async def test_one_delivery_by_id(client: httpx.AsyncClient, app: FastAPI) -> None:
    await seed_tree(client)
    sub = (
        await client.post(
            "/v1/webhooks", json={"url": "https://hooks.example.org/puls", "event_types": ["*"]}
        )
    ).json()
    ping = await client.post(f"/v1/webhooks/{sub['id']}/test")
    assert ping.status_code == 202, ping.text
    got = await client.get(f"/v1/deliveries/{ping.json()['id']}")
    assert got.status_code == 200, got.text
    # The message id is named for what it is; the old name stays for one version.
    message = f"msg_{ping.json()['id']}"
    assert got.json()["message_id"] == got.json()["webhook_id"] == message
    assert got.json()["subscription_id"] == sub["id"] and got.json()["status"] == "pending"
    assert_problem(await client.get("/v1/deliveries/999999"), 404)
    token = await create_key(client, ["webhooks:admin"], org_unit="PV")
    async with make_client(app, token) as pv:
        assert_problem(await pv.get(f"/v1/deliveries/{ping.json()['id']}"), 404)


async def test_the_event_feed_pages_like_every_list(client: httpx.AsyncClient) -> None:
    await seed_tree(client)
    for code in ("SUS-ORT", "SUS-KIR", "SUS-ONK"):
        unit = {"code": code, "name": code, "kind": "unit", "parent_code": "SUS"}
        assert (await client.post("/v1/org-units", json=unit)).status_code == 201
    ids = await _all(client, "/v1/events", key="id")
    assert len(ids) >= 4 and ids == sorted(ids)
    first = (await client.get("/v1/events", params={"limit": 2})).json()
    assert first["next_after"] == first["items"][-1]["id"] and first["next_cursor"]
    # A cursor of another list is refused, and the feed's cursor elsewhere too.
    assert_problem(
        await client.get("/v1/people", params={"cursor": first["next_cursor"]}),
        400,
        "cursor_from_another_list",
    )
    catalogue = (await client.get("/v1/professions", params={"limit": 1})).json()
    assert_problem(await client.get("/v1/events", params={"cursor": catalogue["next_cursor"]}), 400)
    since = _server_now()
    assert (await client.get("/v1/events", params={"updated_since": since})).json()["items"] == []


async def test_action_packages_name_their_owners(client: httpx.AsyncClient) -> None:
    await seed_rjh_tree(client)
    anna = await create_person(client, "Anna Granevärn", initials="AG")
    anita = await create_person(client, "Anita Secher", initials="AS")
    plan = await create_plan(client)
    created = await client.post(
        f"/v1/action-plans/{plan['id']}/packages",
        json={"name": "Nära vård", "owner_ids": [anita, anna]},
    )
    assert created.status_code == 201, created.text
    package = created.json()
    # In the order of `owner_ids`, on every answer: create, read, list and change.
    expected = [
        {"id": anita, "name": "Anita Secher", "initials": "AS"},
        {"id": anna, "name": "Anna Granevärn", "initials": "AG"},
    ]
    assert package["owners"] == expected
    url = f"/v1/action-packages/{package['id']}"
    assert (await client.get(url)).json()["owners"] == expected
    listed = (await client.get(f"/v1/action-plans/{plan['id']}/packages")).json()["items"]
    assert [p["owners"] for p in listed] == [expected]
    changed = await client.patch(url, json={"owner_ids": [anna]})
    assert changed.json()["owners"] == expected[1:]
    # A removed person keeps their name on what they owned.
    assert (await client.delete(f"/v1/people/{anna}")).status_code == 204
    assert (await client.get(url)).json()["owners"] == expected[1:]
    cleared = await client.patch(url, json={"owner_ids": []})
    assert cleared.json()["owners"] == []


async def test_plans_and_actions_search_and_sort(client: httpx.AsyncClient) -> None:
    await seed_rjh_tree(client)
    owner = await create_person(client, "Anna Berg", initials="AB")
    staffing = await create_plan(client, owner_id=owner)
    # People appear with their names where a view shows them.
    assert staffing["owner"] == {"id": owner, "name": "Anna Berg", "initials": "AB"}
    listed_plan = (await client.get(f"/v1/action-plans/{staffing['id']}")).json()
    assert listed_plan["owner"]["name"] == "Anna Berg"
    await create_plan(client, title="Tillgänglighet i primärvården", owner_id=owner)
    assert await _all(client, "/v1/action-plans", key="id", q="bemanning") == [staffing["id"]]
    assert await _all(client, "/v1/action-plans", key="id", q="_") == []
    plan_id = staffing["id"]
    made = {}
    for code, title, due in [
        ("1", "Rekrytera sjuksköterskor", "2017-06-30"),
        ("2", "Schemaläggning", None),
        ("3", "Uppgiftsväxling", "2017-03-31"),
    ]:
        body: dict[str, Any] = {
            "code": code,
            "title": title,
            "area": "recruitment",
            "responsible_id": owner,
        }
        if due:
            body["due_date"] = due
        r = await client.post(f"/v1/action-plans/{plan_id}/actions", json=body)
        assert r.status_code == 201, r.text
        made[code] = r.json()["id"]
    by_due = [made["3"], made["1"], made["2"]]
    one = (await client.get(f"/v1/actions/{made['1']}")).json()
    assert one["responsible"] == {"id": owner, "name": "Anna Berg", "initials": "AB"}
    page = (await client.get("/v1/actions")).json()["items"]
    assert {a["responsible"]["initials"] for a in page} == {"AB"}
    url = f"/v1/action-plans/{plan_id}/actions"
    assert await _all(client, url, key="id", sort="due_date") == by_due
    assert await _all(client, url, key="id", sort="-due_date") == by_due[::-1]
    assert await _all(client, "/v1/actions", key="id", sort="due_date") == by_due
    assert await _all(client, "/v1/actions", key="id", q="SCHEMA") == [made["2"]]
    assert await _all(client, url, key="id", q="växling") == [made["3"]]
    bad = assert_problem(await client.get("/v1/actions", params={"sort": "title"}), 422)
    assert "due_date" in bad["errors"][0]["msg"]
    assert_problem(
        await client.get("/v1/actions", params={"sort": "due_date", "updated_since": SINCE_EVER}),
        422,
    )
    # A cursor of the due-date order is not one of the id order.
    sorted_page = (await client.get(url, params={"limit": 1, "sort": "due_date"})).json()
    assert_problem(await client.get(url, params={"cursor": sorted_page["next_cursor"]}), 400)


async def test_the_actions_csv_names_people_and_follows_the_json(
    client: httpx.AsyncClient,
) -> None:
    await seed_rjh_tree(client)
    owner = await create_person(client, "Anna Berg", initials="AB")
    plan = await create_plan(client, owner_id=owner)
    created = await client.post(
        f"/v1/action-plans/{plan['id']}/actions",
        json={"code": "1", "title": "Rekrytera", "responsible_id": owner, "progress": 40},
    )
    assert created.status_code == 201, created.text
    url = f"/v1/action-plans/{plan['id']}/actions"
    swedish = await client.get(url, headers={"Accept": "text/csv"})
    assert swedish.content.startswith(b"\xef\xbb\xbf")
    (row,) = csv.DictReader(io.StringIO(swedish.content.decode("utf-8-sig")), delimiter=";")
    assert (row["responsible_id"], row["responsible"]) == (owner, "Anna Berg")
    assert (row["progress"], row["overdue"]) == ("40", "false")
    json_fields = [f for f in created.json() if f in row]
    assert json_fields == [f for f in row if f in created.json()]  # the JSON's order
    machine = await client.get(url, params={"decimal": "point"}, headers={"Accept": "text/csv"})
    (row,) = csv.DictReader(io.StringIO(machine.text))
    assert row["responsible"] == "Anna Berg"


async def test_fed_records_read_back_under_the_names_they_were_sent_with(
    client: httpx.AsyncClient,
) -> None:
    await seed_tree(client)
    await feed(client, "time-records", shifts("SUS-AKUT", "E1", [date(2024, 3, 4)], "worked", "8"))
    (record,) = (await client.get("/v1/time-records")).json()["items"]
    assert record["org_unit_code"] == record["org_unit"] == "SUS-AKUT"
    assert record["employee_pseudonym"] == record["employee"] != "E1"
