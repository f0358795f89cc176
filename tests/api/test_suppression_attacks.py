"""Small-group suppression attacked as a user would (#20 point 2-3, docs/privacy.md): a `read`
key asks for the parent, the children, the filters, the months and the longer periods over
several requests, JSON and CSV, and subtracts; no hidden group's numerator comes out. Each
attack is first run with the admin's figures, to show it would recover the value."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from datetime import date
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import make_client
from tests.factories import create_key, create_target, employment, feed, put_units, shifts
from tests.jobs import recalculate
from tests.problems import assert_problem

KPI = "sick_leave_pct"
TREE = [
    {"code": "RS", "name": "Region Skåne", "kind": "region"},
    {"code": "SUS", "name": "Skånes universitetssjukhus", "kind": "administration",
     "parent_code": "RS"},
    {"code": "SUS-AKUT", "name": "Akutmottagningen", "kind": "unit", "parent_code": "SUS"},
    {"code": "SUS-MED", "name": "Medicinkliniken", "kind": "unit", "parent_code": "SUS"},
    {"code": "MED-1", "name": "Medicin 1", "kind": "unit", "parent_code": "SUS-MED"},
    {"code": "MED-2", "name": "Medicin 2", "kind": "unit", "parent_code": "SUS-MED"},
    {"code": "PV", "name": "Primärvården", "kind": "administration", "parent_code": "RS"},
    {"code": "PV-MALMO", "name": "Vårdcentral Malmö", "kind": "unit", "parent_code": "PV"},
]  # fmt: skip
# (unit, month, nurses, sick days of the first one): the emergency unit has three nurses
# (below the minimum group size of five) in January and February, six in March; MED-2 had
# three in March 2023.
STAFF = [
    ("MED-2", date(2023, 3, 1), 3, 4),
    ("SUS-AKUT", date(2024, 1, 1), 3, 1),
    ("SUS-AKUT", date(2024, 2, 1), 3, 2),
    ("MED-1", date(2024, 2, 1), 6, 1),
    ("MED-2", date(2024, 2, 1), 7, 3),
    ("PV-MALMO", date(2024, 2, 1), 8, 2),
    ("SUS-AKUT", date(2024, 3, 1), 6, 5),
    ("MED-1", date(2024, 3, 1), 6, 2),
    ("MED-2", date(2024, 3, 1), 7, 1),
    ("PV-MALMO", date(2024, 3, 1), 8, 3),
]
# Vårdcentral Malmö's nurses 0-1 are men (two: a small group), the other six women.
MALE = {"PV-MALMO-0", "PV-MALMO-1"}


async def _load(app: FastAPI, client: httpx.AsyncClient) -> None:
    await put_units(client, TREE)
    people = {f"PV-MALMO-{n}" for n in range(8)}
    await feed(
        client,
        "employments",
        [
            employment(f"emp-{ref}", employee_ref=ref, org_unit_code="PV-MALMO",
                       gender="male" if ref in MALE else "female", start_date="2023-01-01")
            for ref in sorted(people)
        ],
    )  # fmt: skip
    records = []
    for unit, month, n, sick in STAFF:
        dates = [month.replace(day=d) for d in range(1, 11)]
        for i in range(n):
            records += shifts(unit, f"{unit}-{i}", dates, "scheduled", "8", unit=unit)
        records += shifts(unit, f"{unit}-0", dates[:sick], "sick", "8", unit=unit)
    await feed(client, "time-records", records)
    await recalculate(app)


async def _read(
    c: httpx.AsyncClient, unit: str, start: str, end: str | None = None, **params: Any
) -> Any:
    response = await c.get(
        f"/v1/kpis/{KPI}/series",
        params={"org_unit": unit, "from": start, "to": end or start, **params},
    )
    assert response.status_code == 200, response.text
    return response.json()


async def _num(c: httpx.AsyncClient, unit: str, period: str, **params: Any) -> float | None:
    """The numerator a caller can use in a subtraction: a group without data adds 0, a
    suppressed one is unknown (None)."""
    point = (await _read(c, unit, period, **params))["points"][0]
    if point["reason"] == "no_data":
        return 0.0
    value: float | None = point["numerator"]
    return value


def _minus(total: float | None, parts: Iterable[float | None]) -> float | None:
    known = list(parts)
    if total is None or any(p is None for p in known):
        return None
    return round(total - sum(p for p in known if p is not None), 6)


@pytest.fixture
async def reader(app: FastAPI, client: httpx.AsyncClient) -> Any:
    await _load(app, client)
    async with make_client(app, await create_key(client, ["read"])) as c:
        yield c


async def test_parent_minus_children_recovers_nothing(
    client: httpx.AsyncClient, reader: httpx.AsyncClient
) -> None:
    feb = "2024-02"
    truth = await _num(client, "SUS-AKUT", feb)
    assert truth == 16.0  # two 8 h sick days
    for c, expect in ((client, truth), (reader, None)):
        sus, med = await _num(c, "SUS", feb), await _num(c, "SUS-MED", feb)
        med1, med2 = await _num(c, "MED-1", feb), await _num(c, "MED-2", feb)
        assert _minus(sus, [med]) == expect  # the parent minus its other child
        assert _minus(sus, [med1, med2]) == expect  # ... or minus the grandchildren
        assert _minus(await _num(c, "RS", feb), [await _num(c, "PV", feb), med]) == expect
        # children=true gives the same figures as asking unit by unit
        kids = (await _read(c, "SUS", feb, children="true"))["series"]
        by_unit = {s["org_unit"]: s["points"][0]["numerator"] for s in kids}
        assert by_unit == {"SUS-AKUT": truth if c is client else None, "SUS-MED": med}
    # The emergency unit is the small group; the medical clinic (the next smallest sibling)
    # is hidden with it, and so is MED-1 below it, or MED-1 + MED-2 would give it back.
    hidden = [u for u in ("SUS-AKUT", "SUS-MED", "MED-1", "MED-2") if
              (await _read(reader, u, feb))["points"][0]["suppressed"]]  # fmt: skip
    assert hidden == ["SUS-AKUT", "SUS-MED", "MED-1"]
    point = (await _read(reader, "SUS-MED", feb))["points"][0]
    assert point["reason"] == "suppressed"
    assert point["value"] is point["numerator"] is point["denominator"] is None


async def test_total_minus_the_other_genders_recovers_nothing(
    client: httpx.AsyncClient, reader: httpx.AsyncClient
) -> None:
    feb = "2024-02"
    truth = await _num(client, "PV-MALMO", feb, gender="male")
    assert truth == 16.0  # the first nurse, a man, sick two days
    for c, expect in ((client, truth), (reader, None)):
        for unit in ("PV-MALMO", "PV", "RS"):
            total = await _num(c, unit, feb)
            others = [await _num(c, unit, feb, gender=g) for g in ("female", "other")]
            if unit == "RS":
                # the region's nurses of unknown gender are the hospital's: subtract it too
                others.append(await _num(c, "SUS", feb))
            assert _minus(total, others) == expect, unit
    women = (await _read(reader, "PV-MALMO", feb, gender="female"))["points"][0]
    assert women["suppressed"] is True and women["numerator"] is None


async def test_a_quarter_minus_its_visible_months_recovers_nothing(
    client: httpx.AsyncClient, reader: httpx.AsyncClient
) -> None:
    # January has only the emergency unit's three nurses: the region's January is small.
    for unit in ("RS", "SUS"):
        truth = await _num(client, unit, "2024-01")
        assert truth == 8.0
        for c, expect in ((client, truth), (reader, None)):
            months = [await _num(c, unit, m) for m in ("2024-02", "2024-03")]
            quarter = await _num(c, unit, "2024-Q1", grain="quarter")
            assert _minus(quarter, months) == expect, unit
        points = (await _read(reader, unit, "2024", grain="year"))["points"]
        points += (await _read(reader, unit, "2024-T1", grain="tertial"))["points"]
        points += (await _read(reader, unit, "2024-03", grain="rolling12"))["points"]
        assert [p["numerator"] for p in points] == [None, None, None]
        # the months themselves are shown: only the periods holding the small one are hidden
        assert await _num(reader, unit, "2024-02") == await _num(client, unit, "2024-02")


async def test_value_minus_change_recovers_nothing(
    client: httpx.AsyncClient, reader: httpx.AsyncClient
) -> None:
    # MED-2 had three nurses in March 2023: its March 2024 value is shown, its change is not.
    admin = (await _read(client, "MED-2", "2024-03"))["points"][0]
    before = (await _read(client, "MED-2", "2023-03"))["points"][0]["value"]
    assert round(admin["value"] - admin["change"], 6) == round(before, 6)
    point = (await _read(reader, "MED-2", "2024-03"))["points"][0]
    assert point["value"] == admin["value"] and point["suppressed"] is False
    assert point["change"] is point["change_pct"] is point["trend"] is None
    # the same through the parent and the children
    kids = (await _read(reader, "SUS-MED", "2024-03", children="true"))["series"]
    assert [s["points"][0]["change"] for s in kids if s["org_unit"] == "MED-2"] == [None]


def _csv_rows(response: httpx.Response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    # Swedish CSV (contract): a byte order mark, `;`, decimal comma; read back as JSON's numbers.
    rows = csv.DictReader(io.StringIO(response.text.lstrip("\ufeff")), delimiter=";")
    return [{k: _point_decimal(v) for k, v in row.items()} for row in rows]


def _point_decimal(cell: str) -> str:
    return cell.replace(",", ".") if re.fullmatch(r"-?\d+,\d+", cell) else cell


async def test_csv_shows_no_more_than_json(
    client: httpx.AsyncClient, reader: httpx.AsyncClient
) -> None:
    params = {"org_unit": "SUS", "from": "2024-01", "to": "2024-03", "children": "true"}
    url = f"/v1/kpis/{KPI}/series"
    as_json = (await reader.get(url, params=params)).json()["series"]
    rows = _csv_rows(await reader.get(url, params=params, headers={"Accept": "text/csv"}))
    points = [(s["org_unit"], p) for s in as_json for p in s["points"]]
    assert len(rows) == len(points) == 6
    for row, (unit, point) in zip(rows, points, strict=True):
        assert (row["org_unit"], row["period"]) == (unit, point["period"])
        for name in ("value", "numerator", "denominator", "change", "change_pct", "trend"):
            assert row[name] == ("" if point[name] is None else str(point[name])), name
    hidden = {(r["org_unit"], r["period"]) for r in rows if r["suppressed"] == "true"}
    assert hidden == {
        ("SUS-AKUT", "2024-01"),
        ("SUS-AKUT", "2024-02"),
        ("SUS-MED", "2024-02"),
    }
    admin = _csv_rows(await client.get(url, params=params, headers={"Accept": "text/csv"}))
    assert all(r["suppressed"] == "false" for r in admin)
    assert all(r["numerator"] != "" for r in admin if r["reason"] != "no_data")


async def test_the_scorecard_hides_what_the_series_hides(
    client: httpx.AsyncClient, reader: httpx.AsyncClient
) -> None:
    await create_target(client, KPI, "SUS", "5", valid_from="2024-01")
    for unit in ("SUS-AKUT", "SUS-MED"):
        url = f"/v1/org-units/{unit}/scorecard"
        card = (await reader.get(url, params={"period": "2024-02"})).json()
        point = card["rows"][0]["point"]
        assert point["suppressed"] is True and point["numerator"] is None
        assert point["value"] is point["deviation"] is point["change"] is None
        rows = _csv_rows(
            await reader.get(url, params={"period": "2024-02"}, headers={"Accept": "text/csv"})
        )
        assert (rows[0]["value"], rows[0]["numerator"], rows[0]["suppressed"]) == ("", "", "true")
        admin = (await client.get(url, params={"period": "2024-02"})).json()
        assert admin["rows"][0]["point"]["numerator"] is not None
    # the quarter holding the small months is hidden on the scorecard too
    card = (await reader.get("/v1/org-units/SUS/scorecard", params={"period": "2024-Q1"})).json()
    assert card["rows"][0]["point"]["numerator"] is None


async def test_admin_sees_every_group(client: httpx.AsyncClient, reader: httpx.AsyncClient) -> None:
    for unit, period, params in [
        ("SUS-AKUT", "2024-02", {}),
        ("SUS-MED", "2024-02", {}),
        ("PV-MALMO", "2024-02", {"gender": "male"}),
        ("PV-MALMO", "2024-02", {"gender": "female"}),
        ("RS", "2024-Q1", {"grain": "quarter"}),
    ]:
        point = (await _read(client, unit, period, **params))["points"][0]
        assert point["suppressed"] is False and point["numerator"] is not None, unit
    # the pooled figures still add up for the admin
    parts = [await _num(client, u, "2024-02") for u in ("SUS-AKUT", "MED-1", "MED-2")]
    assert await _num(client, "SUS", "2024-02") == sum(p or 0 for p in parts)


async def test_baseline_targets_do_not_reveal_a_hidden_baseline(
    app: FastAPI, client: httpx.AsyncClient, reader: httpx.AsyncClient
) -> None:
    body = {"kpi": KPI, "comparator": "lte", "bound": "baseline", "baseline_period": "2024-02",
            "factor": "1", "valid_from": "2024-03"}  # fmt: skip
    async with make_client(app, await create_key(client, ["kpis:write"])) as writer:
        for unit in ("SUS-AKUT", "SUS-MED"):  # small, and hidden to protect it
            response = await writer.post("/v1/kpi-targets", json={**body, "org_unit": unit})
            problem = assert_problem(response, 422, "validation_failed")
            assert problem["errors"][0]["code"] == "baseline_suppressed"
            assert "PULS_MIN_GROUP_SIZE" in problem["errors"][0]["msg"]
        ok = await writer.post("/v1/kpi-targets", json={**body, "org_unit": "MED-2"})
        assert ok.status_code == 201, ok.text
    made = await client.post("/v1/kpi-targets", json={**body, "org_unit": "SUS-MED"})
    assert made.status_code == 201, made.text
    # In March the clinic is shown, but its target would be February's hidden value.
    point = (await _read(reader, "SUS-MED", "2024-03"))["points"][0]
    assert point["value"] is not None and point["target"] is None
    assert point["deviation"] is None
    admin = (await _read(client, "SUS-MED", "2024-03"))["points"][0]
    assert admin["target"] == pytest.approx((await _read(client, "SUS-MED", "2024-02"))
                                            ["points"][0]["value"])  # fmt: skip


async def test_target_events_carry_no_hidden_value(app: FastAPI, client: httpx.AsyncClient) -> None:
    await put_units(client, TREE)
    await create_target(client, KPI, "SUS-AKUT", "1", valid_from="2024-01")
    await _load(app, client)
    events = (
        await client.get("/v1/events", params={"types": "kpi.target_breached", "limit": 50})
    ).json()["items"]
    data = {e["data"]["period"]: e["data"] for e in events if e["data"]["org_unit"] == "SUS-AKUT"}
    assert set(data) == {"2024-01", "2024-02", "2024-03"}
    for month in ("2024-01", "2024-02"):  # three nurses
        assert data[month]["value"] is None and data[month]["suppressed"] is True
        assert data[month]["target"] == "1.000000"
    assert data["2024-03"]["value"] is not None and data["2024-03"]["suppressed"] is False


async def test_a_confined_key_gets_the_same_decisions(
    app: FastAPI, client: httpx.AsyncClient, reader: httpx.AsyncClient
) -> None:
    # Decided over the whole tree, not over what the key sees: a key confined to the clinic
    # cannot see the emergency unit, yet the clinic stays hidden for it (or the clinic's value
    # and a colleague's key on the hospital would give the emergency unit away together).
    token = await create_key(client, ["read"], org_unit="SUS-MED")
    async with make_client(app, token) as confined:
        for unit in ("SUS-MED", "MED-1", "MED-2"):
            mine = (await _read(confined, unit, "2024-02"))["points"][0]
            theirs = (await _read(reader, unit, "2024-02"))["points"][0]
            assert mine == theirs, unit
        kids = (await _read(confined, "SUS-MED", "2024-02", children="true"))["series"]
        assert [s["points"][0]["suppressed"] for s in kids] == [True, False]
