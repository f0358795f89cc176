"""Meetings planned from a body's schedule: times are UTC, so a weekly meeting stays seven days
after the last one across the change to summer time; generation is repeatable."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

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


async def _planned(session: AsyncSession, body_id: uuid.UUID) -> list[MeetingRead]:
    page = await meeting_service.list_meetings(
        session, ADMIN, body_id=body_id, status=None, window=Window(limit=100)
    )
    meetings = [m for m in page.items if isinstance(m, MeetingRead)]
    return sorted(meetings, key=lambda m: m.starts_at)


async def test_a_weekly_schedule_across_the_summer_time_change(session: AsyncSession) -> None:
    # Sweden moved to summer time on Sunday 31 March 2024; the Monday pulse meetings stay at
    # 08:00 UTC, exactly a week apart.
    schedule = Schedule(
        frequency=Frequency.weekly,
        weekday=0,
        time="08:00",
        duration_minutes=90,
        kind=MeetingKind.pulse,
        place="Teams",
        starts_on=date(2024, 3, 20),
    )
    body = await body_service.create_body(
        session, ADMIN, BodyCreate(name="Pulsmöte SUS", org_unit="SUS", schedule=schedule)
    )

    assert await meeting_service.generate(session, ADMIN, body.id, date(2024, 4, 8)) == 3

    meetings = await _planned(session, body.id)
    assert [m.starts_at for m in meetings] == [
        datetime(2024, 3, 25, 8, tzinfo=UTC),
        datetime(2024, 4, 1, 8, tzinfo=UTC),
        datetime(2024, 4, 8, 8, tzinfo=UTC),
    ]
    assert {m.ends_at - m.starts_at for m in meetings} == {timedelta(minutes=90)}
    assert {(m.kind.value, m.status.value, m.place) for m in meetings} == {
        ("pulse", "planned", "Teams")
    }
    # Again, and a week further: only the new slot is created.
    assert await meeting_service.generate(session, ADMIN, body.id, date(2024, 4, 8)) == 0
    assert await meeting_service.generate(session, ADMIN, body.id, date(2024, 4, 15)) == 1
    assert len(await _planned(session, body.id)) == 4


async def test_a_tertial_schedule_meets_every_fourth_month_from_its_start(
    session: AsyncSession,
) -> None:
    schedule = Schedule(
        frequency=Frequency.tertial, day=15, time="12:30", starts_on=date(2024, 1, 20)
    )
    body = await body_service.create_body(
        session, ADMIN, BodyCreate(name="Regionstyrelsen", org_unit="RS", schedule=schedule)
    )

    assert await meeting_service.generate(session, ADMIN, body.id, date(2025, 1, 15)) == 3

    # January's day 15 is before the schedule starts; the year wraps after September.
    assert [m.starts_at for m in await _planned(session, body.id)] == [
        datetime(2024, 5, 15, 12, 30, tzinfo=UTC),
        datetime(2024, 9, 15, 12, 30, tzinfo=UTC),
        datetime(2025, 1, 15, 12, 30, tzinfo=UTC),
    ]


async def test_generation_needs_a_schedule_and_stops_three_years_ahead(
    session: AsyncSession,
) -> None:
    plain = await body_service.create_body(session, ADMIN, BodyCreate(name="KL", org_unit="RS"))
    with pytest.raises(ValidationFailed) as no_schedule:
        await meeting_service.generate(session, ADMIN, plain.id, date(2024, 2, 1))
    assert codes(no_schedule.value) == ["no_schedule"]

    schedule = Schedule(frequency=Frequency.monthly, starts_on=date(2024, 1, 1))
    monthly = await body_service.create_body(
        session, ADMIN, BodyCreate(name="LG", org_unit="PV", schedule=schedule)
    )
    with pytest.raises(ValidationFailed) as too_far:
        await meeting_service.generate(session, ADMIN, monthly.id, date(2027, 2, 1))
    assert codes(too_far.value) == ["too_far"]
    assert await _planned(session, monthly.id) == []
