"""KPIs: the catalogue, series and scorecards (JSON or CSV), targets, manual values and
recalculation requests."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Annotated, Any, Literal

from fastapi import Query, Request, Response
from fastapi.responses import JSONResponse

from services.api.deps import (
    Admin,
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
from services.api.operations import creates, deletes, lists, reads, updates
from services.api.responses import no_content, versioned, wants_csv
from services.core.kpis import (
    catalogue_service,
    recalculation_service,
    series_service,
    target_service,
)
from services.core.kpis.schemas import (
    KpiRead,
    ManualKpiCreate,
    ManualValueIn,
    ManualValueRead,
    Point,
    RecalculationCreate,
    RecalculationRead,
    Scorecard,
    Series,
    SeriesSet,
    TargetCreate,
    TargetRead,
    TargetUpdate,
    as_json,
)
from services.core.pagination import Page, Tombstone
from services.core.spreadsheets import safe_row
from services.core.validation import Code

router = api_router(prefix="", tags=["kpis"])

KpiCode = Annotated[str, Query(max_length=64)]
Label = Annotated[str, Query(max_length=16)]
_CSV = {"text/csv": {"schema": {"type": "string"}, "example": "org_unit;period;value\n"}}
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
]


def _csv(header: list[str], rows: list[list[Any]], filename: str) -> Response:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\n")
    writer.writerow(header)
    writer.writerows(safe_row(row) for row in rows)
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _point_cells(point: Point) -> list[Any]:
    return [getattr(point, name) for name in _POINT_COLUMNS]


@router.get("/kpis", **lists("The KPI catalogue", list[KpiRead]))
async def list_kpis(session: SessionDep, principal: Reader) -> Any:
    """Every KPI Puls computes (DESIGN.md's table) and every manual KPI admins have added."""
    return await catalogue_service.list_kpis(session)


@router.post("/kpis", **creates("Add a manual KPI", KpiRead, 409))
async def create_manual_kpi(data: ManualKpiCreate, session: SessionDep, principal: Admin) -> Any:
    """A KPI whose values are entered by hand (an engagement index, a survey outcome), per
    org unit and period, with who entered them and when. Admin only."""
    kpi = await catalogue_service.create_manual_kpi(session, principal, data)
    return JSONResponse(
        kpi.model_dump(mode="json"), status_code=201, headers={"Location": f"/v1/kpis/{kpi.code}"}
    )


@router.get("/kpis/{code}", **reads("One KPI", KpiRead))
async def get_kpi(code: Code, session: SessionDep, principal: Reader) -> Any:
    return (await catalogue_service.definition(session, code)).read()


@router.post("/kpis/{code}/values", **creates("Enter a manual KPI's value", ManualValueRead, 404))
async def post_manual_value(
    code: Code, data: ManualValueIn, session: SessionDep, principal: KpisWriter
) -> Any:
    """Stores the value for the org unit and period (a later post replaces it); the series
    shows who entered it, when, and the comment."""
    return await catalogue_service.post_manual_value(session, principal, code, data)


@router.get(
    "/kpis/{code}/series",
    **reads(
        "A KPI's series for an org unit", Series | SeriesSet, responses={200: {"content": _CSV}}
    ),
)
async def get_series(
    code: Code,
    request: Request,
    session: ReadSessionDep,
    settings: SettingsDep,
    principal: Reader,
    org_unit: Annotated[Code, Query(description="The unit; its whole subtree is pooled.")],
    start: Annotated[str, Query(alias="from", max_length=16, examples=["2024-01"])],
    end: Annotated[str, Query(alias="to", max_length=16, examples=["2024-12"])],
    grain: Literal["month", "quarter", "tertial", "year", "rolling12"] = "month",
    profession: Code | None = None,
    staff_kind: Literal["own", "agency"] | None = None,
    gender: Literal["female", "male", "other"] | None = None,
    age_band: Literal["-29", "30-49", "50-"] | None = None,
    children: Annotated[bool, Query(description="One series per child unit.")] = False,
) -> Any:
    """Values pool numerators and denominators up the org tree and over the months of each
    period. Each point has its target, deviation, status, change against the year before and
    trend, and `rule` (the target and tolerance that produced them). Values from fewer than
    the minimum group size of employees are `null` with `suppressed: true` unless the key has
    `admin`, and so are the figures that would give them away by subtraction (the next
    smallest sibling unit or category, periods holding a hidden month, `change` when either
    year is hidden: docs/privacy.md). `Accept: text/csv` for spreadsheets. With
    `children=true` the request counts as several against the key's rate limit, and a unit
    with more child units than the cap is refused (422)."""
    if children:
        await charge_expensive_read(request, principal, settings)
    result = await series_service.series(
        session,
        settings,
        principal,
        code,
        org_unit=org_unit,
        grain=grain,
        start=start,
        end=end,
        dimensions={
            "profession": profession,
            "staff_kind": staff_kind,
            "gender": gender,
            "age_band": age_band,
        },
        children=children,
    )
    if not wants_csv(request):
        return result
    all_series = result.series if isinstance(result, SeriesSet) else [result]
    return _csv(
        ["kpi", "org_unit", *_POINT_COLUMNS],
        [[s.kpi, s.org_unit, *_point_cells(p)] for s in all_series for p in s.points],
        f"{code}.csv",
    )


@router.get(
    "/org-units/{code}/scorecard",
    **reads(
        "Every KPI with a target for a unit and period",
        Scorecard,
        responses={200: {"content": _CSV}},
    ),
)
async def get_scorecard(
    code: Code,
    request: Request,
    session: ReadSessionDep,
    settings: SettingsDep,
    principal: Reader,
    period: Annotated[str, Query(max_length=16, examples=["2024", "2024-T2"])],
) -> Any:
    """The table an annual report prints: value, target, status and trend of each KPI. Counts
    as several requests against the key's rate limit."""
    await charge_expensive_read(request, principal, settings)
    card = await series_service.scorecard(session, settings, principal, code, period)
    if not wants_csv(request):
        return card
    return _csv(
        ["kpi", "name_sv", "profession", *_POINT_COLUMNS],
        [[r.kpi, r.name_sv, r.profession, *_point_cells(r.point)] for r in card.rows],
        f"scorecard-{code}-{period}.csv",
    )


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
    data: TargetCreate, session: SessionDep, settings: SettingsDep, principal: KpisWriter
) -> Any:
    """A bound for a KPI at an org unit (and its subtree unless `include_subtree` is false),
    optionally one profession, valid over a month range: `absolute` (≤ 3 %), `baseline` (the
    KPI's value in a baseline period times a factor: "back to the 2015 level"; that period
    must have data, and for keys without `admin` must not be a suppressed small group: 422
    `baseline_suppressed`) or `count` (< 700 weeks per year, scaled to the series' grain)."""
    target = await target_service.create_target(session, settings, principal, data)
    return versioned(target, 201, location=f"/v1/kpi-targets/{target.id}")


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
    data: RecalculationCreate, session: SessionDep, principal: Admin
) -> Any:
    """Recomputes every KPI fact in a scope (everything, an org subtree, a month range) in the
    worker. Answers 202 with the status resource in `Location`. Admin only."""
    record = await recalculation_service.request_recalculation(session, principal, data)
    return JSONResponse(
        as_json(record), status_code=202, headers={"Location": f"/v1/recalculations/{record.id}"}
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
