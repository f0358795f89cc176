"""A recalculation holds the cells it claimed without locking their marks: a feed that changes
one of those cells meanwhile is answered at once (it used to wait for the whole
recalculation), and its change is not lost: the mark it renewed survives the recalculation's
release and the next round computes it."""

from __future__ import annotations

import asyncio
import time
from datetime import date

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from services.cli import demo
from services.core.kpis import facts
from services.core.kpis import recalculation_service as kpis_service
from tests.factories import days, load_demo_region, seed_tree, shifts, time_record
from tests.jobs import recalculate, series, values, worker_ctx

BATCH = "/v1/time-records:batch"


async def sick_pct(client: httpx.AsyncClient) -> float:
    return float(
        values(await series(client, "sick_leave_pct", "SUS-AKUT", "2024-03", "2024-03"))["2024-03"]
    )


def sick_day(day: int) -> dict[str, str]:
    return time_record(
        f"SICK-{day}", employee_ref="E1", time_type="sick", work_date=f"2024-03-{day:02d}"
    )


async def dirty(app: FastAPI) -> int:
    async with app.state.sessionmaker() as session:
        return int(
            (await session.execute(sa.text("SELECT count(*) FROM kpi_dirty_cells"))).scalar_one()
        )


async def test_a_feed_does_not_wait_for_the_recalculation_of_its_cells_and_is_not_lost(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await seed_tree(client)
    scheduled = shifts("S", "E1", days(date(2024, 3, 1), date(2024, 3, 20)), "scheduled", "8.00")
    assert (
        await client.post(BATCH, json={"records": [*scheduled, sick_day(4)]})
    ).status_code == 200
    await recalculate(app)
    one_day = await sick_pct(client)
    assert (await client.post(BATCH, json={"records": [sick_day(5)]})).status_code == 200

    settings = app.state.settings
    async with app.state.sessionmaker() as held, held.begin():
        # A recalculation has claimed the cell and computed it with two sick days ...
        cells = await facts.claim(held, 100)
        assert cells != []
        await facts.recompute_claimed(held, settings, cells)
        # ... when the HR system sends a third: answered at once, not after the recalculation.
        third = await asyncio.wait_for(client.post(BATCH, json={"records": [sick_day(6)]}), 5)
        assert third.status_code == 200 and third.json()["inserted"] == 1
        await facts.release_claimed(held)
    assert await dirty(app) == 1, "the mark the feed renewed survives the release"

    await recalculate(app)
    assert await dirty(app) == 0
    three_days = await sick_pct(client)
    assert three_days == 3 * one_day
    # And a full recalculation from the stored records agrees.
    async with app.state.sessionmaker() as session, session.begin():
        await facts.mark_scope(session, org_path=None, from_month=None, to_month=None)
    await recalculate(app)
    assert await sick_pct(client) == three_days


async def test_a_feed_does_not_wait_for_the_later_months_a_recalculation_renumbers(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """A changed sick day renumbers the rest of its spell in later months, whose cells the
    recalculation marks dirty. It used to mark them mid-round: a feed that had just marked the
    claimed cell then waited for the later month's mark while the recalculation waited for the
    claimed cell's, and PostgreSQL broke the deadlock by failing the feed (a 503)."""
    await seed_tree(client)
    spell = [
        time_record(f"SICK-{d}", employee_ref="E1", time_type="sick", work_date=d.isoformat())
        for d in days(date(2024, 3, 28), date(2024, 4, 3))
    ]
    assert (await client.post(BATCH, json={"records": spell})).status_code == 200
    await recalculate(app)
    changed = [{**spell[1], "hours": "4.00"}]  # 29 March: March is claimed, April renumbered
    assert (await client.post(BATCH, json={"records": changed})).status_code == 200

    settings = app.state.settings
    async with app.state.sessionmaker() as held, held.begin():
        cells = await facts.claim(held, 100)
        assert len(cells) == 1
        await facts.recompute_claimed(held, settings, cells)
        # The HR system corrects both months meanwhile: answered at once.
        both = [{**spell[2], "hours": "5.00"}, {**spell[-1], "hours": "5.00"}]
        fed = await asyncio.wait_for(client.post(BATCH, json={"records": both}), 5)
        assert fed.status_code == 200 and fed.json()["updated"] == 2
        await facts.release_claimed(held)
    assert await dirty(app) == 2, "March renewed by the feed, April by both"
    await recalculate(app)
    assert await dirty(app) == 0


async def test_two_recalculations_never_take_the_same_cell(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await seed_tree(client)
    records = [
        time_record(f"R{m}-{u}", org_unit_code=u, work_date=f"2024-{m:02d}-03")
        for m in range(1, 13)
        for u in ("SUS-AKUT", "SUS-MED", "PV-MALMO")
    ]
    assert (await client.post(BATCH, json={"records": records})).status_code == 200
    settings = app.state.settings
    async with (
        app.state.sessionmaker() as first,
        first.begin(),
        app.state.sessionmaker() as second,
        second.begin(),
        app.state.sessionmaker() as third,
        third.begin(),
    ):
        taken_first = await facts.claim(first, 12)  # one unit's twelve months
        taken_second = await facts.claim(second, 100)  # the other two units
        assert len(taken_first) == 12 and len(taken_second) == 24
        assert not {u for u, _ in taken_first} & {u for u, _ in taken_second}
        assert await kpis_service.recalculate(third, settings) == 0  # nothing else is free
    assert await dirty(app) == 36  # none released: the claims were rolled back


async def test_a_recalculation_after_a_bulk_load_plans_on_fresh_statistics(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """A bulk load lands far ahead of autovacuum; planned on a table that looks empty, the rest
    rules ran nested loops over every record (minutes). The recalculation refreshes the fed
    tables' statistics when many rows changed since they were taken, and only then."""
    await seed_tree(client)
    response = await client.post(BATCH, json={"records": [sick_day(1)]})
    assert response.status_code == 200, response.text
    await recalculate(app)

    async def analysed() -> object:
        async with app.state.sessionmaker() as session:
            return (
                await session.execute(
                    sa.text(
                        "SELECT last_analyze FROM pg_stat_user_tables "
                        "WHERE relname = 'time_records'"
                    )
                )
            ).scalar_one()

    async def changed_since_analyse() -> int:
        async with app.state.sessionmaker() as session:
            return int(
                (
                    await session.execute(
                        # Counted on time_records' monthly partitions.
                        sa.text(
                            "SELECT coalesce(sum(n_mod_since_analyze), 0) "
                            "FROM pg_stat_user_tables s JOIN pg_inherits i ON i.inhrelid = s.relid "
                            "WHERE i.inhparent = CAST('time_records' AS regclass)"
                        )
                    )
                ).scalar_one()
            )

    async with app.state.sessionmaker() as session:
        # Autovacuum must not take the statistics first, or there is nothing to see.
        await _autovacuum(session, "false")
        await session.commit()
    try:
        before = await analysed()
        async with app.state.sessionmaker() as session:
            await session.execute(sa.text(_BULK_LOAD))
            await session.execute(sa.text(_MARK_EVERY_CELL))
            await session.commit()
        for _ in range(100):  # the backend reports its counts within a second or so
            if await changed_since_analyse() >= 12000:
                break
            await asyncio.sleep(0.05)
        await recalculate(app)
        after_load = await analysed()
        assert after_load is not None and after_load != before

        response = await client.post(BATCH, json={"records": [sick_day(2)]})
        assert response.status_code == 200, response.text
        await recalculate(app)
        assert await analysed() == after_load  # a few changes: the statistics stand
    finally:
        async with app.state.sessionmaker() as session:
            await _autovacuum(session, None)
            await session.commit()


async def test_statistics_an_analyse_lost_are_taken_again(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """At 10 M records the recalculation's ANALYZE ran into the statement timeout: the
    partitions were counted as analysed while the statistics it had written were rolled back,
    so no later round analysed again and every plan took the table for a few rows (a round ran
    for minutes and timed out in turn). The parent without statistics is stale too."""
    await seed_tree(client)
    response = await client.post(BATCH, json={"records": [sick_day(1)]})
    assert response.status_code == 200, response.text
    await recalculate(app)

    async def employee_statistics() -> bool:
        async with app.state.sessionmaker() as session:
            found = await session.execute(
                sa.text(
                    "SELECT EXISTS (SELECT 1 FROM pg_stats WHERE tablename = 'time_records' "
                    "AND attname = 'employee' AND inherited)"
                )
            )
            return bool(found.scalar_one())

    async with app.state.sessionmaker() as session:
        await _autovacuum(session, "false")
        await session.commit()
    try:
        async with app.state.sessionmaker() as session:
            await session.execute(sa.text(_BULK_LOAD))
            await session.execute(
                sa.text(
                    "DELETE FROM pg_statistic WHERE starelid = CAST('time_records' AS regclass)"
                )
            )
            await session.commit()
        async with app.state.sessionmaker() as session:
            # The lost ANALYZE: counted (the counters are not transactional), then rolled back.
            await session.execute(sa.text("ANALYZE time_records"))
            await session.rollback()
        assert not await employee_statistics()
        async with app.state.sessionmaker() as session, session.begin():
            await session.execute(sa.text(_MARK_EVERY_CELL))
        await recalculate(app)
        assert await employee_statistics()
    finally:
        async with app.state.sessionmaker() as session:
            await _autovacuum(session, None)
            await session.commit()


async def test_a_rounds_statements_run_under_the_recalculation_timeout(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A round's statements read all its units' records (20 s each at 10 M records): they run
    under PULS_RECALCULATION_STATEMENT_TIMEOUT_MS, not the requests' 60 s."""
    await seed_tree(client)
    response = await client.post(BATCH, json={"records": [sick_day(1)]})
    assert response.status_code == 200, response.text
    seen: list[str] = []

    async def timeout_hook(session: AsyncSession, *_: object) -> None:
        seen.append((await session.execute(sa.text("SHOW statement_timeout"))).scalar_one())

    monkeypatch.setattr(facts, "CELL_HOOKS", [*facts.CELL_HOOKS, timeout_hook])
    monkeypatch.setattr(app.state.settings, "recalculation_statement_timeout_ms", 123_000)
    await recalculate(app)
    assert seen == ["123s"]
    async with app.state.sessionmaker() as session:
        shown = (await session.execute(sa.text("SHOW statement_timeout"))).scalar_one()
    assert shown == "1min"  # the requests' timeout, outside the round


async def test_a_backlog_is_shared_among_lanes_and_a_few_cells_take_one(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bulk recalculation runs its rounds side by side on disjoint units (one PostgreSQL core
    each); the few cells a feed dirtied take one lane and leave the other core to reads."""
    from services.worker.tasks import kpis as kpi_tasks

    await seed_tree(client)
    records = [
        *shifts("A", "E1", days(date(2024, 3, 1), date(2024, 3, 5)), "scheduled", "8.00"),
        *shifts(
            "B", "E2", days(date(2024, 3, 1), date(2024, 3, 5)), "scheduled", "8.00", unit="SUS-MED"
        ),
    ]
    response = await client.post(BATCH, json={"records": records})
    assert response.status_code == 200, response.text

    running, most, unit_shares = 0, 0, []
    original = kpis_service.recalculate

    async def counted(*args: object, **kwargs: object) -> int:
        nonlocal running, most
        running += 1
        most = max(most, running)
        unit_shares.append(kwargs["units"])
        try:
            await asyncio.sleep(0.05)  # both lanes are in a round at once
            return await original(*args, **kwargs)  # type: ignore[arg-type]
        finally:
            running -= 1

    monkeypatch.setattr(kpis_service, "recalculate", counted)
    assert await dirty(app) == 2
    await recalculate(app)
    assert most == 1 and unit_shares[0] == 2  # two cells: one lane, both units

    await client.post(BATCH, json={"records": [{**r, "hours": "7.50"} for r in records]})
    monkeypatch.setattr(kpi_tasks, "LANE_CELLS", 1)  # as if two cells were a backlog
    most, unit_shares = 0, []
    await recalculate(app)
    assert most == 2 and unit_shares[0] == 1  # two lanes, a unit each
    assert await dirty(app) == 0


async def test_a_feeds_batches_are_recalculated_together_at_most_once_per_interval(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.worker.tasks import kpis as kpi_tasks

    await seed_tree(client)
    response = await client.post(BATCH, json={"records": [sick_day(1)]})
    assert response.status_code == 200, response.text
    starts: list[float] = []
    original = kpis_service.recalculate

    async def timed(*args: object, **kwargs: object) -> int:
        starts.append(time.monotonic())
        taken = await original(*args, **kwargs)  # type: ignore[arg-type]
        if len(starts) < 3:  # the feed's next batch, for another cell, lands meanwhile
            async with app.state.sessionmaker() as other:
                await other.execute(
                    sa.text(
                        "INSERT INTO kpi_dirty_cells (org_unit_id, month) SELECT id, :month "
                        "FROM org_units WHERE code = 'SUS-MED'"
                    ),
                    {"month": date(2024, 4 + len(starts), 1)},
                )
                await other.commit()
        return taken

    monkeypatch.setattr(kpis_service, "recalculate", timed)
    ctx = worker_ctx(app)
    ctx["settings"] = ctx["settings"].model_copy(update={"recalculation_interval_seconds": 0.4})
    await kpi_tasks.recalculate(ctx)
    assert len(starts) == 3 and await dirty(app) == 0
    assert all(b - a >= 0.4 for a, b in zip(starts, starts[1:], strict=False))


async def facts_now(app: FastAPI) -> list[tuple[str, ...]]:
    """Every monthly and weekly fact and cell total, as text."""
    async with app.state.sessionmaker() as session:
        rows = await session.execute(
            sa.text(
                "SELECT (to_jsonb(f) - 'computed_at')::text FROM kpi_facts f "
                "ORDER BY org_unit_id, month, kind, profession, staff_kind, gender, age_band, "
                "pay_form"
            )
        )
        weeks = await session.execute(
            sa.text(
                "SELECT (to_jsonb(f) - 'computed_at')::text FROM kpi_week_facts f "
                "ORDER BY org_unit_id, week, kind, profession"
            )
        )
        totals = await session.execute(
            sa.text(
                "SELECT (to_jsonb(t) - 'computed_at')::text FROM kpi_cell_totals t "
                "ORDER BY org_unit_id, month, kind"
            )
        )
        return [tuple(r) for r in [*rows.all(), *weeks.all(), *totals.all()]]


async def facts_computed(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch, scan_cells: int
) -> list[tuple[str, ...]]:
    """Every dirty cell computed with `scan_cells` as the number of cells read in one scan
    (fewer: by index), and then every fact."""
    monkeypatch.setattr(facts, "SCAN_CELLS", scan_cells)
    await recalculate(app)
    computed = await facts_now(app)
    assert len(computed) > 100
    return computed


async def mark_dirty(app: FastAPI, cells: str, params: dict[str, object] | None = None) -> None:
    """The cells `cells` (a query of org_unit_id, month) marked dirty."""
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(
            sa.text(f"INSERT INTO kpi_dirty_cells (org_unit_id, month) {cells}"), params or {}
        )


async def test_many_cells_read_in_one_scan_give_the_facts_cell_by_cell_does(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    await load_demo_region(app, demo.Spec(units=6, employees=40, months=4))
    by_cell = await facts_computed(app, monkeypatch, 1_000_000)  # every cell by index

    monkeypatch.setattr(facts, "SCAN_CELLS", 1)  # one scan, whatever the number of cells
    # Two months of some units, a month apart: the scan reads the month between too (and
    # other units' months), and must leave them alone.
    await mark_dirty(
        app,
        "SELECT DISTINCT org_unit_id, month FROM kpi_facts "
        "WHERE org_unit_id % 2 = 0 AND month IN ("
        "    SELECT max(month) FROM kpi_facts WHERE kind = 'time' "
        "    UNION "
        "    SELECT (max(month) - interval '2 months')::date FROM kpi_facts "
        "    WHERE kind = 'time')",
    )
    assert await recalculate(app) > 0
    assert await facts_now(app) == by_cell
    await mark_dirty(app, "SELECT DISTINCT org_unit_id, month FROM kpi_facts")
    await recalculate(app)
    assert await facts_now(app) == by_cell

    # A month whose records are all withdrawn: the scan, which replaces only the weeks with
    # records or facts, must still drop that month's weeks (and keep the straddling weeks'
    # other days), as the cell-by-cell path does.
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(
            sa.text(
                "UPDATE time_records SET deleted_at = now() "
                "WHERE org_unit_id = (SELECT min(org_unit_id) FROM kpi_facts WHERE kind = 'time') "
                "AND work_date >= (SELECT min(month) + interval '1 month' FROM kpi_facts "
                "                  WHERE kind = 'time') "
                "AND work_date < (SELECT min(month) + interval '2 months' FROM kpi_facts "
                "                 WHERE kind = 'time')"
            )
        )
    every_cell = "SELECT DISTINCT org_unit_id, month FROM kpi_cell_totals ON CONFLICT DO NOTHING"
    await mark_dirty(app, every_cell)
    scanned = await facts_computed(app, monkeypatch, 1)
    assert scanned != by_cell
    await mark_dirty(app, every_cell)
    assert await facts_computed(app, monkeypatch, 1_000_000) == scanned


async def test_few_cells_read_by_their_week_spans_give_the_facts_of_one_scan(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A few cells' records are read per span of whole weeks, a unit's overlapping spans merged:
    neighbouring months share their straddling week, whose days must be summed once."""
    await load_demo_region(app, demo.Spec(units=6, employees=40, months=5))
    scanned = await facts_computed(app, monkeypatch, 1)  # the reference: one scan

    monkeypatch.setattr(facts, "SCAN_CELLS", 1_000_000)  # every cell by its spans
    for months_apart in (1, 2, 3):
        # Two months of every unit: neighbours (one merged span), a month between (two
        # spans), and the later month's neighbour too (a span of two months beside one).
        await mark_dirty(
            app,
            "SELECT DISTINCT org_unit_id, month FROM kpi_facts, "
            "(SELECT min(month) AS first FROM kpi_facts WHERE kind = 'time') AS f "
            "WHERE month = f.first + make_interval(months => :apart) OR month = f.first "
            "   OR (:apart = 2 AND month = f.first + interval '3 months')",
            {"apart": months_apart},
        )
        assert 0 < await recalculate(app) < facts.SCAN_CELLS
        assert await facts_now(app) == scanned, months_apart


# 12 000 copies of each record: a bulk load far ahead of autovacuum.
_BULK_LOAD = (
    "INSERT INTO time_records (source, external_id, org_unit_id, employee, profession, "
    "staff_kind, time_type, work_date, hours) "
    "SELECT source, external_id || '-' || n, org_unit_id, employee, profession, staff_kind, "
    "'worked', work_date, hours FROM time_records, generate_series(1, 12000) AS n"
)
_MARK_EVERY_CELL = (
    "INSERT INTO kpi_dirty_cells (org_unit_id, month) "
    "SELECT DISTINCT org_unit_id, date_trunc('month', work_date)::date "
    "FROM time_records ON CONFLICT DO NOTHING"
)


async def _autovacuum(session: AsyncSession, enabled: str | None) -> None:
    """Autovacuum on or off (None: the default) for time_records' partitions, where it runs."""
    names = await session.execute(
        sa.text(
            "SELECT inhrelid::regclass::text FROM pg_inherits "
            "WHERE inhparent = CAST('time_records' AS regclass)"
        )
    )
    for name in names.scalars().all():
        change = (
            "RESET (autovacuum_enabled)"
            if enabled is None
            else (f"SET (autovacuum_enabled = {enabled})")
        )
        await session.execute(sa.text(f"ALTER TABLE {name} {change}"))
