"""Plain factory functions that build data: org trees, keys, people, action plans, fed records
(time records, employments, personnel costs) and webhook subscriptions, through the public API
or, for a whole demo region, the ingest path."""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from services.cli import demo
from services.core.auth.service import bootstrap_principal
from services.core.db import transaction
from services.core.orgs import service as orgs_service
from services.core.orgs.schemas import OrgUnitCreate
from services.core.principal import Principal, Scope
from services.core.timedata import files, ingest

LOCAL = ZoneInfo("Europe/Stockholm")


def created_body(response: httpx.Response) -> dict[str, Any]:
    """The body of a 201 answer (a factory's request must succeed)."""
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


# Org units and keys


async def create_unit(
    client: httpx.AsyncClient,
    code: str,
    *,
    parent: str | None = None,
    kind: str = "unit",
    name: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "name": name or f"Enhet {code}", "kind": kind}
    if parent:
        body["parent_code"] = parent
    return created_body(await client.post("/v1/org-units", json=body))


async def put_units(client: httpx.AsyncClient, units: list[dict[str, str]]) -> None:
    response = await client.put("/v1/org-units", json=units)
    assert response.status_code == 200, response.text


async def seed_tree(client: httpx.AsyncClient) -> None:
    """Region Skåne's top: RS → two administrations → units (seed 000's region)."""
    await put_units(
        client,
        [
            {"code": "RS", "name": "Region Skåne", "kind": "region"},
            {
                "code": "SUS",
                "name": "Skånes universitetssjukhus",
                "kind": "administration",
                "parent_code": "RS",
            },
            {"code": "PV", "name": "Primärvården", "kind": "administration", "parent_code": "RS"},
            {"code": "SUS-AKUT", "name": "Akutmottagningen", "kind": "unit", "parent_code": "SUS"},
            {"code": "SUS-MED", "name": "Medicinkliniken", "kind": "unit", "parent_code": "SUS"},
            {"code": "PV-MALMO", "name": "Vårdcentral Malmö", "kind": "unit", "parent_code": "PV"},
        ],
    )


async def seed_rjh_tree(client: httpx.AsyncClient) -> None:
    """Region Jämtland Härjedalen's top (seed 003's region), beside Region Skåne."""
    await put_units(
        client,
        [
            {"code": "RJH", "name": "Region Jämtland Härjedalen", "kind": "region"},
            {
                "code": "RJH-HS",
                "name": "Hälso- och sjukvårdsförvaltningen",
                "kind": "administration",
                "parent_code": "RJH",
            },
            {"code": "RJH-PV", "name": "Primärvården", "kind": "area", "parent_code": "RJH-HS"},
            {
                "code": "RJH-OSS",
                "name": "Östersunds sjukhus",
                "kind": "area",
                "parent_code": "RJH-HS",
            },
            {"code": "RS", "name": "Region Skåne", "kind": "region"},
        ],
    )


async def create_key(
    client: httpx.AsyncClient,
    scopes: list[str],
    *,
    org_unit: str | None = None,
    name: str = "test key",
) -> str:
    body = {"name": name, "scopes": scopes, "org_unit": org_unit}
    token: str = (created_body(await client.post("/v1/api-keys", json=body)))["token"]
    return token


# KPI targets


async def create_target(
    client: httpx.AsyncClient, kpi: str, org_unit: str, value: str | None, **fields: Any
) -> httpx.Response:
    """A target of at most `value` (absolute) from January 2024 unless `fields` say otherwise;
    the 201 answer, for its body and headers."""
    body: dict[str, Any] = {
        "kpi": kpi,
        "org_unit": org_unit,
        "comparator": "lte",
        "bound": "absolute",
        **({"value": value} if value is not None else {}),
        "valid_from": "2024-01",
        **fields,
    }
    response = await client.post("/v1/kpi-targets", json=body)
    created_body(response)
    return response


# People and action plans: seed 003's plan (Region Jämtland Härjedalen's staffing project
# 2016–2018, six action packages with owners and due dates, 65 actions of which 61 are done;
# the four left are from the report's "återstående aktiviteter").

REMAINING = {
    "61": "Ta fram bemanningsplan med måltal för antal AT, ST",
    "62": "Öka antalet ST-läkare och sjuksköterskor under specialistutbildning",
    "64": "Definition av oberoende för RJH",
    "65": "Registrering av hyrpersonal i Heroma",
}
AREAS = [
    "task_shifting",
    "technology_support",
    "regional_coordination",
    "municipal_collaboration",
    "capacity_planning",
    "staffing_plan",
    "working_time_models",
    "scheduling",
    "competence_development",
    "leadership",
    "retention",
    "communication",
    "nursing_students",
    "doctor_introduction",
    "recruitment",
    "compensation",
    "risk_analysis",
]
# Seed 003's six packages: name, owners ("Ansvariga: Anna Granevärn och Anita Secher"; package
# 6's is "Ej utsedd"), due date and cost goal.
PACKAGES: list[tuple[str, tuple[str, ...], str, str | None]] = [
    ("Nära vård i samverkan", ("Anna Granevärn", "Anita Secher"), "2018-12-31", None),
    ("Ny struktur för vårdplatser", ("Anna-Karin Andersson",), "2018-12-31", None),
    ("Genomgång av mottagningar", ("Ingela Eckerdal",), "2018-06-01", None),
    ("Se över läkarstrukturen på sjukhuset", ("Annika Jonsson",), "2018-12-31", None),
    ("Inhyrda läkare i primärvården", ("Anna Granevärn",), "2018-12-31", "Nyttja < 700 veckor"),
    ("Administrativ samordning", (), "2018-12-31", None),
]


async def create_person(client: httpx.AsyncClient, name: str, **extra: Any) -> str:
    person = created_body(await client.post("/v1/people", json={"name": name, **extra}))
    person_id: str = person["id"]
    return person_id


async def create_plan(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Bemanningsprojektet 2016–2018",
        "purpose": "Minska beroendet av inhyrd personal.",
        "org_unit": "RJH",
        "period_start": "2016-12-01",
        "period_end": "2018-12-31",
        "cost_estimate_sek": "2500000.00",
        "expected_saving_sek": "62000000.00",
        "calculation_basis": "Hyrkostnad 2017 189,9 mkr mot 2015 års nivå 127,9 mkr.",
        **overrides,
    }
    return created_body(await client.post("/v1/action-plans", json=body))


def action_rows(package_ids: list[str]) -> list[dict[str, Any]]:
    """65 actions; each package holds ten of the first sixty, the last five hold none."""
    rows = []
    for number in range(1, 66):
        code = str(number)
        remaining = code in REMAINING
        rows.append(
            {
                "code": code,
                "title": REMAINING.get(code, f"Åtgärd {code}"),
                "area": AREAS[number % len(AREAS)],
                "package_id": package_ids[number % 6] if number <= 60 else None,
                "org_unit": "RJH-PV" if number % 2 else "RJH-OSS",
                "start_date": "2017-01-01",
                "due_date": "2018-12-31",
                "status": "in_progress" if remaining else "done",
                "progress": 50 if remaining else 100,
            }
        )
    return rows


async def build_seed_003_plan(client: httpx.AsyncClient) -> dict[str, Any]:
    """The whole plan, active. Returns ids: plan, packages (in order), people by name."""
    await seed_rjh_tree(client)
    names = {owner for _, owners, _, _ in PACKAGES for owner in owners} | {"Camilla Simonsson"}
    people = {name: await create_person(client, name) for name in sorted(names)}
    plan = await create_plan(client, owner_id=people["Camilla Simonsson"], status="decided")
    packages = []
    for name, owners, due, goal in PACKAGES:
        body = {
            "name": name,
            "owner_ids": [people[owner] for owner in owners],
            "due_date": due,
            "cost_goal": goal,
        }
        package = created_body(
            await client.post(f"/v1/action-plans/{plan['id']}/packages", json=body)
        )
        packages.append(package["id"])
    synced = await client.put(f"/v1/action-plans/{plan['id']}/actions", json=action_rows(packages))
    assert synced.status_code == 200, synced.text
    assert synced.json()["inserted"] == 65
    active = await client.patch(f"/v1/action-plans/{plan['id']}", json={"status": "active"})
    assert active.status_code == 200, active.text
    return {"plan": active.json(), "packages": packages, "people": people}


# Fed records, in the shape HR and finance systems send them

# external_id stands second, where the systems send it; each builder fills it in.
_TIME_RECORD: dict[str, Any] = {
    "source": "heroma",
    "external_id": None,
    "org_unit_code": "SUS-AKUT",
    "employee_ref": "19790312-1234",
    "profession": "nurse",
    "staff_kind": "own",
    "time_type": "worked",
    "work_date": "2024-03-04",
    "hours": "8.00",
}
_EMPLOYMENT: dict[str, Any] = {
    "source": "heroma",
    "external_id": None,
    "employee_ref": "19790312-1234",
    "org_unit_code": "SUS-AKUT",
    "profession": "nurse",
    "contract": "permanent",
    "fte": "1.000",
    "is_manager": False,
    "start_date": "2023-11-01",
}
_PERSONNEL_COST: dict[str, Any] = {
    "source": "raindance",
    "external_id": None,
    "period": "2024-03",
    "org_unit_code": "SUS-AKUT",
    "profession": "doctor",
    "category": "agency",
    "amount_sek": "125000.00",
}


def time_record(external_id: str, **overrides: Any) -> dict[str, Any]:
    return {**_TIME_RECORD, "external_id": external_id, **overrides}


def employment(external_id: str, **overrides: Any) -> dict[str, Any]:
    return {**_EMPLOYMENT, "external_id": external_id, **overrides}


def personnel_cost(external_id: str, **overrides: Any) -> dict[str, Any]:
    return {**_PERSONNEL_COST, "external_id": external_id, **overrides}


def days(first: date, last: date) -> Iterable[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def shifts(
    prefix: str,
    employee: str,
    dates: Iterable[date],
    time_type: str,
    hours: str,
    *,
    unit: str = "SUS-AKUT",
    **extra: Any,
) -> list[dict[str, Any]]:
    """One record a day of `time_type` for `employee`, without start and end times."""
    return [
        time_record(
            f"{prefix}-{employee}-{d:%Y%m%d}-{time_type}",
            org_unit_code=unit,
            employee_ref=employee,
            work_date=d.isoformat(),
            time_type=time_type,
            hours=hours,
            **extra,
        )
        for d in dates
    ]


def shift(
    employee: str,
    start: datetime,
    hours: float,
    *,
    kind: str = "worked",
    staff: str = "own",
    profession: str = "doctor",
    unit: str = "SUS-AKUT",
    **extra: Any,
) -> dict[str, Any]:
    """One shift with its start and end (local wall-clock `start`, `hours` of real time, so a
    shift across a DST change ends an hour earlier or later on the clock)."""
    begin = start.replace(tzinfo=LOCAL)
    end = (begin.astimezone(ZoneInfo("UTC")) + timedelta(hours=hours)).astimezone(LOCAL)
    return time_record(
        f"{employee}-{begin:%Y%m%d%H%M}-{kind}",
        employee_ref=employee,
        org_unit_code=unit,
        profession=profession,
        staff_kind=staff,
        time_type=kind,
        work_date=begin.date().isoformat(),
        hours=f"{hours:.2f}",
        start=begin.isoformat(),
        end=end.isoformat(),
        **extra,
    )


async def feed(client: httpx.AsyncClient, kind: str, records: list[dict[str, Any]]) -> None:
    """Stores records through the batch API, in batches of the API's largest size."""
    for start in range(0, len(records), 5_000):
        response = await client.post(
            f"/v1/{kind}:batch", json={"records": records[start : start + 5_000]}
        )
        assert response.status_code == 200, response.text
        assert response.json()["rejected"] == 0, response.json()["errors"][:3]


async def load_demo_region(app: FastAPI, spec: demo.Spec) -> demo.Counts:
    """The demo generator's region stored through the ingest path (as a file import stores it,
    without HTTP): org tree, employments, time records and costs, their cells marked dirty."""
    work = Path(tempfile.mkdtemp(prefix="puls-test-region-"))
    counts = demo.generate(spec, work)
    settings = app.state.settings
    tree = json.loads((work / demo.ORG_UNITS_FILE).read_text())
    async with transaction(app.state.sessionmaker) as session:
        await orgs_service.bulk_upsert(
            session, bootstrap_principal(), [OrgUnitCreate.model_validate(u) for u in tree]
        )
    for kind, name in demo.FILES.items():
        feed_kind = ingest.KINDS[kind]
        async with transaction(app.state.sessionmaker) as session:
            lookups = await ingest.load_lookups(session, None, None, codes=None, sources=None)
            for chunk in files.chunks(work / name, "csv", feed_kind, "heroma"):
                prepared = ingest.prepare(settings, feed_kind, chunk.rows, lookups)
                await ingest.store(session, settings, feed_kind, prepared, scope=None)
    return counts


# The header of a time-records import file, as HR systems write it (semicolons).
IMPORT_HEADER = (
    "source;external_id;org_unit_code;employee_ref;profession;staff_kind;time_type;"
    "work_date;hours;cost_sek\n"
)


async def upload(
    client: httpx.AsyncClient, body: bytes, media: str = "text/csv", kind: str = "time-records"
) -> httpx.Response:
    """Starts a file import; the answer (202 or a problem) is the caller's to check."""
    return await client.post(
        "/v1/imports",
        params={"kind": kind, "source": "heroma"},
        content=body,
        headers={"content-type": media},
    )


# Webhooks


async def subscribe(
    client: httpx.AsyncClient, url: str, types: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    body = {"url": url, "event_types": types or ["org_unit.*"], **extra}
    return created_body(await client.post("/v1/webhooks", json=body))


async def make_events(client: httpx.AsyncClient, n: int, prefix: str = "U") -> list[str]:
    """n `org_unit.created` events (one per unit created)."""
    codes = [f"{prefix}{i:03d}" for i in range(n)]
    for code in codes:
        await create_unit(client, code)
    return codes


# --- principals, for service-level tests ------------------------------------------------------

ADMIN = Principal(key_id=None, name="test-admin", scopes=frozenset({Scope.admin.value}))


async def confined_to(session: AsyncSession, code: str, *scopes: Scope) -> Principal:
    """A key confined to the subtree of unit `code`, with `scopes` (read alone by default), as
    the API would build it for a unit manager's key."""
    unit = await orgs_service.get_visible(session, ADMIN, code)
    return Principal(
        key_id=uuid.uuid4(),
        name=f"key of {code}",
        scopes=frozenset(scope.value for scope in scopes or (Scope.read,)),
        org_path=unit.path,
        org_unit_code=code,
    )


# E-mail and calendars

JH_EMAIL = "johanna.holmberg@example.org"


async def create_action(
    client: httpx.AsyncClient, plan_id: str, code: str, responsible: str, due: str
) -> str:
    body = {
        "code": code,
        "title": "Hyrstopp för sjuksköterskor <inom> Region Skåne",
        "responsible_id": responsible,
        "due_date": due,
    }
    action = created_body(await client.post(f"/v1/action-plans/{plan_id}/actions", json=body))
    return str(action["id"])


async def plan_with_actions(client: httpx.AsyncClient) -> dict[str, str]:
    """Seed 003's region, JH (with an e-mail address) and AP (without), a decided plan and an
    action of each due 2026-12-10."""
    await seed_rjh_tree(client)
    jh = await create_person(client, "Johanna Holmberg", initials="JH", email=JH_EMAIL)
    ap = await create_person(client, "Anna Pettersson", initials="AP")  # no e-mail address
    plan = await create_plan(client, status="decided", period_end="2027-12-31")
    return {
        "jh": jh,
        "ap": ap,
        "plan": plan["id"],
        "jh_action": await create_action(client, plan["id"], "1.1", jh, "2026-12-10"),
        "ap_action": await create_action(client, plan["id"], "1.2", ap, "2026-12-10"),
    }


async def body_with_meeting(client: httpx.AsyncClient, ids: dict[str, str]) -> dict[str, Any]:
    """KL with JH and AP as members and a meeting on 2026-12-15 with one agenda item."""
    body = created_body(
        await client.post(
            "/v1/bodies",
            json={
                "name": "Koncernledningen",
                "short_name": "KL",
                "org_unit": "RJH",
                "members": [
                    {"person_id": ids["jh"], "role": "chair"},
                    {"person_id": ids["ap"], "role": "member"},
                ],
            },
        )
    )
    meeting = created_body(
        await client.post(
            f"/v1/bodies/{body['id']}/meetings",
            json={
                "starts_at": "2026-12-15T08:00:00Z",
                "ends_at": "2026-12-15T12:00:00Z",
                "place": "Teams",
            },
        )
    )
    item = await client.post(
        f"/v1/meetings/{meeting['id']}/items",
        json={"number": 1, "title": "Hyrstopp: dispenser", "kind": "decision"},
    )
    assert item.status_code == 201, item.text
    return {"body": body, "meeting": meeting}
