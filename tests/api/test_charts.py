"""KPI charts over HTTP: `Accept: image/svg+xml` on a series and the scorecard, parsed as XML and
drawn to PNG by a real renderer (cairosvg), with hidden months as gaps, Swedish labels, the
target line, and the bad input (empty, all hidden, too many points, children)."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import httpx
from fastapi import FastAPI

from services.cli.main import ROOT
from services.core.kpis import charts
from tests import svg
from tests.conftest import make_client
from tests.factories import create_key, create_target, feed, put_units, seed_tree, shifts
from tests.jobs import recalculate
from tests.problems import assert_problem

SVG = {"Accept": "image/svg+xml"}
# (month, employees, sick days of E0 out of 10 scheduled days each): 4 %, then a month of only
# two employees (hidden from keys without admin), 8 %, 2 %.
MONTHS = [(1, 5, 2), (2, 2, 1), (3, 5, 4), (4, 5, 1)]


async def _sick_months(client: httpx.AsyncClient, unit: str = "SUS-AKUT") -> None:
    records: list[dict[str, Any]] = []
    for month, employees, sick in MONTHS:
        dates = [date(2024, month, d) for d in range(1, 11)]
        for n in range(employees):
            records += shifts(unit, f"E{unit}{n}", dates, "scheduled", "8", unit=unit)
        records += shifts(unit, f"E{unit}0", dates[:sick], "sick", "8", unit=unit)
    await feed(client, "time-records", records)


async def _chart(client: httpx.AsyncClient, unit: str, **params: Any) -> httpx.Response:
    query = {"org_unit": unit, "from": "2024-01", "to": "2024-04", **params}
    return await client.get("/v1/kpis/sick_leave_pct/series", params=query, headers=SVG)


def _column(root: Any, period: str, image: Any) -> tuple[int, int, int, int]:
    """The middle of `period`'s slot, in the plot area, as a pixel box."""
    points = 4
    slot = (charts.WIDTH - charts.LEFT - charts.RIGHT) / points
    index = ["2024-01", "2024-02", "2024-03", "2024-04"].index(period)
    centre = charts.LEFT + slot * (index + 0.5)
    return (
        int(centre - slot / 4),
        charts.TOP,
        int(centre + slot / 4),
        charts.HEIGHT - charts.BOTTOM - 2,
    )


async def test_month_series_is_a_line_with_the_target_and_a_gap_for_a_hidden_month(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await seed_tree(client)
    await _sick_months(client)
    await recalculate(app)
    await create_target(client, "sick_leave_pct", "SUS", "5")
    reader = await create_key(client, ["read"])
    async with make_client(app, reader) as r:
        json_points = (
            await r.get(
                "/v1/kpis/sick_leave_pct/series",
                params={"org_unit": "SUS-AKUT", "from": "2024-01", "to": "2024-04"},
            )
        ).json()["points"]
        assert [p["suppressed"] for p in json_points] == [False, True, False, False]
        answer = await _chart(r, "SUS-AKUT")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("image/svg+xml")
    root = svg.parse(answer.text)
    assert root.get("role") == "img"
    assert svg.text_of(root, "title") == "Sjukfrånvaro, Akutmottagningen"
    desc = svg.text_of(root, "desc")
    assert "per månad, jan 2024–apr 2024" in desc
    assert "4 perioder, 3 med värde. 1 dolda (för få anställda)." in desc
    assert "Senaste värde 2,0\u00a0% (apr 2024), mål 5,0\u00a0%. Målet nås." in desc
    assert "Lägsta 2,0\u00a0% (apr 2024), högsta 8,0\u00a0% (mar 2024)." in desc
    labels = svg.texts(root)
    assert ["jan", "feb", "mar", "apr"] == [t for t in labels if t in charts.MONTHS_SV]
    assert "2024" in labels and "dold" in labels
    # The hidden month is never plotted (no point, not even at 0); the line breaks there.
    plotted = [e.get("data-period") for e in svg.by_class(root, "value") if e.get("data-period")]
    assert plotted == ["2024-01", "2024-03", "2024-04"]
    assert [e.tag for e in svg.by_class(root, "value")].count(f"{svg.NS}polyline") == 1
    (target,) = svg.by_class(root, "target")
    assert target.tag == f"{svg.NS}polyline" and len(target.get("points", "").split()) == 4

    image = svg.render(answer.text)
    assert image.size == (charts.WIDTH, charts.HEIGHT)
    assert svg.count_colour(image, charts.LINE_COLOUR) > 150
    assert svg.count_colour(image, charts.TARGET_COLOUR) > 150
    february = _column(root, "2024-02", image)
    assert svg.count_colour(image, charts.LINE_COLOUR, february) == 0
    assert svg.count_colour(image, charts.LINE_COLOUR, _column(root, "2024-03", image)) > 0
    image.save("/tmp/charts-month-line.png")

    # An admin sees February, so the line runs through it.
    admin = svg.parse((await _chart(client, "SUS-AKUT")).text)
    assert len([e for e in svg.by_class(admin, "value") if e.get("data-period")]) == 4


async def test_year_series_are_bars_and_text_is_escaped(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    name = 'Akuten <script>alert("x")</script> & co'
    await put_units(client, [{"code": "AKUT", "name": name, "kind": "unit"}])
    created = await client.post(
        "/v1/kpis",
        json={
            "code": "agency_cost_manual",
            "name_en": "Agency cost",
            "name_sv": "Kostnad för inhyrd personal",
            "unit": "sek",
            "better": "lower",
            "grains": ["year"],
        },
    )
    assert created.status_code == 201, created.text
    # Seed 002's agency cost for the whole of Hälso- och sjukvård, 2015–2018.
    for year, cost in (("2015", "127900000"), ("2016", "151000000"), ("2018", "134100000")):
        posted = await client.post(
            "/v1/kpis/agency_cost_manual/values",
            json={"org_unit": "AKUT", "period": year, "value": cost},
        )
        assert posted.status_code == 201, posted.text
    answer = await client.get(
        "/v1/kpis/agency_cost_manual/series",
        params={"org_unit": "AKUT", "from": "2015", "to": "2018", "grain": "year"},
        headers=SVG,
    )
    assert answer.status_code == 200, answer.text
    assert "<script" not in answer.text
    root = svg.parse(answer.text)
    assert svg.text_of(root, "title") == f"Kostnad för inhyrd personal, {name}"
    bars = [e for e in svg.by_class(root, "value") if e.tag == f"{svg.NS}rect"]
    assert [b.get("data-period") for b in bars] == ["2015", "2016", "2018"]  # 2017: no data
    assert "per år, mnkr" in svg.texts(root)
    heading = svg.texts(root)[0]  # the whole name is in <title>; the heading fits the width
    assert heading.endswith("…") and len(heading) == charts.TITLE_CHARS
    desc = svg.text_of(root, "desc")
    assert "Senaste värde 134,1\u00a0mnkr (2018)" in desc and "1 utan data." in desc
    image = svg.render(answer.text)
    assert svg.count_colour(image, charts.LINE_COLOUR) > 5000
    image.save("/tmp/charts-year-bars.png")


async def test_empty_and_fully_hidden_series_are_charts_that_say_so(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await seed_tree(client)
    records: list[dict[str, Any]] = []
    for n in range(2):  # two employees only: every month is a small group
        records += shifts("S", f"E{n}", [date(2024, 1, 2)], "scheduled", "8", unit="SUS-MED")
    await feed(client, "time-records", records)
    await recalculate(app)
    reader = await create_key(client, ["read"])
    async with make_client(app, reader) as r:
        hidden = await _chart(r, "SUS-MED", to="2024-01")
        empty = await _chart(r, "PV-MALMO")
    for answer, says in (
        (hidden, "Inga värden att visa: alla perioder är dolda (för få anställda)"),
        (empty, "Inga värden att visa för perioden"),
    ):
        assert answer.status_code == 200, answer.text
        root = svg.parse(answer.text)
        assert [e.text for e in svg.by_class(root, "empty")] == [says]
        assert svg.by_class(root, "value") == []
        assert svg.text_of(root, "desc")
        assert svg.non_white(svg.render(answer.text)) > 500  # the title and the sentence


async def test_a_chart_refuses_too_many_points_and_several_series(
    client: httpx.AsyncClient,
) -> None:
    await seed_tree(client)
    too_many = await _chart(client, "SUS", **{"from": "2020-01", "to": "2025-12"})
    problem = assert_problem(too_many, 422, "validation_failed")
    assert problem["errors"][0]["code"] == "too_many_points"
    assert problem["errors"][0]["loc"] == ["query", "to"]
    assert "at most 60 points" in problem["detail"] and "has 72" in problem["detail"]
    # The same range as JSON is fine: the limit is the chart's.
    assert (
        await client.get(
            "/v1/kpis/sick_leave_pct/series",
            params={"org_unit": "SUS", "from": "2020-01", "to": "2025-12"},
        )
    ).status_code == 200
    several = assert_problem(await _chart(client, "SUS", children="true"), 422)
    assert several["errors"][0]["code"] == "chart_of_one_series"
    # Weeks are drawn too (as a line): the week grain exists since the annual-report work.
    weeks = await _chart(client, "SUS", grain="week", **{"from": "2024-W01", "to": "2024-W10"})
    assert weeks.status_code == 200 and weeks.headers["content-type"].startswith("image/svg+xml")
    assert_problem(await _chart(client, "NOPE"), 404)


async def test_scorecard_as_svg_has_a_sparkline_per_kpi(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await seed_tree(client)
    await _sick_months(client)
    await recalculate(app)
    await create_target(client, "sick_leave_pct", "SUS", "5")
    await create_target(client, "overtime_hours", "SUS", "10")
    answer = await client.get(
        "/v1/org-units/SUS-AKUT/scorecard", params={"period": "2024-03"}, headers=SVG
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("image/svg+xml")
    root = svg.parse(answer.text)
    assert svg.text_of(root, "title") == "Styrkort för Akutmottagningen, mar 2024"
    assert svg.text_of(root, "desc") == "2 nyckeltal med mål; 1 nås, 1 nås inte."
    rows = svg.by_class(root, "row")
    assert [r.get("data-kpi") for r in rows] == ["overtime_hours", "sick_leave_pct"]
    sick = rows[1]
    assert "Sjukfrånvaro" in svg.texts(sick) and "8,0\u00a0%" in svg.texts(sick)
    assert "nås inte" in svg.texts(sick)
    lines = [e for e in svg.by_class(sick, "value") if e.tag == f"{svg.NS}polyline"]
    assert len(lines) == 1  # jan–apr 2024 of the twelve months, as an admin sees them
    image = svg.render(answer.text)
    assert svg.count_colour(image, charts.LINE_COLOUR) > 20
    image.save("/tmp/charts-scorecard.png")
    empty = await client.get(
        "/v1/org-units/PV-MALMO/scorecard", params={"period": "2024"}, headers=SVG
    )
    assert "Inga nyckeltal med mål" in svg.text_of(svg.parse(empty.text), "desc")


async def test_prepare_view_and_html_minutes_embed_the_charts_of_breached_targets(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await seed_tree(client)
    await _sick_months(client)
    target = (await create_target(client, "sick_leave_pct", "SUS", "1.5")).json()  # April: 2 %
    await create_target(client, "overtime_hours", "SUS", "10")  # met: no chart
    await recalculate(app)
    body = await client.post(
        "/v1/bodies", json={"name": "Ledningsgrupp SUS", "short_name": "LG-SUS", "org_unit": "SUS"}
    )
    assert body.status_code == 201, body.text
    meeting = await client.post(
        f"/v1/bodies/{body.json()['id']}/meetings",
        json={"starts_at": "2024-05-15T08:00:00Z", "ends_at": "2024-05-15T09:00:00Z"},
    )
    mid = meeting.json()["id"]
    as_json = (await client.get(f"/v1/meetings/{mid}/prepare")).json()["proposals"]
    assert [p["source"] for p in as_json] == ["breached_targets"]  # JSON stays as it was

    page = await client.get(f"/v1/meetings/{mid}/prepare", headers={"Accept": "text/html"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<h2>Mål som inte nås</h2>" in page.text and as_json[0]["title"] in page.text
    minutes = await client.get(f"/v1/meetings/{mid}/minutes", headers={"Accept": "text/html"})
    assert minutes.status_code == 200
    for html in (page.text, minutes.text):
        assert f'data-target="{target["id"]}"' in html
        assert "Sjukfrånvaro (SUS): målet nås inte apr 2024" in html
        (chart,) = svg.inline_svgs(html)
        assert svg.text_of(chart, "title") == "Sjukfrånvaro, Skånes universitetssjukhus"
        assert "maj 2023–apr 2024" in svg.text_of(chart, "desc")
        periods = [e.get("data-period") for e in svg.by_class(chart, "value")]
        assert [p for p in periods if p] == ["2024-01", "2024-02", "2024-03", "2024-04"]
    image = svg.render(svg.INLINE.findall(minutes.text)[0])
    assert svg.count_colour(image, charts.LINE_COLOUR) > 150
    assert svg.count_colour(image, charts.TARGET_COLOUR) > 60  # valid from jan 2024 only
    image.save("/tmp/charts-minutes.png")
    markdown = await client.get(f"/v1/meetings/{mid}/minutes", headers={"Accept": "text/markdown"})
    assert "<svg" not in markdown.text


def test_the_contract_documents_the_chart_media_type() -> None:
    contract = json.loads((ROOT / "openapi" / "openapi.json").read_text())
    for path in ("/v1/kpis/{code}/series", "/v1/org-units/{code}/scorecard"):
        content = contract["paths"][path]["get"]["responses"]["200"]["content"]
        assert {"application/json", "text/csv", "image/svg+xml"} <= set(content), path
        assert content["image/svg+xml"]["example"].startswith("<svg")
    prepare = contract["paths"]["/v1/meetings/{meeting_id}/prepare"]["get"]["responses"]["200"]
    assert "text/html" in prepare["content"]
