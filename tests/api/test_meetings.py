"""Meetings: seed 000's KL meeting entered through the API, minutes in three formats, the JH
assignment in the next meeting's prepare, generation, locking, reminders and bad input."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlmodel import col

from services.core import clock
from services.core.audit.models import AuditEntry
from services.core.meetings.schemas import Minutes, MinutesItem
from services.worker.tasks.meetings import notify_assignments
from tests.conftest import make_client
from tests.factories import create_key, create_target, feed, seed_tree, shifts
from tests.jobs import recalculate
from tests.problems import assert_problem

KL_PEOPLE = [
    ("Lars-Åke Rudin", "LÅR"),
    ("Thorbjörn Lindhqvist", "TL"),
    ("Pia Lundbom", "PLu"),
    ("Johanna Holmberg", "JH"),
    ("Anna Pettersson", "AP"),
    ("Jörgen Wenner", "JW"),
]
DECISION = (
    "KL ställer sig bakom hyrstopp för sjuksköterskor <inom> Region Skåne & fortsatt bevakning."
)
ASSIGNMENT = "Ta fram underlag om dispenser från hyrstoppet till nästa KL."


def _locs(problem: dict[str, Any]) -> list[list[Any]]:
    return [e["loc"] for e in problem.get("errors") or []]


async def _people(client: httpx.AsyncClient) -> dict[str, str]:
    ids = {}
    for name, initials in KL_PEOPLE:
        r = await client.post("/v1/people", json={"name": name, "initials": initials})
        assert r.status_code == 201, r.text
        ids[initials] = r.json()["id"]
    return ids


async def _body(client: httpx.AsyncClient, people: dict[str, str], **extra: Any) -> str:
    r = await client.post(
        "/v1/bodies",
        json={
            "name": "Koncernledningen",
            "short_name": "KL",
            "org_unit": "RS",
            "members": [
                {"person_id": people["LÅR"], "role": "chair"},
                {"person_id": people["TL"], "role": "member"},
                {"person_id": people["JH"], "role": "member"},
            ],
        }
        | extra,
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _meeting(
    client: httpx.AsyncClient, body_id: str, day: str, **extra: Any
) -> dict[str, Any]:
    r = await client.post(
        f"/v1/bodies/{body_id}/meetings",
        json={"starts_at": f"{day}T12:00:00Z", "ends_at": f"{day}T16:00:00Z", "place": "Teams"}
        | extra,
    )
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def _kl_meeting(client: httpx.AsyncClient) -> dict[str, Any]:
    """Seed 000: attendees, items 1 and 2, the hire stop decision and the JH assignment."""
    await seed_tree(client)
    people = await _people(client)
    body_id = await _body(client, people)
    attendees = [
        {"person_id": people["LÅR"], "role": "chair"},
        {"person_id": people["TL"], "role": "member"},
        {"person_id": people["PLu"], "role": "member"},
        {"person_id": people["JH"], "role": "member"},
        {"person_id": people["AP"], "role": "secretary", "present": False},
    ]
    meeting = await _meeting(client, body_id, "2024-01-15", attendees=attendees)
    mid = meeting["id"]
    items = []
    for number, title, presenters, kind in [
        (1, "Inledning", ["LÅR"], "information"),
        (
            2,
            "Koncernledningens arbete med omställning med fokus på tillgänglighet, "
            "kompetensförsörjning och ekonomi",
            ["JW", "JH"],
            "decision",
        ),
    ]:
        r = await client.post(
            f"/v1/meetings/{mid}/items",
            json={
                "number": number,
                "title": title,
                "kind": kind,
                "presenter_ids": [people[p] for p in presenters],
                "links": [{"kind": "kpi_series", "id": "sick_leave_pct"}],
            },
        )
        assert r.status_code == 201, r.text
        items.append(r.json())
    # JW was co-opted for item 2 only.
    r = await client.patch(
        f"/v1/meetings/{mid}",
        json={
            "attendees": attendees
            + [
                {
                    "person_id": people["JW"],
                    "role": "co_opted",
                    "co_opted_item_ids": [items[1]["id"]],
                }
            ]
        },
        headers={"If-Match": f'"{(await client.get(f"/v1/meetings/{mid}")).json()["version"]}"'},
    )
    assert r.status_code == 200, r.text
    d = await client.post(
        f"/v1/agenda-items/{items[1]['id']}/decisions",
        json={"text": DECISION, "decided_at": "2024-01-15", "effective_date": "2024-01-15"},
    )
    assert d.status_code == 201, d.text
    a = await client.post(
        f"/v1/agenda-items/{items[1]['id']}/assignments",
        json={"assignee_id": people["JH"], "text": ASSIGNMENT, "due_date": "2024-02-12"},
    )
    assert a.status_code == 201, a.text
    return {
        "body_id": body_id,
        "meeting": mid,
        "items": items,
        "people": people,
        "decision": d.json(),
        "assignment": a.json(),
    }


async def test_seed_000_minutes_in_three_formats_and_prepare(client: httpx.AsyncClient) -> None:
    kl = await _kl_meeting(client)
    mid = kl["meeting"]

    md = await client.get(f"/v1/meetings/{mid}/minutes", headers={"Accept": "text/markdown"})
    assert md.status_code == 200 and md.headers["content-type"].startswith("text/markdown")
    assert "Koncernledningen (KL)" in md.text
    assert "Lars-Åke Rudin (LÅR)" in md.text and "Frånvarande" in md.text
    assert "adjungerad §2" in md.text
    assert "### 1. Inledning (LÅR)" in md.text
    # User text is escaped: "<inom>" is text in a Markdown viewer, not an HTML tag.
    escaped = DECISION.replace("<", "\\<").replace(">", "\\>").replace("&", "\\&")
    assert escaped in md.text and "<inom>" not in md.text
    assert "gäller från 2024-01-15" in md.text
    assert f"JH fick i uppdrag att: {ASSIGNMENT} (senast 2024-02-12)" in md.text
    assert md.text.index("### 1.") < md.text.index("### 2.")

    html = await client.get(f"/v1/meetings/{mid}/minutes", headers={"Accept": "text/html"})
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert "&lt;inom&gt; Region Skåne &amp; fortsatt" in html.text
    assert "<inom>" not in html.text
    assert ASSIGNMENT in html.text and "JH fick i uppdrag" in html.text

    js = await client.get(f"/v1/meetings/{mid}/minutes", headers={"Accept": "application/json"})
    data = js.json()
    # The JSON is what the contract's `Minutes` schema says, field for field.
    minutes = Minutes.model_validate(data)
    assert minutes.model_dump(mode="json").keys() == data.keys()
    assert set(data["items"][1]) == set(MinutesItem.model_fields)
    assert [i["number"] for i in data["items"]] == [1, 2]
    assert data["items"][1]["decisions"][0]["text"] == DECISION
    assert data["items"][1]["assignments"][0]["assignee"]["initials"] == "JH"
    assert [p["initials"] for p in data["items"][1]["presenters"]] == ["JW", "JH"]

    assert_problem(
        await client.get(f"/v1/meetings/{mid}/minutes", headers={"Accept": "image/png"}), 406
    )

    # The next KL: the JH assignment (due 2024-02-12) is proposed for the 2024-02-12 meeting.
    nxt = await _meeting(client, kl["body_id"], "2024-02-12")
    prep = (await client.get(f"/v1/meetings/{nxt['id']}/prepare")).json()
    assert [p["assignment_id"] for p in prep["proposals"]] == [kl["assignment"]["id"]]
    assert prep["proposals"][0]["kind"] == "follow_up"
    # Not yet due for an earlier meeting; gone once reported.
    early = await _meeting(client, kl["body_id"], "2024-01-22")
    assert (await client.get(f"/v1/meetings/{early['id']}/prepare")).json()["proposals"] == []
    r = await client.patch(
        f"/v1/assignments/{kl['assignment']['id']}",
        json={"status": "reported", "reported_in_meeting_id": nxt["id"]},
        headers={"If-Match": '"1"'},
    )
    assert r.status_code == 200, r.text
    assert (await client.get(f"/v1/meetings/{nxt['id']}/prepare")).json()["proposals"] == []
    jh = kl["people"]["JH"]
    mine = (await client.get("/v1/assignments", params={"assignee_id": jh})).json()["items"]
    assert [a["status"] for a in mine] == ["reported"]
    assert (await client.get("/v1/assignments", params={"status": "open"})).json()["items"] == []
    since = await client.get("/v1/assignments", params={"updated_since": "2000-01-01T00:00:00Z"})
    assert len(since.json()["items"]) == 1

    events = (await client.get("/v1/events")).json()["items"]
    made = [e for e in events if e["type"] == "decision.made"]
    assert made and made[0]["data"]["decision_id"] == kl["decision"]["id"]


async def test_approval_locks_the_meeting(client: httpx.AsyncClient, app: FastAPI) -> None:
    kl = await _kl_meeting(client)
    mid = kl["meeting"]
    version = (await client.get(f"/v1/meetings/{mid}")).json()["version"]
    assert_problem(
        await client.post(f"/v1/meetings/{mid}:approve", headers={"If-Match": '"999"'}), 412
    )
    ok = await client.post(f"/v1/meetings/{mid}:approve", headers={"If-Match": f'"{version}"'})
    assert ok.status_code == 200 and ok.json()["status"] == "minutes_approved"

    writer_token = await create_key(client, ["read", "meetings:write"])
    async with make_client(app, writer_token) as writer:
        assert_problem(await writer.patch(f"/v1/meetings/{mid}", json={"place": "Malmö"}), 409)
        assert_problem(
            await writer.post(f"/v1/meetings/{mid}/items", json={"number": 9, "title": "Övrigt"}),
            409,
        )
        assert_problem(
            await writer.post(
                f"/v1/agenda-items/{kl['items'][0]['id']}/decisions",
                json={"text": "x", "decided_at": "2024-01-15"},
            ),
            409,
        )
        # The assignments are part of the minutes: what they say is locked too, while their
        # follow-up (status) goes on.
        assignment_url = f"/v1/assignments/{kl['assignment']['id']}"
        for change in ({"text": "Omskrivet i efterhand"}, {"due_date": "2030-01-01"}):
            locked = assert_problem(await writer.patch(assignment_url, json=change), 409)
            assert locked["code"] == "meeting_locked"
        followed_up = await writer.patch(assignment_url, json={"status": "in_progress"})
        assert followed_up.status_code == 200, followed_up.text
        same_text = {"text": kl["assignment"]["text"], "status": "reported"}
        assert (await writer.patch(assignment_url, json=same_text)).status_code == 200
    kept = (await client.get(assignment_url)).json()
    assert (kept["text"], kept["due_date"]) == (ASSIGNMENT, "2024-02-12")
    no_reason = await client.patch(assignment_url, json={"text": "Rättad uppgift"})
    assert ["body", "reason"] in _locs(assert_problem(no_reason, 422))
    corrected = await client.patch(
        assignment_url, json={"text": "Rättad uppgift", "reason": "Felskrivet uppdrag"}
    )
    assert corrected.status_code == 200 and corrected.json()["text"] == "Rättad uppgift"
    # Admin: needs a reason, which lands in the audit trail.
    missing = assert_problem(
        await client.patch(f"/v1/meetings/{mid}", json={"place": "Malmö"}), 422
    )
    assert ["body", "reason"] in _locs(missing)
    fixed = await client.patch(
        f"/v1/meetings/{mid}", json={"place": "Malmö", "reason": "Fel plats i protokollet"}
    )
    assert fixed.status_code == 200 and fixed.json()["place"] == "Malmö"
    late = await client.post(
        f"/v1/agenda-items/{kl['items'][0]['id']}/decisions",
        json={"text": "Tillägg", "decided_at": "2024-01-15"},
        headers={"X-Edit-Reason": "Beslut saknades i protokollet"},
    )
    assert late.status_code == 201, late.text
    async with app.state.sessionmaker() as session:
        rows = (
            await session.execute(
                sa.select(col(AuditEntry.details)).where(
                    col(AuditEntry.action) == "meeting.edit_after_approval",
                    col(AuditEntry.resource_id) == mid,
                )
            )
        ).all()
    assert sorted(r[0]["reason"] for r in rows) == [
        "Beslut saknades i protokollet",
        "Fel plats i protokollet",
        "Felskrivet uppdrag",
    ]


async def test_generate_is_idempotent(client: httpx.AsyncClient) -> None:
    await seed_tree(client)
    people = await _people(client)
    body_id = await _body(
        client,
        people,
        schedule={
            "frequency": "weekly",
            "weekday": 0,
            "time": "08:00",
            "duration_minutes": 30,
            "kind": "pulse",
            "starts_on": "2024-01-01",
        },
    )
    first = await client.post(
        f"/v1/bodies/{body_id}/meetings:generate", params={"until": "2024-01-31"}
    )
    assert first.status_code == 200, first.text
    assert first.json() == {"created": 5}
    again = await client.post(
        f"/v1/bodies/{body_id}/meetings:generate", params={"until": "2024-01-31"}
    )
    assert again.json() == {"created": 0}
    listed = (await client.get("/v1/meetings", params={"body_id": body_id})).json()["items"]
    assert len(listed) == 5 and {m["kind"] for m in listed} == {"pulse"}
    assert {m["starts_at"][:10] for m in listed} == {
        "2024-01-01",
        "2024-01-08",
        "2024-01-15",
        "2024-01-22",
        "2024-01-29",
    }

    page = (await client.get("/v1/meetings", params={"body_id": body_id, "limit": 2})).json()
    seen = [m["id"] for m in page["items"]]
    while page["next_cursor"]:
        page = (
            await client.get(
                "/v1/meetings",
                params={"body_id": body_id, "limit": 2, "cursor": page["next_cursor"]},
            )
        ).json()
        seen += [m["id"] for m in page["items"]]
    assert sorted(seen) == sorted(m["id"] for m in listed)

    tertial = await _body(
        client,
        people,
        name="Tertialuppföljning",
        schedule={
            "frequency": "tertial",
            "day": 15,
            "starts_on": "2024-01-01",
            "kind": "follow_up",
        },
    )
    r = await client.post(f"/v1/bodies/{tertial}/meetings:generate", params={"until": "2024-12-31"})
    assert r.json() == {"created": 3}
    no_schedule = await _body(client, people, name="Regionstyrelsen")
    assert_problem(
        await client.post(
            f"/v1/bodies/{no_schedule}/meetings:generate", params={"until": "2024-12-31"}
        ),
        422,
    )


async def test_bad_input(client: httpx.AsyncClient) -> None:
    kl = await _kl_meeting(client)
    mid, people = kl["meeting"], kl["people"]
    before = (await client.get(f"/v1/meetings/{mid}/items")).json()

    dup = assert_problem(
        await client.post(f"/v1/meetings/{mid}/items", json={"number": 1, "title": "X"}), 422
    )
    assert ["body", "number"] in _locs(dup)

    unknown = "00000000-0000-0000-0000-000000000001"
    p = assert_problem(
        await client.post(
            f"/v1/agenda-items/{kl['items'][0]['id']}/assignments",
            json={"assignee_id": unknown, "text": "x"},
        ),
        422,
    )
    assert ["body", "assignee_id"] in _locs(p)

    p = assert_problem(
        await client.post(
            f"/v1/bodies/{kl['body_id']}/meetings",
            json={"starts_at": "2024-03-01T12:00:00Z", "ends_at": "2024-03-01T11:00:00Z"},
        ),
        422,
    )
    assert ["body", "ends_at"] in _locs(p)

    twice = [{"person_id": people["TL"], "role": "member"}] * 2
    p = assert_problem(
        await client.post(
            f"/v1/bodies/{kl['body_id']}/meetings",
            json={
                "starts_at": "2024-03-01T12:00:00Z",
                "ends_at": "2024-03-01T13:00:00Z",
                "attendees": twice,
            },
        ),
        422,
    )
    assert ["body", "attendees", 1, "person_id"] in _locs(p)

    other = await _meeting(client, kl["body_id"], "2024-03-04")
    other_item = await client.post(
        f"/v1/meetings/{other['id']}/items", json={"number": 1, "title": "Annat möte"}
    )
    p = assert_problem(
        await client.patch(
            f"/v1/meetings/{mid}",
            json={
                "attendees": [
                    {
                        "person_id": people["JW"],
                        "role": "co_opted",
                        "co_opted_item_ids": [other_item.json()["id"]],
                    }
                ]
            },
        ),
        422,
    )
    assert ["body", "attendees", 0, "co_opted_item_ids", 0] in _locs(p)

    # Nothing half-written: the meeting and its items are unchanged.
    assert (await client.get(f"/v1/meetings/{mid}/items")).json() == before
    attendees = (await client.get(f"/v1/meetings/{mid}")).json()["attendees"]
    assert len(attendees) == 6
    all_meetings = (await client.get("/v1/meetings", params={"body_id": kl["body_id"]})).json()
    assert len(all_meetings["items"]) == 2


async def test_other_units_get_404(client: httpx.AsyncClient, app: FastAPI) -> None:
    kl = await _kl_meeting(client)
    token = await create_key(client, ["read", "meetings:write"], org_unit="PV")
    async with make_client(app, token) as pv:
        assert_problem(await pv.get(f"/v1/bodies/{kl['body_id']}"), 404)
        assert_problem(await pv.get(f"/v1/meetings/{kl['meeting']}"), 404)
        assert_problem(await pv.get(f"/v1/meetings/{kl['meeting']}/minutes"), 404)
        assert_problem(await pv.get(f"/v1/assignments/{kl['assignment']['id']}"), 404)
        assert (await pv.get("/v1/meetings")).json()["items"] == []
    reader = await create_key(client, ["read"])
    async with make_client(app, reader) as r:
        assert_problem(await r.post("/v1/bodies", json={"name": "X", "org_unit": "RS"}), 403)


async def test_reminders_once_each(
    client: httpx.AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    kl = await _kl_meeting(client)  # JH due 2024-02-12
    ctx = {"sessionmaker": app.state.sessionmaker}

    def at(day: str) -> None:
        monkeypatch.setattr(
            clock, "utcnow", lambda: datetime.fromisoformat(day).replace(tzinfo=UTC)
        )

    at("2024-01-20")
    assert await notify_assignments(ctx) == {"overdue": 0, "due_soon": 0}
    at("2024-02-06")
    assert await notify_assignments(ctx) == {"overdue": 0, "due_soon": 1}
    assert await notify_assignments(ctx) == {"overdue": 0, "due_soon": 0}
    at("2024-02-13")
    assert await notify_assignments(ctx) == {"overdue": 1, "due_soon": 0}
    assert await notify_assignments(ctx) == {"overdue": 0, "due_soon": 0}
    types = [e["type"] for e in (await client.get("/v1/events")).json()["items"]]
    assert types.count("assignment.due_soon") == 1 and types.count("assignment.overdue") == 1
    assert kl["assignment"]["status"] == "open"


async def test_prepare_proposes_overdue_actions_and_breached_targets(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    from datetime import date as day_

    await seed_tree(client)
    body = await client.post(
        "/v1/bodies", json={"name": "Ledningsgrupp SUS", "short_name": "LG-SUS", "org_unit": "SUS"}
    )
    assert body.status_code == 201, body.text
    meeting = await client.post(
        f"/v1/bodies/{body.json()['id']}/meetings",
        json={"starts_at": "2024-04-15T08:00:00Z", "ends_at": "2024-04-15T09:00:00Z"},
    )
    plan = await client.post(
        "/v1/action-plans",
        json={
            "title": "Sjukfrånvaro akuten",
            "org_unit": "SUS-AKUT",
            "period_start": "2024-01-01",
            "period_end": "2024-12-31",
            # Seed 000: decided only with an economic calculation.
            "no_cost_impact": True,
            "no_cost_impact_reason": "Inom befintlig ram.",
        },
    )
    plan_id = plan.json()["id"]
    assert (
        await client.patch(f"/v1/action-plans/{plan_id}", json={"status": "decided"})
    ).status_code == 200
    late = await client.post(
        f"/v1/action-plans/{plan_id}/actions",
        json={"code": "1.1", "title": "Rehabmöten", "due_date": "2024-03-31"},
    )
    await client.post(
        f"/v1/action-plans/{plan_id}/actions",
        json={"code": "1.2", "title": "Schemaöversyn", "due_date": "2024-05-31"},
    )
    target = await create_target(client, "sick_leave_pct", "SUS", "5")
    march = [day_(2024, 3, d) for d in range(1, 11)]
    records = []
    for n in range(5):
        records += shifts("P", f"E{n}", march, "scheduled", "8")
    records += shifts("P", "E0", march[:4], "sick", "8")  # 8 %: breached
    await feed(client, "time-records", records)
    await recalculate(app)

    proposals = (await client.get(f"/v1/meetings/{meeting.json()['id']}/prepare")).json()
    by_source = {p["source"]: p for p in proposals["proposals"]}
    assert by_source["overdue_actions"]["links"] == [{"kind": "action", "id": late.json()["id"]}]
    assert by_source["breached_targets"]["links"] == [{"kind": "target", "id": target.json()["id"]}]
    assert len(proposals["proposals"]) == 2  # 1.2 is not due yet


async def test_bodies_and_agenda_items_can_be_changed_and_links_must_exist(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    import uuid as uuid_

    await seed_tree(client)
    chair = await client.post("/v1/people", json={"name": "Lena Ågren", "initials": "LÅR"})
    body = await client.post(
        "/v1/bodies", json={"name": "Ledningsgrupp SUS", "short_name": "LG-SUS", "org_unit": "SUS"}
    )
    url = f"/v1/bodies/{body.json()['id']}"
    changed = await client.patch(
        url,
        json={
            "members": [{"person_id": chair.json()["id"], "role": "chair"}],
            "schedule": body.json()["schedule"],
        },
        headers={"If-Match": '"1"'},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["members"][0]["role"] == "chair" and changed.headers["etag"] == '"2"'
    assert (
        await client.patch(url, json={"name": "X"}, headers={"If-Match": '"1"'})
    ).status_code == 412
    meeting = await client.post(
        f"{url}/meetings",
        json={"starts_at": "2024-04-15T08:00:00Z", "ends_at": "2024-04-15T09:00:00Z"},
    )
    mid = meeting.json()["id"]
    first = await client.post(f"/v1/meetings/{mid}/items", json={"number": 1, "title": "Läget"})
    await client.post(f"/v1/meetings/{mid}/items", json={"number": 2, "title": "Övrigt"})
    item_url = f"/v1/agenda-items/{first.json()['id']}"
    noted = await client.patch(item_url, json={"notes": "Underlag bifogat"})
    assert noted.status_code == 200 and noted.json()["notes"] == "Underlag bifogat"
    taken = await client.patch(item_url, json={"number": 2})
    assert taken.status_code == 422 and taken.json()["errors"][0]["loc"] == ["body", "number"]
    for link in (
        {"kind": "target", "id": str(uuid_.uuid4())},
        {"kind": "action_plan", "id": "not-a-uuid"},
        {"kind": "kpi_series", "id": "no_such_kpi"},
    ):
        bad = await client.patch(item_url, json={"links": [link]})
        assert bad.status_code == 422, link
        assert bad.json()["errors"][0]["loc"] == ["body", "links", 0, "id"]
    fine = await client.patch(item_url, json={"links": [{"kind": "kpi_series", "id": "fte"}]})
    assert fine.status_code == 200
    assert (await client.post(f"/v1/meetings/{mid}:approve")).status_code == 200
    writer = await create_key(client, ["meetings:write", "read"])

    async with make_client(app, writer) as w:
        assert (await w.patch(item_url, json={"notes": "x"})).status_code == 409
    assert (await client.patch(item_url, json={"notes": "x"})).status_code == 422  # no reason
    fixed = await client.patch(item_url, json={"notes": "Rättat", "reason": "Stavfel"})
    assert fixed.status_code == 200


async def test_a_plan_decided_by_a_meeting_decision(client: httpx.AsyncClient) -> None:
    import uuid as uuid_

    await seed_tree(client)
    body = await client.post(
        "/v1/bodies", json={"name": "KL", "short_name": "KL", "org_unit": "RS"}
    )
    meeting = await client.post(
        f"/v1/bodies/{body.json()['id']}/meetings",
        json={"starts_at": "2024-01-15T12:00:00Z", "ends_at": "2024-01-15T16:00:00Z"},
    )
    mid = meeting.json()["id"]
    item = await client.post(f"/v1/meetings/{mid}/items", json={"number": 3, "title": "Bemanning"})
    decision = await client.post(
        f"/v1/agenda-items/{item.json()['id']}/decisions",
        json={"text": "KL ställer sig bakom handlingsplanen.", "decided_at": "2024-01-15"},
    )
    assert decision.status_code == 201, decision.text
    listed = await client.get(f"/v1/meetings/{mid}/decisions")
    assert [d["id"] for d in listed.json()["items"]] == [decision.json()["id"]]
    plan = {
        "title": "Handlingsplan bemanning",
        "org_unit": "RS",
        "period_start": "2024-01-15",
        "period_end": "2024-12-31",
    }
    unknown = await client.post(
        "/v1/action-plans", json={**plan, "decided_by_decision_id": str(uuid_.uuid4())}
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["loc"] == ["body", "decided_by_decision_id"]
    decided = await client.post(
        "/v1/action-plans", json={**plan, "decided_by_decision_id": decision.json()["id"]}
    )
    assert decided.status_code == 201, decided.text
    assert decided.json()["decided_by_decision_id"] == decision.json()["id"]
    # The old name is still accepted and answered, for one version.
    old = await client.post(
        "/v1/action-plans",
        json={**plan, "title": "Äldre klient", "decided_by": decision.json()["id"]},
    )
    assert old.status_code == 201, old.text
    assert old.json()["decided_by"] == old.json()["decided_by_decision_id"] == decision.json()["id"]
    changed = await client.patch(f"/v1/action-plans/{old.json()['id']}", json={"decided_by": None})
    assert changed.status_code == 200 and changed.json()["decided_by_decision_id"] is None
    numeric = await client.post(
        f"/v1/agenda-items/{item.json()['id']}/decisions",
        json={"text": "x", "decided_at": 1705276800},
    )
    assert numeric.status_code == 422  # a date is YYYY-MM-DD, not a Unix time


async def test_an_assignment_may_name_an_existing_action_only(client: httpx.AsyncClient) -> None:
    import uuid as uuid_

    await seed_tree(client)
    person = await client.post("/v1/people", json={"name": "Jonas Hansson", "initials": "JH"})
    body = await client.post(
        "/v1/bodies", json={"name": "KL", "short_name": "KL", "org_unit": "RS"}
    )
    meeting = await client.post(
        f"/v1/bodies/{body.json()['id']}/meetings",
        json={"starts_at": "2024-01-15T12:00:00Z", "ends_at": "2024-01-15T16:00:00Z"},
    )
    item = await client.post(
        f"/v1/meetings/{meeting.json()['id']}/items", json={"number": 1, "title": "Bemanning"}
    )
    plan = await client.post(
        "/v1/action-plans",
        json={
            "title": "Bemanning",
            "org_unit": "RS",
            "period_start": "2024-01-15",
            "period_end": "2024-12-31",
        },
    )
    action = await client.post(
        f"/v1/action-plans/{plan.json()['id']}/actions", json={"code": "1", "title": "Underlag"}
    )
    url = f"/v1/agenda-items/{item.json()['id']}/assignments"
    base = {"assignee_id": person.json()["id"], "text": "Ta fram underlag"}
    unknown = await client.post(url, json={**base, "action_id": str(uuid_.uuid4())})
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["loc"] == ["body", "action_id"]
    linked = await client.post(url, json={**base, "action_id": action.json()["id"]})
    assert linked.status_code == 201 and linked.json()["action_id"] == action.json()["id"]
