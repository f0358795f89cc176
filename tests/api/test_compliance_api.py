"""Rules, policies and exemptions through the API, and the violation reads."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import make_client
from tests.factories import create_key, feed, seed_tree, shift
from tests.jobs import recalculate, recalculate_everything
from tests.problems import assert_problem

WEEKDAY_DAYTIME = [{"weekdays": [1, 2, 3, 4, 5], "from": "07:00", "to": "18:00"}]


async def _rest_breakers(client: httpx.AsyncClient, employees: int) -> None:
    records = []
    for n in range(employees):
        # A quick return: evening until 21:30, day shift at 07:00.
        records += [
            shift(f"N{n}", datetime(2024, 3, 4, 13, 0), 8.5),
            shift(f"N{n}", datetime(2024, 3, 5, 7, 0), 8),
        ]
    await feed(client, "time-records", records)


async def test_the_working_hours_act_is_seeded_and_rules_are_validated(
    client: httpx.AsyncClient,
) -> None:
    rules = (await client.get("/v1/compliance/rules")).json()["items"]
    assert sorted(r["kind"] for r in rules) == [
        "daily_rest",
        "daily_rest",
        "overtime_month",
        "overtime_year",
        "weekly_rest",
    ]
    daily = next(r for r in rules if r["kind"] == "daily_rest" and r["professions"] is None)
    assert (daily["min_rest_hours"], daily["period"]) == ("11.00", "rolling")
    # Seed 000: the doctors' new working-time rules from 1 February 2024.
    doctors = next(r for r in rules if r["kind"] == "daily_rest" and r["professions"])
    assert doctors["professions"] == ["doctor", "resident_doctor"]
    assert (doctors["enforced_from"], doctors["period"]) == ("2024-02-01", "rolling")
    bad: list[tuple[dict[str, Any], str]] = [
        ({"kind": "daily_rest", "name": "x", "min_rest_hours": "25"}, "min_rest_hours"),
        ({"kind": "weekly_rest", "name": "x", "min_rest_hours": "169"}, "min_rest_hours"),
        # A fixed local day is 23 hours the night the clocks go forward.
        (
            {
                "kind": "daily_rest",
                "name": "x",
                "min_rest_hours": "23.5",
                "period": "fixed",
                "period_start_hour": 7,
            },
            "min_rest_hours",
        ),
        (
            {"kind": "daily_rest", "name": "x", "min_rest_hours": "11", "period": "fixed"},
            "period_start_hour",
        ),
        ({"kind": "weekly_rest", "name": "x"}, "min_rest_hours"),
        ({"kind": "overtime_month", "name": "x"}, "max_hours"),
        (
            {"kind": "overtime_month", "name": "x", "max_hours": "50", "period": "fixed"},
            "period",
        ),
        (
            {"kind": "daily_rest", "name": "x", "min_rest_hours": "11", "period_start_hour": 24},
            "period_start_hour",
        ),
        (
            {"kind": "daily_rest", "name": "x", "min_rest_hours": "11", "period": "weekly"},
            "period",
        ),
        (
            {
                "kind": "daily_rest",
                "name": "x",
                "min_rest_hours": "11",
                "enforced_from": "2023-01-01",
            },
            "enforced_from",
        ),
        (
            {"kind": "overtime_year", "name": "x", "max_hours": "200", "valid_to": "1999-01-01"},
            "valid_to",
        ),
    ]
    for body, field in bad:
        response = await client.post(
            "/v1/compliance/rules", json={"valid_from": "2024-01-01", **body}
        )
        problem = assert_problem(response, 422)
        assert problem["errors"][0]["loc"][-1] == field, (body, problem)
    # Changing a rule so that its window cannot hold the rest is refused the same way.
    narrowed = await client.patch(
        f"/v1/compliance/rules/{daily['id']}",
        json={"period": "fixed", "period_start_hour": 0, "min_rest_hours": "23.5"},
    )
    assert assert_problem(narrowed, 422)["errors"][0]["loc"] == ["body", "min_rest_hours"]
    stale = await client.patch(
        f"/v1/compliance/rules/{daily['id']}",
        json={"period_start_hour": 7},
        headers={"If-Match": '"9"'},
    )
    assert stale.status_code == 412
    moved = await client.patch(
        f"/v1/compliance/rules/{daily['id']}",
        json={"period": "fixed", "period_start_hour": 7},
        headers={"If-Match": '"1"'},
    )
    assert moved.status_code == 200, moved.text
    assert (moved.json()["period"], moved.json()["period_start_hour"]) == ("fixed", 7)


async def test_a_disabled_rule_finds_nothing_after_the_recheck(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await seed_tree(client)
    await _rest_breakers(client, 1)
    await recalculate(app)
    listed = await client.get("/v1/compliance/violations", params={"org_unit": "RS"})
    assert [v["kind"] for v in listed.json()["items"]] == ["daily_rest"]
    # The doctors' rule applies to them, the general one once it is off too.
    rules = (await client.get("/v1/compliance/rules")).json()["items"]
    dailies = [r for r in rules if r["kind"] == "daily_rest"]
    for n, daily in enumerate(dailies, 1):
        await client.patch(f"/v1/compliance/rules/{daily['id']}", json={"enabled": False})
        await recalculate(app)
        still = await client.get("/v1/compliance/violations", params={"org_unit": "RS"})
        assert len(still.json()["items"]) == (0 if n == len(dailies) else 1)
    # The violation reported before the rules changed is kept in the history, as reported:
    # once per rule that found it (the general rule takes over when the doctors' rule is
    # disabled first; the rules are listed in id order).
    kept = (
        await session.execute(
            sa.text("SELECT kind, work_date, hours, source_id FROM compliance_violation_history")
        )
    ).all()
    await session.commit()
    assert {(k, d.isoformat(), float(h)) for k, d, h, _ in kept} == {
        ("daily_rest", "2024-03-04", 1.5)
    }
    assert dailies[-1]["id"] in {str(rule) for *_, rule in kept}
    again = await client.get("/v1/compliance/violations", params={"org_unit": "RS"})
    assert again.json()["items"] == []


async def test_policies_and_exemptions(app: FastAPI, client: httpx.AsyncClient) -> None:
    await seed_tree(client)
    policy = await client.post(
        "/v1/compliance/agency-policies",
        json={
            "name": "Hyrsjuksköterskor endast kvällar, nätter och helger",
            "professions": ["nurse"],
            "org_unit": "RS",
            "valid_from": "2023-10-01",
            "banned_windows": WEEKDAY_DAYTIME,
        },
    )
    assert policy.status_code == 201, policy.text
    url = policy.headers["location"]
    agency = {"staff": "agency", "profession": "nurse"}
    await feed(client, "time-records", [shift("A1", datetime(2023, 11, 8, 15, 0), 6, **agency)])
    await recalculate(app)
    summary = (await client.get("/v1/compliance/summary", params={"org_unit": "RS"})).json()
    assert [(r["kind"], r["violations"], r["hours"]) for r in summary["rows"]] == [
        ("agency_policy", 1, "3.00")
    ]
    exemption = {
        "org_unit": "SUS",
        "valid_from": "2023-11-01",
        "valid_to": "2023-11-30",
        "decided_by": "Koncernledningen",
        "reason": "Influensasäsong",
    }
    created = await client.post(f"{url}/exemptions", json=exemption)
    assert created.status_code == 201, created.text
    overlapping = await client.post(
        f"{url}/exemptions", json={**exemption, "org_unit": "SUS-AKUT", "valid_from": "2023-11-20"}
    )
    assert overlapping.status_code == 409
    await recalculate(app)
    assert (await client.get("/v1/compliance/summary", params={"org_unit": "RS"})).json()[
        "rows"
    ] == []
    assert len((await client.get(f"{url}/exemptions")).json()["items"]) == 1
    gone = await client.delete(f"/v1/compliance/exemptions/{created.json()['id']}")
    assert gone.status_code == 204
    await recalculate(app)
    assert (
        len((await client.get("/v1/compliance/summary", params={"org_unit": "RS"})).json()["rows"])
        == 1
    )
    bad_windows = [
        [{"weekdays": [1], "from": "07:00", "to": "07:00"}],
        [{"weekdays": [], "from": "07:00", "to": "18:00"}],
        [{"weekdays": [8], "from": "07:00", "to": "18:00"}],
        [{"weekdays": [1], "from": "7", "to": "18:00"}],
    ]
    for windows in bad_windows:
        response = await client.post(
            "/v1/compliance/agency-policies",
            json={
                "name": "x",
                "professions": ["nurse"],
                "org_unit": "RS",
                "valid_from": "2024-01-01",
                "banned_windows": windows,
            },
        )
        assert response.status_code == 422, windows
    assert (await client.delete(url, headers={"If-Match": '"1"'})).status_code == 204


async def test_violations_need_persondata_read_show_per_key_pseudonyms_and_are_audited(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await seed_tree(client)
    await _rest_breakers(client, 3)
    await recalculate(app)
    admin = (await client.get("/v1/compliance/violations", params={"org_unit": "RS"})).json()
    assert len(admin["items"]) == 3 and all(v["employee"] for v in admin["items"])
    stored = set(
        (await session.execute(sa.text("SELECT employee FROM compliance_violations"))).scalars()
    )
    reader = await create_key(client, ["read"])
    async with make_client(app, reader) as c:
        # Each row is one employee's working time: `read` gets 403 and keeps the aggregates.
        refused = await c.get("/v1/compliance/violations", params={"org_unit": "RS"})
        assert_problem(refused, 403, "missing_scope")
        summary = await c.get("/v1/compliance/summary", params={"org_unit": "RS"})
        assert summary.status_code == 200
    token = await create_key(client, ["persondata:read"])
    async with make_client(app, token) as c:
        # Fewer employees than the minimum group size: a person-level key sees them all.
        first = (
            await c.get("/v1/compliance/violations", params={"org_unit": "RS", "limit": 2})
        ).json()
        assert len(first["items"]) == 2 and first["next_cursor"]
        rest = (
            await c.get(
                "/v1/compliance/violations",
                params={"org_unit": "RS", "limit": 2, "cursor": first["next_cursor"]},
            )
        ).json()
        assert len(rest["items"]) == 1 and rest["next_cursor"] is None
        mine = {v["id"]: v["employee"] for v in first["items"] + rest["items"]}
        again = (await c.get("/v1/compliance/violations", params={"org_unit": "RS"})).json()
        assert {v["id"]: v["employee"] for v in again["items"]} == mine
        assert (await c.post("/v1/compliance/rules", json={})).status_code == 403
    theirs = {v["id"]: v["employee"] for v in admin["items"]}
    assert len(set(mine.values())) == 3
    assert all(mine[i] != theirs[i] for i in mine) and not stored & set(mine.values())
    reads = await session.execute(
        sa.text(
            "SELECT details->>'rows' FROM audit_log "
            "WHERE action = 'compliance.violations.read' ORDER BY id"
        )
    )
    assert reads.scalars().all() == ["3", "2", "1", "3"]


async def _violations(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    """Every item of the violations list under RS, one at a time (so each cursor is used)."""
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {"org_unit": "RS", "limit": 1, **params} | ({"cursor": cursor} if cursor else {})
        page = await client.get("/v1/compliance/violations", params=query)
        assert page.status_code == 200, page.text
        found += page.json()["items"]
        if (cursor := page.json()["next_cursor"]) is None:
            return found


async def test_violations_mirror_with_updated_since(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """A recomputation that finds a violation again unchanged keeps its id and change time; a
    changed one keeps its id and shows up as changed; a withdrawn one comes as a tombstone."""
    await seed_tree(client)
    await _rest_breakers(client, 2)
    await recalculate(app)
    listed = await _violations(client)
    assert len(listed) == 2
    mirrored = await _violations(client, updated_since="2000-01-01T00:00:00Z")
    assert mirrored == sorted(listed, key=lambda v: (v["updated_at"], v["id"]))
    since = datetime.now(UTC).isoformat()
    await recalculate_everything(app)
    assert await _violations(client) == listed
    assert await _violations(client, updated_since=since) == []
    # N0's morning shift removed: no quick return left. N1's evening an hour longer: less rest.
    await feed(
        client,
        "time-records",
        [
            {"source": "heroma", "external_id": "N0-202403050700-worked", "deleted": True},
            shift("N1", datetime(2024, 3, 4, 13, 0), 9.0),
        ],
    )
    await recalculate(app)
    now = await _violations(client)
    assert len(now) == 1 and now[0]["id"] in {v["id"] for v in listed}
    # A tombstone's id is text, whatever the resource's id is (a violation's is a number).
    gone = str(({v["id"] for v in listed} - {now[0]["id"]}).pop())
    changes = await _violations(client, updated_since=since)
    assert [(c["id"], c.get("deleted", False)) for c in changes] in (
        [(gone, True), (now[0]["id"], False)],
        [(now[0]["id"], False), (gone, True)],
    )
    changed = next(c for c in changes if c["id"] == now[0]["id"])
    assert changed["hours"] == "2.00" and changed["updated_at"] > since
    assert all(set(c) == {"id", "deleted", "updated_at"} for c in changes if c["id"] == gone)
    # The filters apply to the tombstones too; cursors of the two orders are not mixed.
    assert await _violations(client, updated_since=since, kind="weekly_rest") == []
    first = await client.get(
        "/v1/compliance/violations",
        params={"org_unit": "RS", "limit": 1, "updated_since": since},
    )
    assert_problem(
        await client.get(
            "/v1/compliance/violations",
            params={"org_unit": "RS", "cursor": first.json()["next_cursor"]},
        ),
        400,
        "cursor_from_another_list",
    )


async def test_another_units_key_gets_404(app: FastAPI, client: httpx.AsyncClient) -> None:
    await seed_tree(client)
    policy = await client.post(
        "/v1/compliance/agency-policies",
        json={
            "name": "Stopp",
            "professions": ["nurse"],
            "org_unit": "SUS",
            "valid_from": "2024-01-15",
        },
    )
    token = await create_key(client, ["read", "persondata:read"], org_unit="PV")
    async with make_client(app, token) as pv:
        assert (await pv.get(policy.headers["location"])).status_code == 404
        hidden = await pv.get("/v1/compliance/violations", params={"org_unit": "SUS"})
        assert hidden.status_code == 404
        assert (await pv.get("/v1/compliance/agency-policies")).json()["items"] == []


@pytest.mark.parametrize(
    "values",
    [["x"], [None], [1.5], [True], [-1], [2**63], ["1"], [{"id": 1}]],
)
async def test_a_malformed_violations_cursor_is_422_not_500(
    client: httpx.AsyncClient, values: list[Any]
) -> None:
    """A cursor that decodes to something other than a violation id (a forged or garbled one)
    is the same problem as any malformed cursor."""
    await seed_tree(client)
    forged = base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")
    for cursor in (forged, "not base64 at all!"):
        response = await client.get(
            "/v1/compliance/violations", params={"org_unit": "RS", "cursor": cursor}
        )
        problem = assert_problem(response, 422, "validation_failed")
        assert problem["errors"][0]["code"] == "invalid_cursor"


async def test_exemption_applications_are_granted_or_rejected_once_and_counted(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Seed 000: the management team hears of "fastställd hantering/avslag på inkomna
    ansökningar av dispenser" when the stop for agency nurses starts on 15 January 2024."""
    await seed_tree(client)
    policy = await client.post(
        "/v1/compliance/agency-policies",
        json={
            "name": "Stopp för hyrsjuksköterskor",
            "professions": ["nurse"],
            "org_unit": "RS",
            "valid_from": "2024-01-15",
            "decision_ref": "KL 2024-01-15",
        },
    )
    url = policy.headers["location"]
    agency = {"staff": "agency", "profession": "nurse"}
    await feed(
        client,
        "time-records",
        [
            shift("X1", datetime(2024, 1, 17, 13, 0), 8, **agency),
            shift("X2", datetime(2024, 1, 17, 13, 0), 8, unit="SUS-MED", **agency),
        ],
    )
    applications = []
    for unit in ("SUS-AKUT", "SUS-MED"):
        applied = await client.post(
            f"{url}/exemptions",
            json={
                "org_unit": unit,
                "valid_from": "2024-01-15",
                "valid_to": "2024-02-29",
                "requested_by": f"Verksamhetschef {unit}",
                "reason": "Saknar sjuksköterskor vecka 3–8",
            },
        )
        assert applied.status_code == 201, applied.text
        assert (applied.json()["status"], applied.json()["decided_by"]) == ("requested", None)
        # Readable where `Location` points, with the ETag of its version.
        location = applied.headers["location"]
        assert location == f"/v1/compliance/exemptions/{applied.json()['id']}"
        read = await client.get(location)
        assert (read.json(), read.headers["etag"]) == (applied.json(), applied.headers["etag"])
        applications.append(applied.json()["id"])
    await recalculate(app)
    # An application allows nothing: both shifts are against the stop.
    summary = (await client.get("/v1/compliance/summary", params={"org_unit": "RS"})).json()
    assert sum(r["violations"] for r in summary["rows"]) == 2
    pending = await client.get("/v1/compliance/exemptions", params={"status": "requested"})
    assert {x["id"] for x in pending.json()["items"]} == set(applications)

    granted = await client.post(
        f"/v1/compliance/exemptions/{applications[0]}/decision",
        json={"decision": "granted", "decided_by": "Koncernledningen", "reason": "Akut läge"},
    )
    assert granted.status_code == 200, granted.text
    body = granted.json()
    # Deciding is a change: a new version, a new ETag, the same answer read back.
    assert granted.headers["etag"] == f'"{body["version"]}"' != '"1"'
    read_back = await client.get(f"/v1/compliance/exemptions/{applications[0]}")
    assert (read_back.json(), read_back.headers["etag"]) == (body, granted.headers["etag"])
    assert_problem(
        await client.get(f"/v1/compliance/exemptions/{uuid.uuid4()}"), 404, "exemption_not_found"
    )
    assert (body["status"], body["decided_by"], body["decision_reason"]) == (
        "granted",
        "Koncernledningen",
        "Akut läge",
    )
    assert body["decided_at"] is not None
    rejected = await client.post(
        f"/v1/compliance/exemptions/{applications[1]}/decision",
        json={"decision": "rejected", "decided_by": "Koncernledningen", "reason": "Avslag"},
    )
    assert rejected.json()["status"] == "rejected"
    again = await client.post(
        f"/v1/compliance/exemptions/{applications[1]}/decision",
        json={"decision": "granted", "decided_by": "HR-direktör", "reason": "Omprövning"},
    )
    assert_problem(again, 409, "exemption_already_decided")
    bad = await client.post(
        f"/v1/compliance/exemptions/{applications[1]}/decision",
        json={"decision": "maybe", "decided_by": "x", "reason": "x"},
    )
    assert assert_problem(bad, 422)["errors"][0]["loc"][-1] == "decision"
    missing = await client.post(
        f"/v1/compliance/exemptions/{uuid.uuid4()}/decision",
        json={"decision": "granted", "decided_by": "x", "reason": "x"},
    )
    assert_problem(missing, 404, "exemption_not_found")

    await recalculate(app)
    summary = (await client.get("/v1/compliance/summary", params={"org_unit": "RS"})).json()
    assert [(r["org_unit"], r["violations"]) for r in summary["rows"]] == [("SUS-MED", 1)]
    listed = await client.get("/v1/compliance/exemptions", params={"status": "rejected"})
    assert [x["org_unit"] for x in listed.json()["items"]] == ["SUS-MED"]
    counts = await client.get("/v1/compliance/exemptions/summary", params={"org_unit": "RS"})
    month = counts.json()["rows"][0]["month"]
    assert [
        (r["org_unit"], r["received"], r["requested"], r["granted"], r["rejected"])
        for r in counts.json()["rows"]
    ] == [("SUS-AKUT", 1, 0, 1, 0), ("SUS-MED", 1, 0, 0, 1)]
    later = await client.get(
        "/v1/compliance/exemptions/summary",
        params={"org_unit": "RS", "from": "2099-01-01"},
    )
    assert later.json()["rows"] == [] and month
    events = (
        await client.get("/v1/events", params={"types": "compliance.exemption_decided"})
    ).json()["items"]
    assert [(e["data"]["org_unit"], e["data"]["status"]) for e in events] == [
        ("SUS-AKUT", "granted"),
        ("SUS-MED", "rejected"),
    ]
    # A rejected application does not block a new one for the same days.
    reapplied = await client.post(
        f"{url}/exemptions",
        json={
            "org_unit": "SUS-MED",
            "valid_from": "2024-02-01",
            "valid_to": "2024-02-29",
            "reason": "Ny ansökan",
        },
    )
    assert reapplied.status_code == 201, reapplied.text
