"""The time KPIs against a record-by-record reckoning in Python, on random data fed in
batches and then corrected (hours changed, records moved to another day or unit, withdrawn),
with a recalculation after each step as the worker would run them."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable
from datetime import date, timedelta
from itertools import product
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.core.kpis.catalogue import ABSENCE_TYPES, CATALOGUE, WEEKLY
from tests.factories import days, employment, feed, personnel_cost, seed_tree, time_record
from tests.jobs import recalculate, series

FIRST, LAST = date(2024, 1, 1), date(2024, 4, 30)
UNITS = {"SUS-AKUT": ("RS", "SUS"), "SUS-MED": ("RS", "SUS"), "PV-MALMO": ("RS", "PV")}
MONTHS = ["2024-01", "2024-02", "2024-03", "2024-04"]
CHILDREN = {"RS": ["SUS", "PV"], "SUS": ["SUS-AKUT", "SUS-MED"]}

# Per KPI: numerator and denominator from a cell's sums (None: an amount, no denominator).
KPIS = {
    "sick_leave_pct": ("sick", "scheduled"),
    "sick_leave_short_pct": ("short", "scheduled"),
    "sick_leave_long_pct": ("long", "scheduled"),
    "sick_leave_60plus_share_pct": ("d60", "sick"),
    "presence_pct": ("present", "scheduled"),
    "absence_pct": ("absent", "scheduled"),
    "extended_presence_pct": ("extended", "scheduled_monthly"),
    "overtime_hours": ("overtime", None),
    "extra_time_hours": ("extra_time", None),
    "agency_hours_share_pct": ("worked_agency", "worked"),
    "agency_doctor_weeks": ("agency_doctor", None),
    "agency_hours": ("worked_agency", None),
}


def random_records(rnd: random.Random) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []

    def add(employee: str, day: date, time_type: str, hours: str, **extra: Any) -> None:
        external_id = f"{employee}-{day:%Y%m%d}-{time_type}-{len(records)}"
        records.append(
            time_record(
                external_id,
                employee_ref=employee,
                work_date=day.isoformat(),
                time_type=time_type,
                hours=hours,
                **extra,
            )
        )

    for n in range(10):
        employee, profession = f"OWN{n}", rnd.choice(["nurse", "doctor", "assistant_nurse"])
        home, moved = rnd.choice(list(UNITS)), rnd.choice(list(UNITS))
        moves_on = FIRST + timedelta(days=rnd.randint(20, 100))
        own = {"profession": profession, "staff_kind": "own"}
        for day in days(FIRST, LAST):
            unit = home if day < moves_on else moved
            if day.weekday() < 5:
                add(employee, day, "scheduled", rnd.choice(["8.00", "7.75", "4.00"]),
                    org_unit_code=unit, **own)  # fmt: skip
                add(employee, day, "worked", "8.00", org_unit_code=unit, **own)
            if rnd.random() < 0.1:
                add(employee, day, "overtime", "2.50", org_unit_code=unit, **own)
            if rnd.random() < 0.05:
                add(employee, day, "extra_time", "1.50", org_unit_code=unit, **own)
            if rnd.random() < 0.04:
                add(employee, day, rnd.choice(ABSENCE_TYPES[1:]), "8.00", org_unit_code=unit,
                    **own)  # fmt: skip
        # Sick spells: mostly daily, with gaps of up to 5 days (the same spell) and of 6 or 7
        # (a new one); one long enough for day 60 in some employees.
        for _ in range(rnd.randint(0, 3)):
            day = FIRST + timedelta(days=rnd.randint(0, 110))
            for _ in range(rnd.choice([1, 3, 12, 20, 45])):
                if day > LAST:
                    break
                unit = home if day < moves_on else moved
                add(employee, day, "sick", rnd.choice(["8.00", "4.00"]), org_unit_code=unit,
                    **own)  # fmt: skip
                day += timedelta(days=rnd.choice([1, 1, 1, 1, 2, 3, 5, 6, 7]))
    for n in range(3):
        profession = "doctor" if n < 2 else "nurse"
        for day in days(FIRST, LAST):
            if rnd.random() < 0.3:
                add(f"AGENCY{n}", day, "worked", "10.00", org_unit_code=rnd.choice(list(UNITS)),
                    profession=profession, staff_kind="agency")  # fmt: skip
    return records


def corrections(rnd: random.Random, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Resent records: hours changed, moved a few days or to another unit, or withdrawn."""
    changed = []
    for record in rnd.sample(records, 60):
        fix = dict(record)
        match rnd.choice(["hours", "day", "unit", "deleted"]):
            case "hours":
                fix["hours"] = rnd.choice(["1.00", "6.00", "12.00"])
            case "day":
                moved = date.fromisoformat(fix["work_date"]) + timedelta(days=rnd.randint(-4, 4))
                fix["work_date"] = min(max(moved, FIRST), LAST).isoformat()
            case "unit":
                fix["org_unit_code"] = rnd.choice(list(UNITS))
            case "deleted":
                fix = {"source": fix["source"], "external_id": fix["external_id"], "deleted": True}
        changed.append(fix)
    return changed


# The own employees' gender and birth year, as their employments carry them.
GENDER = {f"OWN{n}": ("female", "male")[n % 2] for n in range(10)}
BORN = {f"OWN{n}": (1995, 1980, 1960)[n % 3] for n in range(10)}
# Hourly-paid: their worked hours are extended presence, their scheduled hours not its base.
HOURLY = {"OWN9"}


def iso_week(day: str) -> str:
    iso = date.fromisoformat(day).isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


def reckon(
    records: dict[str, dict[str, Any]], keep: Callable[[dict[str, Any]], bool] = lambda r: True
) -> dict[tuple[str, str], dict[str, float]]:
    """Sums per (org unit, month) and per quarter, and per ancestor for the pooled values; of
    the records `keep` keeps (their sick days numbered within all the employee's spells)."""
    sums: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    sick_days: dict[str, set[date]] = defaultdict(set)
    for r in records.values():
        if r["time_type"] == "sick" and r["staff_kind"] == "own":
            sick_days[r["employee_ref"]].add(date.fromisoformat(r["work_date"]))
    day_no: dict[tuple[str, date], int] = {}
    # Each sick day's whole spell's length in calendar days.
    spell_days: dict[tuple[str, date], int] = {}
    for employee, sick in sick_days.items():
        spells: list[list[date]] = []
        for day in sorted(sick):
            if not spells or (day - spells[-1][-1]).days > 5:
                spells.append([])
            spells[-1].append(day)
        for spell in spells:
            for day in spell:
                day_no[employee, day] = (day - spell[0]).days + 1
                spell_days[employee, day] = (spell[-1] - spell[0]).days + 1
    # Worked hours inside the schedule: per unit, profession, employee and day, at most the
    # day's scheduled hours.
    day_hours: dict[tuple[str, str, str, str], dict[str, float]] = defaultdict(
        lambda: defaultdict(float)
    )
    for r in records.values():
        if keep(r) and r["staff_kind"] == "own" and r["time_type"] in ("worked", "scheduled"):
            key = (r["org_unit_code"], r["profession"], r["employee_ref"], r["work_date"])
            day_hours[key][r["time_type"]] += float(r["hours"])
    for (unit_code, _, _, day_text), on_day in day_hours.items():
        if "worked" not in on_day or "scheduled" not in on_day:
            continue
        month = day_text[:7]
        quarter = f"{month[:4]}-Q{(int(month[5:]) + 2) // 3}"
        inside = min(on_day["worked"], on_day["scheduled"])
        week = iso_week(day_text)
        for unit, period in product((unit_code, *UNITS[unit_code]), (month, quarter, week)):
            sums[unit, period]["present"] += inside
    for r in records.values():
        if not keep(r):
            continue
        hours, kind, own = float(r["hours"]), r["time_type"], r["staff_kind"] == "own"
        month = r["work_date"][:7]
        quarter = f"{month[:4]}-Q{(int(month[5:]) + 2) // 3}"
        for unit, period in product((r["org_unit_code"], *UNITS[r["org_unit_code"]]),
                                    (month, quarter, iso_week(r["work_date"]))):  # fmt: skip
            cell = sums[unit, period]
            # What gives a cell data for the time KPIs (any own record) and the worked ones.
            cell["own_records"] += own
            cell["worked_records"] += kind == "worked"
            if kind == "worked":
                cell["worked"] += hours
                if not own:
                    cell["worked_agency"] += hours
                    cell["agency_doctor"] += hours if r["profession"] == "doctor" else 0
            if not own:
                continue
            hourly = r["employee_ref"] in HOURLY
            if kind in ("scheduled", "overtime", "extra_time", "sick"):
                cell[kind] += hours
            if kind == "scheduled" and not hourly:
                cell["scheduled_monthly"] += hours
            if kind in ("overtime", "extra_time") or (kind == "worked" and hourly):
                cell["extended"] += hours
            if kind in ABSENCE_TYPES:
                cell["absent"] += hours
            if kind == "sick":
                sick_day = (r["employee_ref"], date.fromisoformat(r["work_date"]))
                cell["short" if day_no[sick_day] <= 14 else "long"] += hours
                cell["d60"] += hours if spell_days[sick_day] >= 60 else 0
    return sums


@pytest.mark.parametrize("seed", [20261206, 7])
async def test_time_kpis_agree_with_a_record_by_record_reckoning(
    app: FastAPI, client: httpx.AsyncClient, seed: int
) -> None:
    await seed_tree(client)
    people = [
        employment(
            f"EMP-{employee}",
            employee_ref=employee,
            gender=GENDER[employee],
            birth_year=BORN[employee],
            start_date="2020-01-01",
            contract="hourly" if employee in HOURLY else "permanent",
        )  # fmt: skip
        for employee in GENDER
    ]
    await feed(client, "employments", people)
    rnd = random.Random(seed)
    records = random_records(rnd)
    fed = list(records)
    rnd.shuffle(fed)
    for batch in (fed[:1500], fed[1500:3000], fed[3000:]):
        await feed(client, "time-records", batch)
        await recalculate(app)
    fixes = corrections(rnd, records)
    await feed(client, "time-records", fixes)
    await recalculate(app)

    stored = {r["external_id"]: r for r in records}
    for fix in fixes:
        if fix.get("deleted"):
            stored.pop(fix["external_id"], None)
        else:
            stored[fix["external_id"]] = fix
    expected = reckon(stored)
    assert any(cell["d60"] for cell in expected.values()), "no spell reached day 60"
    assert any(cell["long"] for cell in expected.values())
    nurses = reckon(stored, lambda r: r["profession"] == "nurse")
    women = reckon(stored, lambda r: GENDER.get(r["employee_ref"]) == "female")
    # Age on the year's last day: 2024 − 1980 = 44.
    middle = reckon(stored, lambda r: BORN.get(r["employee_ref"]) == 1980)
    for kpi in KPIS:
        for unit in ("RS", "SUS", "PV", *UNITS):
            points = await series(client, kpi, unit, MONTHS[0], MONTHS[-1])
            assert_points(kpi, unit, points, expected)
        for parent in ("RS", "SUS"):  # the drill-down table: one series per child unit
            params = {"org_unit": parent, "from": MONTHS[0], "to": MONTHS[-1], "children": "true"}
            table = (await client.get(f"/v1/kpis/{kpi}/series", params=params)).json()["series"]
            assert sorted(t["org_unit"] for t in table) == sorted(CHILDREN[parent])
            for child in table:
                assert_points(kpi, child["org_unit"], child["points"], expected)
        quarters = await series(client, kpi, "RS", "2024-Q1", "2024-Q2", grain="quarter")
        assert_points(kpi, "RS", quarters, expected)
        if kpi in WEEKLY:  # ISO weeks, a week straddling two months' ends included
            for unit in ("RS", "SUS-AKUT"):
                weeks = await series(client, kpi, unit, MONTHS[0], MONTHS[-1], grain="week")
                assert [w["period"] for w in weeks][::17] == ["2024-W01", "2024-W18"]
                assert_points(kpi, unit, weeks, expected)
            if "profession" in CATALOGUE[kpi].dimensions:
                nurse_weeks = await series(
                    client, kpi, "RS", "2024-W05", "2024-W10", grain="week", profession="nurse"
                )
                assert_points(kpi, "RS", nurse_weeks, nurses)
        splits = [("profession", "nurse", nurses), ("gender", "female", women)]
        splits.append(("age_band", "30-49", middle))
        for name, value, sums in splits:
            if name in CATALOGUE[kpi].dimensions:
                split = await series(client, kpi, "RS", MONTHS[0], MONTHS[-1], **{name: value})
                assert_points(kpi, "RS", split, sums)


def assert_points(
    kpi: str,
    unit: str,
    points: list[dict[str, Any]],
    expected: dict[tuple[str, str], dict[str, float]],
) -> None:
    numerator, denominator = KPIS[kpi]
    assert points
    for point in points:
        cell, where = expected[unit, point["period"]], (kpi, unit, point["period"])
        if not cell["worked_records" if kpi.startswith("agency_") else "own_records"]:
            assert (point["numerator"], point["reason"]) == (None, "no_data"), where
            continue
        assert point["numerator"] == pytest.approx(cell[numerator], abs=1e-6), where
        if denominator is None:
            weeks = kpi == "agency_doctor_weeks"  # 40 hours a week
            amount = cell[numerator] / 40 if weeks else cell[numerator]
            assert point["value"] == pytest.approx(amount, abs=1e-3), where
            continue
        assert point["denominator"] == pytest.approx(cell[denominator], abs=1e-6), where
        if not cell[denominator]:
            assert (point["value"], point["reason"]) == (None, "zero_denominator"), where
            continue
        value = 100 * cell[numerator] / cell[denominator]
        assert point["value"] == pytest.approx(value, abs=1e-3), where


# Per staff KPI: numerator and denominator from a month's counts, and the factor of its value.
STAFF_KPIS = {
    "headcount": ("headcount", None, 1),
    "fte": ("fte", None, 1),
    "permanent_share_pct": ("permanent", "monthly_paid", 100),
    "full_time_share_pct": ("full_time", "monthly_paid", 100),
    "employees_per_manager": ("non_managers", "managers", 1),
    "turnover_pct": ("ended", "permanent", 100),
    "new_hires": ("hires", None, 1),
    "women_share_pct": ("women", "headcount", 100),
    "women_managers_share_pct": ("women_managers", "managers", 100),
}


def random_employments(rnd: random.Random) -> list[dict[str, Any]]:
    records = []
    for n in range(30):
        gender = rnd.choice(["female", "male", "other", None])
        born = rnd.choice([1960, 1975, 1990, 1999, None])
        start = date(2023, 6, 1) + timedelta(days=rnd.randint(0, 300))
        for k in range(rnd.randint(1, 2)):
            end = None
            if rnd.random() < 0.6:
                end = start + timedelta(days=rnd.randint(10, 200))
            record = employment(
                f"EMP{n}-{k}",
                employee_ref=f"P{n}",
                org_unit_code=rnd.choice(list(UNITS)),
                profession=rnd.choice(["nurse", "doctor"]),
                contract=rnd.choice(["permanent", "permanent", "fixed_term", "hourly"]),
                fte=rnd.choice(["0.500", "0.750", "1.000"]),
                is_manager=rnd.random() < 0.15,
                start_date=start.isoformat(),
                end_date=end.isoformat() if end else None,
                end_reason=rnd.choice(["resignation", "retirement", "internal_transfer"])
                if end
                else None,
                gender=gender,
                birth_year=born,
            )
            records.append(record)
            if end is None:
                break
            start = end + timedelta(days=1)
    # Two permanent employees in every unit all along, so every month has staff to count.
    for unit in UNITS:
        for gender in ("female", "male"):
            records.append(
                employment(
                    f"ANCHOR-{unit}-{gender}",
                    employee_ref=f"ANCHOR-{unit}-{gender}",
                    org_unit_code=unit,
                    start_date="2020-01-01",
                    gender=gender,
                    is_manager=gender == "female",
                )  # fmt: skip
            )
    return records


def reckon_staff(
    records: dict[str, dict[str, Any]], gender: str | None = None
) -> dict[tuple[str, str], dict[str, float]]:
    """Counts of monthly-paid staff at each month's end (an employee once per unit and
    profession, as in every group the facts are split by) and endings and hires in it, per
    unit, ancestor, month and quarter: stocks read at the quarter's last month, turnover over
    the mean permanent headcount. Hourly contracts are hourly-paid, left out."""
    transfers = [
        (r["employee_ref"], date.fromisoformat(r["end_date"]))
        for r in records.values()
        if r.get("end_reason") == "internal_transfer"
    ]
    months: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for label in MONTHS:
        first = date.fromisoformat(f"{label}-01")
        last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        people: dict[tuple[str, str, str], dict[str, bool]] = defaultdict(lambda: defaultdict(bool))
        for r in records.values():
            if gender is not None and r.get("gender") != gender:
                continue
            if r["contract"] == "hourly":
                continue
            start = date.fromisoformat(r["start_date"])
            end = date.fromisoformat(r["end_date"]) if r.get("end_date") else None
            units = (r["org_unit_code"], *UNITS[r["org_unit_code"]])
            if start <= last and (end is None or end >= last):
                flags = people[r["org_unit_code"], r["employee_ref"], r["profession"]]
                paid = r["contract"] in ("permanent", "fixed_term")
                flags["headcount"] = True
                flags["permanent"] |= r["contract"] == "permanent"
                flags["monthly_paid"] |= paid
                flags["full_time"] |= paid and float(r["fte"]) >= 1
                flags["managers"] |= r["is_manager"]
                flags["female"] |= r.get("gender") == "female"
                for unit in units:
                    months[unit, label]["fte"] += float(r["fte"])
            transferred = any(
                who == r["employee_ref"] and 0 <= (start - ended_on).days <= 7
                for who, ended_on in transfers
            )
            if first <= start <= last and not transferred:
                for unit in units:
                    months[unit, label]["hires"] += 1
            ended = end is not None and first <= end <= last
            if ended and r["contract"] == "permanent" and r["end_reason"] != "internal_transfer":
                for unit in units:
                    months[unit, label]["ended"] += 1
        for (home, _, _), flags in people.items():
            flags["non_managers"] = not flags["managers"]
            flags["women"] = flags.pop("female")
            flags["women_managers"] = flags["women"] and flags["managers"]
            for unit in (home, *UNITS[home]):
                for name, flag in flags.items():
                    months[unit, label][name] += flag
    sums = dict(months)
    for unit in ("RS", "SUS", "PV", *UNITS):
        q1 = [months[unit, label] for label in MONTHS[:3]]
        quarter = dict(q1[-1])
        quarter["ended"] = sum(m["ended"] for m in q1)
        quarter["hires"] = sum(m["hires"] for m in q1)
        # Turnover's denominator: the mean permanent headcount of the quarter's month-ends.
        quarter["mean_permanent"] = sum(m["permanent"] for m in q1) / 3
        sums[unit, "2024-Q1"] = defaultdict(float, quarter)
    return sums


@pytest.mark.parametrize("seed", [20261206, 11])
async def test_staff_kpis_agree_with_an_employment_by_employment_reckoning(
    app: FastAPI, client: httpx.AsyncClient, seed: int
) -> None:
    await seed_tree(client)
    rnd = random.Random(seed)
    records = random_employments(rnd)
    await feed(client, "employments", records[: len(records) // 2])
    await recalculate(app)
    await feed(client, "employments", records[len(records) // 2 :])
    await recalculate(app)
    stored = {r["external_id"]: r for r in records}
    # Corrections: an end date moved or removed, an employment withdrawn.
    fixes = []
    for record in rnd.sample(records[:-6], 12):
        fix = dict(record)
        if rnd.random() < 0.3:
            stored.pop(fix["external_id"])
            fixes.append({**{k: fix[k] for k in ("source", "external_id")}, "deleted": True})
            continue
        fix["end_date"] = rnd.choice([None, "2024-02-29", "2024-03-10"])
        fix["end_reason"] = "resignation" if fix["end_date"] else None
        if fix["end_date"] and fix["end_date"] < fix["start_date"]:
            continue
        stored[fix["external_id"]] = fix
        fixes.append(fix)
    await feed(client, "employments", fixes)
    await recalculate(app)

    expected, women = reckon_staff(stored), reckon_staff(stored, "female")
    assert any(cell["ended"] for cell in expected.values())
    for kpi, (numerator, denominator, factor) in STAFF_KPIS.items():
        checks: list[tuple[str, str, str, dict[str, str], Any]] = [
            (unit, MONTHS[0], MONTHS[-1], {}, expected) for unit in ("RS", "SUS", *UNITS)
        ]
        checks.append(("RS", "2024-Q1", "2024-Q1", {"grain": "quarter"}, expected))
        if "gender" in CATALOGUE[kpi].dimensions:
            checks.append(("RS", MONTHS[0], MONTHS[-1], {"gender": "female"}, women))
        for unit, start, end, params, sums in checks:
            for point in await series(client, kpi, unit, start, end, **params):
                cell, where = sums[unit, point["period"]], (kpi, unit, point["period"], params)
                below: float | None = cell[denominator] if denominator else None
                if kpi == "turnover_pct" and point["period"].endswith("Q1"):
                    below = cell["mean_permanent"]
                assert point["numerator"] == pytest.approx(cell[numerator]), where
                if denominator is None:
                    assert point["value"] == pytest.approx(cell[numerator] * factor), where
                    continue
                assert point["denominator"] == pytest.approx(below), where
                value = factor * cell[numerator] / below if below else None
                assert point["value"] == pytest.approx(value, abs=1e-3), where


COST_KPIS = {
    "agency_cost_sek": ("agency", None),
    "agency_cost_share_pct": ("agency", "total"),
    "personnel_cost_sek": ("total", None),
    "consultant_cost_sek": ("consultant", None),
}


async def test_cost_kpis_agree_with_a_row_by_row_reckoning(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await seed_tree(client)
    rnd = random.Random(20261206)
    rows = [
        personnel_cost(
            f"C{n}",
            period=rnd.choice(MONTHS),
            org_unit_code=rnd.choice(list(UNITS)),
            profession=rnd.choice(["doctor", "nurse"]),
            category=rnd.choice(["own_staff", "own_staff", "agency", "consultant"]),
            amount_sek=f"{rnd.randint(1, 500_000)}.{rnd.randint(0, 99):02d}",
        )
        for n in range(120)
    ]
    await feed(client, "personnel-costs", rows)
    await recalculate(app)
    stored = {r["external_id"]: r for r in rows}
    fixes = []
    for row in rnd.sample(rows, 20):
        if rnd.random() < 0.3:
            stored.pop(row["external_id"])
            fixes.append(
                {"source": row["source"], "external_id": row["external_id"], "deleted": True}
            )
        else:
            fixed = {**row, "period": rnd.choice(MONTHS), "amount_sek": "1000.00"}
            stored[row["external_id"]] = fixed
            fixes.append(fixed)
    await feed(client, "personnel-costs", fixes)
    await recalculate(app)

    def sums(profession: str | None) -> dict[tuple[str, str], dict[str, float]]:
        cells: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for r in stored.values():
            if profession is not None and r["profession"] != profession:
                continue
            month = r["period"]
            periods = (month, f"{month[:4]}-Q{(int(month[5:]) + 2) // 3}", month[:4])
            for unit, period in product((r["org_unit_code"], *UNITS[r["org_unit_code"]]), periods):
                # Personnel cost is own and agency staff; consultants are a cost of their own.
                amount, category = float(r["amount_sek"]), r["category"]
                cells[unit, period]["rows"] += 1
                cells[unit, period]["total"] += amount if category != "consultant" else 0
                cells[unit, period]["agency"] += amount if category == "agency" else 0
                cells[unit, period]["consultant"] += amount if category == "consultant" else 0
        return cells

    everyone, doctors = sums(None), sums("doctor")
    for kpi, (numerator, denominator) in COST_KPIS.items():
        checks: list[tuple[str, str, str, dict[str, str], Any]] = [
            (unit, MONTHS[0], MONTHS[-1], {}, everyone) for unit in ("RS", "PV", *UNITS)
        ]
        checks += [
            ("RS", "2024-Q1", "2024-Q2", {"grain": "quarter"}, everyone),
            ("SUS", "2024", "2024", {"grain": "year"}, everyone),
            ("RS", MONTHS[0], MONTHS[-1], {"profession": "doctor"}, doctors),
        ]
        for unit, start, end, params, cells in checks:
            for point in await series(client, kpi, unit, start, end, **params):
                cell, where = cells[unit, point["period"]], (kpi, unit, point["period"], params)
                if not cell["rows"] and point["period"] in MONTHS:
                    assert point["reason"] == "no_data", where
                    continue
                assert float(point["numerator"]) == pytest.approx(cell[numerator]), where
                if denominator is None:
                    assert point["value"] == pytest.approx(cell[numerator]), where
                else:
                    share = 100 * cell[numerator] / cell[denominator]
                    assert point["value"] == pytest.approx(share, abs=1e-3), where
