"""KPIs: the catalogue, series and scorecards (JSON or CSV), targets, manual values and
recalculation requests."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import Path, Query, Request, Response

from services.api.deps import (
    Admin,
    IdempotencyDep,
    IfMatch,
    KpisWriter,
    PageDep,
    Reader,
    ReadSessionDep,
    SessionDep,
    SettingsDep,
    UpdatedSince,
    api_router,
    charge_expensive_read,
)
from services.api.operations import acts_on, creates, deletes, lists, reads, updates, upserts
from services.api.responses import CsvDecimals, created, csv_file, no_content, versioned, wants_csv
from services.core.kpis import (
    analysis_service,
    catalogue_service,
    chart_service,
    charts,
    period_service,
    recalculation_service,
    series_service,
    target_service,
)
from services.core.kpis.schemas import (
    AnalysisIn,
    AnalysisRead,
    KpiRead,
    ManualKpiCreate,
    ManualValueIn,
    ManualValueRead,
    PeriodClosureRead,
    Point,
    RecalculationCreate,
    RecalculationRead,
    ReopenIn,
    Scorecard,
    SeriesAnswer,
    SeriesSet,
    TargetCreate,
    TargetRead,
    TargetUpdate,
    as_json,
)
from services.core.pagination import Page, Tombstone
from services.core.spreadsheets import Decimals, write_csv
from services.core.validation import PERIOD_LABEL, Code

router = api_router(prefix="", tags=["kpis"])

KpiCode = Annotated[str, Query(max_length=64)]
Label = Annotated[str, Query(max_length=16)]
_CSV = {
    "text/csv": {
        "schema": {"type": "string"},
        "example": "\ufeffkpi;org_unit;org_unit_name;period;value\r\n"
        "sick_leave_pct;SUS;Skånes universitetssjukhus;2024-03;4,5\r\n",
    }
}
_SVG_EXAMPLE = (
    '<svg xmlns="http://www.w3.org/2000/svg" role="img" …><title>Sjukfrånvaro, '
    "Akutmottagningen</title><desc>Sjukfrånvaro för Akutmottagningen per månad, jan 2024–dec "
    "2024. 12 perioder, 11 med värde. 1 dolda (för få anställda). …</desc>…</svg>"
)
_SVG = {charts.MEDIA_TYPE: {"schema": {"type": "string"}, "example": _SVG_EXAMPLE}}
# A point's columns in the order of its JSON fields (`rule`, an object, is left out).
_POINT_COLUMNS = [
    "period",
    "value",
    "numerator",
    "denominator",
    "target",
    "deviation",
    "deviation_pct",
    "status",
    "change",
    "change_pct",
    "trend",
    "suppressed",
    "reason",
    "computed_at",
    "entered_by",
    "entered_at",
    "comment",
]


def _wants_svg(request: Request) -> bool:
    """The client asked for a chart (`Accept: image/svg+xml`) rather than JSON or CSV."""
    return charts.MEDIA_TYPE in request.headers.get("accept", "")


def _svg(svg: str) -> Response:
    return Response(svg, media_type=f"{charts.MEDIA_TYPE}; charset=utf-8")


def _point_cells(point: Point) -> list[Any]:
    return [getattr(point, name) for name in _POINT_COLUMNS]


@router.get("/kpis", **lists("The KPI catalogue", Page[KpiRead]))
async def list_kpis(
    session: SessionDep, principal: Reader, page: PageDep, updated_since: UpdatedSince = None
) -> Page[KpiRead]:
    """Every KPI Puls computes and every manual KPI admins have added, by code. With
    `updated_since`: the manual KPIs added or changed since (the computed ones change only with
    a release; KPIs are never deleted, so there are no tombstones)."""
    return await catalogue_service.list_kpis(session, window=page.window(updated_since))


@router.post("/kpis", **creates("Add a manual KPI", KpiRead, 409))
async def create_manual_kpi(
    data: ManualKpiCreate, session: SessionDep, principal: Admin, idem: IdempotencyDep
) -> Any:
    """A KPI whose values are entered by hand (an engagement index, a survey outcome), per
    org unit and period, with who entered them and when. Admin only."""
    if (replay := await idem.replay()) is not None:
        return replay
    kpi = await catalogue_service.create_manual_kpi(session, principal, data)
    return await created(idem, session, kpi, f"/v1/kpis/{kpi.code}")


@router.get("/kpis/{code}", **reads("One KPI", KpiRead))
async def get_kpi(code: Code, session: SessionDep, principal: Reader) -> Any:
    return (await catalogue_service.definition(session, code)).read()


@router.get("/kpis/{code}/values", **lists("A manual KPI's values", Page[ManualValueRead], 404))
async def list_manual_values(
    code: Code,
    session: SessionDep,
    principal: Reader,
    page: PageDep,
    updated_since: UpdatedSince = None,
    org_unit: Annotated[Code | None, Query(description="Only this unit's values.")] = None,
) -> Page[ManualValueRead]:
    """The values as entered, with who entered them and when, in the caller's subtree: by
    unit and period; with `updated_since`, those entered (or re-entered) since, by entry time.
    Values are replaced, never deleted, so there are no tombstones. A computed KPI has none
    (422); an unknown KPI or unit is a 404."""
    return await catalogue_service.list_manual_values(
        session, principal, code, org_unit=org_unit, window=page.window(updated_since)
    )


@router.post(
    "/kpis/{code}/values", **creates("Enter a manual KPI's value", ManualValueRead, 404, 412)
)
async def post_manual_value(
    code: Code,
    data: ManualValueIn,
    session: SessionDep,
    principal: KpisWriter,
    idem: IdempotencyDep,
    if_match: IfMatch = None,
) -> Any:
    """Stores the value for the org unit and period (a later post replaces it and raises its
    `version`); the series shows who entered it, when, and the comment. `Location` is where
    the value is read back. With `If-Match` (the `ETag` of the value read), only that version
    is replaced: 412 when someone entered another since, or when there is none yet."""
    if (replay := await idem.replay()) is not None:
        return replay
    value, location = await catalogue_service.post_manual_value(
        session, principal, code, data, if_match=if_match
    )
    return await created(idem, session, value, location)


@router.get(
    "/kpis/{code}/values/{org_unit}/{period}",
    **reads("A manual KPI's value for a unit and period", ManualValueRead),
)
async def get_manual_value(
    code: Code,
    org_unit: Code,
    period: Annotated[
        str, Path(max_length=16, examples=["2024", "2024-03"], json_schema_extra=PERIOD_LABEL)
    ],
    session: SessionDep,
    principal: Reader,
) -> Any:
    """The value entered for the unit and period, with who entered it, when, and its
    `ETag`. `period` is a label of one of the KPI's grains (as listed, or as sent); a value
    is identified by its unit and period, as a later post replaces it. A computed KPI has
    none (422); an unknown KPI or unit, or no value, is a 404."""
    return versioned(
        await catalogue_service.read_manual_value(session, principal, code, org_unit, period)
    )


PeriodLabel = Annotated[
    str, Path(max_length=16, examples=["2023", "2024-YTD08"], json_schema_extra=PERIOD_LABEL)
]


@router.post(
    "/periods/{label}:close",
    **acts_on("Close a period and publish its figures", PeriodClosureRead, 409),
)
async def close_period(label: PeriodLabel, session: SessionDep, principal: Admin) -> Any:
    """Publishes every computed KPI's point of the period for every org unit (its subtree
    pooled), with the time. Later corrections from the feeds still change the live figures;
    the series then shows `published_value` and `revision` (live − published) beside the
    value, so the period's report can be reproduced exactly. 409 when it is closed already."""
    return await period_service.close(session, principal, label)


@router.post(
    "/periods/{label}:reopen",
    **acts_on("Reopen a closed period", PeriodClosureRead, 400, 409),
)
async def reopen_period(
    label: PeriodLabel, data: ReopenIn, session: SessionDep, principal: Admin
) -> Any:
    """Ends the closure, with the reason (audited). The published figures stay what was
    reported until the period is closed again, which publishes anew."""
    return await period_service.reopen(session, principal, label, data)


_ANALYSIS = "/kpis/{code}/analyses/{org_unit}/{period}"


@router.put(_ANALYSIS, **upserts("Write a unit's analysis of a KPI's figure", AnalysisRead, 404))
async def put_analysis(
    code: Code,
    org_unit: Code,
    period: Annotated[
        str, Path(max_length=16, examples=["2023", "2024-T2"], json_schema_extra=PERIOD_LABEL)
    ],
    data: AnalysisIn,
    session: SessionDep,
    principal: KpisWriter,
) -> Any:
    """The unit's written analysis of the KPI's figure for the period, as an annual report
    prints it beside the figure. Writing again makes a new version (the earlier ones stay in
    `history`); the series point and the scorecard show the latest with its author and time."""
    return await analysis_service.put_analysis(session, principal, code, org_unit, period, data)


@router.get(_ANALYSIS, **reads("A unit's analysis of a KPI for a period", AnalysisRead))
async def get_analysis(
    code: Code,
    org_unit: Code,
    period: Annotated[str, Path(max_length=16, examples=["2023"], json_schema_extra=PERIOD_LABEL)],
    session: SessionDep,
    principal: Reader,
) -> Any:
    """The current analysis and its earlier versions, newest first."""
    return await analysis_service.get_analysis(session, principal, code, org_unit, period)


@router.get(
    "/kpis/{code}/series",
    **reads(
        "A KPI's series for an org unit",
        SeriesAnswer,
        responses={200: {"content": {**_CSV, **_SVG}}},
    ),
)
async def get_series(
    code: Code,
    request: Request,
    session: ReadSessionDep,
    settings: SettingsDep,
    principal: Reader,
    org_unit: Annotated[Code, Query(description="The unit; its whole subtree is pooled.")],
    start: Annotated[
        str,
        Query(alias="from", max_length=16, examples=["2024-01"], json_schema_extra=PERIOD_LABEL),
    ],
    end: Annotated[
        str, Query(alias="to", max_length=16, examples=["2024-12"], json_schema_extra=PERIOD_LABEL)
    ],
    grain: Literal["month", "quarter", "tertial", "year", "rolling12", "ytd", "week"] = "month",
    profession: Code | None = None,
    staff_kind: Literal["own", "agency"] | None = None,
    gender: Literal["female", "male", "other"] | None = None,
    age_band: Literal["-29", "30-49", "50-"] | None = None,
    pay_form: Annotated[
        Literal["monthly", "hourly"] | None,
        Query(description="Staff KPIs count monthly-paid staff unless asked for hourly-paid."),
    ] = None,
    children: Annotated[bool, Query(description="One series per child unit.")] = False,
    decimal: CsvDecimals = Decimals.comma,
) -> Any:
    """Values pool numerators and denominators up the org tree and over the months of each
    period. Each point has its target, deviation, status, change against the year before and
    trend, and `rule` (the target and tolerance that produced them). Values from fewer than
    the minimum group size of employees are `null` with `suppressed: true` unless the key has
    `admin`, and so are the figures that would give them away by subtraction (the next
    smallest sibling unit or category, periods holding a hidden month, `change` when either
    year is hidden: docs/privacy.md). `Accept: text/csv` for spreadsheets: the JSON's columns
    in its order (unit name beside its code), `;` and decimal comma with a byte order mark for
    Swedish Excel, or `decimal=point` for machines. With `children=true` the request counts
    as several against the key's rate limit, and a unit with more child units than the cap is
    refused (422).

    `Accept: image/svg+xml` answers a chart of the series (docs/kpis.md#charts): a line for
    months and rolling twelve months, bars for quarters, tertials and years, the target as a
    dashed line, hidden or missing periods as gaps, Swedish labels, and a `<title>` and
    `<desc>` summarising it. A series with no value is still a chart that says so; more than
    60 points (`too_many_points`) or `children=true` (`chart_of_one_series`) are 422."""
    if children:
        await charge_expensive_read(request, principal, settings)
    dimensions: dict[str, str | None] = {
        "profession": profession,
        "staff_kind": staff_kind,
        "gender": gender,
        "age_band": age_band,
        "pay_form": pay_form,
    }
    if _wants_svg(request):
        svg = await chart_service.series_chart(
            session,
            settings,
            principal,
            code,
            org_unit=org_unit,
            grain=grain,
            start=start,
            end=end,
            dimensions=dimensions,
            children=children,
        )
        return _svg(svg)
    result = await series_service.series(
        session,
        settings,
        principal,
        code,
        org_unit=org_unit,
        grain=grain,
        start=start,
        end=end,
        dimensions=dimensions,
        children=children,
    )
    if not wants_csv(request):
        return result
    all_series = result.series if isinstance(result, SeriesSet) else [result]
    rows = [
        [s.kpi, s.org_unit, s.org_unit_name, *_point_cells(p)] for s in all_series for p in s.points
    ]
    header = ["kpi", "org_unit", "org_unit_name", *_POINT_COLUMNS]
    return csv_file(write_csv(header, rows, decimal), f"{code}.csv")


@router.get(
    "/org-units/{code}/scorecard",
    **reads(
        "Every KPI with a target for a unit and period",
        Scorecard,
        responses={200: {"content": {**_CSV, **_SVG}}},
    ),
)
async def get_scorecard(
    code: Code,
    request: Request,
    session: ReadSessionDep,
    settings: SettingsDep,
    principal: Reader,
    period: Annotated[str, Query(max_length=16, examples=["2024", "2024-T2"])],
    decimal: CsvDecimals = Decimals.comma,
) -> Any:
    """The table an annual report prints: value, target, status and trend of each KPI. Counts
    as several requests against the key's rate limit. `Accept: text/csv` for spreadsheets:
    the JSON's columns in its order, Swedish by default (`decimal=point` for machines).
    `Accept: image/svg+xml` answers the table as an SVG with a sparkline per KPI (its twelve
    months up to the period)."""
    await charge_expensive_read(request, principal, settings)
    if _wants_svg(request):
        return _svg(await chart_service.scorecard_chart(session, settings, principal, code, period))
    card = await series_service.scorecard(session, settings, principal, code, period)
    if not wants_csv(request):
        return card
    rows = [
        [r.kpi, r.name_en, r.name_sv, r.unit, r.profession, *_point_cells(r.point)]
        for r in card.rows
    ]
    header = ["kpi", "name_en", "name_sv", "unit", "profession", *_POINT_COLUMNS]
    return csv_file(write_csv(header, rows, decimal), f"scorecard-{code}-{period}.csv")


@router.get("/kpi-targets", **lists("List targets", Page[TargetRead | Tombstone]))
async def list_targets(
    session: SessionDep,
    principal: Reader,
    page: PageDep,
    updated_since: UpdatedSince = None,
    kpi: KpiCode | None = None,
) -> Any:
    return await target_service.list_targets(
        session, principal, kpi=kpi, window=page.window(updated_since)
    )


@router.post("/kpi-targets", **creates("Set a target", TargetRead, 404))
async def create_target(
    data: TargetCreate,
    session: SessionDep,
    settings: SettingsDep,
    principal: KpisWriter,
    idem: IdempotencyDep,
) -> Any:
    """A bound for a KPI at an org unit (and its subtree unless `include_subtree` is false),
    optionally one profession, valid over a month range: `absolute` (≤ 3 %), `baseline` (the
    KPI's value in a baseline period times a factor: "back to the 2015 level"; that period
    must have data, and for keys without `admin` must not be a suppressed small group: 422
    `baseline_suppressed`) or `count` (< 700 weeks per year, scaled to the series' grain)."""
    if (replay := await idem.replay()) is not None:
        return replay
    target = await target_service.create_target(session, settings, principal, data)
    return await created(idem, session, target, f"/v1/kpi-targets/{target.id}")


@router.get("/kpi-targets/{target_id}", **reads("Get a target", TargetRead))
async def get_target(target_id: uuid.UUID, session: SessionDep, principal: Reader) -> Any:
    return versioned(await target_service.read_target(session, principal, target_id))


@router.patch("/kpi-targets/{target_id}", **updates("Change a target", TargetRead))
async def update_target(
    target_id: uuid.UUID,
    data: TargetUpdate,
    session: SessionDep,
    principal: KpisWriter,
    if_match: IfMatch = None,
) -> Any:
    target = await target_service.update_target(
        session, principal, target_id, data, if_match=if_match
    )
    return versioned(target)


@router.delete("/kpi-targets/{target_id}", **deletes("Remove a target", 412))
async def delete_target(
    target_id: uuid.UUID, session: SessionDep, principal: KpisWriter, if_match: IfMatch = None
) -> Response:
    await target_service.delete_target(session, principal, target_id, if_match=if_match)
    return no_content()


@router.post("/recalculations", **creates("Recalculate KPIs", RecalculationRead, status=202))
async def create_recalculation(
    data: RecalculationCreate, session: SessionDep, principal: Admin, idem: IdempotencyDep
) -> Any:
    """Recomputes every KPI fact in a scope (everything, an org subtree, a month range) in the
    worker. Answers 202 with the status resource in `Location`. Admin only."""
    if (replay := await idem.replay()) is not None:
        return replay
    record = await recalculation_service.request_recalculation(session, principal, data)
    location = f"/v1/recalculations/{record.id}"
    return await created(idem, session, as_json(record), location, status=202)


@router.get("/recalculations", **lists("List recalculations", Page[RecalculationRead]))
async def list_recalculations(
    session: SessionDep,
    principal: Admin,
    page: PageDep,
    status: Annotated[
        Literal["queued", "running", "succeeded", "failed"] | None,
        Query(description="Only recalculations in this state."),
    ] = None,
    updated_since: UpdatedSince = None,
) -> Page[RecalculationRead]:
    """Requested recalculations in the caller's subtree (one of everything only for keys of
    the whole region), newest first. With `updated_since`: those whose status changed since,
    by change time (`updated_at`). Never deleted, so there are no tombstones. Admin only."""
    return await recalculation_service.list_recalculations(
        session, principal, status=status, window=page.window(updated_since)
    )


@router.get(
    "/recalculations/{recalculation_id}", **reads("A recalculation's status", RecalculationRead)
)
async def get_recalculation(
    recalculation_id: uuid.UUID, session: SessionDep, principal: Admin
) -> Any:
    return as_json(
        await recalculation_service.read_recalculation(session, principal, recalculation_id)
    )
