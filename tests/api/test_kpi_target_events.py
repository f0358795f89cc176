"""Target events over many targets at once: several units, professions and every bound kind,
crossing both ways within one recalculation round, each crossing published once."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import feed, seed_tree, shifts
from tests.jobs import recalculate

UNITS = ("SUS-AKUT", "SUS-MED", "PV-MALMO")


def _month(unit: str, month: int, sick_days: int, overtime: str) -> list[dict[str, Any]]:
    """Five nurses scheduled 8 h on ten days (400 h), one of them sick 8 h on `sick_days` of
    them (2 % a day; the other days' sick records deleted, so resending lowers it), and one
    doctor with `overtime` hours on one day (none: deleted)."""
    dates = [date(2024, month, d) for d in range(1, 11)]
    records: list[dict[str, Any]] = []
    for n in range(5):
        records += shifts(unit, f"E{unit}{n}", dates, "scheduled", "8", unit=unit)
    records += shifts(unit, f"E{unit}0", dates[:sick_days], "sick", "8", unit=unit)
    gone = shifts(unit, f"E{unit}0", dates[sick_days:], "sick", "8", unit=unit)
    doctor = shifts(unit, f"D{unit}", dates[:1], "overtime", overtime or "1", unit=unit,
                    profession="doctor")  # fmt: skip
    if overtime:
        records += doctor
    else:
        gone += doctor
    return records + [{"source": "heroma", "external_id": r["external_id"], "deleted": True}
                      for r in gone]  # fmt: skip


async def _load(client: httpx.AsyncClient, month: int, sick: dict[str, int], ot: str) -> None:
    await feed(
        client,
        "time-records",
        [r for unit in UNITS for r in _month(unit, month, sick[unit], ot)],
    )


async def _target(client: httpx.AsyncClient, **body: Any) -> str:
    response = await client.post("/v1/kpi-targets", json={"valid_from": "2024-01", **body})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _events(client: httpx.AsyncClient) -> list[tuple[str, ...]]:
    events = (
        await client.get(
            "/v1/events",
            params={"types": "kpi.target_breached,kpi.target_recovered", "limit": 200},
        )
    ).json()["items"]
    return sorted(
        (
            e["type"].removeprefix("kpi.target_"),
            e["data"]["kpi"],
            e["data"]["org_unit"],
            e["data"]["profession"] or "",
            e["data"]["period"],
            e["data"]["value"],
            e["data"]["target"],
            e["data"]["comparator"],
        )
        for e in events
    )


async def test_many_targets_cross_both_ways_once_each(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await seed_tree(client)
    # February: the baseline month (AKUT 4 %, MED 2 %, MALMO 0 %).
    await _load(client, 2, {"SUS-AKUT": 2, "SUS-MED": 1, "PV-MALMO": 0}, "2")
    await recalculate(app)
    await _target(client, kpi="sick_leave_pct", org_unit="SUS", comparator="lte",
                  bound="absolute", value="5")  # fmt: skip
    await _target(client, kpi="sick_leave_pct", org_unit="PV-MALMO", comparator="lte",
                  bound="absolute", value="3", valid_to="2024-02")  # fmt: skip
    await _target(client, kpi="sick_leave_pct", org_unit="SUS-MED", comparator="gte",
                  bound="absolute", value="1")  # fmt: skip
    await _target(client, kpi="sick_leave_pct", org_unit="SUS-AKUT", comparator="lte",
                  bound="baseline", baseline_period="2024-02", factor="1.5")  # fmt: skip
    await _target(client, kpi="sick_leave_pct", org_unit="RS", comparator="lte",
                  bound="absolute", value="4", profession="nurse")  # fmt: skip
    await _target(client, kpi="overtime_hours", org_unit="PV-MALMO", comparator="lte",
                  bound="count", value="36", per_grain="year")  # fmt: skip
    await _target(client, kpi="overtime_hours", org_unit="RS", comparator="lte",
                  bound="baseline", baseline_period="2024-02", factor="1")  # fmt: skip
    await _target(client, kpi="sick_leave_pct", org_unit="SUS-AKUT", comparator="lte",
                  bound="absolute", value="1", valid_from="2025-01")  # fmt: skip

    # March: AKUT 8 % (SUS 5 %), MED 2 %, MALMO 6 %, 4 h overtime everywhere.
    await _load(client, 3, {"SUS-AKUT": 4, "SUS-MED": 1, "PV-MALMO": 3}, "4")
    # February again (unchanged data): first evaluations that are met publish nothing.
    await session.execute(
        sa.text(
            "INSERT INTO kpi_dirty_cells (org_unit_id, month) "
            "SELECT id, DATE '2024-02-01' FROM org_units WHERE code = ANY(:codes)"
        ),
        {"codes": list(UNITS)},
    )
    await session.commit()
    await recalculate(app)
    first = await _events(client)
    assert first == [
        ("breached", "overtime_hours", "PV-MALMO", "", "2024-03", "4.000000", "3.000000", "lte"),
        ("breached", "overtime_hours", "RS", "", "2024-03", "12.000000", "6.000000", "lte"),
        # RS's nurses are RS minus its doctors, one a unit (below the minimum group size of
        # five): the nurses' value is hidden too, from the event as from the series.
        ("breached", "sick_leave_pct", "RS", "nurse", "2024-03", None, "4.000000", "lte"),
        ("breached", "sick_leave_pct", "SUS-AKUT", "", "2024-03", "8.000000", "6.000000", "lte"),
    ]

    # March again, the other way: AKUT 2 %, MED 0 % (below its floor), MALMO 2 %, no overtime.
    await _load(client, 3, {"SUS-AKUT": 1, "SUS-MED": 0, "PV-MALMO": 1}, "")
    await recalculate(app)
    # And once more unchanged: nothing new.
    await session.execute(
        sa.text(
            "INSERT INTO kpi_dirty_cells (org_unit_id, month) "
            "SELECT id, month FROM org_units, (VALUES (DATE '2024-02-01'), (DATE '2024-03-01')) "
            "AS m(month) WHERE code = ANY(:codes)"
        ),
        {"codes": list(UNITS)},
    )
    await session.commit()
    await recalculate(app)
    assert sorted(set(await _events(client)) - set(first)) == [
        ("breached", "sick_leave_pct", "SUS-MED", "", "2024-03", "0.000000", "1.000000", "gte"),
        ("recovered", "overtime_hours", "PV-MALMO", "", "2024-03", "0.000000", "3.000000", "lte"),
        ("recovered", "overtime_hours", "RS", "", "2024-03", "0.000000", "6.000000", "lte"),
        ("recovered", "sick_leave_pct", "RS", "nurse", "2024-03", "1.333333", "4.000000", "lte"),
        ("recovered", "sick_leave_pct", "SUS-AKUT", "", "2024-03", "2.000000", "6.000000", "lte"),
    ]
    assert len(await _events(client)) == 9
