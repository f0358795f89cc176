"""Meetings planned from a body's schedule: the schedule's time is the region's local time, so a
weekly 13:00 pulse meeting stays at 13:00 across the changes to and from summer time (its UTC
instant moves); every other week and the first Monday of the month; generation is repeatable."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.crud import Window
from services.core.errors import ValidationFailed
from services.core.meetings import body_service, meeting_service
from services.core.meetings.schemas import (
    BodyCreate,
    Frequency,
    MeetingKind,
    MeetingRead,
    Schedule,
)
from tests.core.meetings.conftest import codes
from tests.factories import ADMIN

pytestmark = pytest.mark.usefixtures("region")

STOCKHOLM = ZoneInfo("Europe/Stockholm")


async def _planned(session: AsyncSession, body_id: uuid.UUID) -> list[MeetingRead]:
    page = await meeting_service.list_meetings(
        session, ADMIN, body_id=body_id, status=None, window=Window(limit=100)
    )
    meetings = [m for m in page.items if isinstance(m, MeetingRead)]
    return sorted(meetings, key=lambda m: m.starts_at)


async def generate(session: AsyncSession, body_id: uuid.UUID, until: date) -> int:
    return await meeting_service.generate(session, ADMIN, body_id, until, zone=STOCKHOLM)


def local(meetings: list[MeetingRead]) -> list[datetime]:
    return [m.starts_at.astimezone(STOCKHOLM).replace(tzinfo=None) for m in meetings]


async def test_a_weekly_schedule_across_the_summer_time_change(session: AsyncSession) -> None:
    # Sweden moved to summer time on Sunday 31 March 2024: the Monday pulse meetings stay at
    # 13:00 local time, so 12:00 UTC before the change and 11:00 UTC after it.
    schedule = Schedule(
        frequency=Frequency.weekly,
        weekday=0,
        time="13:00",
        duration_minutes=90,
        kind=MeetingKind.pulse,
        place="Teams",
        starts_on=date(2024, 3, 20),
    )
    body = await body_service.create_body(
        session, ADMIN, BodyCreate(name="Pulsmöte SUS", org_unit="SUS", schedule=schedule)
    )

    assert await generate(session, body.id, date(2024, 4, 8)) == 3

    meetings = await _planned(session, body.id)
    assert [m.starts_at for m in meetings] == [
        datetime(2024, 3, 25, 12, tzinfo=UTC),
        datetime(2024, 4, 1, 11, tzinfo=UTC),
        datetime(2024, 4, 8, 11, tzinfo=UTC),
    ]
    assert local(meetings) == [
        datetime(2024, 3, 25, 13),
        datetime(2024, 4, 1, 13),
        datetime(2024, 4, 8, 13),
    ]
    assert {m.ends_at - m.starts_at for m in meetings} == {timedelta(minutes=90)}
    assert {(m.kind.value, m.status.value, m.place) for m in meetings} == {
        ("pulse", "planned", "Teams")
    }
    # Again, and a week further: only the new slot is created.
    assert await generate(session, body.id, date(2024, 4, 8)) == 0
    assert await generate(session, body.id, date(2024, 4, 15)) == 1
    assert len(await _planned(session, body.id)) == 4


async def test_back_to_winter_time_the_meeting_stays_at_13(session: AsyncSession) -> None:
    # Summer time ended on Sunday 27 October 2024.
    schedule = Schedule(
        frequency=Frequency.weekly, weekday=0, time="13:00", starts_on=date(2024, 10, 20)
    )
    body = await body_service.create_body(
        session, ADMIN, BodyCreate(name="Pulsmöte PV", org_unit="PV", schedule=schedule)
    )
    assert await generate(session, body.id, date(2024, 11, 4)) == 3
    meetings = await _planned(session, body.id)
    assert [m.starts_at.hour for m in meetings] == [11, 12, 12]
    assert {t.hour for t in local(meetings)} == {13}


async def test_every_other_week_from_the_first_meeting_day(session: AsyncSession) -> None:
    # Seed 001: "Stabsledning varannan vecka (2 timmar)". Starting on a Wednesday, the first
    # Thursday follows the next day, then every fourteen days, at 13:00 in winter and summer.
    schedule = Schedule(
        frequency=Frequency.biweekly,
        weekday=3,
        time="13:00",
        duration_minutes=120,
        starts_on=date(2024, 3, 13),
    )
    body = await body_service.create_body(
        session, ADMIN, BodyCreate(name="Stabsledning", org_unit="RS", schedule=schedule)
    )
    assert await generate(session, body.id, date(2024, 4, 30)) == 4
    meetings = await _planned(session, body.id)
    assert local(meetings) == [
        datetime(2024, 3, 14, 13),
        datetime(2024, 3, 28, 13),
        datetime(2024, 4, 11, 13),
        datetime(2024, 4, 25, 13),
    ]
    assert {m.ends_at - m.starts_at for m in meetings} == {timedelta(hours=2)}


async def test_the_first_and_the_last_monday_of_the_month(session: AsyncSession) -> None:
    first = Schedule(
        frequency=Frequency.monthly,
        weekday=0,
        week_of_month=1,
        time="13:00",
        starts_on=date(2024, 1, 2),
    )
    body = await body_service.create_body(
        session, ADMIN, BodyCreate(name="Ledningsgrupp", org_unit="RS", schedule=first)
    )
    # Monday 1 January is before the schedule starts; April's first Monday is the 1st.
    assert await generate(session, body.id, date(2024, 4, 30)) == 3
    assert local(await _planned(session, body.id)) == [
        datetime(2024, 2, 5, 13),
        datetime(2024, 3, 4, 13),
        datetime(2024, 4, 1, 13),
    ]

    last = first.model_copy(update={"week_of_month": -1, "starts_on": date(2024, 11, 1)})
    other = await body_service.create_body(
        session, ADMIN, BodyCreate(name="Ledningsgrupp PV", org_unit="PV", schedule=last)
    )
    assert await generate(session, other.id, date(2025, 2, 1)) == 3
    assert [m.date() for m in local(await _planned(session, other.id))] == [
        date(2024, 11, 25),
        date(2024, 12, 30),
        date(2025, 1, 27),
    ]


async def test_a_tertial_schedule_meets_every_fourth_month_from_its_start(
    session: AsyncSession,
) -> None:
    schedule = Schedule(
        frequency=Frequency.tertial, day=15, time="12:30", starts_on=date(2024, 1, 20)
    )
    body = await body_service.create_body(
        session, ADMIN, BodyCreate(name="Regionstyrelsen", org_unit="RS", schedule=schedule)
    )

    assert await generate(session, body.id, date(2025, 1, 15)) == 3

    # January's day 15 is before the schedule starts; the year wraps after September.
    assert local(await _planned(session, body.id)) == [
        datetime(2024, 5, 15, 12, 30),
        datetime(2024, 9, 15, 12, 30),
        datetime(2025, 1, 15, 12, 30),
    ]


async def test_generation_needs_a_schedule_and_stops_three_years_ahead(
    session: AsyncSession,
) -> None:
    plain = await body_service.create_body(session, ADMIN, BodyCreate(name="KL", org_unit="RS"))
    with pytest.raises(ValidationFailed) as no_schedule:
        await generate(session, plain.id, date(2024, 2, 1))
    assert codes(no_schedule.value) == ["no_schedule"]

    schedule = Schedule(frequency=Frequency.monthly, starts_on=date(2024, 1, 1))
    monthly = await body_service.create_body(
        session, ADMIN, BodyCreate(name="LG", org_unit="PV", schedule=schedule)
    )
    with pytest.raises(ValidationFailed) as too_far:
        await generate(session, monthly.id, date(2027, 2, 1))
    assert codes(too_far.value) == ["too_far"]
    assert await _planned(session, monthly.id) == []


@pytest.mark.parametrize(
    ("schedule", "field"),
    [
        ({"frequency": "weekly", "week_of_month": 1}, "week_of_month"),
        ({"frequency": "tertial", "week_of_month": -1}, "week_of_month"),
        ({"frequency": "biweekly", "weekday": 2, "day": 15}, "day"),
        ({"frequency": "monthly", "weekday": 0, "week_of_month": 1, "day": 3}, "day"),
        ({"frequency": "monthly", "weekday": 2}, "weekday"),
    ],
)
async def test_a_field_the_frequency_does_not_use_is_refused(
    session: AsyncSession, schedule: dict[str, object], field: str
) -> None:
    bad = Schedule.model_validate({**schedule, "starts_on": "2024-01-01"})
    with pytest.raises(ValidationFailed) as refused:
        await body_service.create_body(
            session, ADMIN, BodyCreate(name="KL", org_unit="RS", schedule=bad)
        )
    assert codes(refused.value) == ["invalid_schedule"]
    assert refused.value.errors and refused.value.errors[0]["loc"] == ["body", "schedule", field]
