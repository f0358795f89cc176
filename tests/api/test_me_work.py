"""`GET /v1/me/work` and the `assignee=me` / `responsible=me` filters, for a person signed in
at the development issuer (real HTTP), over seed 000's management team (KL)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.api.app import create_app
from services.core.config import Settings
from services.devissuer.app import DEV_ROLE_SCOPES, PEOPLE, DevIssuer
from tests.conftest import make_client
from tests.dev_issuer import running_issuer, token_from
from tests.factories import create_key, create_person, create_plan, created_body, seed_tree
from tests.problems import assert_problem


@pytest.fixture
def issuer() -> Iterator[DevIssuer]:
    with running_issuer() as running:
        yield running


@pytest.fixture
async def oidc_app(settings: Settings, issuer: DevIssuer) -> AsyncIterator[FastAPI]:
    application = create_app(
        settings.model_copy(
            update={
                "oidc_issuer": issuer.issuer,
                "oidc_audience": "puls",
                "oidc_role_scopes": DEV_ROLE_SCOPES,
                "oidc_unit_claim": "puls_unit",
            }
        )
    )
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def admin(oidc_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(oidc_app) as c:
        yield c


def day(offset: int) -> date:
    return datetime.now(UTC).date() + timedelta(days=offset)


async def meeting(
    admin: httpx.AsyncClient, body_id: str, offset: int, **extra: Any
) -> dict[str, Any]:
    on = day(offset).isoformat()
    return created_body(
        await admin.post(
            f"/v1/bodies/{body_id}/meetings",
            json={"starts_at": f"{on}T12:00:00Z", "ends_at": f"{on}T14:00:00Z", "place": "Sal 3"}
            | extra,
        )
    )


async def item(
    admin: httpx.AsyncClient, meeting_id: str, number: int, title: str, kind: str, *by: str
) -> dict[str, Any]:
    return created_body(
        await admin.post(
            f"/v1/meetings/{meeting_id}/items",
            json={"number": number, "title": title, "kind": kind, "presenter_ids": list(by)},
        )
    )


async def assign(admin: httpx.AsyncClient, item_id: str, person: str, due: int) -> str:
    body = {"assignee_id": person, "text": f"Uppdrag {due}", "due_date": day(due).isoformat()}
    return str(
        created_body(await admin.post(f"/v1/agenda-items/{item_id}/assignments", json=body))["id"]
    )


async def seed_work(admin: httpx.AsyncClient) -> dict[str, Any]:
    """JH's work in KL (at RS): a meeting in 3 days with a follow-up JH presents, one in 40
    days, one past; assignments due yesterday and in 10 days (and a closed one, and one of
    TL's); actions due in 5 days (and a finished one, one without a due date, one of TL's)."""
    await seed_tree(admin)
    jh = await create_person(admin, "Johanna Holmberg", initials="JH", subject=PEOPLE["JH"].subject)
    tl = await create_person(admin, "Thorbjörn Lindhqvist", initials="TL")
    body = created_body(
        await admin.post(
            "/v1/bodies",
            json={
                "name": "Koncernledningen",
                "short_name": "KL",
                "org_unit": "RS",
                "members": [
                    {"person_id": tl, "role": "chair"},
                    {"person_id": jh, "role": "member"},
                ],
            },
        )
    )
    soon = await meeting(admin, body["id"], 3)
    later = await meeting(admin, body["id"], 40)
    past = await meeting(admin, body["id"], -7)
    follow_up = await item(admin, soon["id"], 1, "Återrapport: bemanningsläget", "follow_up", jh)
    await item(admin, soon["id"], 2, "Ekonomi", "information", tl)
    earlier = await item(admin, past["id"], 1, "Hyrstopp", "decision", jh)
    overdue = await assign(admin, earlier["id"], jh, -1)
    open_ = await assign(admin, earlier["id"], jh, 10)
    closed = await assign(admin, earlier["id"], jh, 2)
    patched = await admin.patch(f"/v1/assignments/{closed}", json={"status": "closed"})
    assert patched.status_code == 200, patched.text
    await assign(admin, earlier["id"], tl, 1)

    plan = await create_plan(admin, org_unit="RS")
    actions = {}
    for code, person, due, status in [
        ("1.1", jh, 5, "in_progress"),
        ("1.2", jh, 6, "done"),
        ("1.3", jh, None, "not_started"),
        ("1.4", tl, 4, "not_started"),
    ]:
        row: dict[str, Any] = {"code": code, "title": f"Åtgärd {code}", "responsible_id": person}
        row |= {"status": status, "progress": 100 if status == "done" else 0}
        if due is not None:
            row["due_date"] = day(due).isoformat()
        actions[code] = created_body(
            await admin.post(f"/v1/action-plans/{plan['id']}/actions", json=row)
        )["id"]
    return {
        "jh": jh,
        "plan": plan["id"],
        "soon": soon["id"],
        "later": later["id"],
        "follow_up": follow_up["id"],
        "assignments": {"overdue": overdue, "open": open_, "closed": closed},
        "actions": actions,
    }


async def test_my_work_in_one_call_by_due_date(
    oidc_app: FastAPI, admin: httpx.AsyncClient, issuer: DevIssuer
) -> None:
    seeded = await seed_work(admin)
    async with make_client(oidc_app, token_from(issuer, "JH")) as jh:
        work = (await jh.get("/v1/me/work")).json()
        assert work["person_id"] == seeded["jh"] and work["truncated"] is False
        assert [(i["kind"], i["id"], i["due_date"]) for i in work["items"]] == [
            ("assignment", seeded["assignments"]["overdue"], day(-1).isoformat()),
            ("follow_up", seeded["follow_up"], day(3).isoformat()),
            ("meeting", seeded["soon"], day(3).isoformat()),
            ("action", seeded["actions"]["1.1"], day(5).isoformat()),
            ("assignment", seeded["assignments"]["open"], day(10).isoformat()),
        ]
        overdue, follow_up, soon, action, _ = work["items"]
        assert overdue["overdue"] is True and overdue["status"] == "open"
        assert follow_up["meeting_id"] == seeded["soon"]
        assert [(a["number"], a["title"]) for a in soon["agenda"]] == [
            (1, "Återrapport: bemanningsläget"),
            (2, "Ekonomi"),
        ]
        assert soon["title"] == "Koncernledningen" and soon["place"] == "Sal 3"
        assert action["plan_id"] == seeded["plan"] and action["title"] == "1.1 Åtgärd 1.1"

        # Further ahead, the meeting in 40 days shows up too.
        further = (await jh.get("/v1/me/work", params={"days": 60})).json()
        assert further["items"][-1]["id"] == seeded["later"]
        assert_problem(await jh.get("/v1/me/work", params={"days": 0}), 422)

    # Confined to another subtree (PV), KL's work at RS is not shown.
    confined = token_from(issuer, "JH", roles="puls-reader", unit="PV")
    async with make_client(oidc_app, confined) as jh:
        assert (await jh.get("/v1/me/work")).json()["items"] == []


async def test_me_filters_on_the_lists(
    oidc_app: FastAPI, admin: httpx.AsyncClient, issuer: DevIssuer
) -> None:
    seeded = await seed_work(admin)
    async with make_client(oidc_app, token_from(issuer, "JH")) as jh:
        mine = (await jh.get("/v1/assignments", params={"assignee": "me"})).json()["items"]
        assert {a["id"] for a in mine} == set(seeded["assignments"].values())
        actions = (await jh.get("/v1/actions", params={"responsible": "me"})).json()["items"]
        assert {a["id"] for a in actions} == {seeded["actions"][c] for c in ("1.1", "1.2", "1.3")}
        in_plan = await jh.get(
            f"/v1/action-plans/{seeded['plan']}/actions",
            params={"responsible": "me", "status": "in_progress"},
        )
        assert [a["id"] for a in in_plan.json()["items"]] == [seeded["actions"]["1.1"]]
        both = await jh.get(
            "/v1/assignments", params={"assignee": "me", "assignee_id": seeded["jh"]}
        )
        assert_problem(both, 422, "validation_failed")
        assert_problem(await jh.get("/v1/assignments", params={"assignee": "you"}), 422)


async def test_an_api_key_is_no_person(admin: httpx.AsyncClient, oidc_app: FastAPI) -> None:
    await seed_tree(admin)
    key = await create_key(admin, ["read"])
    async with make_client(oidc_app, key) as keyed:
        for path, params in [
            ("/v1/me/work", {}),
            ("/v1/assignments", {"assignee": "me"}),
            ("/v1/actions", {"responsible": "me"}),
        ]:
            problem = assert_problem(await keyed.get(path, params=params), 403, "not_a_person")
            assert "API key" in problem["detail"]
    # The bootstrap key neither.
    assert_problem(await admin.get("/v1/me/work"), 403, "not_a_person")


async def test_owed_follow_ups_are_listed_by_their_due_date(
    oidc_app: FastAPI, admin: httpx.AsyncClient, issuer: DevIssuer
) -> None:
    """A report-back owed on an action (its responsible's) or a plan (its owner's) is listed
    as `owed_follow_up` on its `follow_up_due_on`, among the rest; recording the follow-up
    settles it, or moves it to `next_follow_up_due_on`."""
    seeded = await seed_work(admin)
    plan, actions = seeded["plan"], seeded["actions"]
    for code, due in [("1.1", 2), ("1.2", -2), ("1.4", 1)]:
        patched = await admin.patch(
            f"/v1/actions/{actions[code]}", json={"follow_up_due_on": day(due).isoformat()}
        )
        assert patched.status_code == 200, patched.text
        assert patched.json()["follow_up_due_on"] == day(due).isoformat()
    owned = await admin.patch(
        f"/v1/action-plans/{plan}",
        json={"owner_id": seeded["jh"], "follow_up_due_on": day(8).isoformat()},
    )
    assert owned.json()["follow_up_due_on"] == day(8).isoformat(), owned.text

    async def owed() -> list[tuple[str, str, bool, str | None]]:
        async with make_client(oidc_app, token_from(issuer, "JH")) as jh:
            items = (await jh.get("/v1/me/work")).json()["items"]
        return [
            (i["id"], i["due_date"], i["overdue"], i["action_id"])
            for i in items
            if i["kind"] == "owed_follow_up"
        ]

    async with make_client(oidc_app, token_from(issuer, "JH")) as jh:
        kinds = [(i["kind"], i["due_date"]) for i in (await jh.get("/v1/me/work")).json()["items"]]
    # Sorted with the rest: TL's owed report-back (1.4) is not JH's; a done action (1.2)
    # still owes its final report.
    assert kinds == [
        ("owed_follow_up", day(-2).isoformat()),
        ("assignment", day(-1).isoformat()),
        ("owed_follow_up", day(2).isoformat()),
        ("follow_up", day(3).isoformat()),
        ("meeting", day(3).isoformat()),
        ("action", day(5).isoformat()),
        ("owed_follow_up", day(8).isoformat()),
        ("assignment", day(10).isoformat()),
    ]
    assert await owed() == [
        (actions["1.2"], day(-2).isoformat(), True, actions["1.2"]),
        (actions["1.1"], day(2).isoformat(), False, actions["1.1"]),
        (plan, day(8).isoformat(), False, None),
    ]

    # Reporting back on 1.1 with the next report due in 20 days moves it; on the plan
    # without a next date settles it.
    report = {"action_id": actions["1.1"], "reported_on": day(0).isoformat()}
    made = await admin.post(
        f"/v1/action-plans/{plan}/follow-ups",
        json=report | {"next_follow_up_due_on": day(20).isoformat()},
    )
    assert made.status_code == 201, made.text
    plan_report = await admin.post(
        f"/v1/action-plans/{plan}/follow-ups", json={"reported_on": day(0).isoformat()}
    )
    assert plan_report.status_code == 201, plan_report.text
    assert (await admin.get(f"/v1/action-plans/{plan}")).json()["follow_up_due_on"] is None
    assert (await admin.get(f"/v1/actions/{actions['1.1']}")).json()["follow_up_due_on"] == day(
        20
    ).isoformat()
    assert await owed() == [
        (actions["1.2"], day(-2).isoformat(), True, actions["1.2"]),
        (actions["1.1"], day(20).isoformat(), False, actions["1.1"]),
    ]

    # The next report-back must come after this one.
    same_day = await admin.post(
        f"/v1/action-plans/{plan}/follow-ups",
        json=report | {"next_follow_up_due_on": day(0).isoformat()},
    )
    body = assert_problem(same_day, 422)
    assert body["errors"][0]["code"] == "next_follow_up_not_after_report"
