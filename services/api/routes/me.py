from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from services.api.deps import Reader, SessionDep, SettingsDep, api_router, get_principal
from services.api.operations import operation, reads
from services.core.me import service as me_service
from services.core.me.schemas import MeRead, WorkRead
from services.core.principal import Principal

router = api_router(prefix="/me", tags=["me"])

Authenticated = Annotated[Principal, Depends(get_principal)]


@router.get("", **operation("Who am I", MeRead, problems=(401, 403, 422)))
async def get_me(session: SessionDep, principal: Authenticated) -> MeRead:
    """The caller as Puls sees them: how they authenticated (`oidc`, `api_key` or
    `bootstrap_key`), the signed-in person, the scopes and the subtree they are confined to
    (a frontend shows a person whose roles give no scope why they see nothing)."""
    return await me_service.me(session, principal)


@router.get("/work", **reads("My work", WorkRead))
async def get_my_work(
    session: SessionDep,
    principal: Reader,
    settings: SettingsDep,
    days: Annotated[
        int,
        Query(ge=1, le=366, description="Meetings and follow-ups of the next this many days."),
    ] = 30,
) -> WorkRead:
    """The signed-in person's work in one call, sorted by due date: open assignments,
    unfinished actions with a due date (of plans not completed or cancelled), the follow-ups
    they present at upcoming meetings (`follow_up`, due at the meeting's start), the
    report-backs they owe on actions and plans (`owed_follow_up`, due on the action's or
    plan's `follow_up_due_on`) and the meetings they attend or whose body they belong to,
    with their agendas. Only what the caller's subtree shows. An API key is no person: 403
    `not_a_person`."""
    return await me_service.work(session, principal, days=days, timezone=settings.local_timezone)
