"""Agency policies against a shift-by-shift reckoning in Python: random agency shifts across
the autumn DST change, day and overnight banned windows, a full ban, subtrees, validity ranges
and an exemption."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import LOCAL, feed, seed_tree, shift
from tests.jobs import recalculate

UNITS = {"SUS-AKUT": "/RS/SUS/", "SUS-MED": "/RS/SUS/", "PV-MALMO": "/RS/PV/"}
POLICIES: list[dict[str, Any]] = [
    {
        "name": "Sjuksköterskor: inte vardagar dagtid",
        "professions": ["nurse"],
        "org_unit": "RS",
        "valid_from": "2024-10-01",
        "valid_to": "2024-11-10",
        "banned_windows": [{"weekdays": [1, 2, 3, 4, 5], "from": "07:00", "to": "18:00"}],
    },
    {
        "name": "Läkare: inte nätter",
        "professions": ["doctor"],
        "org_unit": "SUS",
        "valid_from": "2024-10-15",
        "banned_windows": [{"weekdays": [1, 2, 3, 4, 5, 6, 7], "from": "22:00", "to": "06:00"}],
    },
    {
        "name": "Stopp för hyrsjuksköterskor i primärvården",
        "professions": ["nurse"],
        "org_unit": "PV",
        "valid_from": "2024-11-11",
    },
]
# The first policy does not hold at the medicine clinic for two weeks.
EXEMPTION = {
    "org_unit": "SUS-MED",
    "valid_from": "2024-10-20",
    "valid_to": "2024-10-31",
    "decided_by": "Förvaltningsledningen",
    "reason": "Vakanser",
}


async def stored(
    session: AsyncSession, sources: str, kind: str
) -> list[tuple[str, str, str, float]]:
    """The violations of `kind` (a LIKE pattern) as (rule or policy name, unit, date, hours)."""
    rows = await session.execute(
        sa.text(
            "SELECT s.name, o.code, v.work_date, v.hours FROM compliance_violations v "
            f"JOIN {sources} s ON s.id = v.source_id JOIN org_units o ON o.id = v.org_unit_id "
            "WHERE v.kind LIKE :kind"
        ),
        {"kind": kind},
    )
    await session.commit()
    return sorted((name, unit, day.isoformat(), float(hours)) for name, unit, day, hours in rows)


def banned_hours(policy: dict[str, Any], start: datetime, end: datetime) -> float:
    """Hours of [start, end) inside the policy's banned windows, in real (UTC) time."""
    if "banned_windows" not in policy:
        return (end - start).total_seconds() / 3600
    total = 0.0
    day = start.astimezone(LOCAL).date() - timedelta(days=1)
    while day <= end.astimezone(LOCAL).date():
        for window in policy["banned_windows"]:
            if day.isoweekday() in window["weekdays"]:
                opens, closes = (time.fromisoformat(window[k]) for k in ("from", "to"))
                begin = datetime.combine(day, opens, LOCAL)
                finish = datetime.combine(day + timedelta(days=closes <= opens), closes, LOCAL)
                overlap = min(end, finish) - max(start, begin)
                total += max(overlap.total_seconds(), 0) / 3600
        day += timedelta(days=1)
    return total


def reckon(records: list[dict[str, Any]]) -> list[tuple[str, str, str, float]]:
    found: dict[tuple[str, str, str, str], float] = defaultdict(float)
    for r in records:
        start, end = datetime.fromisoformat(r["start"]), datetime.fromisoformat(r["end"])
        day = date.fromisoformat(r["work_date"])
        for policy in POLICIES:
            if r["profession"] not in policy["professions"]:
                continue
            if (
                f"/{policy['org_unit']}/"
                not in UNITS[r["org_unit_code"]] + r["org_unit_code"] + "/"
            ):
                continue
            if day.isoformat() < policy["valid_from"] or day.isoformat() > policy.get(
                "valid_to", "9999"
            ):
                continue
            exempt = policy is POLICIES[0] and r["org_unit_code"] == EXEMPTION["org_unit"]
            if exempt and EXEMPTION["valid_from"] <= day.isoformat() <= EXEMPTION["valid_to"]:
                continue
            hours = banned_hours(policy, start, end)
            if hours > 0:
                found[policy["name"], r["org_unit_code"], r["work_date"], r["employee_ref"]] += (
                    hours
                )
    return sorted(
        (name, unit, day, float(Decimal(hours).quantize(Decimal("0.01"), ROUND_HALF_UP)))
        for (name, unit, day, _), hours in found.items()
    )


async def test_agency_policies_agree_with_a_shift_by_shift_reckoning(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await seed_tree(client)
    created = [await client.post("/v1/compliance/agency-policies", json=p) for p in POLICIES]
    assert all(c.status_code == 201 for c in created), [c.text for c in created]
    exemption = await client.post(f"{created[0].headers['location']}/exemptions", json=EXEMPTION)
    assert exemption.status_code == 201, exemption.text
    rnd = random.Random(20261206)
    records = []
    for n in range(8):
        at = datetime(2024, 10, 5, 0, 0) + timedelta(hours=rnd.randint(0, 23))
        profession = ("nurse", "doctor")[n % 2]
        while at < datetime(2024, 11, 25):
            hours = rnd.choice([3, 5, 8, 10, 12])
            unit = rnd.choice(list(UNITS))
            records.append(
                shift(f"AG{n}", at, hours, unit=unit, staff="agency", profession=profession)
            )
            at += timedelta(
                hours=hours + rnd.choice([6, 10, 14, 20, 36]), minutes=rnd.choice([0, 30])
            )
    await feed(client, "time-records", records)
    await recalculate(app)

    got = await stored(session, "agency_policies", "agency_policy")
    expected = reckon(records)
    assert {name for name, *_ in expected} == {p["name"] for p in POLICIES}
    assert got == expected


def overtime_by_hand(
    records: list[dict[str, Any]], rules: list[dict[str, Any]]
) -> list[tuple[str, str, str, float]]:
    """Per rule, employee and calendar month or year: the overtime record that takes the sum
    past the cap carries every hour over it (records the rule covers, in date order)."""
    found = []
    for rule in rules:
        length = 7 if rule["kind"] == "overtime_month" else 4  # "2024-03" or "2024"
        buckets: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for r in records:
            if rule.get("professions") and r["profession"] not in rule["professions"]:
                continue
            if rule.get("org_unit") and rule["org_unit"] != r["org_unit_code"]:
                continue
            buckets[r["employee_ref"], r["work_date"][:length]].append(r)
        for bucket in buckets.values():
            bucket.sort(key=lambda r: r["work_date"])
            total = sum(float(r["hours"]) for r in bucket)
            running = 0.0
            for r in bucket:
                if running <= rule["max_hours"] < running + float(r["hours"]):
                    over = total - rule["max_hours"]
                    found.append((rule["name"], r["org_unit_code"], r["work_date"], over))
                running += float(r["hours"])
    return sorted(found)


async def test_overtime_caps_agree_with_a_record_by_record_reckoning(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await seed_tree(client)
    doctors = {
        "kind": "overtime_month",
        "name": "Övertid läkare akuten",
        "max_hours": "20",
        "professions": ["doctor"],
        "org_unit": "SUS-AKUT",
        "valid_from": "2024-01-01",
    }
    assert (await client.post("/v1/compliance/rules", json=doctors)).status_code == 201
    seeded = (await client.get("/v1/compliance/rules")).json()["items"]
    rules = [
        {**r, "max_hours": float(r["max_hours"])} for r in seeded if r["kind"].startswith("over")
    ]
    rnd = random.Random(20261206)
    records = []
    for n in range(6):
        profession = ("doctor", "nurse")[n % 2]
        for day in range(0, 366, rnd.choice([2, 3, 4])):
            when = date(2024, 1, 1) + timedelta(days=day)
            if when.year == 2024 and rnd.random() < 0.7:
                unit = rnd.choice(["SUS-AKUT", "SUS-AKUT", "SUS-MED"])
                hours = rnd.choice(["1.00", "2.50", "4.00", "6.00"])
                records.append(
                    shift(
                        f"OT{n}",
                        datetime.combine(when, time(16, 0)),
                        float(hours),
                        kind="overtime",
                        profession=profession,
                        unit=unit,
                    )  # fmt: skip
                )
    await feed(client, "time-records", records)
    await recalculate(app)

    got = await stored(session, "working_time_rules", "overtime%")
    expected = overtime_by_hand(records, rules)
    assert {name for name, *_ in expected} == {r["name"] for r in rules}
    assert got == expected
