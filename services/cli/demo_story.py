"""The demo region's story beyond its time data: targets, an action plan shaped like seed 003's
staffing project, and a management team with meetings, decisions and assignments as in seed
000, all sent through the API as a frontend or an integrator would."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx

from services.cli.demo import unit_code

PEOPLE = [
    ("Camilla Simonsson", "CS"),
    ("Anna Granevärn", "AG"),
    ("Annika Jonsson", "AJ"),
    ("Ingela Eckerdal", "IE"),
    ("Johan Holm", "JH"),
    ("Lena Åkesson", "LÅ"),
]
PACKAGES = [
    ("Nära vård i samverkan", "AG"),
    ("Ny struktur för vårdplatser", "IE"),
    ("Se över läkarstrukturen", "AJ"),
    ("Inhyrda läkare i primärvården", "AG"),
    ("Bemanningsplanering och schemaläggning", "CS"),
    ("Administrativ samordning", "JH"),
]
AREAS = ["staffing_plan", "scheduling", "recruitment", "retention", "leadership", "communication"]
# Seed 003's four remaining activities; the other actions are done.
REMAINING = [
    "Ta fram bemanningsplan med måltal för antal AT, ST",
    "Öka antalet ST-läkare och sjuksköterskor under specialistutbildning",
    "Definition av oberoende för enheten",
    "Registrering av hyrpersonal i Heroma",
]
HIRE_STOP = "Inga inhyrda sjuksköterskor i verksamheten från och med den 15 januari."
DAILY_REST = "Dygnsvilan måste hållas enligt läkarnas nya arbetstidsregler."


class StoryError(RuntimeError):
    """A step of the story was refused; the message names the step and Puls's answer."""


def _created(response: httpx.Response, step: str) -> dict[str, Any]:
    if response.status_code not in (200, 201):
        raise StoryError(f"{step}: {response.status_code} {response.text[:300]}")
    body: dict[str, Any] = response.json()
    return body


async def tell(client: httpx.AsyncClient, *, first_month: date, today: date) -> dict[str, int]:
    """Targets, plan and meetings for the region `puls demo generate` wrote (root REG, units
    U001…), with the time data starting at `first_month`. Returns what was created."""
    valid_from = first_month.strftime("%Y-%m")
    targets = [
        ("sick_leave_pct", "REG", "6"),
        ("sick_leave_pct", unit_code(1), "5"),
        ("agency_hours_share_pct", "REG", "3"),
        ("overtime_hours", unit_code(2), "400"),
    ]
    for kpi, unit, value in targets:
        body = {
            "kpi": kpi,
            "org_unit": unit,
            "comparator": "lte",
            "bound": "absolute",
            "value": value,
            "valid_from": valid_from,
        }
        _created(await client.post("/v1/kpi-targets", json=body), f"target {kpi} {unit}")

    people = {}
    for name, initials in PEOPLE:
        person = await client.post("/v1/people", json={"name": name, "initials": initials})
        people[initials] = _created(person, f"person {initials}")["id"]

    actions = await _plan(client, people, first_month, today)
    meetings, decisions, assignments = await _meetings(client, people, today)
    return {
        "targets": len(targets),
        "people": len(people),
        "plans": 1,
        "actions": actions,
        "meetings": meetings,
        "decisions": decisions,
        "assignments": assignments,
    }


async def _plan(
    client: httpx.AsyncClient, people: dict[str, str], first_month: date, today: date
) -> int:
    end = date(today.year, 12, 31)
    plan = _created(
        await client.post(
            "/v1/action-plans",
            json={
                "title": "Bemanningsprojektet",
                "purpose": "Minska beroendet av inhyrd personal och sänka sjukfrånvaron.",
                "org_unit": "REG",
                "owner_id": people["CS"],
                "period_start": first_month.isoformat(),
                "period_end": end.isoformat(),
                "cost_estimate_sek": "2500000.00",
                "expected_saving_sek": "62000000.00",
                "calculation_basis": "Hyrkostnaden mot föregående års nivå.",
            },
        ),
        "action plan",
    )
    packages = []
    for name, owner in PACKAGES:
        package = await client.post(
            f"/v1/action-plans/{plan['id']}/packages",
            json={"name": name, "owner_id": people[owner], "due_date": end.isoformat()},
        )
        packages.append(_created(package, f"package {name}")["id"])
    rows = []
    for number in range(1, 66):
        remaining = number > 61
        rows.append(
            {
                "code": str(number),
                "title": REMAINING[number - 62] if remaining else f"Åtgärd {number}",
                "area": AREAS[number % len(AREAS)],
                "package_id": packages[number % len(packages)],
                "org_unit": unit_code(1 + number % 10),
                "responsible_id": people[PEOPLE[number % len(PEOPLE)][1]],
                "start_date": first_month.isoformat(),
                "due_date": (today + timedelta(days=7 * (number - 61))).isoformat()
                if remaining
                else end.isoformat(),
                "status": "in_progress" if remaining else "done",
                "progress": 50 if remaining else 100,
            }
        )
    synced = await client.put(f"/v1/action-plans/{plan['id']}/actions", json=rows)
    _created(synced, "actions")
    for status in ("decided", "active"):
        _created(
            await client.patch(f"/v1/action-plans/{plan['id']}", json={"status": status}),
            f"plan {status}",
        )
    return len(rows)


def _at(day: date, hour: int) -> str:
    return datetime.combine(day, time(hour), tzinfo=UTC).isoformat()


async def _meetings(
    client: httpx.AsyncClient, people: dict[str, str], today: date
) -> tuple[int, int, int]:
    members = [{"person_id": people["CS"], "role": "chair"}] + [
        {"person_id": people[i], "role": "member"} for i in ("AG", "AJ", "IE", "JH")
    ]
    body = _created(
        await client.post(
            "/v1/bodies",
            json={
                "name": "Ledningsgruppen",
                "short_name": "LG",
                "org_unit": "REG",
                "members": members,
            },
        ),
        "body",
    )
    decisions = assignments = 0
    days = [today - timedelta(days=28), today - timedelta(days=14), today + timedelta(days=7)]
    for index, day in enumerate(days):
        meeting = _created(
            await client.post(
                f"/v1/bodies/{body['id']}/meetings",
                json={
                    "starts_at": _at(day, 12),
                    "ends_at": _at(day, 16),
                    "place": "Teams",
                    "attendees": members,
                },
            ),
            f"meeting {day}",
        )
        items = []
        agenda = [
            ("Inledning", "information", "CS"),
            ("Sjukfrånvaro och bemanning: läget per enhet", "decision", "AG"),
            ("Uppföljning av bemanningsprojektet", "information", "JH"),
        ]
        for number, (title, kind, presenter) in enumerate(agenda, start=1):
            item = await client.post(
                f"/v1/meetings/{meeting['id']}/items",
                json={
                    "number": number,
                    "title": title,
                    "kind": kind,
                    "presenter_ids": [people[presenter]],
                    "links": [{"kind": "kpi_series", "id": "sick_leave_pct"}],
                },
            )
            items.append(_created(item, f"agenda item {number}"))
        if index == len(days) - 1:
            continue  # the coming meeting has its agenda only
        text = HIRE_STOP if index == 0 else DAILY_REST
        _created(
            await client.post(
                f"/v1/agenda-items/{items[1]['id']}/decisions",
                json={
                    "text": text,
                    "decided_at": day.isoformat(),
                    "effective_date": day.isoformat(),
                },
            ),
            "decision",
        )
        decisions += 1
        _created(
            await client.post(
                f"/v1/agenda-items/{items[1]['id']}/assignments",
                json={
                    "assignee_id": people["JH"] if index == 0 else people["IE"],
                    "text": "Återrapportera effekten till nästa möte.",
                    "due_date": (day + timedelta(days=14)).isoformat(),
                },
            ),
            "assignment",
        )
        assignments += 1
    return len(days), decisions, assignments
