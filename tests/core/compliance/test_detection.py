"""Working-time rules and agency policies against constructed schedules."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.kpis import facts
from tests.factories import LOCAL, create_target, feed, seed_tree, shift, time_record
from tests.jobs import recalculate, recalculate_everything, series


async def violations(session: AsyncSession) -> list[tuple[str, str, float]]:
    rows = await session.execute(
        sa.text("SELECT kind, work_date, hours FROM compliance_violations ORDER BY work_date, kind")
    )
    await session.commit()
    return [(k, d.isoformat(), float(h)) for k, d, h in rows.all()]


async def test_a_night_shift_then_a_day_shift_8_hours_later_breaks_daily_rest(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await seed_tree(client)
    await feed(
        client,
        "time-records",
        [
            shift("N1", datetime(2024, 3, 4, 21, 30), 10),  # night, ends 07:30
            shift("N1", datetime(2024, 3, 5, 15, 30), 8),  # 8 h later, ends 23:30
            shift("N1", datetime(2024, 3, 6, 7, 30), 8),  # 8 h later again
            # A regular day rota never breaks it: 16 h off between shifts.
            *[shift("D1", datetime(2024, 3, d, 7, 0), 8) for d in range(4, 9)],
        ],
    )
    await recalculate(app)
    # The 24 hours from the night's start and from the evening's start each hold 8 h off.
    assert await violations(session) == [
        ("daily_rest", "2024-03-04", 3.0),
        ("daily_rest", "2024-03-05", 3.0),
    ]
    points = await series(client, "rest_violations", "RS", "2024-03", "2024-03")
    assert points[0]["value"] == 2.0
    quick = await series(client, "quick_returns", "RS", "2024-03", "2024-03")
    assert quick[0]["value"] == 2.0


async def test_doctors_rest_before_1_february_2024_is_an_agreement_deviation(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """Seed 000: the doctors' new working-time rules from 1 February 2024 ("dygnsvilan måste
    hållas"); before it a doctor's short rest is reported at a lower severity, not counted as
    a violation. A nurse's is a violation all along."""
    quick_return = [(datetime(2024, 1, 29, 13, 0), 8.5), (datetime(2024, 1, 30, 7, 0), 8)]
    records = [
        *[shift("DR", at, h) for at, h in quick_return],
        *[shift("DR", at + timedelta(days=7), h) for at, h in quick_return],
        *[shift("NU", at, h, profession="nurse") for at, h in quick_return],
    ]
    assert await _rest_found(app, client, session, records) == [
        ("agreement_deviation", "2024-01-29", 1.5),
        ("daily_rest", "2024-01-29", 1.5),
        ("daily_rest", "2024-02-05", 1.5),
    ]
    january = await series(client, "rest_violations", "RS", "2024-01", "2024-01")
    assert january[0]["value"] == 1.0  # the nurse's
    listed = (
        await client.get(
            "/v1/compliance/violations",
            params={"org_unit": "RS", "kind": "agreement_deviation"},
        )
    ).json()["items"]
    assert [(v["profession"], v["severity"]) for v in listed] == [("doctor", "deviation")]


async def _rest_found(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, records: list[dict[str, Any]]
) -> list[tuple[str, str, float]]:
    await seed_tree(client)
    await feed(client, "time-records", records)
    await recalculate(app)
    return await violations(session)


async def test_a_quick_return_is_found_though_days_off_follow(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    # Evening until 21:30, day shift at 07:00 (9.5 h off), then four days off: under the old
    # "touches an 11 h stretch" reading the days off hid it.
    records = [
        shift("Q1", datetime(2024, 3, 4, 13, 0), 8.5, profession="nurse"),
        shift("Q1", datetime(2024, 3, 5, 7, 0), 8, profession="nurse"),
    ]
    assert await _rest_found(app, client, session, records) == [("daily_rest", "2024-03-04", 1.5)]
    details = (
        await session.execute(sa.text("SELECT details FROM compliance_violations"))
    ).scalar_one()
    await session.commit()
    assert details == {
        "longest_rest_hours": 9.5,
        "shortest_rest_hours": 9.5,
        "required_rest_hours": 11,
    }
    assert rest_by_hand(records) == [("daily_rest", "2024-03-04", 1.5)]


async def test_a_night_then_a_day_shift_7_hours_later(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    records = [
        shift("Q2", datetime(2024, 3, 4, 21, 0), 10),  # until 07:00
        shift("Q2", datetime(2024, 3, 5, 14, 0), 8),  # 7 h later, until 22:00
    ]
    assert await _rest_found(app, client, session, records) == [("daily_rest", "2024-03-04", 4.0)]


async def test_exactly_11_hours_off_keeps_daily_rest(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    records = [
        shift("Q3", datetime(2024, 3, 4, 13, 0), 8),  # until 21:00
        shift("Q3", datetime(2024, 3, 5, 8, 0), 8),  # 11 h later
        shift("Q3", datetime(2024, 3, 6, 6, 59), 8),  # 10 h 59 min after 16:00? no: 14 h 59
    ]
    assert await _rest_found(app, client, session, records) == []


async def test_a_24_hour_on_call_shift_breaks_daily_rest_and_standby_does_not(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    records = [
        # Jour at the hospital, 08–08: working time, no rest at all in its 24 hours.
        shift("J1", datetime(2024, 3, 4, 8, 0), 24, kind="on_call"),
        # Beredskap at home for a day and a night: not working time; a call-in is `worked`.
        shift("J2", datetime(2024, 3, 4, 8, 0), 8),
        shift("J2", datetime(2024, 3, 4, 16, 0), 16, kind="standby"),
        shift("J2", datetime(2024, 3, 5, 8, 0), 8),
    ]
    assert await _rest_found(app, client, session, records) == [("daily_rest", "2024-03-04", 11.0)]
    on_call = await series(client, "on_call_hours", "RS", "2024-03", "2024-03")
    assert on_call[0]["value"] == 24.0


async def test_dst_nights_count_real_hours_in_the_window(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    records = [
        # Spring: 21:00 → 08:00 by the clock on 31 March is 10 real hours.
        shift("T2", datetime(2024, 3, 30, 13, 0), 8),
        shift("T2", datetime(2024, 3, 31, 8, 0), 8),
        # Autumn: 22:00 → 08:00 by the clock on 27 October is 11 real hours.
        shift("T2", datetime(2024, 10, 26, 14, 0), 8),
        shift("T2", datetime(2024, 10, 27, 8, 0), 8),
    ]
    assert await _rest_found(app, client, session, records) == [("daily_rest", "2024-03-30", 1.0)]
    assert rest_by_hand(records) == [("daily_rest", "2024-03-30", 1.0)]


def _rota(employee: str, first: date, pattern: list[tuple[int, int, float]]) -> list[Any]:
    """A rota from `first`: (day offset, start hour, hours) per shift."""
    return [
        shift(employee, datetime.combine(first + timedelta(days=d), time(h)), hours)
        for d, h, hours in pattern
    ]


async def test_regular_rotas_keep_daily_rest(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    monday = date(2024, 3, 4)
    records = [
        # Days 07–16 every day for three weeks.
        *_rota("R-DAY", monday, [(d, 7, 9) for d in range(21)]),
        # Nights 21–07, five a week.
        *_rota("R-NIGHT", monday, [(w * 7 + d, 21, 10) for w in range(3) for d in range(5)]),
        # Evening 14–22, day 09–17 (11 h between), then a night 21–07.
        *_rota(
            "R-ROT",
            monday,
            [
                (w * 7 + d, h, hours)
                for w in range(3)
                for d, h, hours in ((0, 14, 8), (1, 9, 8), (2, 21, 10))
            ],
        ),
    ]
    found = await _rest_found(app, client, session, records)
    assert [v for v in found if v[0] == "daily_rest"] == []
    assert [v for v in rest_by_hand(records) if v[0] == "daily_rest"] == []


async def test_a_week_without_36_hours_off_breaks_weekly_rest(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await seed_tree(client)
    # Three weeks on, 16 h off between shifts: every 7 × 24 hours from a shift's start that
    # ends before the last shift lacks 36 h off.
    week = [shift("W1", datetime(2024, 3, d, 7, 0), 8) for d in range(4, 25)]
    await feed(client, "time-records", week)
    await recalculate(app)
    found = await violations(session)
    assert found == rest_by_hand(week)
    assert [d for _, d, _ in found] == [f"2024-03-{d:02}" for d in range(4, 19)]
    assert {h for _, _, h in found} == {20.0}


def rest_by_hand(
    records: list[dict[str, Any]], start_hour: int | None = None
) -> list[tuple[str, str, float]]:
    """The seeded rest rules (11 h daily, 36 h weekly), worked out window by window in Python:
    what the set-based SQL must agree with. Rolling (`start_hour` None): the 24 hours (7 × 24)
    from every shift's start; fixed: local days (weeks from Monday) from `start_hour`.

    An employee's stretches off are the times between their shifts, merged (before the first
    and after the last they are open). A window passes when a stretch off clipped to it is at
    least the minimum. A violation is dated on the window's day (its shift's work date, or the
    period's first day), once per day (its worst window), with the hours the longest stretch
    falls short, and kept where that shift's unit has records that month."""
    shifts: dict[str, list[tuple[datetime, datetime, str, str]]] = defaultdict(list)
    for r in records:
        if r["time_type"] == "standby":
            continue
        start, end = datetime.fromisoformat(r["start"]), datetime.fromisoformat(r["end"])
        shifts[r["employee_ref"]].append((start, end, r["org_unit_code"], r["work_date"]))
    cells = {(r["org_unit_code"], r["work_date"][:7]) for r in records}
    never, always = datetime.min.replace(tzinfo=LOCAL), datetime.max.replace(tzinfo=LOCAL)
    found = []
    for employee_shifts in shifts.values():
        employee_shifts.sort(key=lambda x: (x[0], x[1]))
        off = [(never, employee_shifts[0][0])]
        busy_until = employee_shifts[0][1]
        for start, end, _, _ in employee_shifts[1:]:
            off.append((busy_until, max(start, busy_until)))
            busy_until = max(busy_until, end)
        off.append((busy_until, always))

        def longest(
            w_start: datetime, w_end: datetime, off: list[tuple[datetime, datetime]] = off
        ) -> float:
            return max(
                [
                    (min(b, w_end) - max(a, w_start)).total_seconds()
                    for a, b in off
                    if b > w_start and a < w_end
                ]
                + [0.0]
            )

        for kind, days, minimum in (("daily_rest", 1, 11), ("weekly_rest", 7, 36)):
            windows: dict[str, tuple[float, str]] = {}
            if start_hour is None:
                for start, _, unit, day in employee_shifts:
                    rest = longest(start, start + timedelta(days=days))
                    if day not in windows or rest < windows[day][0]:
                        windows[day] = (rest, unit)
            else:
                first_shift: dict[date, str] = {}
                shift_by = timedelta(hours=start_hour)
                for start, end, unit, _ in employee_shifts:
                    first = (start.astimezone(LOCAL).replace(tzinfo=None) - shift_by).date()
                    last_moment = end.astimezone(LOCAL).replace(tzinfo=None) - shift_by
                    last = (last_moment - timedelta(microseconds=1)).date()
                    if days == 7:
                        first -= timedelta(days=first.weekday())
                        last -= timedelta(days=last.weekday())
                    period = first
                    while period <= last:
                        first_shift.setdefault(period, unit)
                        period += timedelta(days=days)
                for period, unit in first_shift.items():
                    p_start = datetime.combine(period, time(start_hour), LOCAL)
                    p_end = datetime.combine(period + timedelta(days=days), time(start_hour), LOCAL)
                    windows[period.isoformat()] = (longest(p_start, p_end), unit)
            for day, (rest, unit) in windows.items():
                if rest < minimum * 3600 and (unit, day[:7]) in cells:
                    missing = Decimal(minimum) - Decimal(rest) / 3600
                    hours = float(missing.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
                    found.append((kind, day, hours))
    return sorted(found)


@pytest.mark.parametrize("start_hour", [None, 0, 7])
async def test_rest_rules_agree_with_a_window_by_window_reckoning(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, start_hour: int | None
) -> None:
    await seed_tree(client)
    if start_hour is not None:
        for rule in (await client.get("/v1/compliance/rules")).json()["items"]:
            if rule["kind"] in ("daily_rest", "weekly_rest"):
                moved = {"period": "fixed", "period_start_hour": start_hour}
                changed = await client.patch(f"/v1/compliance/rules/{rule['id']}", json=moved)
                assert changed.is_success, changed.text
    rnd = random.Random(20261205)
    records = []
    for n in range(6):
        # Three weeks across the autumn DST change, in two units: short and long shifts, quick
        # returns, exactly 11 h off, shifts inside longer ones, nights, days off, and shifts
        # that start or end at midnight (on a period's edge).
        at = datetime(2024, 10, 14, 0, 0) + timedelta(hours=rnd.randint(0, 23))
        while at < datetime(2024, 11, 4):
            hours = rnd.choice([2, 4, 8, 8, 8, 10, 12, 24])
            unit = rnd.choice(["SUS-AKUT", "SUS-MED"])
            records.append(shift(f"R{n}", at, hours, unit=unit))
            step = rnd.choice([1, 3, 14, 16, 18, 19, 20, 22, 24, 26, 40, 60])
            at += timedelta(hours=step, minutes=rnd.choice([0, 0, 0, 30, rnd.randint(1, 59)]))
    # A short shift inside a night shift, then 11 h off: that stretch begins when the night
    # shift ends, the next day.
    records += [
        shift("NEST", datetime(2024, 10, 21, 18, 0), 8),
        shift("NEST", datetime(2024, 10, 22, 10, 0), 4),
        shift("NEST", datetime(2024, 10, 22, 20, 0), 12),
        shift("NEST", datetime(2024, 10, 22, 21, 0), 2),
        shift("NEST", datetime(2024, 10, 23, 19, 0), 8),
    ]
    await feed(client, "time-records", records)
    await recalculate(app)
    expected = rest_by_hand(records, start_hour)
    assert {kind for kind, _, _ in expected} == {"daily_rest", "weekly_rest"}
    assert sorted(await violations(session)) == expected


async def test_a_shift_inside_a_night_shift_does_not_hide_the_rest_after_it(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await seed_tree(client)
    records = [
        shift("I1", datetime(2024, 3, 4, 20, 0), 12),  # the night, until 08:00
        shift("I1", datetime(2024, 3, 4, 21, 0), 2, kind="extra_time"),  # inside it
        shift("I1", datetime(2024, 3, 6, 1, 0), 8),  # 17 h after the night ends
    ]
    await feed(client, "time-records", records)
    await recalculate(app)
    # The 5th has work until 08:00, then 17 h off: rest kept, though the last shift before
    # that stretch (the one inside the night) ended the day before.
    assert await violations(session) == rest_by_hand(records) == []


async def test_a_rest_rule_for_one_profession_and_subtree_counts_rest_from_any_work(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await seed_tree(client)
    rules = (await client.get("/v1/compliance/rules")).json()["items"]
    for rule in rules:
        if rule["kind"] in ("daily_rest", "weekly_rest"):
            await client.patch(f"/v1/compliance/rules/{rule['id']}", json={"enabled": False})
    created = await client.post(
        "/v1/compliance/rules",
        json={
            "kind": "daily_rest",
            "name": "Dygnsvila för läkare på akuten",
            "min_rest_hours": "11",
            "period_start_hour": 0,
            "professions": ["doctor"],
            "org_unit": "SUS-AKUT",
            "valid_from": "2024-01-01",
        },
    )
    assert created.status_code == 201, created.text
    await feed(
        client,
        "time-records",
        [
            # 8 h off either side of an emergency-ward shift, the others in another unit: the
            # rule covers the 5th (its ward shift) and counts the rest between all of them.
            shift("S1", datetime(2024, 3, 4, 21, 30), 10, unit="SUS-MED"),
            shift("S1", datetime(2024, 3, 5, 15, 30), 8, unit="SUS-AKUT"),
            shift("S1", datetime(2024, 3, 6, 7, 30), 8, unit="SUS-MED"),
            # The same rota as a nurse on the ward, or a doctor elsewhere: not covered.
            shift("S2", datetime(2024, 3, 4, 21, 30), 10, profession="nurse"),
            shift("S2", datetime(2024, 3, 5, 15, 30), 8, profession="nurse"),
            shift("S2", datetime(2024, 3, 6, 7, 30), 8, profession="nurse"),
            shift("S3", datetime(2024, 3, 4, 21, 30), 10, unit="SUS-MED"),
            shift("S3", datetime(2024, 3, 5, 15, 30), 8, unit="SUS-MED"),
            shift("S3", datetime(2024, 3, 6, 7, 30), 8, unit="SUS-MED"),
        ],
    )
    await recalculate(app)
    rows = (
        await session.execute(
            sa.text(
                "SELECT v.kind, v.work_date, v.hours, v.employee, o.code, v.details "
                "FROM compliance_violations v JOIN org_units o ON o.id = v.org_unit_id"
            )
        )
    ).all()
    await session.commit()
    assert [(k, d.isoformat(), float(h), u) for k, d, h, _, u, _ in rows] == [
        ("daily_rest", "2024-03-05", 3.0, "SUS-AKUT")
    ]
    assert rows[0].details == {
        "longest_rest_hours": 8.0,
        "shortest_rest_hours": 8.0,
        "required_rest_hours": 11,
    }


async def test_a_month_that_kept_the_rules_has_none_broken_not_no_data(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await seed_tree(client)
    await _agency_policies(session)
    await create_target(client, "rest_violations", "RS", "0")
    agency = {"staff": "agency", "profession": "nurse"}
    await feed(
        client,
        "time-records",
        [
            # A day rota at the emergency ward in March: rest kept every day and week.
            *[shift("K1", datetime(2024, 3, d, 7, 0), 8) for d in range(4, 9)],
            # An agency nurse on a Saturday before the stop: allowed.
            shift("K2", datetime(2023, 11, 4, 21, 0), 10, **agency),
            # Shifts without times only: nothing could be checked.
            time_record("K3", employee_ref="K3", org_unit_code="SUS-MED", work_date="2024-03-05"),
        ],
    )
    await recalculate(app)
    assert await violations(session) == []
    kept = await series(client, "rest_violations", "SUS-AKUT", "2024-03", "2024-03")
    assert (kept[0]["value"], kept[0]["status"]) == (0.0, "met")
    unchecked = await series(client, "rest_violations", "SUS-MED", "2024-03", "2024-03")
    assert (unchecked[0]["value"], unchecked[0]["reason"]) == (None, "no_data")
    allowed = await series(client, "agency_policy_violation_hours", "RS", "2023-11", "2023-11")
    assert allowed[0]["value"] == 0.0
    # With the rest rules off, nothing is checked: no data, not zero.
    for rule in (await client.get("/v1/compliance/rules")).json()["items"]:
        if rule["kind"] in ("daily_rest", "weekly_rest"):
            await client.patch(f"/v1/compliance/rules/{rule['id']}", json={"enabled": False})
    await recalculate(app)
    off = await series(client, "rest_violations", "SUS-AKUT", "2024-03", "2024-03")
    assert (off[0]["value"], off[0]["reason"]) == (None, "no_data")


async def test_the_51st_overtime_hour_of_a_month(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await seed_tree(client)
    overtime = [
        shift("O1", datetime(2024, 3, d, 16, 0), 5, kind="overtime") for d in range(1, 11)
    ]  # 50 h: at the cap
    await feed(client, "time-records", overtime)
    await recalculate(app)
    assert [v for v in await violations(session) if v[0].startswith("overtime")] == []
    await feed(
        client, "time-records", [shift("O1", datetime(2024, 3, 20, 16, 0), 1, kind="overtime")]
    )
    await recalculate(app)
    assert [v for v in await violations(session) if v[0].startswith("overtime")] == [
        ("overtime_month", "2024-03-20", 1.0)
    ]


async def test_the_year_cap_counts_every_month_of_the_year_under_the_month_cap(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await seed_tree(client)
    # 45 h a month (under the month's 50) from January: 180 h by April, 200 on 4 May, then 205.
    overtime = [
        shift("Y1", datetime(2024, m, d, 16, 0), 5, kind="overtime")
        for m in range(1, 6)
        for d in range(1, 10)
    ]
    await feed(client, "time-records", overtime)
    await recalculate(app)
    assert [v for v in await violations(session) if v[0].startswith("overtime")] == [
        ("overtime_year", "2024-05-05", 25.0)
    ]
    details = (
        await session.execute(
            sa.text("SELECT details FROM compliance_violations WHERE kind = 'overtime_year'")
        )
    ).scalar_one()
    await session.commit()
    assert details == {"overtime_hours": 225, "cap_hours": 200, "period": "2024"}


async def test_rest_across_the_spring_dst_change_counts_real_hours(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await seed_tree(client)
    # Off from 01:00 to 12:00 by the clock on 31 March 2024, but the clocks skip an hour: 10 h.
    await feed(
        client,
        "time-records",
        [
            shift("T1", datetime(2024, 3, 30, 17, 0), 8),  # ends 01:00 on the 31st
            shift("T1", datetime(2024, 3, 31, 12, 0), 8),
            shift("T1", datetime(2024, 4, 1, 6, 30), 8),  # 10.5 h after 20:00
        ],
    )
    await recalculate(app)
    # The 24 hours from the 30th's 17:00 hold 10 h off (the 11 h by the clock), those from
    # the 31st's 12:00 hold 10.5 h.
    assert await violations(session) == [
        ("daily_rest", "2024-03-30", 1.0),
        ("daily_rest", "2024-03-31", 0.5),
    ]


async def _agency_policies(session: AsyncSession) -> None:
    # Seed 002: agency nurses only evenings, nights and weekends from 2023-10-01; seed 000:
    # stopped altogether from 2024-01-15.
    await session.execute(
        sa.text(
            """
            INSERT INTO agency_policies (name, professions, org_unit_id, valid_from, valid_to,
                                         banned_windows)
            SELECT 'Hyrsjuksköterskor endast kvällar, nätter och helger', ARRAY['nurse'], id,
                   DATE '2023-10-01', DATE '2024-01-14',
                   '[{"weekdays": [1, 2, 3, 4, 5], "from": "07:00", "to": "18:00"}]'::jsonb
            FROM org_units WHERE code = 'RS'
            UNION ALL
            SELECT 'Stopp för hyrsjuksköterskor', ARRAY['nurse'], id, DATE '2024-01-15', NULL,
                   NULL
            FROM org_units WHERE code = 'RS'
            """
        )
    )
    await session.commit()


# A few cells are checked by index, a backlog by one scan of its months (`many`, above
# facts.SCAN_CELLS cells): the same violations either way.
SCANNED = pytest.mark.parametrize("scan_cells", [None, 1], ids=["by index", "scanned"])


@SCANNED
async def test_agency_nurses_against_the_seed_policies(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
    scan_cells: int | None,
) -> None:
    if scan_cells:
        monkeypatch.setattr(facts, "SCAN_CELLS", scan_cells)
    await seed_tree(client)
    await _agency_policies(session)
    agency = {"staff": "agency", "profession": "nurse", "agency": "Bemanning AB"}
    await feed(
        client,
        "time-records",
        [
            # Under the 2023-10-01 policy: Saturday night allowed, Wednesday 15–21 half banned.
            shift("A1", datetime(2023, 11, 4, 21, 0), 10, **agency, cost_sek="9000.00"),
            shift("A1", datetime(2023, 11, 8, 15, 0), 6, **agency, cost_sek="6000.00"),
            # After the stop: a weekday afternoon is a violation whatever the hour.
            shift("A2", datetime(2024, 1, 17, 13, 0), 8, **agency, cost_sek="8000.00"),
        ],
    )
    await recalculate(app)
    rows = (
        await session.execute(
            sa.text(
                "SELECT work_date, hours, cost_sek FROM compliance_violations "
                "WHERE kind = 'agency_policy' ORDER BY work_date"
            )
        )
    ).all()
    await session.commit()
    assert [(d.isoformat(), float(h), float(c)) for d, h, c in rows] == [
        ("2023-11-08", 3.0, 3000.0),
        ("2024-01-17", 8.0, 8000.0),
    ]
    hours = await series(client, "agency_policy_violation_hours", "RS", "2024-01", "2024-01")
    assert hours[0]["value"] == 8.0


@SCANNED
async def test_an_exemption_allows_what_the_policy_bans(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
    scan_cells: int | None,
) -> None:
    if scan_cells:
        monkeypatch.setattr(facts, "SCAN_CELLS", scan_cells)
    await seed_tree(client)
    await _agency_policies(session)
    await session.execute(
        sa.text(
            """
            INSERT INTO agency_exemptions (policy_id, org_unit_id, valid_from, valid_to,
                                           decided_by, reason)
            SELECT p.id, o.id, DATE '2024-01-15', DATE '2024-02-29', 'KL',
                   'Akutmottagningen saknar sjuksköterskor vecka 3'
            FROM agency_policies p, org_units o
            WHERE p.valid_to IS NULL AND o.code = 'SUS-AKUT'
            """
        )
    )
    await session.commit()
    agency = {"staff": "agency", "profession": "nurse"}
    await feed(
        client,
        "time-records",
        [
            shift("A3", datetime(2024, 1, 17, 13, 0), 8, **agency),
            shift("A3", datetime(2024, 1, 18, 13, 0), 8, unit="SUS-MED", **agency),
        ],
    )
    await recalculate(app)
    assert [v[1] for v in await violations(session)] == ["2024-01-18"]  # SUS-MED: no exemption


async def test_a_correction_removes_a_violation_and_shifts_without_times_are_uncheckable(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await seed_tree(client)
    late = shift("N2", datetime(2024, 3, 5, 15, 30), 8)
    await feed(
        client,
        "time-records",
        [
            shift("N2", datetime(2024, 3, 4, 21, 30), 10),
            late,
            shift("N2", datetime(2024, 3, 6, 7, 30), 8),
            time_record("untimed", employee_ref="U1", work_date="2024-03-05", hours="8"),
        ],
    )
    await recalculate(app)
    assert len(await violations(session)) == 2
    await feed(
        client,
        "time-records",
        [{"source": "heroma", "external_id": late["external_id"], "deleted": True}],
    )
    await recalculate(app)
    assert await violations(session) == []
    uncheckable = (
        await session.execute(sa.text("SELECT records FROM compliance_uncheckable"))
    ).scalar_one()
    await session.commit()
    assert uncheckable == 1
    events = (
        await client.get("/v1/events", params={"types": "compliance.violation_detected"})
    ).json()
    assert [e["data"]["date"] for e in events["items"]] == ["2024-03-04", "2024-03-05"]
    # What was reported is kept, withdrawn, not erased.
    withdrawn = (
        await session.execute(
            sa.text("SELECT kind, work_date FROM compliance_violation_history ORDER BY 2")
        )
    ).all()
    await session.commit()
    assert [(k, d.isoformat()) for k, d in withdrawn] == [
        ("daily_rest", "2024-03-04"),
        ("daily_rest", "2024-03-05"),
    ]


async def test_detection_is_idempotent(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await seed_tree(client)
    await feed(
        client,
        "time-records",
        [
            shift("N3", datetime(2024, 3, 4, 21, 30), 10),
            shift("N3", datetime(2024, 3, 5, 15, 30), 8),
            shift("N3", datetime(2024, 3, 6, 7, 30), 8),
        ],
    )
    await recalculate(app)
    first = await violations(session)
    await recalculate_everything(app)
    assert await violations(session) == first
    events = (
        await client.get("/v1/events", params={"types": "compliance.violation_detected"})
    ).json()
    assert len(events["items"]) == 2  # one event per unit and day, not per recomputation
    # No counts or hours: a unit-day's are one employee's (docs/privacy.md).
    assert events["items"][1]["data"] == {
        "org_unit": "SUS-AKUT",
        "date": "2024-03-05",
        "kinds": ["daily_rest"],
    }
    _ = date


@pytest.mark.parametrize("calendar", ["sweden", None])
async def test_a_policy_with_swedish_holidays_treats_them_like_the_weekend(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, calendar: str | None
) -> None:
    await seed_tree(client)
    created = await client.post(
        "/v1/compliance/agency-policies",
        json={
            "name": "Hyrsjuksköterskor endast kvällar, nätter och helger",
            "professions": ["nurse"],
            "org_unit": "RS",
            "valid_from": "2024-01-01",
            "banned_windows": [{"weekdays": [1, 2, 3, 4, 5], "from": "07:00", "to": "18:00"}],
            "holidays": calendar,
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["holidays"] == calendar
    agency = {"staff": "agency", "profession": "nurse"}
    days = [
        datetime(2024, 6, 4, 8, 0),  # a Tuesday
        datetime(2024, 6, 5, 8, 0),  # Wednesday, the eve of the National Day: a Saturday
        datetime(2024, 6, 6, 8, 0),  # Thursday, the National Day: a Sunday
        datetime(2024, 6, 21, 8, 0),  # Friday, midsommarafton (the eve of Midsummer Day)
    ]
    records = [shift(f"H{n}", at, 8, **agency) for n, at in enumerate(days)]
    await feed(client, "time-records", records)
    await recalculate(app)
    banned = [d for k, d, _ in await violations(session) if k == "agency_policy"]
    if calendar:
        assert banned == ["2024-06-04"]
    else:
        assert banned == ["2024-06-04", "2024-06-05", "2024-06-06", "2024-06-21"]


async def test_a_fixed_dygnsbryt_needs_the_rest_inside_each_period(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await seed_tree(client)
    for rule in (await client.get("/v1/compliance/rules")).json()["items"]:
        if rule["kind"] == "daily_rest":
            fixed = {"period": "fixed", "period_start_hour": 7}
            assert (await client.patch(f"/v1/compliance/rules/{rule['id']}", json=fixed)).is_success
    monday = date(2024, 3, 4)
    records = [
        # Nights 21–07 with the periods starting at 07:00: 14 h off inside each.
        *_rota("F-NIGHT", monday, [(d, 21, 10) for d in range(5)]),
        # A quick return: 9.5 h off, all of it inside Monday's period 07:00–07:00.
        shift("F-QUICK", datetime(2024, 3, 4, 13, 0), 8.5),
        shift("F-QUICK", datetime(2024, 3, 5, 7, 0), 8),
    ]
    await feed(client, "time-records", records)
    await recalculate(app)
    found = [v for v in await violations(session) if v[0] == "daily_rest"]
    assert found == [("daily_rest", "2024-03-04", 1.5)]
    assert [v for v in rest_by_hand(records, 7) if v[0] == "daily_rest"] == found
