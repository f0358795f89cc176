"""Primary suppression counts distinct employees (#20 point 2, docs/privacy.md): an employee
with records under two professions in a month is two split rows of the facts but one person,
so three nurses who also work as assistant nurses are a group of three, not six, with or
without a filter. Before the facts kept their employees (`kpi_facts.people`) the group summed
its split rows and was shown."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import make_client
from tests.factories import create_key, employment, feed, put_units, shifts
from tests.jobs import recalculate

KPI = "sick_leave_pct"
TREE = [
    {"code": "RS", "name": "Region Skåne", "kind": "region"},
    {"code": "SUS", "name": "Skånes universitetssjukhus", "kind": "administration",
     "parent_code": "RS"},
    {"code": "SUS-AKUT", "name": "Akutmottagningen", "kind": "unit", "parent_code": "SUS"},
    {"code": "SUS-MED", "name": "Medicinkliniken", "kind": "unit", "parent_code": "SUS"},
]  # fmt: skip
MARCH = [date(2024, 3, d) for d in range(1, 11)]
# The emergency unit's three women work the first half of March as nurses and the second as
# assistant nurses; the first is sick two days. The medical clinic has eight nurses.
SPLIT = [f"AKUT-{n}" for n in range(3)]


async def _load(app: FastAPI, client: httpx.AsyncClient) -> None:
    await put_units(client, TREE)
    await feed(
        client,
        "employments",
        [
            employment(f"emp-{ref}", employee_ref=ref, gender="female", start_date="2023-01-01")
            for ref in SPLIT
        ],
    )
    records = []
    for ref in SPLIT:
        records += shifts(f"n-{ref}", ref, MARCH[:5], "scheduled", "8")
        records += shifts(
            f"a-{ref}", ref, MARCH[5:], "scheduled", "8", profession="assistant_nurse"
        )
    records += shifts("sick", SPLIT[0], MARCH[:2], "sick", "8")
    for n in range(8):
        ref = f"MED-{n}"
        records += shifts(ref, ref, MARCH, "scheduled", "8", unit="SUS-MED")
    records += shifts("sick-med", "MED-0", MARCH[:1], "sick", "8", unit="SUS-MED")
    await feed(client, "time-records", records)
    await recalculate(app)


async def _point(c: httpx.AsyncClient, unit: str, **params: Any) -> Any:
    response = await c.get(
        f"/v1/kpis/{KPI}/series",
        params={"org_unit": unit, "from": "2024-03", "to": "2024-03", **params},
    )
    assert response.status_code == 200, response.text
    return response.json()["points"][0]


@pytest.fixture
async def reader(app: FastAPI, client: httpx.AsyncClient) -> Any:
    await _load(app, client)
    async with make_client(app, await create_key(client, ["read"])) as c:
        yield c


@pytest.mark.parametrize("filters", [{}, {"gender": "female"}, {"staff_kind": "own"}])
async def test_three_people_in_two_professions_are_a_group_of_three(
    client: httpx.AsyncClient, reader: httpx.AsyncClient, filters: dict[str, str]
) -> None:
    admin = await _point(client, "SUS-AKUT", **filters)
    assert admin["numerator"] == 16.0 and admin["suppressed"] is False  # two 8 h sick days
    point = await _point(reader, "SUS-AKUT", **filters)
    assert point["suppressed"] is True and point["reason"] == "suppressed"
    assert point["value"] is point["numerator"] is point["denominator"] is None
    # Each profession alone is three people too.
    for profession in ("nurse", "assistant_nurse"):
        assert (await _point(reader, "SUS-AKUT", profession=profession, **filters))[
            "suppressed"
        ] is True


async def test_the_hospital_minus_the_clinic_gives_nothing_back(
    client: httpx.AsyncClient, reader: httpx.AsyncClient
) -> None:
    truth = (await _point(client, "SUS"))["numerator"] - (await _point(client, "SUS-MED"))[
        "numerator"
    ]
    assert truth == 16.0  # the attack works on the admin's figures
    sus, med = await _point(reader, "SUS"), await _point(reader, "SUS-MED")
    assert sus["numerator"] is None or med["numerator"] is None
    kids = (await reader.get(
        f"/v1/kpis/{KPI}/series",
        params={"org_unit": "SUS", "from": "2024-03", "to": "2024-03", "children": "true"},
    )).json()["series"]  # fmt: skip
    assert {s["org_unit"]: s["points"][0]["suppressed"] for s in kids} == {
        "SUS-AKUT": True,
        "SUS-MED": True,
    }
