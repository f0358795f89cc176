"""The compliance summary under the small-group rule (#20 point 2, docs/privacy.md): a `read`
key attacks the violations per unit, month and kind over several requests (the total from the
`rest_violations` KPI minus the other kind, a window inside the month minus the whole month,
the region against the unit) and recovers no hidden row; the admin's figures show each attack
would have worked."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import make_client
from tests.factories import create_key, feed, seed_tree, shift
from tests.jobs import recalculate

MARCH = datetime(2024, 3, 4)


def _quick_return(employee: str, unit: str, day: datetime) -> list[dict[str, Any]]:
    # An evening until 21:30 and a day shift at 07:00: 9.5 h of daily rest, not 11.
    return [
        shift(employee, day.replace(hour=13), 8.5, unit=unit),
        shift(employee, (day + timedelta(days=1)).replace(hour=7), 8, unit=unit),
    ]


def _no_week_off(employee: str, unit: str) -> list[dict[str, Any]]:
    # Twelve day shifts in a row, 12 h of rest between them: no 36 h weekly rest.
    return [
        shift(employee, (MARCH + timedelta(days=d)).replace(hour=7), 12, unit=unit)
        for d in range(12)
    ]


async def _load(app: FastAPI, client: httpx.AsyncClient) -> None:
    await seed_tree(client)
    records: list[dict[str, Any]] = []
    # The emergency unit: six doctors with a quick return, two without a week's rest.
    for n in range(6):
        records += _quick_return(f"AKUT-Q{n}", "SUS-AKUT", MARCH + timedelta(days=n))
    for n in range(2):
        records += _no_week_off(f"AKUT-W{n}", "SUS-AKUT")
    # The medical clinic: seven doctors with a quick return, nothing else.
    for n in range(7):
        records += _quick_return(f"MED-Q{n}", "SUS-MED", MARCH + timedelta(days=n))
    await feed(client, "time-records", records)
    await recalculate(app)


async def _rows(c: httpx.AsyncClient, unit: str = "RS", **params: str) -> dict[Any, Any]:
    response = await c.get("/v1/compliance/summary", params={"org_unit": unit, **params})
    assert response.status_code == 200, response.text
    return {(r["org_unit"], r["month"], r["kind"]): r for r in response.json()["rows"]}


@pytest.fixture
async def reader(app: FastAPI, client: httpx.AsyncClient) -> Any:
    await _load(app, client)
    async with make_client(app, await create_key(client, ["read"])) as c:
        yield c


async def _rest_violations(c: httpx.AsyncClient, unit: str) -> float | None:
    """The `rest_violations` KPI (daily and weekly rest together) of the unit in March."""
    response = await c.get(
        "/v1/kpis/rest_violations/series",
        params={"org_unit": unit, "from": "2024-03", "to": "2024-03"},
    )
    assert response.status_code == 200, response.text
    value: float | None = response.json()["points"][0]["numerator"]
    return value


AKUT = ("SUS-AKUT", "2024-03")


async def test_the_total_minus_the_other_kind_recovers_nothing(
    client: httpx.AsyncClient, reader: httpx.AsyncClient
) -> None:
    admin = await _rows(client)
    weekly = admin[(*AKUT, "weekly_rest")]
    assert (weekly["violations"], weekly["employees"]) == (12, 2)  # two doctors: a small group
    assert admin[(*AKUT, "daily_rest")]["employees"] == 6
    # The attack works on the admin's figures: the KPI's total minus the quick returns.
    total = await _rest_violations(client, "SUS-AKUT")
    assert total == 18.0 and total - admin[(*AKUT, "daily_rest")]["violations"] == 12
    # The KPI is readable by `read` too (eight doctors checked), so the quick returns are
    # hidden with the small group: no kind of the unit-month can be subtracted from it.
    assert await _rest_violations(reader, "SUS-AKUT") == total
    rows = await _rows(reader)
    for kind in ("daily_rest", "weekly_rest"):
        row = rows[(*AKUT, kind)]
        assert row["suppressed"] is True, kind
        assert row["violations"] is row["hours"] is row["employees"] is None
    # The clinic's seven doctors with quick returns are shown, without the employee count.
    med = rows[("SUS-MED", "2024-03", "daily_rest")]
    assert (med["violations"], med["hours"], med["suppressed"]) == (7, "10.50", False)
    assert med["employees"] is None


async def test_a_window_inside_the_month_gives_nothing_more(
    client: httpx.AsyncClient, reader: httpx.AsyncClient
) -> None:
    whole = await _rows(reader)
    early = {"from": "2024-03-01", "to": "2024-03-07"}
    # The admin's windows split the month: the whole month minus its first week is the rest.
    assert (await _rows(client, **early))[(*AKUT, "weekly_rest")]["violations"] < 12
    for window in (early, {"from": "2024-03-08", "to": "2024-03-31"}, {"from": "2024-03-15"}):
        assert await _rows(reader, **window) == whole, window
    assert await _rows(reader, to="2024-02-29") == {}


async def test_every_unit_and_key_gets_the_same_rows(
    app: FastAPI, client: httpx.AsyncClient, reader: httpx.AsyncClient
) -> None:
    region = await _rows(reader)
    for unit in ("SUS", "SUS-AKUT"):
        mine = await _rows(reader, unit)
        assert mine == {k: v for k, v in region.items() if k[0].startswith(unit)}, unit
    token = await create_key(client, ["read"], org_unit="SUS-AKUT")
    async with make_client(app, token) as confined:
        assert await _rows(confined, "SUS-AKUT") == await _rows(reader, "SUS-AKUT")


async def test_admin_sees_every_row(client: httpx.AsyncClient, reader: httpx.AsyncClient) -> None:
    rows = await _rows(client)
    assert len(rows) == 3
    assert all(r["suppressed"] is False and r["violations"] for r in rows.values())


async def test_the_events_add_up_to_nothing(reader: httpx.AsyncClient) -> None:
    # One event per unit and day with violations, readable by `read` keys and sent to
    # webhooks: with counts and hours, a month's events would add up to the hidden rows.
    response = await reader.get(
        "/v1/events", params={"types": "compliance.violation_detected", "limit": 500}
    )
    assert response.status_code == 200, response.text
    akut = [e["data"] for e in response.json()["items"] if e["data"]["org_unit"] == "SUS-AKUT"]
    assert akut and all(set(data) == {"org_unit", "date", "kinds"} for data in akut)
    assert {k for data in akut for k in data["kinds"]} == {"daily_rest", "weekly_rest"}
