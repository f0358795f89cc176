"""The KPI engine's figures, against hand-computed expectations and the seeds' real numbers."""

from __future__ import annotations

import time
from datetime import date
from decimal import Decimal

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import make_client
from tests.factories import (
    create_key,
    create_target,
    days,
    employment,
    feed,
    personnel_cost,
    seed_tree,
    shifts,
)
from tests.jobs import recalculate, series, values

MARCH = [date(2024, 3, d) for d in range(1, 32)]


async def _five_nurses(
    client: httpx.AsyncClient, unit: str, scheduled: str, sick_days: int
) -> None:
    records = []
    for n in range(5):
        records += shifts(unit, f"E{unit}{n}", MARCH[:10], "scheduled", scheduled, unit=unit)
    records += shifts(unit, f"E{unit}0", MARCH[:sick_days], "sick", scheduled, unit=unit)
    await feed(client, "time-records", records)


async def test_seed_002_sick_leave_split_short_1_61_long_1_41(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Seed 002 (Koncernkontoret 2023): short-term 1,61 % and long-term 1,41 % of scheduled
    time. 1 000 scheduled hours in January; one employee sick two days (16.1 h, spell days
    1–2); another in a spell that began on 10 December, so her January sick days are spell
    days 26 and 31: long-term (7.05 h each)."""
    await seed_tree(client)
    records = []
    for n in range(10):
        records += shifts(
            "S", f"E{n}", [date(2023, 1, d) for d in range(2, 12)], "scheduled", "10.00"
        )
    records += shifts("S", "E0", [date(2023, 1, 2), date(2023, 1, 3)], "sick", "8.05")
    spell = [date(2022, 12, d) for d in (10, 15, 20, 25, 30)] + [date(2023, 1, 4), date(2023, 1, 9)]
    records += shifts("S", "E1", spell, "sick", "7.05")
    await feed(client, "time-records", records)
    await recalculate(app)

    jan = "2023-01"
    short = await series(client, "sick_leave_short_pct", "RS", jan, jan)
    long = await series(client, "sick_leave_long_pct", "RS", jan, jan)
    total = await series(client, "sick_leave_pct", "RS", jan, jan)
    assert short[0]["value"] == pytest.approx(1.61)
    assert long[0]["value"] == pytest.approx(1.41)
    assert total[0]["value"] == pytest.approx(3.02)
    assert (short[0]["numerator"], short[0]["denominator"]) == (16.1, 1000.0)


async def test_a_spell_across_a_month_end_splits_into_short_and_long_days(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await seed_tree(client)
    sick = list(days(date(2024, 3, 20), date(2024, 4, 10)))  # 22 days, one spell
    records = shifts("X", "C1", sick, "sick", "8")
    records += shifts("X", "C1", days(date(2024, 3, 1), date(2024, 4, 30)), "scheduled", "8")
    await feed(client, "time-records", records)
    await recalculate(app)
    short = values(await series(client, "sick_leave_short_pct", "RS", "2024-03", "2024-04"))
    long = values(await series(client, "sick_leave_long_pct", "RS", "2024-03", "2024-04"))
    # March: days 1–12 of the spell (20–31 March) are short. April: 1–2 April are days 13–14
    # (short), 3–10 April are days 15–22 (long). Scheduled: 31 × 8 h and 30 × 8 h.
    assert short["2024-03"] == pytest.approx(100 * 12 / 31)
    assert long["2024-03"] == 0
    assert short["2024-04"] == pytest.approx(100 * 2 / 30)
    assert long["2024-04"] == pytest.approx(100 * 8 / 30)


async def test_a_region_pools_its_units_rather_than_averaging_them(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await seed_tree(client)
    await _five_nurses(client, "SUS-AKUT", "8", 4)  # 32 of 400 h: 8 %
    await _five_nurses(client, "PV-MALMO", "2", 1)  # 2 of 100 h: 2 %
    await recalculate(app)
    akut = await series(client, "sick_leave_pct", "SUS-AKUT", "2024-03", "2024-03")
    malmo = await series(client, "sick_leave_pct", "PV-MALMO", "2024-03", "2024-03")
    region = await series(client, "sick_leave_pct", "RS", "2024-03", "2024-03")
    assert (akut[0]["value"], malmo[0]["value"]) == (8.0, 2.0)
    assert region[0]["value"] == pytest.approx(100 * 34 / 500)  # 6.8 %, not the mean 5 %
    children = await client.get(
        "/v1/kpis/sick_leave_pct/series",
        params={"org_unit": "RS", "from": "2024-03", "to": "2024-03", "children": "true"},
    )
    by_unit = {s["org_unit"]: s["points"][0]["value"] for s in children.json()["series"]}
    assert by_unit == {"SUS": 8.0, "PV": 2.0}


async def test_quarter_tertial_year_and_rolling_12_are_sums_of_months(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await seed_tree(client)
    records = []
    for month, extra in [(1, 1), (2, 2), (3, 3), (4, 5), (12, 7)]:
        for n in range(5):
            records += shifts("G", f"E{n}", [date(2024, month, 2)], "scheduled", "10")
        records += shifts("G", "E0", [date(2024, month, 3)], "overtime", str(extra))
        records += shifts("G", "E1", [date(2024, month, 2)], "sick", str(extra))
    await feed(client, "time-records", records)
    await recalculate(app)
    q = values(await series(client, "overtime_hours", "RS", "2024-01", "2024-06", grain="quarter"))
    t = values(await series(client, "overtime_hours", "RS", "2024-01", "2024-12", grain="tertial"))
    y = values(await series(client, "overtime_hours", "RS", "2024", "2024", grain="year"))
    r = values(
        await series(client, "sick_leave_pct", "RS", "2024-12", "2024-12", grain="rolling12")
    )
    assert q == {"2024-Q1": 6.0, "2024-Q2": 5.0}
    assert t == {"2024-T1": 11.0, "2024-T2": None, "2024-T3": 7.0}  # T2 has no data
    assert y == {"2024": 18.0}
    # Rolling 12 pools hours: 18 sick of 250 scheduled, not the mean of five monthly rates.
    assert r["2024-12-R12"] == pytest.approx(100 * 18 / 250)


async def test_seed_003_agency_cost_table_reproduced_from_personnel_costs(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Seed 003 (HELÄR, the staffing project's final report): agency costs in MSEK with the
    2015 level as the target. Summa: target 127,9; 2017 189,9; 2018 134,1; change −55,8
    (−29 %); deviation from target 6,2 (5 %)."""
    tree = [
        {"code": "JH", "name": "Region Jämtland Härjedalen", "kind": "region"},
        {"code": "PV", "name": "Primärvården", "kind": "administration", "parent_code": "JH"},
        {
            "code": "OSD",
            "name": "Östersunds sjukhus",
            "kind": "administration",
            "parent_code": "JH",
        },
    ]
    assert (await client.put("/v1/org-units", json=tree)).status_code == 200
    # MSEK per year: (unit, profession) → 2015, 2017, 2018
    table = {
        ("PV", "doctor"): ("63.8", "70.3", "39.9"),
        ("OSD", "doctor"): ("44.0", "68.2", "68.8"),
        ("OSD", "nurse"): ("15.9", "47.2", "22.8"),
        ("OSD", "other"): ("4.2", "4.2", "2.6"),
    }
    records = []
    for (unit, profession), amounts in table.items():
        for year, amount in zip((2015, 2017, 2018), amounts, strict=True):
            monthly = Decimal(amount) * 1_000_000 / 12
            for month in range(1, 13):
                records.append(
                    personnel_cost(
                        f"{year}-{month:02d}/{unit}/{profession}",
                        period=f"{year}-{month:02d}",
                        org_unit_code=unit,
                        profession=profession,
                        amount_sek=str(round(monthly, 2)),
                    )
                )
    await feed(client, "personnel-costs", records)
    await recalculate(app)
    target = await create_target(
        client,
        "agency_cost_sek",
        "JH",
        None,
        bound="baseline",
        baseline_period="2015",
        factor="1",
        valid_from="2016-01",
        description="Beroendet av hyrpersonal ska minska till 2015 års nivå",
    )

    def msek(x: float | None) -> float:
        assert x is not None
        return round(x / 1_000_000, 1)

    points = await series(client, "agency_cost_sek", "JH", "2017", "2018", grain="year")
    y2017, y2018 = points
    assert msek(y2017["value"]) == 189.9 and msek(y2018["value"]) == 134.1
    assert msek(y2018["target"]) == 127.9
    assert msek(y2018["change"]) == -55.8 and round(y2018["change_pct"]) == -29
    assert msek(y2018["deviation"]) == 6.2 and round(y2018["deviation_pct"]) == 5
    assert (y2018["status"], y2018["trend"]) == ("not_met", "positive")
    assert y2018["rule"]["target_id"] == target.json()["id"]
    # Per row, e.g. "Inhyrda läkare": 107,8 → 138,5 → 108,7, change −29,8, deviation 0,9.
    doctors = (
        await series(
            client, "agency_cost_sek", "JH", "2018", "2018", grain="year", profession="doctor"
        )
    )[0]
    assert (msek(doctors["value"]), msek(doctors["target"])) == (108.7, 107.8)
    assert (msek(doctors["change"]), msek(doctors["deviation"])) == (-29.8, 0.9)
    primary = (await series(client, "agency_cost_sek", "PV", "2018", "2018", grain="year"))[0]
    assert (msek(primary["value"]), msek(primary["target"]), msek(primary["deviation"])) == (
        39.9,
        63.8,
        -23.9,
    )
    assert primary["status"] == "met" and round(primary["deviation_pct"]) == -37


async def test_small_groups_are_suppressed_for_keys_without_admin(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await seed_tree(client)
    records = []
    for n in range(4):  # four employees: below the minimum group size of five
        records += shifts("P", f"E{n}", MARCH[:5], "scheduled", "8")
    records += shifts("P", "E0", MARCH[:2], "sick", "8")
    await feed(client, "time-records", records)
    await recalculate(app)
    token = await create_key(client, ["read"])
    async with make_client(app, token) as reader:
        hidden = (await series(reader, "sick_leave_pct", "SUS-AKUT", "2024-03", "2024-03"))[0]
    assert hidden["suppressed"] is True and hidden["reason"] == "suppressed"
    assert hidden["value"] is hidden["numerator"] is hidden["deviation"] is None
    shown = (await series(client, "sick_leave_pct", "SUS-AKUT", "2024-03", "2024-03"))[0]
    assert shown["suppressed"] is False and shown["value"] == 10.0


async def test_corrections_change_the_series_after_recalculation(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await seed_tree(client)
    await _five_nurses(client, "SUS-AKUT", "8", 4)
    await recalculate(app)
    assert values(await series(client, "sick_leave_pct", "RS", "2024-03", "2024-03")) == {
        "2024-03": 8.0
    }
    # The HR system corrects one sick day to 4 h and withdraws another.
    fixed = shifts("SUS-AKUT", "ESUS-AKUT0", MARCH[:1], "sick", "4", unit="SUS-AKUT")
    await feed(client, "time-records", fixed)
    gone = {"source": "heroma", "external_id": "SUS-AKUT-ESUS-AKUT0-20240302-sick", "deleted": True}
    await feed(client, "time-records", [gone])
    await recalculate(app)
    assert values(await series(client, "sick_leave_pct", "RS", "2024-03", "2024-03")) == {
        "2024-03": 100 * 20 / 400
    }


async def test_a_change_early_in_a_spell_renumbers_the_months_after_it(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await seed_tree(client)
    records = shifts("F", "L1", days(date(2024, 4, 1), date(2024, 4, 30)), "scheduled", "8")
    records += shifts("F", "L1", days(date(2024, 4, 1), date(2024, 4, 20)), "sick", "8")
    await feed(client, "time-records", records)
    await recalculate(app)
    assert values(await series(client, "sick_leave_long_pct", "RS", "2024-04", "2024-04")) == {
        "2024-04": pytest.approx(100 * 6 / 30)
    }
    # Late-reported sick days in March make April's days later in the spell: all long now.
    await feed(
        client,
        "time-records",
        shifts("F", "L1", days(date(2024, 3, 18), date(2024, 3, 31)), "sick", "8"),
    )
    await recalculate(app)
    assert values(await series(client, "sick_leave_long_pct", "RS", "2024-04", "2024-04")) == {
        "2024-04": pytest.approx(100 * 20 / 30)
    }


async def test_the_round_for_a_spells_later_months_does_not_wait_for_the_interval(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The later months a round renumbers are its own work (spills), not a feed's next batch:
    their round starts at once, not after `recalculation_interval_seconds` (an incremental
    recalculation at 3 M records waited most of a second for it)."""
    monkeypatch.setattr(app.state.settings, "recalculation_interval_seconds", 5.0)
    await seed_tree(client)
    records = shifts("F", "L1", days(date(2024, 4, 1), date(2024, 4, 30)), "scheduled", "8")
    records += shifts("F", "L1", days(date(2024, 4, 1), date(2024, 4, 20)), "sick", "8")
    await feed(client, "time-records", records)
    await recalculate(app)
    await feed(
        client,
        "time-records",
        shifts("F", "L1", days(date(2024, 3, 18), date(2024, 3, 31)), "sick", "8"),
    )
    started = time.monotonic()
    assert await recalculate(app) == 2  # March, then April as a spill
    assert time.monotonic() - started < 2.5
    assert values(await series(client, "sick_leave_long_pct", "RS", "2024-04", "2024-04")) == {
        "2024-04": pytest.approx(100 * 20 / 30)
    }


async def test_headcount_turnover_and_shares_from_employments(
    app: FastAPI, client: httpx.AsyncClient
) -> None:

    await seed_tree(client)
    people = [
        employment("A", employee_ref="A", contract="permanent", fte="1.000", is_manager=True),
        employment("B", employee_ref="B", contract="permanent", fte="0.750"),
        employment("C", employee_ref="C", contract="fixed_term", fte="1.000"),
        employment("D", employee_ref="D", contract="hourly", fte="0.200"),
        employment(
            "E",
            employee_ref="E",
            contract="permanent",
            fte="1.000",
            end_date="2024-03-15",
            end_reason="resignation",
        ),
    ]
    await feed(client, "employments", people)
    await recalculate(app)
    month = "2024-03"
    got = {
        kpi: (await series(client, kpi, "RS", month, month))[0]["value"]
        for kpi in (
            "headcount",
            "fte",
            "permanent_share_pct",
            "full_time_share_pct",
            "employees_per_manager",
            "turnover_pct",
        )
    }
    # Monthly-paid staff, as the annual reports count them: D is hourly-paid.
    assert got == {
        "headcount": 3.0,
        "fte": 2.75,
        "permanent_share_pct": pytest.approx(100 * 2 / 3),
        "full_time_share_pct": pytest.approx(100 * 2 / 3),
        "employees_per_manager": 2.0,  # B and C to A
        "turnover_pct": 50.0,  # one permanent ended of two permanent at the month's end
    }
    # The pay form dimension shows the others; a mapped pay form code decides over the contract.
    hourly = await series(client, "headcount", "RS", month, month, pay_form="hourly")
    assert (hourly[0]["value"], hourly[0]["numerator"]) == (1.0, 1.0)
    response = await client.put(
        "/v1/sources/heroma/code-mappings", json={"pay_form_codes": {"TIM": "hourly"}}
    )
    assert response.status_code == 200, response.text
    await feed(client, "employments", [employment("B", employee_ref="B", pay_form_code="TIM")])
    await recalculate(app)
    assert values(await series(client, "headcount", "RS", month, month)) == {month: 2.0}
    unmapped = employment("X", employee_ref="X", pay_form_code="NOPE")
    response = await client.post("/v1/employments:batch", json={"records": [unmapped]})
    assert response.status_code == 200, response.text
    assert response.json()["errors"][0]["errors"][0]["loc"] == ["pay_form_code"]


async def test_an_employment_arriving_after_the_time_records_splits_them_in_every_unit(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Gender and age band come from the employee's latest employment: when it arrives (or
    changes, or goes) after the time records, every cell of those records is computed again,
    also in units and months the employment does not cover."""

    await seed_tree(client)
    records = []
    for n in range(5):
        records += shifts("G", f"G{n}", MARCH[:10], "scheduled", "8", unit="SUS-MED")
    records += shifts("G", "G0", MARCH[:2], "sick", "8", unit="SUS-MED")
    await feed(client, "time-records", records)
    await recalculate(app)

    async def split(**params: str) -> dict[str, object]:
        return values(await series(client, "sick_leave_pct", "RS", "2024-03", "2024-03", **params))

    assert await split(gender="female") == {"2024-03": None}
    # Employed at the emergency ward from April: the March records elsewhere are hers too.
    hired = [
        employment(
            f"G{n}", employee_ref=f"G{n}", start_date="2024-04-01", gender="female", birth_year=1990
        )  # fmt: skip
        for n in range(5)
    ]
    await feed(client, "employments", hired)
    await recalculate(app)
    assert await split(gender="female") == {"2024-03": 100 * 16 / 400}
    assert await split(age_band="30-49") == {"2024-03": 100 * 16 / 400}
    older = [{**e, "birth_year": 1970} for e in hired]
    await feed(client, "employments", older)
    await recalculate(app)
    assert await split(age_band="50-") == {"2024-03": 100 * 16 / 400}
    gone = [
        {"source": e["source"], "external_id": e["external_id"], "deleted": True} for e in hired
    ]
    await feed(client, "employments", gone)
    await recalculate(app)
    assert await split(gender="female") == {"2024-03": None}
