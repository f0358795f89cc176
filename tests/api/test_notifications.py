"""`/v1/me/subscriptions` and calendar feeds: a key that names no person is refused with a
clear problem; a person's subscriptions change and follow only what they may see; a feed is
iCalendar in local time with stable UIDs, SEQUENCE on change and STATUS:CANCELLED, reachable
only while its token is not revoked; and every class of bad input."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import httpx
import icalendar
import pytest
from fastapi import FastAPI

from services.core.config import Settings
from services.core.db import transaction
from services.core.notifications import preference_service
from services.core.notifications.errors import FollowNotFound
from services.core.notifications.schemas import ItemType, MailKind, SubscriptionsUpdate
from services.core.plans.errors import ActionNotFound, PlanNotFound
from services.core.principal import Principal, Scope
from tests.conftest import make_client
from tests.factories import (
    ADMIN,
    body_with_meeting,
    confined_to,
    create_key,
    plan_with_actions,
    seed_tree,
)
from tests.problems import assert_problem


async def test_subscriptions_need_a_person_not_an_api_key(
    client: httpx.AsyncClient, anon: httpx.AsyncClient
) -> None:
    ids = await plan_with_actions(client)
    item = f"/v1/me/subscriptions/items/action/{ids['jh_action']}"
    for response in [
        await client.get("/v1/me/subscriptions"),
        await client.patch("/v1/me/subscriptions", json={"language": "en"}),
        await client.put(item, json={"following": True}),
        await client.delete(item),
    ]:
        body = assert_problem(response, 403, "not_a_person")
        assert "OIDC" in body["detail"]
    # An item the caller cannot see is 404 first, as for a direct read.
    unknown = f"/v1/me/subscriptions/items/action/{uuid.uuid4()}"
    assert_problem(await client.put(unknown, json={"following": True}), 404, "action_not_found")
    assert_problem(
        await client.put(f"/v1/me/subscriptions/items/plan/{uuid.uuid4()}", json={}), 422
    )
    for bad in ({"language": "de"}, {"kinds": {"newsletter": False}}, {"digest": False}):
        assert_problem(await client.patch("/v1/me/subscriptions", json=bad), 422)
    assert_problem(await client.put(item, json={"following": "maybe"}), 422)
    assert_problem(await anon.get("/v1/me/subscriptions"), 401)


def _as(person_id: str, principal: Principal = ADMIN) -> Principal:
    return dataclasses.replace(principal, person_id=uuid.UUID(person_id))


async def test_a_person_sets_kinds_language_and_follows(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    ids = await plan_with_actions(client)
    me = _as(ids["jh"])
    async with transaction(app.state.sessionmaker) as session:
        start = await preference_service.read(session, me, settings)
        assert start.language == "sv"
        assert all(start.kinds.values()) and start.items == []

        changed = await preference_service.update(
            session, me, settings, SubscriptionsUpdate(kinds={MailKind.digest: False})
        )
        assert changed.kinds[MailKind.digest] is False and changed.kinds[MailKind.reminder]
        changed = await preference_service.update(
            session, me, settings, SubscriptionsUpdate(language="en")
        )
        assert changed.language == "en" and changed.kinds[MailKind.digest] is False

        action = uuid.UUID(ids["ap_action"])
        followed = await preference_service.follow(
            session, me, settings, ItemType.action, action, True
        )
        assert [(f.item_type, f.item_id, f.following) for f in followed.items] == [
            (ItemType.action, action, True)
        ]
        unfollowed = await preference_service.follow(
            session, me, settings, ItemType.action, action, False
        )
        assert unfollowed.items[0].following is False
        await preference_service.forget(session, me, ItemType.action, action)
        assert (await preference_service.read(session, me, settings)).items == []
        with pytest.raises(FollowNotFound):
            await preference_service.forget(session, me, ItemType.action, action)
        with pytest.raises(ActionNotFound):
            await preference_service.follow(
                session, me, settings, ItemType.action, uuid.uuid4(), True
            )
        # A plan, for the report-backs owed on it.
        plan = uuid.UUID(ids["plan"])
        followed = await preference_service.follow(session, me, settings, ItemType.plan, plan, True)
        assert [(f.item_type, f.item_id) for f in followed.items] == [(ItemType.plan, plan)]


async def test_one_follows_only_what_one_sees(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    ids = await plan_with_actions(client)  # the plan is RJH's
    async with transaction(app.state.sessionmaker) as session:
        # JH (of no unit) is seen from Region Skåne's subtree; RJH's action is not.
        skane = _as(ids["jh"], await confined_to(session, "RS"))
        with pytest.raises(ActionNotFound):
            await preference_service.follow(
                session, skane, settings, ItemType.action, uuid.UUID(ids["jh_action"]), True
            )
        with pytest.raises(PlanNotFound):
            await preference_service.follow(
                session, skane, settings, ItemType.plan, uuid.UUID(ids["plan"]), True
            )


def _events(body: bytes) -> list[Any]:
    calendar = icalendar.Calendar.from_ical(body)
    return list(calendar.walk("VEVENT"))


async def test_a_body_feed_follows_its_meetings_until_revoked(
    app: FastAPI, client: httpx.AsyncClient, anon: httpx.AsyncClient
) -> None:
    ids = await plan_with_actions(client)
    made = await body_with_meeting(client, ids)
    meeting_id = made["meeting"]["id"]
    headers = {"Idempotency-Key": "feed-1"}
    created = await client.post(
        "/v1/calendar-feeds", json={"body_id": made["body"]["id"]}, headers=headers
    )
    assert created.status_code == 201, created.text
    feed = created.json()
    assert feed["token"].startswith("cal_") and feed["kind"] == "body"
    assert feed["url"] == f"http://puls.test/calendar/{feed['token']}.ics"
    replay = await client.post(
        "/v1/calendar-feeds", json={"body_id": made["body"]["id"]}, headers=headers
    )
    assert replay.json()["token"] is None and replay.json()["url"] is None

    path = f"/calendar/{feed['token']}.ics"
    answer = await anon.get(path)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/calendar; charset=utf-8"
    assert b"BEGIN:VTIMEZONE\r\nTZID:Europe/Stockholm" in answer.content
    [event] = _events(answer.content)
    assert str(event["uid"]) == f"meeting-{meeting_id}@puls"
    # SEQUENCE counts the meeting's changes (adding the agenda item was one).
    version = (await client.get(f"/v1/meetings/{meeting_id}")).json()["version"]
    assert event["sequence"] == version - 1 and str(event["status"]) == "CONFIRMED"
    assert b"DTSTART;TZID=Europe/Stockholm:20261215T090000" in answer.content
    assert "§1 Hyrstopp: dispenser" in str(event["description"])
    assert str(event["location"]) == "Teams"

    moved = await client.patch(
        f"/v1/meetings/{meeting_id}",
        json={"starts_at": "2026-12-15T09:00:00Z", "ends_at": "2026-12-15T13:00:00Z"},
        headers={"If-Match": f'"{version}"'},
    )
    assert moved.status_code == 200, moved.text
    [event] = _events((await anon.get(path)).content)
    assert str(event["uid"]) == f"meeting-{meeting_id}@puls"
    assert event["sequence"] == version
    cancelled = await client.patch(
        f"/v1/meetings/{meeting_id}",
        json={"status": "cancelled"},
        headers={"If-Match": f'"{moved.json()["version"]}"'},
    )
    assert cancelled.status_code == 200, cancelled.text
    [event] = _events((await anon.get(path)).content)
    assert event["sequence"] == version + 1 and str(event["status"]) == "CANCELLED"

    listed = (await client.get("/v1/calendar-feeds")).json()
    assert [f["id"] for f in listed] == [feed["id"]]
    assert "token" not in listed[0]
    assert (await client.delete(f"/v1/calendar-feeds/{feed['id']}")).status_code == 204
    assert_problem(await anon.get(path), 404, "calendar_feed_not_found")
    assert_problem(await client.delete(f"/v1/calendar-feeds/{feed['id']}"), 404)
    assert (await client.get("/v1/calendar-feeds")).json() == []


async def test_a_person_feed_has_their_meetings_and_due_dates(
    client: httpx.AsyncClient, anon: httpx.AsyncClient
) -> None:
    ids = await plan_with_actions(client)
    made = await body_with_meeting(client, ids)
    # The report-back JH owes on her action is a due date of hers too.
    owed = await client.patch(
        f"/v1/actions/{ids['jh_action']}", json={"follow_up_due_on": "2026-12-20"}
    )
    assert owed.status_code == 200, owed.text
    feed = (await client.post("/v1/calendar-feeds", json={"person_id": ids["jh"]})).json()
    answer = await anon.get(f"/calendar/{feed['token']}.ics")
    assert answer.status_code == 200, answer.text
    events = {str(e["uid"]): e for e in _events(answer.content)}
    assert set(events) == {
        f"meeting-{made['meeting']['id']}@puls",
        f"action-{ids['jh_action']}-due@puls",
        f"report_back-{ids['jh_action']}-due@puls",
    }
    report_back = events[f"report_back-{ids['jh_action']}-due@puls"]
    assert b"DTSTART;VALUE=DATE:20261220" in answer.content
    assert str(report_back["summary"]).startswith("Återrapportering: 1.1 Hyrstopp")
    due = events[f"action-{ids['jh_action']}-due@puls"]
    assert b"DTSTART;VALUE=DATE:20261210" in answer.content
    assert str(due["summary"]).startswith("Åtgärd: 1.1 Hyrstopp")


async def test_calendar_feed_bad_input(
    app: FastAPI, client: httpx.AsyncClient, anon: httpx.AsyncClient
) -> None:
    ids = await plan_with_actions(client)
    made = await body_with_meeting(client, ids)
    both = {"body_id": made["body"]["id"], "person_id": ids["jh"]}
    assert_problem(await client.post("/v1/calendar-feeds", json=both), 422)
    assert_problem(await client.post("/v1/calendar-feeds", json={}), 422)
    assert_problem(await client.post("/v1/calendar-feeds", json={"body_id": "not-a-uuid"}), 422)
    assert_problem(
        await client.post("/v1/calendar-feeds", json={"body_id": str(uuid.uuid4())}), 404
    )
    assert_problem(
        await client.post("/v1/calendar-feeds", json={"person_id": str(uuid.uuid4())}), 404
    )
    assert_problem(await anon.post("/v1/calendar-feeds", json={"body_id": made["body"]["id"]}), 401)
    await seed_tree(client)
    reader = await create_key(client, [Scope.read.value])
    async with make_client(app, reader) as as_reader:
        # A key is no person: it may not create a person's feed, only a body's.
        assert_problem(
            await as_reader.post("/v1/calendar-feeds", json={"person_id": ids["jh"]}),
            403,
            "calendar_feed_forbidden",
        )
        mine = await as_reader.post("/v1/calendar-feeds", json={"body_id": made["body"]["id"]})
        assert mine.status_code == 201, mine.text
        admins = await client.post("/v1/calendar-feeds", json={"body_id": made["body"]["id"]})
        # Someone else's feed is not this key's to see or revoke.
        assert [f["id"] for f in (await as_reader.get("/v1/calendar-feeds")).json()] == [
            mine.json()["id"]
        ]
        assert_problem(
            await as_reader.delete(f"/v1/calendar-feeds/{admins.json()['id']}"),
            404,
            "calendar_feed_not_found",
        )
    assert_problem(await anon.get("/calendar/cal_nothing-here.ics"), 404, "calendar_feed_not_found")
    assert_problem(await client.delete(f"/v1/calendar-feeds/{uuid.uuid4()}"), 404)
