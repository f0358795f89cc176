"""time_records is partitioned by month: ingest makes the partition a record needs (and only
inside the accepted window), a record moved to another month lives in one partition, a
partition that cannot be made refuses the batch whole, and the worker's cron makes partitions
ahead and drops those past the retention."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.config import Settings
from services.core.timedata import ingest, partitions
from tests.factories import seed_tree, time_record
from tests.problems import assert_problem

BATCH = "/v1/time-records:batch"


async def _months(session: AsyncSession) -> set[date]:
    found = await partitions.existing(session)
    await session.commit()
    return found


async def _drop(session: AsyncSession, month: date) -> None:
    """A partition another test of this database may have made, gone, so this one makes it."""
    name = partitions.partition_name(month)
    await session.execute(sa.text(f"DROP TABLE IF EXISTS {name}"))
    await session.commit()


async def _stored(session: AsyncSession, external_id: str) -> list[tuple[str, date]]:
    rows = await session.execute(
        sa.text(
            "SELECT tableoid::regclass::text, work_date FROM time_records "
            "WHERE external_id = :e ORDER BY work_date"
        ),
        {"e": external_id},
    )
    found = [(str(t), d) for t, d in rows.all()]
    await session.commit()
    return found


async def test_a_record_in_a_month_without_partition_makes_it(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await seed_tree(client)
    await _drop(session, date(2003, 2, 1))
    assert date(2003, 2, 1) not in await _months(session)

    response = await client.post(
        BATCH, json={"records": [time_record("P1", work_date="2003-02-14")]}
    )
    assert response.status_code == 200, response.text
    assert response.json()["inserted"] == 1
    assert date(2003, 2, 1) in await _months(session)
    assert await _stored(session, "P1") == [("time_records_p200302", date(2003, 2, 14))]


async def test_a_record_moved_to_another_month_leaves_the_old_partition(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await seed_tree(client)
    first = await client.post(BATCH, json={"records": [time_record("M1", work_date="2003-06-10")]})
    assert first.json()["inserted"] == 1
    await session.execute(sa.text("DELETE FROM kpi_dirty_cells"))
    await session.commit()

    moved = await client.post(BATCH, json={"records": [time_record("M1", work_date="2003-07-02")]})
    assert moved.status_code == 200, moved.text
    assert (moved.json()["inserted"], moved.json()["updated"]) == (0, 1)
    assert await _stored(session, "M1") == [("time_records_p200307", date(2003, 7, 2))]
    key = await session.execute(
        sa.text("SELECT work_date FROM time_record_keys WHERE external_id = 'M1'")
    )
    assert key.scalar_one() == date(2003, 7, 2)
    months = await session.execute(
        sa.text("SELECT DISTINCT to_char(month, 'YYYY-MM') FROM kpi_dirty_cells ORDER BY 1")
    )
    # Both the month it left and the month it joined are recalculated.
    assert months.scalars().all() == ["2003-06", "2003-07"]
    await session.commit()

    again = await client.post(BATCH, json={"records": [time_record("M1", work_date="2003-07-02")]})
    assert again.json()["unchanged"] == 1

    # One batch of every kind: a record moved again, a new one, a changed one and an unchanged
    # one (the upsert is planned by which of them are new).
    await client.post(BATCH, json={"records": [time_record("M2"), time_record("M3")]})
    mixed = [
        time_record("M1", work_date="2003-08-04"),
        time_record("M2"),
        time_record("M3", hours="6.00"),
        time_record("M4", work_date="2003-08-05"),
    ]
    body = (await client.post(BATCH, json={"records": mixed})).json()
    assert (body["inserted"], body["updated"], body["unchanged"]) == (1, 2, 1), body
    assert await _stored(session, "M1") == [("time_records_p200308", date(2003, 8, 4))]
    assert await _stored(session, "M4") == [("time_records_p200308", date(2003, 8, 5))]
    hours = await session.execute(
        sa.text("SELECT hours FROM time_records WHERE external_id = 'M3'")
    )
    assert hours.scalar_one() == Decimal("6.00")


async def test_a_record_outside_the_accepted_window_makes_no_partition(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await seed_tree(client)
    response = await client.post(
        BATCH, json={"records": [time_record("OLD", work_date="1999-12-31")]}
    )
    assert response.status_code == 200, response.text
    assert response.json()["rejected"] == 1
    assert date(1999, 12, 1) not in await _months(session)


async def test_a_partition_that_cannot_be_made_refuses_the_batch_and_stores_nothing(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await seed_tree(client)
    await _drop(session, date(2003, 5, 1))
    # A table by the partition's name that is not a partition: CREATE TABLE fails.
    await session.execute(sa.text("CREATE TABLE time_records_p200305 (x int)"))
    await session.commit()
    try:
        response = await client.post(
            BATCH,
            json={
                "records": [
                    time_record("F1", work_date="2003-04-30"),
                    time_record("F2", work_date="2003-05-01"),
                ]
            },
        )
        assert_problem(response, 503, "partition_unavailable")
        assert await _stored(session, "F1") == []
        assert await _stored(session, "F2") == []
        keys = await session.execute(sa.text("SELECT count(*) FROM time_record_keys"))
        assert keys.scalar_one() == 0
        await session.commit()
    finally:
        await _drop(session, date(2003, 5, 1))
    retried = await client.post(
        BATCH, json={"records": [time_record("F2", work_date="2003-05-01")]}
    )
    assert retried.json()["inserted"] == 1


async def test_the_cron_makes_partitions_ahead_and_drops_those_past_the_retention(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    await seed_tree(client)
    records = [
        time_record("R1", work_date="2000-02-10"),
        time_record("R2", work_date="2000-08-10"),
    ]
    assert (await client.post(BATCH, json={"records": records})).json()["inserted"] == 2
    engine = app.state.engine

    kept = settings.model_copy(update={"time_records_retention_years": None})
    await partitions.maintain(engine, kept, date(2001, 6, 15))
    assert {date(2001, 6, 1), date(2002, 6, 1)} <= await _months(session)
    assert date(2000, 2, 1) in await _months(session), "default: keep all"

    one_year = settings.model_copy(update={"time_records_retention_years": 1})
    _, dropped = await partitions.maintain(engine, one_year, date(2001, 6, 15))
    assert "time_records_p200002" in dropped and "time_records_p200008" not in dropped
    assert await _stored(session, "R1") == []
    assert await _stored(session, "R2") == [("time_records_p200008", date(2000, 8, 10))]
    keys = await session.execute(sa.text("SELECT external_id FROM time_record_keys"))
    assert keys.scalars().all() == ["R2"]
    await session.commit()


async def test_two_batches_needing_one_new_month_both_store(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await seed_tree(client)
    await _drop(session, date(2003, 9, 1))
    first, second = await asyncio.gather(
        client.post(BATCH, json={"records": [time_record("C1", work_date="2003-09-01")]}),
        client.post(BATCH, json={"records": [time_record("C2", work_date="2003-09-30")]}),
    )
    assert (first.status_code, second.status_code) == (200, 200), first.text + second.text
    assert await _stored(session, "C1") == [("time_records_p200309", date(2003, 9, 1))]
    assert await _stored(session, "C2") == [("time_records_p200309", date(2003, 9, 30))]


def _index_probes(plan: dict[str, Any]) -> int:
    """How many times the plan's scans of time_records' partitions ran."""
    own = (
        plan.get("Actual Loops", 0)
        if plan.get("Relation Name", "").startswith("time_records_p")
        else 0
    )
    return own + sum(_index_probes(child) for child in plan.get("Plans", []))


async def test_a_stored_record_is_found_by_one_probe_of_its_months_partition(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """The lookup behind a re-sent file's skipped lines, deletes and the scope check: a key's
    row is found in the partition of the month its key holds, not searched for partition by
    partition (a file sent again ran at a third of its speed when it was)."""
    await seed_tree(client)
    months = ["2003-01-15", "2003-03-15", "2003-05-15", "2003-08-15"]
    records = [time_record(f"L{i}", work_date=day) for i, day in enumerate(months)]
    response = await client.post(BATCH, json={"records": records})
    assert response.json()["inserted"] == len(months), response.text

    keys = "unnest(CAST(:sources AS text[]), CAST(:ids AS text[])) AS k(source, external_id)"
    plan = await session.execute(
        sa.text(
            "EXPLAIN (ANALYZE, FORMAT JSON) SELECT t.external_id FROM "
            + ingest._stored(ingest.KINDS["time-records"], keys, "k")
        ),
        {"sources": [r["source"] for r in records], "ids": [r["external_id"] for r in records]},
    )
    await session.commit()
    (root,) = plan.scalar_one()
    assert root["Plan"]["Actual Rows"] == len(months)
    assert _index_probes(root["Plan"]) == len(months)
