"""The resources a meeting tool needs beyond creating: one agenda item, a decision, deletion
before approval, reordering the agenda in one call, a body's meetings, the meeting view in one
call (`expand`), people named beside their ids, and the lists' sort, search and cursors."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from tests.api.test_meetings import ASSIGNMENT, DECISION, _kl_meeting, _meeting
from tests.conftest import make_client
from tests.factories import create_key
from tests.problems import assert_problem


def _etag(response: httpx.Response) -> dict[str, str]:
    return {"If-Match": response.headers["etag"]}


async def test_a_meeting_view_is_one_call(client: httpx.AsyncClient) -> None:
    kl = await _kl_meeting(client)
    mid = kl["meeting"]
    r = await client.get(f"/v1/meetings/{mid}", params={"expand": "items,decisions,assignments"})
    assert r.status_code == 200, r.text
    view = r.json()
    assert r.headers["etag"] == f'"{view["version"]}"'
    assert [i["number"] for i in view["items"]] == [1, 2]
    assert [p["initials"] for p in view["items"][1]["presenters"]] == ["JW", "JH"]
    assert view["items"][0]["presenters"][0]["name"] == "Lars-Åke Rudin"
    assert [d["text"] for d in view["decisions"]] == [DECISION]
    (assignment,) = view["assignments"]
    assert (assignment["text"], assignment["meeting_id"]) == (ASSIGNMENT, mid)
    assert assignment["assignee"] == {
        "id": kl["people"]["JH"],
        "name": "Johanna Holmberg",
        "initials": "JH",
    }
    absent = next(a for a in view["attendees"] if a["person"]["initials"] == "AP")
    assert (absent["present"], absent["person"]["name"]) == (False, "Anna Pettersson")

    # Only what was asked for; nothing without expand.
    items_only = (await client.get(f"/v1/meetings/{mid}", params={"expand": "items"})).json()
    assert len(items_only["items"]) == 2
    assert items_only["decisions"] is None and items_only["assignments"] is None
    plain = (await client.get(f"/v1/meetings/{mid}")).json()
    assert plain["items"] is None and plain["attendees"][0]["person"]["name"]

    bad = assert_problem(
        await client.get(f"/v1/meetings/{mid}", params={"expand": "items,minutes"}), 422
    )
    assert "'minutes'" in bad["detail"] and "items, decisions, assignments" in bad["detail"]
    assert bad["errors"][0]["loc"] == ["query", "expand"]

    # An assignment read on its own knows its meeting and names its assignee too.
    one = (await client.get(f"/v1/assignments/{kl['assignment']['id']}")).json()
    assert (one["meeting_id"], one["assignee"]["initials"]) == (mid, "JH")
    listed = (await client.get("/v1/assignments")).json()["items"]
    assert [(a["meeting_id"], a["assignee"]["name"]) for a in listed] == [(mid, "Johanna Holmberg")]


async def test_agenda_items_are_read_reordered_and_deleted(client: httpx.AsyncClient) -> None:
    kl = await _kl_meeting(client)
    mid = kl["meeting"]
    first, second = kl["items"]
    got = await client.get(f"/v1/agenda-items/{first['id']}")
    assert got.status_code == 200 and got.json()["title"] == "Inledning"
    assert got.headers["etag"] == f'"{got.json()["version"]}"'
    assert got.json()["presenters"][0]["initials"] == "LÅR"

    meeting = await client.get(f"/v1/meetings/{mid}")
    order = {"item_ids": [second["id"], first["id"]]}
    stale = await client.post(
        f"/v1/meetings/{mid}/items:reorder", json=order, headers={"If-Match": '"1"'}
    )
    assert_problem(stale, 412)
    for wrong, code in [
        ({"item_ids": [second["id"]]}, "not_the_agenda"),
        ({"item_ids": [second["id"], first["id"], first["id"]]}, "duplicate"),
        ({"item_ids": [second["id"], kl["decision"]["id"]]}, "not_the_agenda"),
    ]:
        problem = assert_problem(
            await client.post(f"/v1/meetings/{mid}/items:reorder", json=wrong), 422
        )
        assert problem["errors"][0]["code"] == code
    assert_problem(
        await client.post(f"/v1/meetings/{mid}/items:reorder", json={"item_ids": []}), 422
    )

    # Swapping two numbers in one call (by PATCH the first would collide with the second).
    swapped = await client.post(
        f"/v1/meetings/{mid}/items:reorder", json=order, headers=_etag(meeting)
    )
    assert swapped.status_code == 200, swapped.text
    assert [(i["id"], i["number"]) for i in swapped.json()] == [(second["id"], 1), (first["id"], 2)]
    listed = (await client.get(f"/v1/meetings/{mid}/items")).json()
    assert [i["id"] for i in listed["items"]] == [second["id"], first["id"]]
    assert listed["next_cursor"] is None
    assert (await client.get(f"/v1/meetings/{mid}")).json()["version"] > meeting.json()["version"]

    # Deleting the item that now holds the decision takes its decision and assignment along.
    holder = await client.get(f"/v1/agenda-items/{second['id']}")
    assert_problem(
        await client.delete(f"/v1/agenda-items/{second['id']}", headers={"If-Match": '"99"'}), 412
    )
    gone = await client.delete(f"/v1/agenda-items/{second['id']}", headers=_etag(holder))
    assert gone.status_code == 204, gone.text
    assert_problem(
        await client.get(f"/v1/agenda-items/{second['id']}"), 404, "agenda_item_not_found"
    )
    assert_problem(await client.get(f"/v1/decisions/{kl['decision']['id']}"), 404)
    assert_problem(await client.get(f"/v1/assignments/{kl['assignment']['id']}"), 404)
    assert (await client.get(f"/v1/meetings/{mid}/decisions")).json()["items"] == []
    mirror = (
        await client.get(
            f"/v1/meetings/{mid}/items", params={"updated_since": "2000-01-01T00:00:00Z"}
        )
    ).json()["items"]
    assert {"id": second["id"], "deleted": True} in [
        {"id": i["id"], "deleted": i.get("deleted", False)} for i in mirror
    ]
    decisions_mirror = (
        await client.get(
            f"/v1/meetings/{mid}/decisions", params={"updated_since": "2000-01-01T00:00:00Z"}
        )
    ).json()["items"]
    assert [(d["id"], d["deleted"]) for d in decisions_mirror] == [(kl["decision"]["id"], True)]
    # Its number is free again.
    again = await client.post(f"/v1/meetings/{mid}/items", json={"number": 1, "title": "Ny punkt"})
    assert again.status_code == 201, again.text
    assert again.headers["location"] == f"/v1/agenda-items/{again.json()['id']}"


async def test_decisions_are_read_changed_and_deleted_until_approval(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    kl = await _kl_meeting(client)
    mid, did = kl["meeting"], kl["decision"]["id"]
    got = await client.get(f"/v1/decisions/{did}")
    assert got.status_code == 200 and got.json()["text"] == DECISION
    assert got.headers["etag"] == '"1"'
    assert_problem(
        await client.patch(f"/v1/decisions/{did}", json={"text": "x"}, headers={"If-Match": '"7"'}),
        412,
    )
    assert_problem(await client.patch(f"/v1/decisions/{did}", json={"text": None}), 422)
    assert_problem(await client.patch(f"/v1/decisions/{did}", json={"txt": "x"}), 422)
    changed = await client.patch(
        f"/v1/decisions/{did}", json={"effective_date": "2024-02-01"}, headers=_etag(got)
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["effective_date"], changed.headers["etag"]) == ("2024-02-01", '"2"')

    extra = await client.post(
        f"/v1/agenda-items/{kl['items'][0]['id']}/decisions",
        json={"text": "Informationen noterades.", "decided_at": "2024-01-15"},
    )
    assert (
        extra.status_code == 201
        and extra.headers["location"] == f"/v1/decisions/{extra.json()['id']}"
    )
    assert (await client.delete(f"/v1/decisions/{extra.json()['id']}")).status_code == 204
    assert_problem(
        await client.get(f"/v1/decisions/{extra.json()['id']}"), 404, "decision_not_found"
    )

    version = (await client.get(f"/v1/meetings/{mid}")).json()["version"]
    approved = await client.post(
        f"/v1/meetings/{mid}:approve", headers={"If-Match": f'"{version}"'}
    )
    assert approved.status_code == 200, approved.text
    writer_token = await create_key(client, ["read", "meetings:write"])
    async with make_client(app, writer_token) as writer:
        assert_problem(
            await writer.patch(f"/v1/decisions/{did}", json={"text": "Ändrat"}),
            409,
            "meeting_locked",
        )
        for url in (
            f"/v1/decisions/{did}",
            f"/v1/agenda-items/{kl['items'][0]['id']}",
            f"/v1/assignments/{kl['assignment']['id']}",
            f"/v1/meetings/{mid}",
        ):
            assert_problem(await writer.delete(url), 409, "meeting_locked")
    # Admins too: approved minutes are corrected (with a reason), never deleted.
    assert_problem(await client.delete(f"/v1/decisions/{did}"), 409, "meeting_locked")
    no_reason = assert_problem(
        await client.patch(f"/v1/decisions/{did}", json={"text": "Rättat"}), 422
    )
    assert no_reason["errors"][0]["loc"] == ["body", "reason"]
    fixed = await client.patch(
        f"/v1/decisions/{did}", json={"text": "Rättat", "reason": "Felskrivet beslut"}
    )
    assert fixed.status_code == 200 and fixed.json()["text"] == "Rättat"
    # The reason is a body field on creates too (the X-Edit-Reason header still works).
    late = await client.post(
        f"/v1/agenda-items/{kl['items'][0]['id']}/assignments",
        json={"assignee_id": kl["people"]["TL"], "text": "Återkom", "reason": "Saknades"},
    )
    assert late.status_code == 201, late.text
    item = await client.post(
        f"/v1/meetings/{mid}/items", json={"number": 3, "title": "Övrigt", "reason": "Saknades"}
    )
    assert item.status_code == 201, item.text
    assert_problem(
        await client.post(f"/v1/meetings/{mid}/items", json={"number": 4, "title": "Övrigt"}), 422
    )
    # A body with approved minutes stays.
    assert_problem(
        await client.delete(f"/v1/bodies/{kl['body_id']}"), 409, "body_has_approved_minutes"
    )


async def test_deleting_assignments_meetings_and_bodies(client: httpx.AsyncClient) -> None:
    kl = await _kl_meeting(client)
    aid = kl["assignment"]["id"]
    assignment = await client.get(f"/v1/assignments/{aid}")
    assert_problem(await client.delete(f"/v1/assignments/{aid}", headers={"If-Match": '"9"'}), 412)
    assert (
        await client.delete(f"/v1/assignments/{aid}", headers=_etag(assignment))
    ).status_code == 204
    assert_problem(await client.get(f"/v1/assignments/{aid}"), 404, "assignment_not_found")
    assert (await client.get("/v1/assignments")).json()["items"] == []

    later = await _meeting(client, kl["body_id"], "2024-02-12")
    of_body = (
        await client.get(f"/v1/bodies/{kl['body_id']}/meetings", params={"sort": "starts_at"})
    ).json()
    assert [m["id"] for m in of_body["items"]] == [kl["meeting"], later["id"]]
    assert (await client.delete(f"/v1/meetings/{later['id']}")).status_code == 204
    assert_problem(await client.get(f"/v1/meetings/{later['id']}"), 404)
    of_body = (await client.get(f"/v1/bodies/{kl['body_id']}/meetings")).json()
    assert [m["id"] for m in of_body["items"]] == [kl["meeting"]]
    assert_problem(
        await client.get("/v1/bodies/00000000-0000-0000-0000-000000000000/meetings"), 404
    )

    body = await client.get(f"/v1/bodies/{kl['body_id']}")
    assert_problem(
        await client.delete(f"/v1/bodies/{kl['body_id']}", headers={"If-Match": '"0"'}), 412
    )
    assert (
        await client.delete(f"/v1/bodies/{kl['body_id']}", headers=_etag(body))
    ).status_code == 204
    assert_problem(await client.get(f"/v1/bodies/{kl['body_id']}"), 404)
    assert_problem(await client.get(f"/v1/meetings/{kl['meeting']}"), 404)
    assert_problem(await client.get(f"/v1/agenda-items/{kl['items'][0]['id']}"), 404)
    tombstones = (
        await client.get("/v1/meetings", params={"updated_since": "2000-01-01T00:00:00Z"})
    ).json()
    assert all(m["deleted"] for m in tombstones["items"]) and len(tombstones["items"]) == 2


async def test_other_units_get_404_for_the_new_operations(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    kl = await _kl_meeting(client)
    token = await create_key(client, ["read", "meetings:write"], org_unit="PV")
    async with make_client(app, token) as pv:
        for method, url in [
            ("GET", f"/v1/agenda-items/{kl['items'][0]['id']}"),
            ("DELETE", f"/v1/agenda-items/{kl['items'][0]['id']}"),
            ("GET", f"/v1/decisions/{kl['decision']['id']}"),
            ("DELETE", f"/v1/decisions/{kl['decision']['id']}"),
            ("DELETE", f"/v1/assignments/{kl['assignment']['id']}"),
            ("DELETE", f"/v1/meetings/{kl['meeting']}"),
            ("DELETE", f"/v1/bodies/{kl['body_id']}"),
            ("GET", f"/v1/bodies/{kl['body_id']}/meetings"),
            ("GET", f"/v1/meetings/{kl['meeting']}/items"),
        ]:
            assert_problem(await pv.request(method, url), 404)
        reorder = await pv.post(
            f"/v1/meetings/{kl['meeting']}/items:reorder",
            json={"item_ids": [i["id"] for i in kl["items"]]},
        )
        assert_problem(reorder, 404)
    # Nothing was deleted.
    assert (await client.get(f"/v1/decisions/{kl['decision']['id']}")).status_code == 200


async def _ids(client: httpx.AsyncClient, url: str, **params: Any) -> list[str]:
    """Every id of a list, page by page (limit 1, so the cursors are exercised)."""
    ids: list[str] = []
    cursor = None
    while True:
        query = {"limit": 1, **params} | ({"cursor": cursor} if cursor else {})
        r = await client.get(url, params=query)
        assert r.status_code == 200, r.text
        ids += [i["id"] for i in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return ids


async def test_lists_sort_search_and_refuse_foreign_cursors(client: httpx.AsyncClient) -> None:
    kl = await _kl_meeting(client)
    body = kl["body_id"]
    march = await _meeting(client, body, "2024-03-11", place="Regionhuset Malmö")
    february = await _meeting(client, body, "2024-02-12")
    calendar = [kl["meeting"], february["id"], march["id"]]
    assert await _ids(client, "/v1/meetings", sort="starts_at") == calendar
    assert await _ids(client, "/v1/meetings", sort="-starts_at") == calendar[::-1]
    assert await _ids(client, f"/v1/bodies/{body}/meetings", sort="starts_at") == calendar
    assert await _ids(client, "/v1/meetings", q="malmö") == [march["id"]]
    assert len(await _ids(client, "/v1/meetings", q="koncernledningen")) == 3
    assert await _ids(client, "/v1/meetings", q="%") == []

    bad = assert_problem(await client.get("/v1/meetings", params={"sort": "place"}), 422)
    assert "starts_at" in bad["errors"][0]["msg"] and "-starts_at" in bad["errors"][0]["msg"]
    both = assert_problem(
        await client.get(
            "/v1/meetings", params={"sort": "starts_at", "updated_since": "2024-01-01T00:00:00Z"}
        ),
        422,
    )
    assert both["errors"][0]["code"] == "sort_with_updated_since"

    # Assignments by due date, the one without a due date last.
    item = kl["items"][0]["id"]
    due_first = await client.post(
        f"/v1/agenda-items/{item}/assignments",
        json={
            "assignee_id": kl["people"]["TL"],
            "text": "Rapportera läget",
            "due_date": "2024-01-31",
        },
    )
    undated = await client.post(
        f"/v1/agenda-items/{item}/assignments",
        json={"assignee_id": kl["people"]["PLu"], "text": "Bevaka hyrstoppet"},
    )
    by_due = [due_first.json()["id"], kl["assignment"]["id"], undated.json()["id"]]
    assert await _ids(client, "/v1/assignments", sort="due_date") == by_due
    assert await _ids(client, "/v1/assignments", sort="-due_date") == by_due[::-1]
    assert await _ids(client, "/v1/assignments", q="BEVAKA") == [undated.json()["id"]]

    # A cursor from another list (or another order of this one) is a 400, not a wrong page.
    page = (await client.get("/v1/assignments", params={"limit": 1})).json()
    foreign = assert_problem(
        await client.get("/v1/meetings", params={"cursor": page["next_cursor"]}),
        400,
        "cursor_from_another_list",
    )
    assert foreign["errors"][0]["loc"] == ["query", "cursor"]
    sorted_page = (
        await client.get("/v1/meetings", params={"limit": 1, "sort": "starts_at"})
    ).json()
    assert_problem(
        await client.get("/v1/meetings", params={"cursor": sorted_page["next_cursor"]}),
        400,
        "cursor_from_another_list",
    )
    assert_problem(
        await client.get(
            "/v1/meetings", params={"cursor": sorted_page["next_cursor"], "sort": "-starts_at"}
        ),
        400,
    )
    assert_problem(await client.get("/v1/meetings", params={"cursor": "bm9wZQ"}), 422)
