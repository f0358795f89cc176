from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import Header, Query, Response
from fastapi.responses import HTMLResponse, JSONResponse

from services.api.deps import (
    IdempotencyDep,
    IfMatch,
    MeetingsWriter,
    MeFilter,
    PageDep,
    Reader,
    SessionDep,
    SettingsDep,
    UpdatedSince,
    api_router,
    me_or,
)
from services.api.operations import acts_on, creates, deletes, lists, reads, updates
from services.api.responses import created, no_content, versioned
from services.core.errors import ValidationFailed, field_error
from services.core.meetings import (
    agenda_service,
    assignment_service,
    body_service,
    meeting_service,
    minutes_service,
)
from services.core.meetings import minutes as minutes_render
from services.core.meetings.errors import NotAcceptable
from services.core.meetings.schemas import (
    AgendaItemCreate,
    AgendaItemRead,
    AgendaItemUpdate,
    AssignmentCreate,
    AssignmentRead,
    AssignmentSort,
    AssignmentStatus,
    AssignmentUpdate,
    BodyCreate,
    BodyRead,
    BodyUpdate,
    DecisionCreate,
    DecisionRead,
    DecisionUpdate,
    ItemsReorder,
    MeetingCreate,
    MeetingDetail,
    MeetingExpand,
    MeetingRead,
    MeetingSort,
    MeetingStatus,
    MeetingUpdate,
    Minutes,
    PrepareRead,
)
from services.core.pagination import Page, Tombstone

router = api_router(tags=["meetings"])

# The old way to give an admin's reason for a write after approval; the body's `reason` field
# replaces it (kept for one version).
EditReason = Annotated[
    str | None,
    Header(
        alias="X-Edit-Reason",
        max_length=500,
        deprecated=True,
        description="Deprecated: send `reason` in the body. Admin edits after approval only.",
    ),
]
MeetingSortParam = Annotated[
    MeetingSort | None,
    Query(description="`starts_at` (earliest first) or `-starts_at`; by id when left out."),
]
SearchParam = Annotated[
    str | None, Query(max_length=100, description="Text contained (case-insensitive).")
]
Expand = Annotated[
    str | None,
    Query(
        max_length=100,
        description="Comma-separated parts to include: `items`, `decisions`, `assignments`.",
        examples=["items,decisions,assignments"],
    ),
]


def _expand(value: str | None) -> set[MeetingExpand]:
    allowed = [e.value for e in MeetingExpand]
    parts = [p.strip() for p in (value or "").split(",") if p.strip()]
    unknown = [p for p in parts if p not in allowed]
    if unknown:
        raise ValidationFailed(
            f"Unknown expand {', '.join(map(repr, unknown))}; allowed: {', '.join(allowed)}",
            errors=[
                field_error(["query", "expand"], f"allowed: {', '.join(allowed)}", "unknown_expand")
            ],
        )
    return {MeetingExpand(p) for p in parts}


@router.get("/bodies", **lists("List bodies", Page[BodyRead | Tombstone]))
async def list_bodies(
    session: SessionDep, principal: Reader, page: PageDep, updated_since: UpdatedSince = None
) -> Page[BodyRead | Tombstone]:
    """Decision-making groups in the caller's org subtree."""
    return await body_service.list_bodies(session, principal, window=page.window(updated_since))


@router.post("/bodies", **creates("Create a body", BodyRead))
async def create_body(
    data: BodyCreate, session: SessionDep, principal: MeetingsWriter, idem: IdempotencyDep
) -> Any:
    if (replay := await idem.replay()) is not None:
        return replay
    body = await body_service.create_body(session, principal, data)
    return await created(idem, session, body, f"/v1/bodies/{body.id}")


@router.get("/bodies/{body_id}", **reads("Get a body", BodyRead))
async def get_body(body_id: uuid.UUID, session: SessionDep, principal: Reader) -> Any:
    return versioned(await body_service.read_body(session, principal, body_id))


@router.patch("/bodies/{body_id}", **updates("Change a body: name, members, schedule", BodyRead))
async def update_body(
    body_id: uuid.UUID,
    data: BodyUpdate,
    session: SessionDep,
    principal: MeetingsWriter,
    if_match: IfMatch = None,
) -> Any:
    """`members` replaces the list; `schedule: null` removes the schedule."""
    return versioned(
        await body_service.update_body(session, principal, body_id, data, if_match=if_match)
    )


@router.delete("/bodies/{body_id}", **deletes("Delete a body", 409, 412))
async def delete_body(
    body_id: uuid.UUID, session: SessionDep, principal: MeetingsWriter, if_match: IfMatch = None
) -> Response:
    """With its meetings and what they hold (tombstones for mirrors). A body one of whose
    meetings has approved minutes is a record: 409 `body_has_approved_minutes`."""
    await body_service.delete_body(session, principal, body_id, if_match=if_match)
    return no_content()


@router.get(
    "/bodies/{body_id}/meetings",
    **lists("List a body's meetings", Page[MeetingRead | Tombstone], 404),
)
async def list_body_meetings(
    body_id: uuid.UUID,
    session: SessionDep,
    principal: Reader,
    page: PageDep,
    updated_since: UpdatedSince = None,
    status: MeetingStatus | None = None,
    sort: MeetingSortParam = None,
    q: SearchParam = None,
) -> Page[MeetingRead | Tombstone]:
    """As `GET /v1/meetings?body_id=…`, but an unknown (or unseen) body is a 404."""
    return await meeting_service.list_body_meetings(
        session,
        principal,
        body_id,
        status=status,
        window=page.window(updated_since),
        sort=sort,
        q=q,
    )


@router.get(
    "/meetings/{meeting_id}/decisions",
    **lists("A meeting's decisions", Page[DecisionRead | Tombstone], 404),
)
async def list_decisions(
    meeting_id: uuid.UUID,
    session: SessionDep,
    principal: Reader,
    page: PageDep,
    updated_since: UpdatedSince = None,
) -> Page[DecisionRead | Tombstone]:
    """In the order they were made (with `updated_since`: change order, tombstones
    included)."""
    return await agenda_service.list_decisions(
        session, principal, meeting_id, window=page.window(updated_since)
    )


@router.get("/decisions/{decision_id}", **reads("Get a decision", DecisionRead))
async def get_decision(decision_id: uuid.UUID, session: SessionDep, principal: Reader) -> Any:
    return versioned(await agenda_service.read_decision(session, principal, decision_id))


@router.patch("/decisions/{decision_id}", **updates("Change a decision", DecisionRead, 409))
async def update_decision(
    decision_id: uuid.UUID,
    data: DecisionUpdate,
    session: SessionDep,
    principal: MeetingsWriter,
    if_match: IfMatch = None,
) -> Any:
    """Text and dates. After the minutes are approved only an admin may change it, with a
    `reason` kept in the audit trail (409 otherwise)."""
    return versioned(
        await agenda_service.update_decision(
            session, principal, decision_id, data, if_match=if_match
        )
    )


@router.delete("/decisions/{decision_id}", **deletes("Delete a decision", 409, 412))
async def delete_decision(
    decision_id: uuid.UUID,
    session: SessionDep,
    principal: MeetingsWriter,
    if_match: IfMatch = None,
) -> Response:
    """Before the minutes are approved (409 `meeting_locked` after)."""
    await agenda_service.delete_decision(session, principal, decision_id, if_match=if_match)
    return no_content()


@router.get("/agenda-items/{item_id}", **reads("Get an agenda item", AgendaItemRead))
async def get_item(item_id: uuid.UUID, session: SessionDep, principal: Reader) -> Any:
    return versioned(await agenda_service.read_item(session, principal, item_id))


@router.delete("/agenda-items/{item_id}", **deletes("Delete an agenda item", 409, 412))
async def delete_item(
    item_id: uuid.UUID, session: SessionDep, principal: MeetingsWriter, if_match: IfMatch = None
) -> Response:
    """With its decisions and assignments; its number is free again. Before the minutes are
    approved (409 `meeting_locked` after)."""
    await agenda_service.delete_item(session, principal, item_id, if_match=if_match)
    return no_content()


@router.post(
    "/meetings/{meeting_id}/items:reorder",
    **acts_on("Reorder a meeting's agenda", list[AgendaItemRead], 400, 409, 412, 415),
)
async def reorder_items(
    meeting_id: uuid.UUID,
    data: ItemsReorder,
    session: SessionDep,
    principal: MeetingsWriter,
    if_match: IfMatch = None,
) -> list[AgendaItemRead]:
    """Every live item of the meeting once, in the new order: they are numbered 1, 2, … in one
    step (swapping two numbers by PATCH would collide). `If-Match` takes the meeting's ETag.
    After approval only an admin, with a `reason`."""
    return await agenda_service.reorder_items(
        session, principal, meeting_id, data, if_match=if_match
    )


@router.patch("/agenda-items/{item_id}", **updates("Change an agenda item", AgendaItemRead, 409))
async def update_item(
    item_id: uuid.UUID,
    data: AgendaItemUpdate,
    session: SessionDep,
    principal: MeetingsWriter,
    if_match: IfMatch = None,
) -> Any:
    """Notes, title, number, presenters, links. After the minutes are approved only an admin
    may change it, with a `reason` kept in the audit trail (409 otherwise)."""
    return versioned(
        await agenda_service.update_item(session, principal, item_id, data, if_match=if_match)
    )


@router.post(
    "/bodies/{body_id}/meetings:generate",
    **acts_on(
        "Generate the planned meetings of a body's schedule",
        responses={200: {"content": {"application/json": {"example": {"created": 4}}}}},
    ),
)
async def generate_meetings(
    body_id: uuid.UUID,
    session: SessionDep,
    principal: MeetingsWriter,
    settings: SettingsDep,
    until: Annotated[date, Query(description="Last day to plan meetings for (inclusive).")],
) -> dict[str, int]:
    """Idempotent: meetings already planned at a slot are left alone. The schedule's time is
    the region's local time (`PULS_LOCAL_TIMEZONE`): a weekly 13:00 meeting stays at 13:00
    across the change to and from summer time; `starts_at` is returned in UTC as always."""
    created = await meeting_service.generate(
        session, principal, body_id, until, zone=settings.local_zone
    )
    return {"created": created}


@router.get("/meetings", **lists("List meetings", Page[MeetingRead | Tombstone]))
async def list_meetings(
    session: SessionDep,
    principal: Reader,
    page: PageDep,
    updated_since: UpdatedSince = None,
    body_id: uuid.UUID | None = None,
    status: MeetingStatus | None = None,
    sort: MeetingSortParam = None,
    q: Annotated[
        str | None, Query(max_length=100, description="In the place or the body's name.")
    ] = None,
) -> Page[MeetingRead | Tombstone]:
    """Meetings of the bodies in the caller's subtree. `sort=starts_at` gives a calendar
    (not with `updated_since`, whose pages come in change order)."""
    return await meeting_service.list_meetings(
        session,
        principal,
        body_id=body_id,
        status=status,
        window=page.window(updated_since),
        sort=sort,
        q=q,
    )


@router.post("/bodies/{body_id}/meetings", **creates("Create a meeting", MeetingRead, 404))
async def create_meeting(
    body_id: uuid.UUID,
    data: MeetingCreate,
    session: SessionDep,
    principal: MeetingsWriter,
    idem: IdempotencyDep,
) -> Any:
    if (replay := await idem.replay()) is not None:
        return replay
    meeting = await meeting_service.create_meeting(session, principal, body_id, data)
    return await created(idem, session, meeting, f"/v1/meetings/{meeting.id}")


@router.get("/meetings/{meeting_id:uuid}", **reads("Get a meeting", MeetingDetail))
async def get_meeting(
    meeting_id: uuid.UUID, session: SessionDep, principal: Reader, expand: Expand = None
) -> Any:
    """`expand=items,decisions,assignments` includes the agenda, decisions and assignments
    (with people's names), so a meeting view is one call; an unknown part is a 422 naming the
    allowed ones."""
    parts = _expand(expand)
    return versioned(
        await meeting_service.read_meeting_expanded(session, principal, meeting_id, parts)
    )


@router.delete("/meetings/{meeting_id:uuid}", **deletes("Delete a meeting", 409, 412))
async def delete_meeting(
    meeting_id: uuid.UUID, session: SessionDep, principal: MeetingsWriter, if_match: IfMatch = None
) -> Response:
    """Before its minutes are approved (409 `meeting_locked` after), with its items, decisions
    and assignments (tombstones for mirrors)."""
    await meeting_service.delete_meeting(session, principal, meeting_id, if_match=if_match)
    return no_content()


@router.patch("/meetings/{meeting_id:uuid}", **updates("Change a meeting", MeetingRead, 409))
async def update_meeting(
    meeting_id: uuid.UUID,
    data: MeetingUpdate,
    session: SessionDep,
    principal: MeetingsWriter,
    if_match: IfMatch = None,
) -> Any:
    """After approval: 409, except for an admin giving a `reason` (kept in the audit trail)."""
    meeting = await meeting_service.update_meeting(
        session, principal, meeting_id, data, if_match=if_match
    )
    return versioned(meeting)


@router.post(
    "/meetings/{meeting_id}:approve", **acts_on("Approve the minutes", MeetingRead, 409, 412)
)
async def approve_minutes(
    meeting_id: uuid.UUID, session: SessionDep, principal: MeetingsWriter, if_match: IfMatch = None
) -> Any:
    """Locks the meeting, its items, decisions and assignments' origin."""
    return versioned(
        await meeting_service.approve(session, principal, meeting_id, if_match=if_match)
    )


@router.get(
    "/meetings/{meeting_id}/items",
    **lists("List a meeting's agenda items", Page[AgendaItemRead | Tombstone], 404),
)
async def list_items(
    meeting_id: uuid.UUID,
    session: SessionDep,
    principal: Reader,
    page: PageDep,
    updated_since: UpdatedSince = None,
) -> Page[AgendaItemRead | Tombstone]:
    """In agenda order (with `updated_since`: change order, tombstones included)."""
    return await agenda_service.list_items(
        session, principal, meeting_id, window=page.window(updated_since)
    )


@router.post(
    "/meetings/{meeting_id}/items", **creates("Add an agenda item", AgendaItemRead, 404, 409)
)
async def create_item(
    meeting_id: uuid.UUID,
    data: AgendaItemCreate,
    session: SessionDep,
    principal: MeetingsWriter,
    idem: IdempotencyDep,
    x_edit_reason: EditReason = None,
) -> Any:
    """After approval only an admin, with a `reason`."""
    if (replay := await idem.replay()) is not None:
        return replay
    item = await agenda_service.create_item(
        session, principal, meeting_id, data, reason=x_edit_reason
    )
    return await created(idem, session, item, f"/v1/agenda-items/{item.id}")


@router.post(
    "/agenda-items/{item_id}/decisions", **creates("Record a decision", DecisionRead, 404, 409)
)
async def create_decision(
    item_id: uuid.UUID,
    data: DecisionCreate,
    session: SessionDep,
    principal: MeetingsWriter,
    idem: IdempotencyDep,
    x_edit_reason: EditReason = None,
) -> Any:
    """Publishes `decision.made`. After approval only an admin, with a `reason`."""
    if (replay := await idem.replay()) is not None:
        return replay
    decision = await agenda_service.create_decision(
        session, principal, item_id, data, reason=x_edit_reason
    )
    return await created(idem, session, decision, f"/v1/decisions/{decision.id}")


@router.post(
    "/agenda-items/{item_id}/assignments",
    **creates("Record an assignment", AssignmentRead, 404, 409),
)
async def create_assignment(
    item_id: uuid.UUID,
    data: AssignmentCreate,
    session: SessionDep,
    principal: MeetingsWriter,
    idem: IdempotencyDep,
    x_edit_reason: EditReason = None,
) -> Any:
    if (replay := await idem.replay()) is not None:
        return replay
    assignment = await assignment_service.create_assignment(
        session, principal, item_id, data, reason=x_edit_reason
    )
    return await created(idem, session, assignment, f"/v1/assignments/{assignment.id}")


@router.get("/assignments", **lists("List assignments", Page[AssignmentRead | Tombstone]))
async def list_assignments(
    session: SessionDep,
    principal: Reader,
    page: PageDep,
    updated_since: UpdatedSince = None,
    assignee_id: uuid.UUID | None = None,
    status: AssignmentStatus | None = None,
    body_id: uuid.UUID | None = None,
    assignee: MeFilter = None,
    sort: Annotated[
        AssignmentSort | None,
        Query(
            description="`due_date` (soonest first, none last) or `-due_date`; by id if left out."
        ),
    ] = None,
    q: Annotated[str | None, Query(max_length=100, description="In the assignment's text.")] = None,
) -> Page[AssignmentRead | Tombstone]:
    """Who was tasked with what by when, across the caller's bodies. `assignee=me`: the
    signed-in person's (403 `not_a_person` for an API key)."""
    return await assignment_service.list_assignments(
        session,
        principal,
        assignee_id=me_or(principal, assignee, assignee_id, "assignee"),
        status=status,
        body_id=body_id,
        window=page.window(updated_since),
        sort=sort,
        q=q,
    )


@router.get("/assignments/{assignment_id}", **reads("Get an assignment", AssignmentRead))
async def get_assignment(assignment_id: uuid.UUID, session: SessionDep, principal: Reader) -> Any:
    return versioned(await assignment_service.read_assignment(session, principal, assignment_id))


@router.patch("/assignments/{assignment_id}", **updates("Follow up an assignment", AssignmentRead))
async def update_assignment(
    assignment_id: uuid.UUID,
    data: AssignmentUpdate,
    session: SessionDep,
    principal: MeetingsWriter,
    if_match: IfMatch = None,
) -> Any:
    assignment = await assignment_service.update_assignment(
        session, principal, assignment_id, data, if_match=if_match
    )
    return versioned(assignment)


@router.delete("/assignments/{assignment_id}", **deletes("Delete an assignment", 409, 412))
async def delete_assignment(
    assignment_id: uuid.UUID,
    session: SessionDep,
    principal: MeetingsWriter,
    if_match: IfMatch = None,
) -> Response:
    """Before its meeting's minutes are approved (409 `meeting_locked` after)."""
    await assignment_service.delete_assignment(session, principal, assignment_id, if_match=if_match)
    return no_content()


@router.get(
    "/meetings/{meeting_id}/prepare",
    **reads(
        "Propose agenda items for an upcoming meeting",
        PrepareRead,
        responses={200: {"content": {"text/html": {"example": "<!DOCTYPE html>…<svg …"}}}},
    ),
)
async def prepare(
    meeting_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    principal: Reader,
    accept: Annotated[str | None, Header(alias="Accept")] = None,
) -> Any:
    """Open assignments of the body due by the meeting, overdue actions and breached targets.
    `Accept: text/html` gives the same proposals as a page with the charts of the breached
    targets inline (SVG, the twelve months up to the month not met)."""
    proposed = await minutes_service.prepare(session, principal, meeting_id)
    if "text/html" not in (accept or "").lower():
        return proposed
    charts = await minutes_service.breached_target_charts(session, settings, principal, meeting_id)
    return HTMLResponse(
        minutes_render.prepare_html(proposed.model_dump(mode="json")["proposals"], charts)
    )


@router.get(
    "/meetings/{meeting_id}/minutes",
    **reads(
        "Export the minutes",
        Minutes,
        406,
        responses={
            200: {
                "content": {
                    "application/json": {},
                    "text/markdown": {"example": "# Mötesanteckningar: Koncernledningen (KL)\n"},
                    "text/html": {"example": "<!DOCTYPE html>…"},
                }
            },
        },
    ),
)
async def get_minutes(
    meeting_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    principal: Reader,
    accept: Annotated[str | None, Header(alias="Accept")] = None,
) -> Response:
    """`Accept: text/markdown`, `text/html` or `application/json` (the default). Markdown and
    HTML print the meeting's time in the region's local time as minutes do ("15 januari 2024,
    kl. 13.00–17.00"); JSON keeps `starts_at`/`ends_at` in UTC and names the `time_zone`. The
    HTML embeds the charts of the targets in the body's subtree that are not met (inline SVG, as
    at the time of the export)."""
    data = await minutes_service.minutes(
        session, principal, meeting_id, time_zone=settings.local_timezone
    )
    wanted = (accept or "application/json").lower()
    if "text/markdown" in wanted:
        return Response(minutes_render.markdown(data), media_type="text/markdown; charset=utf-8")
    if "text/html" in wanted:
        charts = await minutes_service.breached_target_charts(
            session, settings, principal, meeting_id
        )
        return HTMLResponse(minutes_render.html(data, charts))
    if "application/json" in wanted or "*/*" in wanted:
        return JSONResponse(data)
    raise NotAcceptable("Minutes come as text/markdown, text/html or application/json")
