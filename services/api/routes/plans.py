"""Action plans: plans, action packages, actions (one by one or synced as a list), follow-ups,
the summary and the change history; and the catalogue of action areas."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Body, Header, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

from services.api.deps import (
    Admin,
    IdempotencyDep,
    IfMatch,
    MeFilter,
    PageDep,
    PlansWriter,
    Reader,
    SessionDep,
    SettingsDep,
    UpdatedSince,
    api_router,
    me_or,
)
from services.api.operations import creates, deletes, lists, reads, updates, upserts
from services.api.responses import CsvDecimals, created, csv_file, no_content, versioned, wants_csv
from services.core.errors import NotAcceptable
from services.core.http import etag
from services.core.pagination import Page, Tombstone
from services.core.plans import (
    action_service,
    action_sync,
    follow_up_service,
    package_service,
    plan_service,
    report_service,
    summary_service,
)
from services.core.plans import report as report_render
from services.core.plans.schemas import (
    ActionBulkResult,
    ActionCreate,
    ActionRead,
    ActionSort,
    ActionStatus,
    ActionUpdate,
    AreaIn,
    AreaRead,
    FollowUpCreate,
    FollowUpRead,
    FollowUpUpdate,
    HistoryEntry,
    PackageCreate,
    PackageRead,
    PackageUpdate,
    PlanCreate,
    PlanRead,
    PlanReport,
    PlanStatus,
    PlanSummary,
    PlanUpdate,
    Rag,
)
from services.core.spreadsheets import Decimals
from services.core.validation import Code, LocalDate

router = api_router(tags=["action-plans"])


# --- areas -----------------------------------------------------------------------------------


@router.get("/action-areas", **lists("List the action area catalogue", Page[AreaRead]))
async def list_action_areas(
    session: SessionDep, principal: Reader, page: PageDep, updated_since: UpdatedSince = None
) -> Page[AreaRead]:
    """Areas an action belongs to (recruitment, task shifting, scheduling, …), by code.
    Entries are never deleted, so `updated_since` (added or renamed since) has no
    tombstones."""
    return await plan_service.list_areas(session, window=page.window(updated_since))


@router.put("/action-areas/{code}", **upserts("Add or rename an action area", AreaRead))
async def put_action_area(
    code: Code, data: AreaIn, session: SessionDep, principal: Admin
) -> AreaRead:
    """Extends the catalogue (admin) so actions may use the new code."""
    return await plan_service.put_area(session, principal, code, data)


# --- plans -----------------------------------------------------------------------------------


@router.get("/action-plans", **lists("List action plans", Page[PlanRead | Tombstone], 404))
async def list_action_plans(
    session: SessionDep,
    principal: Reader,
    page: PageDep,
    updated_since: UpdatedSince = None,
    org_unit: Annotated[
        Code | None, Query(description="Only plans of this unit and its subtree.")
    ] = None,
    status: PlanStatus | None = None,
    owner_id: uuid.UUID | None = None,
    q: Annotated[
        str | None, Query(max_length=100, description="In the title (case-insensitive).")
    ] = None,
) -> Page[PlanRead | Tombstone]:
    """Plans of the units the key may see, by id; with `updated_since`, every change since
    then (tombstones included) in change order."""
    return await plan_service.list_plans(
        session,
        principal,
        org_unit=org_unit,
        status=status,
        owner_id=owner_id,
        q=q,
        window=page.window(updated_since),
    )


@router.post("/action-plans", **creates("Create an action plan", PlanRead, 409))
async def create_action_plan(
    data: PlanCreate, session: SessionDep, principal: PlansWriter, idem: IdempotencyDep
) -> Response:
    """A plan with its period, owner, economic calculation (every plan states its timing and
    how its cost and saving were calculated) and the KPI targets it is meant to move. Accepts
    `Idempotency-Key`."""
    if (replay := await idem.replay()) is not None:
        return replay
    plan = await plan_service.create_plan(session, principal, data)
    return await created(idem, session, plan, f"/v1/action-plans/{plan.id}")


@router.get("/action-plans/{plan_id}", **reads("Get an action plan", PlanRead))
async def get_action_plan(plan_id: uuid.UUID, session: SessionDep, principal: Reader) -> Any:
    return versioned(await plan_service.read_plan(session, principal, plan_id))


@router.patch("/action-plans/{plan_id}", **updates("Change an action plan", PlanRead, 409))
async def update_action_plan(
    plan_id: uuid.UUID,
    data: PlanUpdate,
    session: SessionDep,
    principal: PlansWriter,
    if_match: IfMatch = None,
) -> Any:
    """Status moves draft → decided → active → completed (or cancelled); a closed plan is
    reopened explicitly (completed → active, cancelled → draft). Other moves are 409.
    `kpi_target_ids` replaces the linked targets."""
    plan = await plan_service.update_plan(session, principal, plan_id, data, if_match=if_match)
    return versioned(plan)


@router.delete("/action-plans/{plan_id}", **deletes("Delete an action plan", 412))
async def delete_action_plan(
    plan_id: uuid.UUID, session: SessionDep, principal: PlansWriter, if_match: IfMatch = None
) -> Response:
    """Soft delete: mirrors see a tombstone; the history stays."""
    await plan_service.delete_plan(session, principal, plan_id, if_match=if_match)
    return no_content()


@router.get("/action-plans/{plan_id}/summary", **reads("Summarise an action plan", PlanSummary))
async def get_action_plan_summary(
    plan_id: uuid.UUID, session: SessionDep, settings: SettingsDep, principal: Reader
) -> PlanSummary:
    """Actions by status ("61 of 65 done"), overdue actions as of today, progress per
    package, cost estimate against expected saving, and per linked KPI target its value at
    the plan's start and this month."""
    return await summary_service.summary(session, settings, principal, plan_id)


@router.get(
    "/action-plans/{plan_id}/report",
    **reads(
        "The follow-up report of an action plan",
        PlanReport,
        406,
        responses={
            200: {
                "content": {
                    "text/html": {"example": "<!DOCTYPE html>…"},
                    "text/markdown": {
                        "example": "# Uppföljning: Bemanningsprojektet 2016–2018\n\n"
                        "- **Sammanfattning:** 61 av 65 klara\n"
                    },
                }
            }
        },
    ),
)
async def get_action_plan_report(
    plan_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    principal: Reader,
    accept: Annotated[str | None, Header(alias="Accept")] = None,
) -> Response:
    """The report a management team follows the plan up with, in Swedish (`Accept:
    text/html`, `text/markdown` or `application/json`, the default): per package its owners
    and due date, each action as an ärende with the ongoing work (pågående arbete) and result
    (resultat) of its newest follow-up, the linked KPI targets' values at the plan's start and
    this month, and the summary ("61 av 65 klara"). Text entered into Puls is escaped in both
    HTML and Markdown."""
    report = await report_service.report(session, settings, principal, plan_id)
    wanted = (accept or "application/json").lower()
    if "text/html" in wanted:
        return HTMLResponse(report_render.html(report))
    if "text/markdown" in wanted:
        return Response(report_render.markdown(report), media_type="text/markdown; charset=utf-8")
    if "application/json" in wanted or "*/*" in wanted:
        return JSONResponse(report.model_dump(mode="json"))
    raise NotAcceptable("The report comes as text/html, text/markdown or application/json")


@router.get(
    "/action-plans/{plan_id}/history",
    **lists("Read an action plan's change history", Page[HistoryEntry], 404),
)
async def get_action_plan_history(
    plan_id: uuid.UUID,
    session: SessionDep,
    principal: Reader,
    page: PageDep,
    updated_since: UpdatedSince = None,
    entity_id: Annotated[
        uuid.UUID | None, Query(description="Only changes of this plan, package or action.")
    ] = None,
) -> Page[HistoryEntry]:
    """Every change to the plan, its packages, actions and follow-ups, oldest first: who,
    when, and the changed fields before and after (`system` for the overdue scan). With
    `updated_since`, the changes made since (a log: no tombstones)."""
    return await summary_service.history(
        session, principal, plan_id, entity_id=entity_id, window=page.window(updated_since)
    )


# --- packages --------------------------------------------------------------------------------


@router.get(
    "/action-plans/{plan_id}/packages",
    **lists("List a plan's action packages", Page[PackageRead | Tombstone], 404),
)
async def list_action_packages(
    plan_id: uuid.UUID,
    session: SessionDep,
    principal: Reader,
    page: PageDep,
    updated_since: UpdatedSince = None,
    owner_id: uuid.UUID | None = None,
) -> Page[PackageRead | Tombstone]:
    return await package_service.list_packages(
        session,
        principal,
        plan_id,
        owner_id=owner_id,
        window=page.window(updated_since),
    )


@router.post(
    "/action-plans/{plan_id}/packages", **creates("Create an action package", PackageRead, 404, 409)
)
async def create_action_package(
    plan_id: uuid.UUID,
    data: PackageCreate,
    session: SessionDep,
    principal: PlansWriter,
    idem: IdempotencyDep,
) -> Response:
    """A named group of the plan's actions with its own owner, due date and cost goal.
    Accepts `Idempotency-Key`."""
    if (replay := await idem.replay()) is not None:
        return replay
    package = await package_service.create_package(session, principal, plan_id, data)
    return await created(idem, session, package, f"/v1/action-packages/{package.id}")


@router.get("/action-packages/{package_id}", **reads("Get an action package", PackageRead))
async def get_action_package(package_id: uuid.UUID, session: SessionDep, principal: Reader) -> Any:
    return versioned(await package_service.read_package(session, principal, package_id))


@router.patch("/action-packages/{package_id}", **updates("Change an action package", PackageRead))
async def update_action_package(
    package_id: uuid.UUID,
    data: PackageUpdate,
    session: SessionDep,
    principal: PlansWriter,
    if_match: IfMatch = None,
) -> Any:
    package = await package_service.update_package(
        session, principal, package_id, data, if_match=if_match
    )
    return versioned(package)


@router.delete("/action-packages/{package_id}", **deletes("Delete an action package", 409, 412))
async def delete_action_package(
    package_id: uuid.UUID, session: SessionDep, principal: PlansWriter, if_match: IfMatch = None
) -> Response:
    """Only an empty package: one that still holds live actions is 409."""
    await package_service.delete_package(session, principal, package_id, if_match=if_match)
    return no_content()


# --- actions ---------------------------------------------------------------------------------

_CSV_EXAMPLE = (
    "\ufeffcode;title;description;area;package_id;package;responsible_id;responsible;org_unit;"
    "start_date;due_date;status;progress;overdue\r\n"
    "3.2;Ta fram bemanningsplan;;staffing_plan;;;;;RS;2017-01-01;2018-12-31;in_progress;60;"
    "false\r\n"
)


# The filters both action lists (a plan's and across plans) take.
Overdue = Annotated[
    bool | None, Query(description="Only actions the scan marked overdue (or not).")
]
DueBefore = Annotated[LocalDate | None, Query(description="Only actions due before (YYYY-MM-DD).")]
ActionSortParam = Annotated[
    ActionSort | None,
    Query(
        description="`due_date` (soonest first, none last) or `-due_date`; by id when left "
        "out. Not with `updated_since`, whose pages come in change order."
    ),
]
ActionSearch = Annotated[
    str | None,
    Query(max_length=100, description="In the code, title or description (case-insensitive)."),
]


@router.get(
    "/action-plans/{plan_id}/actions",
    **lists(
        "List a plan's actions (JSON or CSV)",
        Page[ActionRead | Tombstone],
        404,
        responses={
            200: {
                "description": "A page of actions, or with `Accept: text/csv` all of them as CSV.",
                "content": {"text/csv": {"schema": {"type": "string"}, "example": _CSV_EXAMPLE}},
            },
        },
    ),
)
async def list_actions(
    plan_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    principal: Reader,
    page: PageDep,
    updated_since: UpdatedSince = None,
    status: ActionStatus | None = None,
    package_id: uuid.UUID | None = None,
    responsible_id: uuid.UUID | None = None,
    area: Code | None = None,
    overdue: Overdue = None,
    due_before: DueBefore = None,
    responsible: MeFilter = None,
    sort: ActionSortParam = None,
    q: ActionSearch = None,
    decimal: CsvDecimals = Decimals.comma,
) -> Response:
    """The ETag is the version of the whole collection: send it as `If-Match` with
    `PUT …/actions`. With `Accept: text/csv` the filtered actions come back as one CSV file
    in code order (paging does not apply): the JSON's fields in its order with the package's
    and the responsible person's names beside their ids, `;`, decimal comma and `true`/`false`
    in UTF-8 with a byte order mark for Swedish spreadsheets (`decimal=point`: `,` and a
    decimal point, no byte order mark, for machines)."""
    filters = {
        "status": status,
        "package_id": package_id,
        "responsible_id": me_or(principal, responsible, responsible_id, "responsible"),
        "area": area,
        "overdue": overdue,
        "due_before": due_before,
        "q": q,
    }
    if wants_csv(request):
        text, version = await action_sync.export_actions_csv(
            session, principal, plan_id, filters, decimal
        )
        return csv_file(text, f"actions-{plan_id}.csv", {"ETag": etag(version)})
    result, version = await action_service.list_actions(
        session,
        principal,
        plan_id,
        filters,
        window=page.window(updated_since),
        sort=sort,
    )
    return JSONResponse(result.model_dump(mode="json"), headers={"ETag": etag(version)})


@router.put(
    "/action-plans/{plan_id}/actions",
    **upserts("Upsert a plan's actions by code", ActionBulkResult, 404, 412, 413),
)
async def upsert_actions(
    plan_id: uuid.UUID,
    session: SessionDep,
    principal: PlansWriter,
    actions: Annotated[
        list[ActionCreate],
        Body(
            max_length=10_000,
            examples=[
                [
                    {
                        "code": "1.1",
                        "title": "Genomgång av RAK inom hela organisationen",
                        "area": "task_shifting",
                        "status": "done",
                        "progress": 100,
                    },
                    {
                        "code": "3.2",
                        "title": "Ta fram bemanningsplan med måltal för antal AT, ST",
                        "area": "staffing_plan",
                        "due_date": "2018-12-31",
                        "status": "in_progress",
                        "progress": 60,
                    },
                ]
            ],
        ),
    ],
    if_match: IfMatch = None,
) -> Response:
    """Syncs a plan kept in a spreadsheet: new codes are inserted, changed rows updated,
    equal ones left alone; actions not in the list stay. Each row is written whole (left-out
    fields reset). All or nothing: a duplicate code, an unknown area, person, org unit or
    package, a package of another plan, a due date before the start or a status move that
    is not allowed rejects the list with every bad index named. `If-Match` takes the ETag of
    `GET …/actions`."""
    result = await action_sync.bulk_upsert_actions(
        session, principal, plan_id, actions, if_match=if_match
    )
    return JSONResponse(
        result.model_dump(mode="json"), headers={"ETag": etag(result.actions_version)}
    )


@router.post("/action-plans/{plan_id}/actions", **creates("Create an action", ActionRead, 404, 409))
async def create_action(
    plan_id: uuid.UUID,
    data: ActionCreate,
    session: SessionDep,
    principal: PlansWriter,
    idem: IdempotencyDep,
) -> Response:
    """A code already used in the plan is 409. Marking an action done below 100 % progress
    is allowed and flagged in `warnings`. Accepts `Idempotency-Key`."""
    if (replay := await idem.replay()) is not None:
        return replay
    action = await action_service.create_action(session, principal, plan_id, data)
    return await created(idem, session, action, f"/v1/actions/{action.id}")


@router.get("/actions", **lists("List actions across plans", Page[ActionRead | Tombstone], 404))
async def list_actions_across_plans(
    session: SessionDep,
    principal: Reader,
    page: PageDep,
    updated_since: UpdatedSince = None,
    org_unit: Annotated[
        Code | None, Query(description="Only actions of plans of this unit and its subtree.")
    ] = None,
    status: ActionStatus | None = None,
    responsible_id: uuid.UUID | None = None,
    area: Code | None = None,
    overdue: Overdue = None,
    due_before: DueBefore = None,
    responsible: MeFilter = None,
    sort: ActionSortParam = None,
    q: ActionSearch = None,
) -> Page[ActionRead | Tombstone]:
    """Every plan's actions the key may see: one person's actions, everything overdue in a
    division, or a mirror of all actions with `updated_since`."""
    filters = {
        "status": status,
        "responsible_id": me_or(principal, responsible, responsible_id, "responsible"),
        "area": area,
        "overdue": overdue,
        "due_before": due_before,
        "q": q,
    }
    return await action_service.list_actions_across_plans(
        session,
        principal,
        org_unit=org_unit,
        filters=filters,
        window=page.window(updated_since),
        sort=sort,
    )


@router.get("/actions/{action_id}", **reads("Get an action", ActionRead))
async def get_action(action_id: uuid.UUID, session: SessionDep, principal: Reader) -> Any:
    return versioned(await action_service.read_action(session, principal, action_id))


@router.patch("/actions/{action_id}", **updates("Change an action", ActionRead, 409))
async def update_action(
    action_id: uuid.UUID,
    data: ActionUpdate,
    session: SessionDep,
    principal: PlansWriter,
    if_match: IfMatch = None,
) -> Any:
    """Status moves freely between not_started, in_progress and postponed and on to done or
    cancelled; a finished action is reopened explicitly (cancelled → not_started, done →
    in_progress), anything else out of it is 409. Send the ETag as `If-Match`: a stale one
    is 412."""
    action = await action_service.update_action(
        session, principal, action_id, data, if_match=if_match
    )
    return versioned(action)


@router.delete("/actions/{action_id}", **deletes("Delete an action", 412))
async def delete_action(
    action_id: uuid.UUID, session: SessionDep, principal: PlansWriter, if_match: IfMatch = None
) -> Response:
    """Soft delete; a later upsert with the same code brings it back."""
    await action_service.delete_action(session, principal, action_id, if_match=if_match)
    return no_content()


# --- follow-ups ------------------------------------------------------------------------------


@router.get(
    "/action-plans/{plan_id}/follow-ups",
    **lists("List a plan's follow-ups", Page[FollowUpRead | Tombstone], 404),
)
async def list_follow_ups(
    plan_id: uuid.UUID,
    session: SessionDep,
    principal: Reader,
    page: PageDep,
    updated_since: UpdatedSince = None,
    action_id: Annotated[uuid.UUID | None, Query(description="Only about this action.")] = None,
    rag: Rag | None = None,
) -> Page[FollowUpRead | Tombstone]:
    return await follow_up_service.list_follow_ups(
        session,
        principal,
        plan_id,
        action_id=action_id,
        rag=rag,
        window=page.window(updated_since),
    )


@router.post(
    "/action-plans/{plan_id}/follow-ups", **creates("Report a follow-up", FollowUpRead, 404, 409)
)
async def create_follow_up(
    plan_id: uuid.UUID,
    data: FollowUpCreate,
    session: SessionDep,
    principal: PlansWriter,
    idem: IdempotencyDep,
) -> Response:
    """A report-back on the plan or one of its actions (ongoing work and result) with a RAG
    status. It settles the report-back owed: the action's (without `action_id`, the plan's)
    `follow_up_due_on` becomes `next_follow_up_due_on`, or null when that is left out (422
    `next_follow_up_not_after_report` when it is not after `reported_on`). Accepts
    `Idempotency-Key`."""
    if (replay := await idem.replay()) is not None:
        return replay
    follow_up = await follow_up_service.create_follow_up(session, principal, plan_id, data)
    return await created(idem, session, follow_up, f"/v1/follow-ups/{follow_up.id}")


@router.get("/follow-ups/{follow_up_id}", **reads("Get a follow-up", FollowUpRead))
async def get_follow_up(follow_up_id: uuid.UUID, session: SessionDep, principal: Reader) -> Any:
    return versioned(await follow_up_service.read_follow_up(session, principal, follow_up_id))


@router.patch("/follow-ups/{follow_up_id}", **updates("Change a follow-up", FollowUpRead))
async def update_follow_up(
    follow_up_id: uuid.UUID,
    data: FollowUpUpdate,
    session: SessionDep,
    principal: PlansWriter,
    if_match: IfMatch = None,
) -> Any:
    follow_up = await follow_up_service.update_follow_up(
        session, principal, follow_up_id, data, if_match=if_match
    )
    return versioned(follow_up)


@router.delete("/follow-ups/{follow_up_id}", **deletes("Delete a follow-up", 412))
async def delete_follow_up(
    follow_up_id: uuid.UUID, session: SessionDep, principal: PlansWriter, if_match: IfMatch = None
) -> Response:
    await follow_up_service.delete_follow_up(session, principal, follow_up_id, if_match=if_match)
    return no_content()
