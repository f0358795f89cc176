"""The minutes of a meeting shaped like seed 000 (KL, 15 January 2024) and what `prepare`
proposes for the next one: assignments due by then and actions that will be overdue."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.meetings import (
    agenda_service,
    assignment_service,
    body_service,
    meeting_service,
    minutes_service,
)
from services.core.meetings import minutes as minutes_render
from services.core.meetings.schemas import (
    AgendaItemCreate,
    AssignmentCreate,
    AssignmentStatus,
    AssignmentUpdate,
    Attendee,
    AttendeeRole,
    BodyCreate,
    DecisionCreate,
    ItemKind,
    MeetingUpdate,
)
from tests.core.meetings.conftest import hold_meeting, meeting_on, person
from tests.factories import ADMIN

pytestmark = pytest.mark.usefixtures("region")

DECISION = "KL ställer sig bakom hyrstopp för sjuksköterskor inom Region Skåne."
ASSIGNMENT = "Ta fram underlag som visar var ssk anställts."


async def test_the_minutes_of_seed_000s_kl_meeting(session: AsyncSession) -> None:
    people = {
        initials: await person(session, name, initials)
        for name, initials in [
            ("Lars-Åke Rudin", "LÅR"),
            ("Thorbjörn Lindhqvist", "TL"),
            ("Johanna Holmberg", "JH"),
            ("Anna Pettersson", "AP"),
            ("Jörgen Wenner", "JW"),
        ]
    }
    body = await body_service.create_body(
        session, ADMIN, BodyCreate(name="Koncernledningen", short_name="KL", org_unit="RS")
    )
    # Tid: kl 13.00-17.00 (CET), Plats: Teams.
    meeting = await meeting_on(
        session,
        body.id,
        "2024-01-15T12:00:00+00:00",
        "2024-01-15T16:00:00+00:00",
        place="Teams",
    )
    opening = await agenda_service.create_item(
        session,
        ADMIN,
        meeting.id,
        AgendaItemCreate(number=1, title="Inledning", presenter_ids=[people["LÅR"]]),
    )
    change = await agenda_service.create_item(
        session,
        ADMIN,
        meeting.id,
        AgendaItemCreate(
            number=2,
            title="Koncernledningens arbete med omställning",
            kind=ItemKind.decision,
            presenter_ids=[people["JW"], people["JH"]],
        ),
    )
    attendees = [
        Attendee(person_id=people["LÅR"], role=AttendeeRole.chair),
        Attendee(person_id=people["TL"], role=AttendeeRole.member),
        Attendee(person_id=people["JH"], role=AttendeeRole.member),
        Attendee(person_id=people["AP"], role=AttendeeRole.secretary, present=False),
        # "Jörgen Wenner (JW), Bitr Hälso- och sjukvårdsdirektör medverkade" under item 2.
        Attendee(person_id=people["JW"], role=AttendeeRole.co_opted, co_opted_item_ids=[change.id]),
    ]
    await meeting_service.update_meeting(
        session, ADMIN, meeting.id, MeetingUpdate(attendees=attendees), if_match=None
    )
    await agenda_service.create_decision(
        session,
        ADMIN,
        change.id,
        DecisionCreate(
            text=DECISION, decided_at=date(2024, 1, 15), effective_date=date(2024, 1, 15)
        ),
    )
    await assignment_service.create_assignment(
        session,
        ADMIN,
        change.id,
        AssignmentCreate(assignee_id=people["JH"], text=ASSIGNMENT, due_date=date(2024, 2, 12)),
    )

    data = await minutes_service.minutes(session, ADMIN, meeting.id, time_zone="Europe/Stockholm")

    assert data["body"]["short_name"] == "KL" and data["place"] == "Teams"
    assert (data["starts_at"], data["ends_at"]) == (
        "2024-01-15T12:00:00+00:00",
        "2024-01-15T16:00:00+00:00",
    )
    by_initials = {a["initials"]: a for a in data["attendees"]}
    assert by_initials["JW"]["co_opted_items"] == [2]
    assert by_initials["AP"]["present"] is False
    assert [i["number"] for i in data["items"]] == [1, 2]
    assert data["items"][0]["title"] == opening.title
    assert [p["initials"] for p in data["items"][1]["presenters"]] == ["JW", "JH"]
    assert [d["text"] for d in data["items"][1]["decisions"]] == [DECISION]
    assert data["items"][1]["decisions"][0]["effective_date"] == "2024-01-15"
    (assigned,) = data["items"][1]["assignments"]
    assert (assigned["assignee"]["initials"], assigned["due_date"]) == ("JH", "2024-02-12")
    assert data["items"][0]["decisions"] == data["items"][0]["assignments"] == []

    text = minutes_render.markdown(data)
    # Seed 000 prints "Tid: kl 13.00-17.00": the region's local time (CET in January).
    assert "- **Tid:** 15 januari 2024, kl. 13.00–17.00" in text and "UTC" not in text
    assert "<strong>Tid:</strong> 15 januari 2024, kl. 13.00–17.00" in minutes_render.html(data)
    assert "### 1. Inledning (LÅR)" in text and "adjungerad §2" in text
    assert f"JH fick i uppdrag att: {ASSIGNMENT} (senast 2024-02-12)" in text


async def test_prepare_proposes_the_assignments_due_by_the_meeting(session: AsyncSession) -> None:
    held = await hold_meeting(session, due=date(2024, 2, 12))
    body_id = held.body.id
    next_kl = await meeting_on(
        session, body_id, "2024-02-12T12:00:00+00:00", "2024-02-12T16:00:00+00:00"
    )
    earlier = await meeting_on(
        session, body_id, "2024-01-22T12:00:00+00:00", "2024-01-22T16:00:00+00:00"
    )

    proposals = (await minutes_service.prepare(session, ADMIN, next_kl.id)).proposals

    assert [(p.source, p.assignment_id, p.kind) for p in proposals] == [
        ("open_assignments", held.assignment.id, ItemKind.follow_up)
    ]
    assert proposals[0].title == "Återrapport: Ta fram underlag."
    assert (await minutes_service.prepare(session, ADMIN, earlier.id)).proposals == []
    await assignment_service.update_assignment(
        session,
        ADMIN,
        held.assignment.id,
        AssignmentUpdate(status=AssignmentStatus.reported),
        if_match=None,
    )
    assert (await minutes_service.prepare(session, ADMIN, next_kl.id)).proposals == []


async def _plan_with_actions(client: httpx.AsyncClient, unit: str, due: list[str]) -> list[str]:
    # Plans are set up through the API: the plans domain's services are not meetings' to call
    # beyond the three reads it proposes and links from.
    plan = await client.post(
        "/v1/action-plans",
        json={
            "title": f"Sjukfrånvaro {unit}",
            "org_unit": unit,
            "period_start": "2024-01-01",
            "period_end": "2024-12-31",
            # Seed 000: decided only with an economic calculation.
            "no_cost_impact": True,
            "no_cost_impact_reason": "Inom befintlig ram.",
        },
    )
    assert plan.status_code == 201, plan.text
    plan_id = plan.json()["id"]
    decided = await client.patch(f"/v1/action-plans/{plan_id}", json={"status": "decided"})
    assert decided.status_code == 200, decided.text
    ids = []
    for n, day in enumerate(due, start=1):
        action = await client.post(
            f"/v1/action-plans/{plan_id}/actions",
            json={"code": f"1.{n}", "title": f"Åtgärd {n}", "due_date": day},
        )
        assert action.status_code == 201, action.text
        ids.append(action.json()["id"])
    return ids


async def test_prepare_proposes_the_actions_overdue_in_the_bodys_subtree(
    session: AsyncSession, client: httpx.AsyncClient
) -> None:
    late, _not_yet = await _plan_with_actions(client, "SUS-AKUT", ["2024-03-31", "2024-05-31"])
    await _plan_with_actions(client, "PV-MALMO", ["2024-03-31"])  # outside the body's subtree
    body = await body_service.create_body(
        session, ADMIN, BodyCreate(name="Ledningsgrupp SUS", org_unit="SUS")
    )
    meeting = await meeting_on(
        session, body.id, "2024-04-15T08:00:00+00:00", "2024-04-15T09:00:00+00:00"
    )

    proposals = (await minutes_service.prepare(session, ADMIN, meeting.id)).proposals

    assert [(p.source, [link.id for link in p.links]) for p in proposals] == [
        ("overdue_actions", [late])
    ]
    assert proposals[0].title == (
        "Försenad åtgärd 1.1 Åtgärd 1 (Sjukfrånvaro SUS-AKUT, senast 2024-03-31)"
    )


def test_markdown_minutes_escape_user_text() -> None:
    """A title, note, decision or name typed into Puls renders as that text in a Markdown
    viewer: no link, image, HTML, heading, list or emphasis of its own."""
    hostile = (
        "[Klicka](https://evil.test) ![x](https://evil.test/p.png) <img src=x onerror=alert(1)>"
    )
    data = {
        "body": {"name": "KL **fet**", "short_name": "_KL_"},
        "starts_at": "2024-01-15T12:00:00+00:00",
        "ends_at": "2024-01-15T16:00:00+00:00",
        "time_zone": "Europe/Stockholm",
        "place": "<script>alert(1)</script>",
        "attendees": [
            {"id": "p1", "name": "Eva `kod`", "initials": "EV", "role": "member", "present": True}
        ],
        "items": [
            {
                "number": 1,
                "title": hostile,
                "presenters": [],
                "notes": "# Inte en rubrik\n- inte en lista\n1. inte numrerad\n===",
                "decisions": [{"text": "Beslut | tabell ~~struken~~", "effective_date": None}],
                "assignments": [
                    {
                        "assignee": {"id": "p1", "initials": "EV"},
                        "text": "*Gör* det",
                        "due_date": None,
                    }
                ],
            }
        ],
    }
    text = minutes_render.markdown(data)
    assert "# Mötesanteckningar: KL \\*\\*fet\\*\\* (\\_KL\\_)" in text
    assert "\\<script\\>alert(1)\\</script\\>" in text
    assert "\\[Klicka\\](https://evil.test) !\\[x\\]" in text
    assert "\\<img src=x onerror=alert(1)\\>" in text
    assert "\\# Inte en rubrik\n\\- inte en lista\n1\\. inte numrerad\n\\===" in text
    assert "Beslut \\| tabell \\~\\~struken\\~\\~" in text
    assert "EV fick i uppdrag att: \\*Gör\\* det" in text
    assert "Eva \\`kod\\`" in text
    # The structure Puls writes itself is untouched.
    assert "### 1. " in text and "- **Beslut:** " in text
    for raw in ("[Klicka](", "**fet**", "(_KL_)"):
        assert raw not in text


def test_minutes_print_summer_time_and_a_meeting_past_midnight_in_local_time() -> None:
    base: dict[str, Any] = {"body": {"name": "KL", "short_name": None}, "place": None}
    summer = {
        **base,
        "starts_at": "2024-06-10T11:00:00+00:00",
        "ends_at": "2024-06-10T15:00:00+00:00",
        "time_zone": "Europe/Stockholm",
        "attendees": [],
        "items": [],
    }
    assert "**Tid:** 10 juni 2024, kl. 13.00–17.00" in minutes_render.markdown(summer)
    late = {**summer, "starts_at": "2024-06-10T20:00:00+00:00", "ends_at": "2024-06-10T23:30:00Z"}
    assert "10 juni 2024 kl. 22.00 – 11 juni 2024 kl. 01.30" in minutes_render.markdown(late)
