"""Meetings in the region's local time through the API: a schedule's 13:00 is local and the
meetings' `starts_at` stays an RFC 3339 UTC instant; the minutes print "kl. 13.00–17.00" as
seed 000 does; a schedule that does not parse or does not fit its frequency is a 422 naming the
field."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.factories import seed_tree
from tests.problems import assert_problem


async def _body(client: httpx.AsyncClient, schedule: dict[str, Any] | None) -> httpx.Response:
    return await client.post(
        "/v1/bodies",
        json={"name": "Stabsledning", "org_unit": "RS", "schedule": schedule},
    )


async def test_a_biweekly_schedule_at_13_local_time(client: httpx.AsyncClient) -> None:
    await seed_tree(client)
    # Seed 001: "Stabsledning varannan vecka (2 timmar)", here Mondays at 13:00 from 18 March
    # 2024, across the change to summer time on 31 March.
    body = await _body(
        client,
        {
            "frequency": "biweekly",
            "weekday": 0,
            "time": "13:00",
            "duration_minutes": 120,
            "starts_on": "2024-03-18",
        },
    )
    assert body.status_code == 201, body.text
    assert body.json()["schedule"]["week_of_month"] is None
    body_id = body.json()["id"]

    made = await client.post(
        f"/v1/bodies/{body_id}/meetings:generate", params={"until": "2024-04-28"}
    )
    assert made.json() == {"created": 3}
    listed = (await client.get("/v1/meetings", params={"body_id": body_id})).json()["items"]
    assert sorted((m["starts_at"], m["ends_at"]) for m in listed) == [
        ("2024-03-18T12:00:00Z", "2024-03-18T14:00:00Z"),
        ("2024-04-01T11:00:00Z", "2024-04-01T13:00:00Z"),
        ("2024-04-15T11:00:00Z", "2024-04-15T13:00:00Z"),
    ]

    summer = next(m for m in listed if m["starts_at"].startswith("2024-04-01"))
    md = await client.get(
        f"/v1/meetings/{summer['id']}/minutes", headers={"Accept": "text/markdown"}
    )
    assert "**Tid:** 1 april 2024, kl. 13.00–15.00" in md.text
    js = (await client.get(f"/v1/meetings/{summer['id']}/minutes")).json()
    assert (js["starts_at"], js["time_zone"]) == ("2024-04-01T11:00:00+00:00", "Europe/Stockholm")


async def test_a_meeting_given_with_a_local_offset_prints_its_local_time(
    client: httpx.AsyncClient,
) -> None:
    """Seed 000's KL, 15 January 2024, kl 13.00-17.00, sent with its +01:00 offset."""
    await seed_tree(client)
    body_id = (await _body(client, None)).json()["id"]
    meeting = await client.post(
        f"/v1/bodies/{body_id}/meetings",
        json={"starts_at": "2024-01-15T13:00:00+01:00", "ends_at": "2024-01-15T17:00:00+01:00"},
    )
    assert meeting.status_code == 201, meeting.text
    assert meeting.json()["starts_at"] == "2024-01-15T12:00:00Z"
    mid = meeting.json()["id"]
    html = await client.get(f"/v1/meetings/{mid}/minutes", headers={"Accept": "text/html"})
    assert "<strong>Tid:</strong> 15 januari 2024, kl. 13.00–17.00" in html.text


@pytest.mark.parametrize(
    ("schedule", "loc"),
    [
        ({"frequency": "fortnightly"}, ["body", "schedule", "frequency"]),
        ({"frequency": "weekly", "time": "13.00"}, ["body", "schedule", "time"]),
        ({"frequency": "weekly", "time": "24:00"}, ["body", "schedule", "time"]),
        ({"frequency": "monthly", "week_of_month": 5}, ["body", "schedule", "week_of_month"]),
        ({"frequency": "monthly", "week_of_month": 0}, ["body", "schedule", "week_of_month"]),
        ({"frequency": "weekly", "week_of_month": 1}, ["body", "schedule", "week_of_month"]),
        ({"frequency": "monthly", "weekday": 2}, ["body", "schedule", "weekday"]),
        ({"frequency": "biweekly", "day": 15}, ["body", "schedule", "day"]),
        ({"frequency": "weekly", "weekday": 7}, ["body", "schedule", "weekday"]),
    ],
)
async def test_a_bad_schedule_is_a_422_naming_the_field(
    client: httpx.AsyncClient, schedule: dict[str, Any], loc: list[str]
) -> None:
    await seed_tree(client)
    refused = await _body(client, {**schedule, "starts_on": "2024-01-01"})
    problem = assert_problem(refused, 422)
    assert [e["loc"][: len(loc)] for e in problem["errors"]] == [loc]

    # The same through PATCH on a body that exists.
    body_id = (await _body(client, None)).json()["id"]
    patched = await client.patch(
        f"/v1/bodies/{body_id}", json={"schedule": {**schedule, "starts_on": "2024-01-01"}}
    )
    assert [e["loc"][: len(loc)] for e in assert_problem(patched, 422)["errors"]] == [loc]


async def test_a_meeting_time_without_an_offset_is_refused(client: httpx.AsyncClient) -> None:
    """A time alone could be UTC or local time; the API takes instants only."""
    await seed_tree(client)
    body_id = (await _body(client, None)).json()["id"]
    naive = await client.post(
        f"/v1/bodies/{body_id}/meetings",
        json={"starts_at": "2024-01-15T13:00:00", "ends_at": "2024-01-15T17:00:00+01:00"},
    )
    assert [e["loc"] for e in assert_problem(naive, 422)["errors"]] == [["body", "starts_at"]]
