"""The annual reports' figures (issue 22): presence and absence, monthly-paid staff, spells of
60 days or more, recovery, hires and the survey indices, with seed 002's real numbers."""

from __future__ import annotations

from datetime import date, timedelta

import httpx
import pytest
from fastapi import FastAPI

from tests.factories import (
    create_target,
    days,
    employment,
    feed,
    personnel_cost,
    seed_tree,
    shifts,
)
from tests.jobs import recalculate, series, values
from tests.problems import assert_problem


def _weekdays(first: date, last: date) -> list[date]:
    return [d for d in days(first, last) if d.weekday() < 5]


async def test_seed_002_presence_absence_extended_presence_and_employees_per_manager(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Seed 002 (Koncernkontoret 2023): presence 78.5 %, extended presence 0.7 %, absence
    20.7 % (not adding up to 100) and 11 employees per manager. Ten monthly-paid employees
    are scheduled 10 h on ten days (1 000 h): 785 h worked inside the schedule, 207 h absent,
    and 3 h overtime, 2 h extra time and an hourly-paid colleague's 2 h beyond it. 22
    monthly-paid non-managers and 2 managers (and the hourly-paid one, who does not count)."""
    await seed_tree(client)
    work = [date(2023, 3, d) for d in range(6, 11)] + [date(2023, 3, d) for d in range(13, 18)]
    records = []
    for n in range(10):
        records += shifts("S", f"E{n}", work, "scheduled", "10.00")
    for n in range(3, 10):
        records += shifts("S", f"E{n}", work, "worked", "10.00")
    records += shifts("S", "E3", work[:1], "extra_time", "2.00")  # beyond the schedule
    records += shifts("S", "E4", work[1:2], "overtime", "3.00")
    records += shifts("S", "E0", work, "sick", "10.00")
    records += shifts("S", "E1", work, "vacation", "10.00")
    # E2: eight full days, then 3 h worked and 7 h parental leave, then 2 h worked.
    records += shifts("S", "E2", work[:8], "worked", "10.00")
    records += shifts("S", "E2", work[8:9], "worked", "3.00")
    records += shifts("S", "E2", work[8:9], "parental_leave", "7.00")
    records += shifts("S", "E2", work[9:], "worked", "2.00")
    # E5's first day is 12 h worked: 10 h of it inside the schedule.
    records = [r for r in records if r["external_id"] != "S-E5-20230306-worked"]
    records += shifts("S", "E5", work[:1], "worked", "12.00")
    records += shifts("S", "H1", work[:1], "worked", "2.00")  # hourly-paid, no schedule
    await feed(client, "time-records", records)
    people = [
        employment(f"EMP-{ref}", employee_ref=ref, start_date="2022-01-01")
        for ref in [f"E{n}" for n in range(10)] + [f"N{n}" for n in range(12)]
    ]
    people += [
        employment(f"EMP-M{n}", employee_ref=f"M{n}", start_date="2022-01-01", is_manager=True)
        for n in range(2)
    ]
    people.append(
        employment("EMP-H1", employee_ref="H1", start_date="2022-01-01", contract="hourly")
    )
    await feed(client, "employments", people)
    await recalculate(app)

    year = "2023"
    presence = (await series(client, "presence_pct", "RS", year, year, grain="year"))[0]
    absence = (await series(client, "absence_pct", "RS", year, year, grain="year"))[0]
    extended = (await series(client, "extended_presence_pct", "RS", year, year, grain="year"))[0]
    assert (presence["numerator"], presence["denominator"]) == (785.0, 1000.0)
    assert presence["value"] == pytest.approx(78.5)
    assert (absence["numerator"], absence["value"]) == (207.0, pytest.approx(20.7))
    assert (extended["numerator"], extended["denominator"]) == (7.0, 1000.0)
    assert extended["value"] == pytest.approx(0.7)
    december = "2023-12"
    ratio = (await series(client, "employees_per_manager", "RS", december, december))[0]
    assert (ratio["numerator"], ratio["denominator"], ratio["value"]) == (22.0, 2.0, 11.0)
    assert values(await series(client, "headcount", "RS", december, december)) == {december: 24}
    hourly = await series(client, "headcount", "RS", december, december, pay_form="hourly")
    assert values(hourly) == {december: 1}


async def test_spells_of_60_days_count_all_their_hours_also_in_the_months_before(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """A spell from 3 December to 31 January lasts 60 days: every hour of it counts as long
    sick leave in the statute's sense, December's too, once January's days arrive. One from
    4 December lasts 59 days and never counts."""
    await seed_tree(client)

    def spell(employee: str, first: date, last: date) -> list[dict[str, object]]:
        return shifts("L", employee, days(first, last), "sick", "8.00")

    sixty = spell("A", date(2023, 12, 3), date(2024, 1, 31))
    fifty_nine = spell("B", date(2023, 12, 4), date(2024, 1, 31))
    december = [r for r in sixty + fifty_nine if str(r["work_date"]) < "2024"]
    january = [r for r in sixty + fifty_nine if str(r["work_date"]) >= "2024"]
    await feed(client, "time-records", december)
    await recalculate(app)
    kpi = "sick_leave_60plus_share_pct"
    before = (await series(client, kpi, "RS", "2023-12", "2023-12"))[0]
    assert (before["numerator"], before["denominator"]) == (0.0, 29 * 8 + 28 * 8)

    await feed(client, "time-records", january)
    await recalculate(app)
    points = await series(client, kpi, "RS", "2023-12", "2024-01")
    assert [(p["numerator"], p["denominator"]) for p in points] == [
        (29 * 8, 29 * 8 + 28 * 8),  # A's December hours, now of a 60-day spell
        (31 * 8, 31 * 8 * 2),
    ]
    assert values(points)["2023-12"] == pytest.approx(100 * 29 / 57)
    # Withdrawing A's last day makes the spell 59 days: December drops out again.
    last = next(r for r in january if r["external_id"] == "L-A-20240131-sick")
    gone = {"source": last["source"], "external_id": last["external_id"], "deleted": True}
    await feed(client, "time-records", [gone])
    await recalculate(app)
    points = await series(client, kpi, "RS", "2023-12", "2024-01")
    assert [p["numerator"] for p in points] == [0.0, 0.0]


async def test_recovery_counts_four_consecutive_weeks_of_summer_vacation(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Semesterlagen 12 §: of the monthly-paid employees employed all summer, the share with
    four consecutive weeks of vacation in June–August. R1 takes 1–26 July (four Monday-to-
    Friday weeks, counted); R2 three weeks and one more week later (not); R3 none; a colleague
    starting in July and an hourly-paid one are not employed all summer as monthly-paid."""
    await seed_tree(client)
    people = [
        employment(f"EMP-R{n}", employee_ref=f"R{n}", start_date="2023-01-01") for n in (1, 2, 3)
    ]
    people.append(employment("EMP-LATE", employee_ref="LATE", start_date="2024-07-01"))
    people.append(
        employment("EMP-HOUR", employee_ref="HOUR", start_date="2023-01-01", contract="hourly")
    )
    await feed(client, "employments", people)
    await recalculate(app)
    vacation = shifts("V", "R1", _weekdays(date(2024, 7, 1), date(2024, 7, 26)), "vacation", "8")
    vacation += shifts("V", "R2", _weekdays(date(2024, 7, 1), date(2024, 7, 19)), "vacation", "8")
    vacation += shifts("V", "R2", _weekdays(date(2024, 8, 5), date(2024, 8, 9)), "vacation", "8")
    vacation += shifts("V", "LATE", _weekdays(date(2024, 7, 1), date(2024, 7, 26)), "vacation", "8")
    await feed(client, "time-records", vacation)
    await recalculate(app)  # July's vacation reaches August's count
    point = (await series(client, "recovery_pct", "RS", "2024", "2024", grain="year"))[0]
    assert (point["numerator"], point["denominator"]) == (1.0, 3.0)
    assert point["value"] == pytest.approx(100 / 3)
    monthly = {"org_unit": "RS", "from": "2024-01", "to": "2024-12"}
    response = await client.get("/v1/kpis/recovery_pct/series", params=monthly)
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "grain_not_available"


async def test_new_hires_leave_out_internal_transfers(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Seed 000 follows where nurses were hired: a nurse hired in March counts, one moving
    from another unit (her employment there ended as an internal transfer) does not."""
    await seed_tree(client)
    await feed(
        client,
        "employments",
        [
            employment("H-NEW", employee_ref="NEW", start_date="2024-03-11"),
            employment(
                "H-OLD",
                employee_ref="MOVER",
                org_unit_code="SUS-MED",
                start_date="2020-01-01",
                end_date="2024-02-29",
                end_reason="internal_transfer",
            ),
            employment("H-MOVED", employee_ref="MOVER", start_date="2024-03-01"),
        ],
    )
    await recalculate(app)
    hires = await series(client, "new_hires", "SUS-AKUT", "2024-02", "2024-03")
    assert values(hires) == {"2024-02": None, "2024-03": 1}  # no staff there in February
    quarter = await series(client, "new_hires", "RS", "2024-Q1", "2024-Q1", grain="quarter")
    assert values(quarter) == {"2024-Q1": 1}


async def test_the_survey_indices_are_predefined_yearly_manual_kpis(
    client: httpx.AsyncClient,
) -> None:
    """Seed 002 prints HME 77, response rate 91.4 % and 86 % who would recommend their
    workplace: a region only enters the values."""
    await seed_tree(client)
    listed = {
        k["code"]: k for k in (await client.get("/v1/kpis", params={"limit": 500})).json()["items"]
    }
    for code in (
        "hme_index",
        "hme_leadership",
        "hme_motivation",
        "hme_governance",
        "survey_response_rate_pct",
        "would_recommend_pct",
        "development_talk_pct",
    ):
        assert listed[code]["kind"] == "manual" and listed[code]["grains"] == ["year"], code
        assert listed[code]["better"] == "higher"
    for code, value in (("hme_index", "77"), ("survey_response_rate_pct", "91.4")):
        response = await client.post(
            f"/v1/kpis/{code}/values", json={"org_unit": "RS", "period": "2023", "value": value}
        )
        assert response.status_code in (200, 201), response.text
        got = await series(client, code, "RS", "2023", "2023", grain="year")
        assert values(got) == {"2023": float(value)}
    monthly = await client.post(
        "/v1/kpis/hme_index/values", json={"org_unit": "RS", "period": "2023-05", "value": "70"}
    )
    assert monthly.status_code == 422
    assert monthly.json()["errors"][0]["code"] == "grain_not_available"


async def test_agency_hours_per_iso_week_as_seed_003_follows_locums(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Seed 003 caps locums per week: agency doctor hours per ISO week, a week straddling the
    turn of the month whole (2024-W05: 29 January – 4 February), fed in two months."""
    await seed_tree(client)
    locum = {"staff_kind": "agency", "profession": "doctor"}
    january = shifts("W", "L", days(date(2024, 1, 22), date(2024, 1, 31)), "worked", "10", **locum)
    february = shifts("W", "L", days(date(2024, 2, 1), date(2024, 2, 4)), "worked", "10", **locum)
    await feed(client, "time-records", january)
    await recalculate(app)
    await feed(client, "time-records", february)
    await recalculate(app)
    weeks = await series(client, "agency_hours", "RS", "2024-W04", "2024-W06", grain="week")
    assert values(weeks) == {"2024-W04": 70.0, "2024-W05": 70.0, "2024-W06": None}
    doctor_weeks = await series(
        client, "agency_doctor_weeks", "RS", "2024-W05", "2024-W05", grain="week"
    )
    assert values(doctor_weeks) == {"2024-W05": pytest.approx(70 / 40)}
    # Weeks for the KPIs that have them, split by profession only.
    split = await client.get(
        "/v1/kpis/sick_leave_pct/series",
        params={"org_unit": "RS", "from": "2024-W05", "to": "2024-W06", "grain": "week",
                "gender": "female"},
    )  # fmt: skip
    assert split.status_code == 422
    assert split.json()["errors"][0]["loc"] == ["query", "gender"]
    spells = await client.get(
        "/v1/kpis/sick_leave_long_pct/series",
        params={"org_unit": "RS", "from": "2024-W05", "to": "2024-W06", "grain": "week"},
    )
    assert spells.status_code == 422
    assert spells.json()["errors"][0]["code"] == "grain_not_available"


async def test_year_to_date_pools_the_months_and_compares_with_the_same_months_before(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """The "delår" January–August: overtime summed over eight months, compared with January–
    August of the year before (not the whole year before)."""
    await seed_tree(client)
    records = []
    for year, hours in ((2023, "2.00"), (2024, "3.00")):
        for month in range(1, 13):
            records += shifts("Y", "OT", [date(year, month, 10)], "overtime", hours)
    await feed(client, "time-records", records)
    await recalculate(app)
    points = await series(client, "overtime_hours", "RS", "2024-YTD07", "2024-YTD08", grain="ytd")
    assert values(points) == {"2024-YTD07": 21.0, "2024-YTD08": 24.0}
    assert (points[1]["change"], points[1]["change_pct"]) == (8.0, 50.0)  # against 16 h
    card = await client.get("/v1/org-units/RS/scorecard", params={"period": "2024-YTD08"})
    assert card.status_code == 200, card.text
    bad = await client.get(
        "/v1/kpis/overtime_hours/series",
        params={"org_unit": "RS", "from": "2024-YTD13", "to": "2024-YTD13", "grain": "ytd"},
    )
    assert bad.status_code == 422
    error = bad.json()["errors"][0]
    assert error["loc"] == ["query", "from"] and "month 13" in error["msg"]


async def test_seed_003_nurse_agency_share_at_most_3_pct_by_q3_2018_on_a_straight_line(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Seed 003: "Andelen hyrsjuksköterskor ska vara högst 3 % av personalkostnaden för
    sjuksköterskor vid utgången av kvartal 3 2018". From 7 % in 2017-Q4 the line runs through
    5.67 % (Q1) and 4.33 % (Q2) to 3 % (Q3): 5 % in Q1 is on track, 4.5 % in Q2 is not, 2.9 %
    in Q3 is; after Q3 the bound itself holds."""
    await seed_tree(client)
    shares = {"2017-12": "7", "2018-03": "5", "2018-06": "4.5", "2018-09": "2.9", "2018-12": "3"}
    rows = []
    for month, share in shares.items():
        agency = f"{float(share) * 1000:.2f}"
        own = f"{(100 - float(share)) * 1000:.2f}"
        for category, amount in (("agency", agency), ("own_staff", own)):
            rows.append(
                personnel_cost(
                    f"{month}-{category}",
                    period=month,
                    profession="nurse",
                    category=category,
                    amount_sek=amount,
                )
            )
    await feed(client, "personnel-costs", rows)
    await recalculate(app)
    target = await create_target(
        client,
        "agency_cost_share_pct",
        "RS",
        "3",
        profession="nurse",
        valid_from="2018-01",
        reach_by="2018-Q3",
        start_period="2017-Q4",
    )
    assert (target.json()["reach_by"], target.json()["start_period"]) == ("2018-Q3", "2017-Q4")
    points = await series(
        client,
        "agency_cost_share_pct",
        "RS",
        "2018-Q1",
        "2018-Q4",
        grain="quarter",
        profession="nurse",
    )
    assert [p["target"] for p in points] == [
        pytest.approx(7 - 4 / 3),
        pytest.approx(7 - 8 / 3),
        pytest.approx(3),
        pytest.approx(3),
    ]
    assert [p["status"] for p in points] == ["met", "not_met", "met", "met"]


async def test_seed_003_below_585_agency_doctor_weeks_by_q3_is_strict(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Seed 003: "Primärvården ska ha mindre än 585 hyrläkarveckor vid utgången av kvartal 3
    2018": a rate of fewer than 585 weeks a year (146.25 a quarter), reached by Q3 from 2017's
    800 weeks (200 a quarter). Exactly 146.25 weeks in Q3 is not below it: `lt` is strict."""
    await seed_tree(client)
    weeks = {2017: ["200", "200", "200", "200"], 2018: ["180", "170", "146.25"]}
    records = []
    for year, per_quarter in weeks.items():
        for quarter, count in enumerate(per_quarter):
            # 50 locums on ten days of the quarter's first month.
            first = date(year, quarter * 3 + 1, 1)
            hours = f"{float(count) * 40 / 500:.2f}"
            for n in range(50):
                records += shifts(
                    f"Q{year}{quarter}",
                    f"LOCUM{n}",
                    days(first, first + timedelta(days=9)),
                    "worked",
                    hours,
                    staff_kind="agency",
                    profession="doctor",
                    unit="PV-MALMO",
                )
    await feed(client, "time-records", records)
    await recalculate(app)
    await create_target(
        client,
        "agency_doctor_weeks",
        "PV",
        "585",
        comparator="lt",
        bound="count",
        per_grain="year",
        valid_from="2018-01",
        reach_by="2018-Q3",
        start_period="2017",
    )
    points = await series(
        client, "agency_doctor_weeks", "PV", "2018-Q1", "2018-Q3", grain="quarter"
    )
    assert [p["value"] for p in points] == [180.0, 170.0, 146.25]
    assert [p["target"] for p in points] == [
        pytest.approx(200 - 53.75 / 3),
        pytest.approx(200 - 2 * 53.75 / 3),
        pytest.approx(146.25),
    ]
    assert [p["status"] for p in points] == ["met", "not_met", "not_met"]


async def test_trajectory_targets_refuse_a_reach_by_before_the_start(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await seed_tree(client)
    await feed(client, "personnel-costs", [personnel_cost("C1", period="2017-12")])
    await recalculate(app)
    body = {
        "kpi": "agency_cost_sek",
        "org_unit": "RS",
        "comparator": "lt",
        "bound": "absolute",
        "value": "100",
        "valid_from": "2018-01",
    }
    early = await client.post(
        "/v1/kpi-targets", json={**body, "reach_by": "2017-Q3", "start_period": "2017-Q4"}
    )
    assert_problem(early, 422, "validation_failed")
    assert early.json()["errors"][0]["loc"] == ["body", "reach_by"]
    assert early.json()["errors"][0]["code"] == "reach_by_before_start"
    unparsed = await client.post(
        "/v1/kpi-targets", json={**body, "reach_by": "2018-Q5", "start_period": "2017-Q4"}
    )
    assert unparsed.json()["errors"][0]["loc"] == ["body", "reach_by"]
    empty = await client.post(
        "/v1/kpi-targets", json={**body, "reach_by": "2018-Q3", "start_period": "2016"}
    )
    assert empty.json()["errors"][0]["loc"] == ["body", "start_period"]
    alone = await client.post("/v1/kpi-targets", json={**body, "reach_by": "2018-Q3"})
    assert alone.status_code == 422


def _budget(external_id: str, **fields: object) -> dict[str, object]:
    return {
        "source": "raindance",
        "external_id": external_id,
        "org_unit_code": "SUS-AKUT",
        "period": "2023",
        **fields,
    }


async def test_seed_002_outcome_against_budget_for_personnel_and_consultants(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Seed 002's table (MSEK, 2023): personnel costs −757.1 against a budget of −777.7
    (20.6 under), consultants −99.3 against −81.0 (18.3 over; the report prints −18.2 from
    unrounded figures). Costs are positive amounts in Puls: deviation = outcome − budget."""
    await seed_tree(client)
    costs = []
    for month in range(1, 13):
        own = "64100000.00" if month == 12 else "63000000.00"
        consultants = "11300000.00" if month == 12 else "8000000.00"
        period = f"2023-{month:02d}"
        costs.append(
            personnel_cost(f"P{month}", period=period, category="own_staff", amount_sek=own)
        )
        costs.append(
            personnel_cost(
                f"K{month}", period=period, category="consultant", amount_sek=consultants
            )
        )
    await feed(client, "personnel-costs", costs)
    budgets = [
        _budget("B-P", category="personnel", amount_sek="777700000.00"),
        _budget("B-K", category="consultant", amount_sek="81000000.00"),
    ]
    response = await client.post("/v1/budgets:batch", json={"records": budgets})
    assert response.status_code == 200, response.text
    assert response.json()["inserted"] == 2
    await recalculate(app)

    rows = {}
    for kpi in ("personnel_cost_sek", "consultant_cost_sek"):
        point = (await series(client, kpi, "SUS", "2023", "2023", grain="year"))[0]
        rows[kpi] = tuple(round(point[f] / 1e6, 1) for f in ("value", "budget", "budget_deviation"))
    assert rows == {
        "personnel_cost_sek": (757.1, 777.7, -20.6),
        "consultant_cost_sek": (99.3, 81.0, 18.3),
    }
    # A year's budget is spread over its months; a year to date gets its months' share.
    march = (await series(client, "personnel_cost_sek", "RS", "2023-03", "2023-03"))[0]
    assert march["budget"] == pytest.approx(777_700_000 / 12)
    ytd = (await series(client, "consultant_cost_sek", "RS", "2023-YTD06", "2023-YTD06",
                        grain="ytd"))[0]  # fmt: skip
    assert (ytd["value"], ytd["budget"]) == (48_000_000.0, 40_500_000.0)
    assert ytd["budget_deviation_pct"] == pytest.approx(100 * 7.5 / 40.5, abs=1e-3)
    # The scorecard carries the budget beside the target.
    await create_target(client, "personnel_cost_sek", "SUS", "780000000", valid_from="2023-01")
    card = await client.get("/v1/org-units/SUS/scorecard", params={"period": "2023"})
    assert card.status_code == 200, card.text
    (row,) = card.json()["rows"]
    assert row["point"]["budget"] == pytest.approx(777_700_000)
    assert row["point"]["status"] == "met"

    # Withdrawn, the budget is gone after the recalculation.
    gone = {"source": "raindance", "external_id": "B-K", "deleted": True}
    response = await client.post("/v1/budgets:batch", json={"records": [gone]})
    assert response.json()["deleted"] == 1
    await recalculate(app)
    point = (await series(client, "consultant_cost_sek", "SUS", "2023", "2023", grain="year"))[0]
    assert (point["value"], point["budget"]) == (99_300_000.0, None)


async def test_bad_budgets_are_refused_naming_the_field(client: httpx.AsyncClient) -> None:
    await seed_tree(client)
    bad = [
        _budget("X1", org_unit_code="NOPE", category="personnel", amount_sek="1.00"),
        _budget("X2", category="travel", amount_sek="1.00"),
        _budget("X3", category="personnel", amount_sek="1.00", period="2023-13"),
        # Year 0000 fits the pattern and no date (it was a 500), 1999 is before the window.
        _budget("X4", category="personnel", amount_sek="1.00", period="0000"),
        _budget("X5", category="personnel", amount_sek="1.00", period="0000-01"),
        _budget("X6", category="personnel", amount_sek="1.00", period="1999-12"),
        _budget("OK", category="personnel", amount_sek="1.00", period="2000"),
    ]
    response = await client.post("/v1/budgets:batch", json={"records": bad})
    assert response.status_code == 200, response.text
    assert response.json()["inserted"] == 1
    errors = {e["external_id"]: e["errors"][0] for e in response.json()["errors"]}
    assert errors["X1"]["loc"] == ["org_unit_code"]
    assert errors["X1"]["code"] == "unknown_org_unit"
    assert errors["X2"]["loc"] == ["category"]
    assert errors["X3"]["loc"] == ["period"]
    for key in ("X4", "X5", "X6"):
        assert (errors[key]["loc"], errors[key]["code"]) == (["period"], "date_out_of_window")
    atomic = await client.post("/v1/budgets:batch?atomic=true", json={"records": bad})
    assert_problem(atomic, 422)


async def test_a_units_analysis_stands_beside_its_figure_with_its_history(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Seed 002 prints an analysis beside each KPI ("Förvaltningen har en hög närvaro och god
    bemanning vilket leder till att den utökade närvaron är låg")."""
    await seed_tree(client)
    await feed(client, "time-records", shifts("A", "E1", [date(2023, 3, 6)], "scheduled", "8"))
    await recalculate(app)
    url = "/v1/kpis/extended_presence_pct/analyses/RS/2023"
    first = await client.put(url, json={"text": "Utökad närvaro låg."})
    assert first.status_code == 200, first.text
    text = "Hög närvaro och god bemanning: den utökade närvaron är låg."
    second = await client.put(url, json={"text": text})
    body = second.json()
    assert (body["text"], body["period"], body["org_unit"]) == (text, "2023", "RS")
    assert body["author"] and body["written_at"]
    assert [h["text"] for h in body["history"]] == ["Utökad närvaro låg."]
    assert (await client.get(url)).json() == body

    point = (await series(client, "extended_presence_pct", "RS", "2023", "2023", grain="year"))[0]
    assert point["analysis"]["text"] == text
    month = (await series(client, "extended_presence_pct", "RS", "2023-03", "2023-03"))[0]
    assert month["analysis"] is None  # written for the year, not the month
    await create_target(client, "extended_presence_pct", "RS", "1", valid_from="2023-01")
    card = (await client.get("/v1/org-units/RS/scorecard", params={"period": "2023"})).json()
    assert card["rows"][0]["point"]["analysis"]["text"] == text

    bad = await client.put("/v1/kpis/extended_presence_pct/analyses/RS/2023-13", json={"text": "x"})
    assert_problem(bad, 422, "validation_failed")
    assert bad.json()["errors"][0]["loc"] == ["path", "period"]
    weekly = await client.put("/v1/kpis/turnover_pct/analyses/RS/2023-W05", json={"text": "x"})
    assert weekly.json()["errors"][0]["code"] == "grain_not_available"
    assert_problem(await client.put("/v1/kpis/nope/analyses/RS/2023", json={"text": "x"}), 404)
    assert_problem(await client.get("/v1/kpis/turnover_pct/analyses/RS/2023"), 404)
    empty = await client.put(url, json={"text": ""})
    assert_problem(empty, 422)


async def test_a_closed_period_keeps_its_published_figures_beside_the_revised_ones(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Closing 2023 publishes its figures; a late sick record then revises the live value,
    and the series shows both with the difference, so the annual report is reproducible."""
    await seed_tree(client)
    march = [date(2023, 3, d) for d in range(6, 11)]
    records = []
    for n in range(5):
        records += shifts("P", f"E{n}", march, "scheduled", "8.00")
    records += shifts("P", "E0", march[:2], "sick", "8.00")
    await feed(client, "time-records", records)
    await recalculate(app)

    closed = await client.post("/v1/periods/2023:close")
    assert closed.status_code == 200, closed.text
    assert closed.json()["period"] == "2023" and closed.json()["published_points"] > 0
    again = await client.post("/v1/periods/2023:close")
    assert_problem(again, 409, "period_closed")

    await feed(client, "time-records", shifts("P", "E1", march[:1], "sick", "8.00"))
    await recalculate(app)
    # Published up the whole path: the unit, its administration and the region.
    for unit in ("RS", "SUS", "SUS-AKUT"):
        point = (await series(client, "sick_leave_pct", unit, "2023", "2023", grain="year"))[0]
        assert point["value"] == pytest.approx(100 * 24 / 200)
        assert point["published_value"] == pytest.approx(100 * 16 / 200)
        assert point["revision"] == pytest.approx(4.0) and point["published_at"]
    month = (await series(client, "sick_leave_pct", "RS", "2023-03", "2023-03"))[0]
    assert month["published_value"] is None  # the month itself was not closed
    # Published figures are the unit's whole subtree: a split's point has none.
    nurses = await series(
        client, "sick_leave_pct", "RS", "2023", "2023", grain="year", **{"profession": "nurse"}
    )
    assert nurses[0]["value"] is not None and nurses[0]["published_value"] is None
    # A period's analysis stands beside its published figure.
    analysis = "Sjukfrånvaron i mars rättad i efterhand."
    written = await client.put("/v1/kpis/sick_leave_pct/analyses/RS/2023", json={"text": analysis})
    assert written.status_code == 200, written.text
    point = (await series(client, "sick_leave_pct", "RS", "2023", "2023", grain="year"))[0]
    assert point["analysis"]["text"] == analysis
    assert point["published_value"] == pytest.approx(100 * 16 / 200)
    overtime = (await series(client, "overtime_hours", "RS", "2023", "2023", grain="year"))[0]
    assert (overtime["value"], overtime["published_value"]) == (0.0, 0.0)

    no_reason = await client.post("/v1/periods/2023:reopen", json={"reason": ""})
    assert_problem(no_reason, 422)
    reopened = await client.post("/v1/periods/2023:reopen", json={"reason": "March corrected"})
    assert reopened.status_code == 200, reopened.text
    assert reopened.json()["reopen_reason"] == "March corrected"
    assert_problem(
        await client.post("/v1/periods/2023:reopen", json={"reason": "again"}),
        409,
        "period_not_closed",
    )
    assert (await client.post("/v1/periods/2023:close")).status_code == 200
    point = (await series(client, "sick_leave_pct", "RS", "2023", "2023", grain="year"))[0]
    assert (point["published_value"], point["revision"]) == (pytest.approx(12.0), 0.0)
    bad = await client.post("/v1/periods/2023-13:close")
    assert_problem(bad, 422)
    assert bad.json()["errors"][0]["loc"] == ["path", "label"]
