"""The KPI API around the figures: catalogue, manual KPIs, targets and their events,
recalculation requests, CSV, scorecards, scoping and every class of bad input."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import date
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.kpis.catalogue import CATALOGUE
from services.core.kpis.models import MEASURE_COLUMNS
from services.worker.tasks import kpis as kpi_tasks
from tests.conftest import make_client
from tests.factories import create_key, create_target, feed, seed_tree, shifts
from tests.jobs import recalculate, recalculate_everything, series, worker_ctx
from tests.problems import assert_problem

MARCH = [date(2024, 3, d) for d in range(1, 11)]
TOTALS = (
    f"SELECT org_unit_id, month, kind, employees, {', '.join(MEASURE_COLUMNS)} "
    "FROM kpi_cell_totals ORDER BY 1, 2, 3"
)


async def _sick_unit(client: httpx.AsyncClient, unit: str, sick_days: int, month: int = 3) -> None:
    dates = [date(2024, month, d) for d in range(1, 11)]
    records = []
    for n in range(5):
        records += shifts(unit, f"E{unit}{n}", dates, "scheduled", "8", unit=unit)
    records += shifts(unit, f"E{unit}0", dates[:sick_days], "sick", "8", unit=unit)
    await feed(client, "time-records", records)


async def test_catalogue_lists_every_kpi_of_the_design(client: httpx.AsyncClient) -> None:
    listed = (await client.get("/v1/kpis", params={"limit": 500})).json()["items"]
    computed = {k["code"] for k in listed if k["kind"] == "computed"}
    assert computed == set(CATALOGUE)
    # The staff survey's indices come predefined, to be entered (seed 002).
    assert {k["code"] for k in listed if k["kind"] == "manual"} == {
        "hme_index",
        "hme_leadership",
        "hme_motivation",
        "hme_governance",
        "survey_response_rate_pct",
        "would_recommend_pct",
        "development_talk_pct",
    }
    sick = (await client.get("/v1/kpis/sick_leave_pct")).json()
    assert sick["name_sv"] == "Sjukfrånvaro" and sick["unit"] == "percent"
    assert sick["better"] == "lower" and "profession" in sick["dimensions"]
    missing = await client.get("/v1/kpis/nope")
    assert_problem(missing, 404, "kpi_not_found")


async def test_manual_kpi_values_carry_who_entered_them(client: httpx.AsyncClient) -> None:
    await seed_tree(client)
    created = await client.post(
        "/v1/kpis",
        json={
            "code": "engagement_index",
            "name_en": "Engagement index",
            "name_sv": "Hållbart medarbetarengagemang",
            "unit": "ratio",
            "better": "higher",
            "grains": ["year"],
        },
    )
    assert created.status_code == 201, created.text
    again = await client.post("/v1/kpis", json={**created.json(), "kind": None} | {})
    assert again.status_code == 422  # kind is read-only, unknown on input
    posted = await client.post(
        "/v1/kpis/engagement_index/values",
        json={"org_unit": "SUS-AKUT", "period": "2024", "value": "78.5", "comment": "HME 2024"},
    )
    assert posted.status_code == 201, posted.text
    await client.post(
        "/v1/kpis/engagement_index/values",
        json={"org_unit": "SUS-AKUT", "period": "2023", "value": "75"},
    )
    points = await series(client, "engagement_index", "SUS-AKUT", "2024", "2024", grain="year")
    assert points[0]["value"] == 78.5 and points[0]["comment"] == "HME 2024"
    assert points[0]["entered_by"] and points[0]["entered_at"]
    assert points[0]["change"] == 3.5 and points[0]["trend"] == "positive"
    wrong_grain = await client.get(
        "/v1/kpis/engagement_index/series",
        params={"org_unit": "SUS-AKUT", "from": "2024-01", "to": "2024-03", "grain": "month"},
    )
    assert wrong_grain.status_code == 422
    assert wrong_grain.json()["errors"][0]["code"] == "grain_not_available"
    computed = await client.post(
        "/v1/kpis/sick_leave_pct/values",
        json={"org_unit": "SUS-AKUT", "period": "2024", "value": "1"},
    )
    assert computed.status_code == 422


async def test_crossing_a_target_publishes_once_each_way(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await seed_tree(client)
    target = await create_target(client, "sick_leave_pct", "SUS", "5")
    assert target.headers["etag"] == '"1"'
    await _sick_unit(client, "SUS-AKUT", 4)  # 8 %: breached
    await recalculate(app)
    await _sick_unit(client, "SUS-AKUT", 4)  # resent unchanged, recomputed: no new event
    await session.execute(
        sa.text(
            "INSERT INTO kpi_dirty_cells (org_unit_id, month) "
            "SELECT id, DATE '2024-03-01' FROM org_units WHERE code = 'SUS-AKUT'"
        )
    )
    await session.commit()
    await recalculate(app)
    gone = {"source": "heroma", "deleted": True}
    await feed(
        client,
        "time-records",
        [{**gone, "external_id": f"SUS-AKUT-ESUS-AKUT0-2024030{d}-sick"} for d in (1, 2, 3)],
    )  # 1 of 400 h... 8 of 400 = 2 %: recovered
    await recalculate(app)
    events = (
        await client.get("/v1/events", params={"types": "kpi.target_breached,kpi.target_recovered"})
    ).json()
    kinds = [(e["type"], e["data"]["period"]) for e in events["items"]]
    assert kinds == [("kpi.target_breached", "2024-03"), ("kpi.target_recovered", "2024-03")]
    assert events["items"][0]["data"]["org_unit"] == "SUS"
    assert events["items"][0]["data"]["value"].startswith("8")


async def test_target_crud_with_etags_and_bad_bounds(client: httpx.AsyncClient) -> None:
    await seed_tree(client)
    body: dict[str, Any] = {
        "kpi": "agency_doctor_weeks",
        "org_unit": "PV",
        "comparator": "lte",
        "bound": "count",
        "value": "700",
        "per_grain": "year",
        "valid_from": "2018-01",
        "valid_to": "2018-12",
    }
    created = await client.post("/v1/kpi-targets", json=body)
    assert created.status_code == 201, created.text
    url = created.headers["location"]
    changed = await client.patch(url, json={"value": "650"}, headers={"If-Match": '"1"'})
    assert changed.status_code == 200 and changed.json()["value"] == "650"
    stale = await client.patch(url, json={"value": "600"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    listed = (await client.get("/v1/kpi-targets", params={"kpi": "agency_doctor_weeks"})).json()
    assert [t["id"] for t in listed["items"]] == [created.json()["id"]]
    assert (await client.delete(url, headers={"If-Match": '"2"'})).status_code == 204
    assert (await client.get(url)).status_code == 404
    bad = [
        ({**body, "value": None}, "value"),
        ({**body, "per_grain": None}, "per_grain"),
        ({**body, "valid_to": "2017-12"}, "valid_to"),
        ({**body, "valid_from": "2018-13"}, "valid_from"),
        ({**body, "org_unit": "NOPE"}, "org_unit"),
        ({**body, "kpi": "nope"}, None),
        ({**body, "bound": "baseline", "value": None, "baseline_period": "2015"}, "baseline"),
        ({**body, "profession": "doctor"}, "profession"),
    ]
    for payload, hint in bad:
        response = await client.post("/v1/kpi-targets", json=payload)
        assert response.status_code in (404, 422), (hint, response.text)
        assert_problem(response, response.status_code)
    no_data = await client.post(
        "/v1/kpi-targets",
        json={
            **body,
            "bound": "baseline",
            "value": None,
            "per_grain": None,
            "baseline_period": "2015",
        },
    )
    assert no_data.status_code == 422
    assert no_data.json()["errors"][0]["code"] == "baseline_without_data"


async def test_series_bad_input_is_a_clear_problem(client: httpx.AsyncClient) -> None:
    await seed_tree(client)
    base = {"org_unit": "RS", "from": "2024-01", "to": "2024-03"}
    cases = [
        ({**base, "from": "2024-Q5"}, 422),
        ({**base, "to": "2024-13"}, 422),
        ({**base, "from": "2024-06", "to": "2024-01"}, 422),
        ({**base, "from": "2000-01", "to": "2024-01"}, 422),
        ({**base, "grain": "fortnight"}, 422),
        ({**base, "grain": "ytd", "from": "2024-YTD13"}, 422),
        ({**base, "grain": "week", "gender": "female"}, 422),
        ({**base, "org_unit": "NOPE"}, 404),
        ({**base, "staff_kind": "robot"}, 422),
    ]
    for params, status in cases:
        response = await client.get("/v1/kpis/sick_leave_pct/series", params=params)
        assert_problem(response, status)
    not_split = await client.get(
        "/v1/kpis/agency_doctor_weeks/series", params={**base, "profession": "nurse"}
    )
    assert (
        not_split.status_code == 422 and not_split.json()["errors"][0]["code"] == "not_a_dimension"
    )


async def test_no_data_and_zero_denominators_are_null_with_a_reason(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await seed_tree(client)
    # Sick hours without any scheduled hours: a rate with nothing to divide by.
    await feed(client, "time-records", shifts("Z", "Z1", MARCH[:1], "sick", "8"))
    await recalculate(app)
    points = await series(client, "sick_leave_pct", "RS", "2024-02", "2024-03")
    assert [(p["value"], p["reason"]) for p in points] == [
        (None, "no_data"),
        (None, "zero_denominator"),
    ]


async def test_csv_series_and_scorecard(app: FastAPI, client: httpx.AsyncClient) -> None:
    await seed_tree(client)
    await _sick_unit(client, "SUS-AKUT", 2)
    await recalculate(app)
    await create_target(client, "sick_leave_pct", "RS", "3")
    csv_series = await client.get(
        "/v1/kpis/sick_leave_pct/series",
        params={"org_unit": "RS", "from": "2024-03", "to": "2024-03"},
        headers={"Accept": "text/csv"},
    )
    assert csv_series.headers["content-type"].startswith("text/csv")
    assert csv_series.content.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM for Excel
    header, row = csv_series.content.decode("utf-8-sig").strip().splitlines()
    assert header.startswith("kpi;org_unit;org_unit_name;period;value;numerator;denominator")
    assert row.startswith("sick_leave_pct;RS;Region Skåne;2024-03;4,0;16,0;400,0;")
    cells = dict(zip(header.split(";"), row.split(";"), strict=True))
    assert (cells["target"], cells["deviation"], cells["suppressed"]) == ("3,0", "1,0", "false")
    machine = await client.get(
        "/v1/kpis/sick_leave_pct/series",
        params={"org_unit": "RS", "from": "2024-03", "to": "2024-03", "decimal": "point"},
        headers={"Accept": "text/csv"},
    )
    m_header, m_row = machine.text.strip().splitlines()
    assert not machine.content.startswith(b"\xef\xbb\xbf")
    assert m_header.startswith("kpi,org_unit,org_unit_name,period,value")
    assert m_row.startswith("sick_leave_pct,RS,Region Skåne,2024-03,4.0,16.0,400.0,")
    assert_problem(
        await client.get(
            "/v1/kpis/sick_leave_pct/series",
            params={"org_unit": "RS", "from": "2024-03", "to": "2024-03", "decimal": "dot"},
            headers={"Accept": "text/csv"},
        ),
        422,
    )
    card = await client.get("/v1/org-units/SUS-AKUT/scorecard", params={"period": "2024-03"})
    assert card.status_code == 200, card.text
    (entry,) = card.json()["rows"]
    assert entry["kpi"] == "sick_leave_pct" and entry["point"]["status"] == "not_met"
    csv_card = await client.get(
        "/v1/org-units/SUS-AKUT/scorecard",
        params={"period": "2024-03"},
        headers={"Accept": "text/csv"},
    )
    card_header, card_row = csv_card.content.decode("utf-8-sig").strip().splitlines()
    assert card_header.startswith("kpi;name_en;name_sv;unit;profession;period;value")
    assert card_row.startswith("sick_leave_pct;Sick leave;Sjukfrånvaro;percent;;2024-03;")


async def test_another_units_key_gets_404(app: FastAPI, client: httpx.AsyncClient) -> None:
    await seed_tree(client)
    token = await create_key(client, ["read", "kpis:write"], org_unit="PV")
    async with make_client(app, token) as pv:
        hidden = await pv.get(
            "/v1/kpis/sick_leave_pct/series",
            params={"org_unit": "SUS", "from": "2024-01", "to": "2024-02"},
        )
        assert hidden.status_code == 404
        card = await pv.get("/v1/org-units/SUS/scorecard", params={"period": "2024"})
        assert card.status_code == 404
        target = await create_target(client, "overtime_hours", "SUS", "10")
        assert (await pv.get(target.headers["location"])).status_code == 404
        assert (await pv.get("/v1/kpi-targets")).json()["items"] == []


async def test_recalculation_request_recomputes_its_scope(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await seed_tree(client)
    await _sick_unit(client, "SUS-AKUT", 2)
    await recalculate(app)
    # Facts tampered with behind Puls's back are put right by a requested recalculation.
    await session.execute(sa.text("UPDATE kpi_cell_totals SET sick = 0"))
    await session.commit()
    response = await client.post("/v1/recalculations", json={"org_unit": "SUS", "from": "2024-01"})
    assert response.status_code == 202, response.text
    ctx = worker_ctx(app)
    await kpi_tasks.run_recalculation(ctx, response.json()["id"])
    status = (await client.get(response.headers["location"])).json()
    assert status["status"] == "succeeded" and status["cells"] >= 1
    assert (await series(client, "sick_leave_pct", "RS", "2024-03", "2024-03"))[0]["value"] == 4.0
    bad = await client.post("/v1/recalculations", json={"from": "2024-06", "to": "2024-01"})
    assert bad.status_code == 422
    token = await create_key(client, ["kpis:write"])
    async with make_client(app, token) as writer:
        assert (await writer.post("/v1/recalculations", json={})).status_code == 403


async def test_two_workers_at_once_compute_what_one_would(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await seed_tree(client)
    for unit in ("SUS-AKUT", "SUS-MED", "PV-MALMO"):
        for month in (3, 4, 5):
            await _sick_unit(client, unit, month - 1, month)
    ctx = worker_ctx(app)
    await asyncio.gather(kpi_tasks.recalculate(ctx), kpi_tasks.recalculate(ctx))
    concurrent = (await session.execute(sa.text(TOTALS))).all()
    await session.commit()
    await recalculate_everything(app)
    alone = (await session.execute(sa.text(TOTALS))).all()
    assert concurrent == alone and len(alone) >= 9  # 3 units × 3 months
    assert (
        await session.execute(sa.text("SELECT count(*) FROM kpi_dirty_cells"))
    ).scalar_one() == 0


async def test_sums_are_kept_until_the_facts_or_the_org_tree_change(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dashboards read the same series again and again; the sums behind them are read once per
    state of the facts (each recalculation round makes a new one) and of the org tree."""
    from services.core.kpis import repository

    await seed_tree(client)
    await _sick_unit(client, "SUS-AKUT", 2)
    await recalculate(app)
    reads = 0
    original = repository.monthly

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal reads
        reads += 1
        return await original(*args, **kwargs)

    monkeypatch.setattr(repository, "monthly", counted)

    async def sus() -> float:
        points = await series(client, "sick_leave_pct", "SUS", "2024-03", "2024-03")
        return float(points[0]["value"])

    assert await sus() == 4.0 and reads == 1
    assert await sus() == 4.0 and reads == 1  # kept
    await _sick_unit(client, "SUS-MED", 4)
    assert await sus() == 4.0 and reads == 1  # not yet recalculated: the facts are as they were
    await recalculate(app)
    assert await sus() == 6.0 and reads == 2  # (2 + 4) / 100 days of the two units
    moved = await client.patch("/v1/org-units/SUS-MED", json={"parent_code": "PV"})
    assert moved.status_code == 200, moved.text
    assert await sus() == 4.0 and reads == 3  # SUS-MED's facts count under PV now


async def test_a_series_read_with_an_api_key_is_one_connection_and_five_statements(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """A dashboard's read is latency: the key's lookup and the series share the request's
    connection (one check-out, one transaction), and the series reads the unit, its targets,
    the facts' state (once, for the sums and the suppression passes both) and the published
    figures and analyses, nothing more while the sums and passes are kept."""
    await seed_tree(client)
    await _sick_unit(client, "SUS-AKUT", 2)
    await recalculate(app)
    token = await create_key(client, ["read"])
    checkouts = 0
    statements: list[str] = []

    def checkout(*_: Any) -> None:
        nonlocal checkouts
        checkouts += 1

    def executed(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    engine = app.state.engine.sync_engine
    async with make_client(app, token) as reader:
        path = "/v1/kpis/sick_leave_pct/series?org_unit=SUS&from=2024-01&to=2024-12"
        assert (await reader.get(path)).status_code == 200  # the sums read and kept
        sa.event.listen(engine.pool, "checkout", checkout)
        sa.event.listen(engine, "before_cursor_execute", executed)
        try:
            response = await reader.get(path)
        finally:
            sa.event.remove(engine.pool, "checkout", checkout)
            sa.event.remove(engine, "before_cursor_execute", executed)
    assert response.status_code == 200, response.text
    assert checkouts == 1
    # The key, the unit, its targets, the facts' state, the published figures and analyses.
    assert len(statements) == 5, [s.split()[:3] for s in statements]


async def test_csv_cells_that_would_run_as_formulas_are_escaped(client: httpx.AsyncClient) -> None:
    """CSV injection: a KPI named `=HYPERLINK(…)` opens as text in a spreadsheet; numbers,
    negative ones included, stay numbers."""
    await seed_tree(client)
    formula = '=HYPERLINK("https://evil.test","Klicka")'
    created = await client.post(
        "/v1/kpis",
        json={
            "code": "engagement_index",
            "name_en": "Engagement index",
            "name_sv": formula,
            "unit": "ratio",
            "better": "higher",
            "grains": ["year"],
        },
    )
    assert created.status_code == 201, created.text
    for period, value in (("2023", "80"), ("2024", "78.5")):
        posted = await client.post(
            "/v1/kpis/engagement_index/values",
            json={"org_unit": "SUS-AKUT", "period": period, "value": value},
        )
        assert posted.status_code == 201, posted.text
    await create_target(
        client, "engagement_index", "SUS-AKUT", "90", comparator="gte", valid_from="2023-01"
    )
    card = await client.get(
        "/v1/org-units/SUS-AKUT/scorecard",
        params={"period": "2024"},
        headers={"Accept": "text/csv"},
    )
    assert card.status_code == 200, card.text
    rows = list(csv.DictReader(io.StringIO(card.content.decode("utf-8-sig")), delimiter=";"))
    (cells,) = [r for r in rows if r["kpi"] == "engagement_index"]
    assert cells["name_sv"] == "'" + formula
    assert cells["change"] == "-1,5"  # a number (decimal comma), not escaped
