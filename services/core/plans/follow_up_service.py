"""Follow-ups: report-backs on a plan or one of its actions (ongoing work, result), with a RAG
status if the reporter gives one and, if it was reported in one, the meeting. A follow-up is
visible when its plan is."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.crud import Window, read_as, snapshot
from services.core.errors import field_error
from services.core.http import check_if_match
from services.core.pagination import Page, Tombstone
from services.core.plans import action_repository
from services.core.plans.common import (
    add_recorded,
    check_meeting_refs,
    delete_recorded,
    invalid,
    refuse_nulls,
    update_recorded,
)
from services.core.plans.models import Action, FollowUp
from services.core.plans.plan_service import get_visible_plan, list_parts, visible_part
from services.core.plans.schemas import FollowUpCreate, FollowUpRead, FollowUpUpdate
from services.core.principal import Principal

_FIELDS = ("action_id", "reported_on", "ongoing_work", "result", "rag", "meeting_id")


async def read_follow_up(
    session: AsyncSession, principal: Principal, follow_up_id: uuid.UUID
) -> FollowUpRead:
    follow_up, _ = await visible_part(session, principal, FollowUp, follow_up_id)
    return read_as(FollowUpRead, follow_up)


async def list_follow_ups(
    session: AsyncSession,
    principal: Principal,
    plan_id: uuid.UUID,
    *,
    action_id: uuid.UUID | None,
    rag: str | None,
    window: Window,
) -> Page[FollowUpRead | Tombstone]:
    return await list_parts(
        session, principal, plan_id, FollowUp, FollowUpRead, window, action_id=action_id, rag=rag
    )


async def create_follow_up(
    session: AsyncSession, principal: Principal, plan_id: uuid.UUID, data: FollowUpCreate
) -> FollowUpRead:
    """Stores the report-back and settles the one owed on its action (or the plan): that
    `follow_up_due_on` becomes `next_follow_up_due_on` (null when none is given)."""
    # The plan is locked as every action writer locks it (before the action), since the
    # owed report-back on the action changes too.
    plan, _ = await get_visible_plan(session, principal, plan_id, for_update=True)
    errors = await check_meeting_refs(session, principal, meeting_id=data.meeting_id)
    next_due = data.next_follow_up_due_on
    if next_due is not None and next_due <= data.reported_on:
        errors.append(
            field_error(
                ["body", "next_follow_up_due_on"],
                "must be after reported_on",
                "next_follow_up_not_after_report",
            )
        )
    action: Action | None = None
    if data.action_id is not None:
        row = await action_repository.get_action(session, data.action_id, for_update=True)
        if row is None or row[0].plan_id != plan.id:
            errors.append(
                field_error(
                    ["body", "action_id"],
                    f"no action {data.action_id} in this plan",
                    "unknown_action",
                )
            )
        else:
            action = row[0]
    if errors:
        raise invalid(errors)
    follow_up = FollowUp(plan_id=plan.id, **data.model_dump(exclude={"next_follow_up_due_on"}))
    follow_up.rag = data.rag.value if data.rag is not None else None
    await add_recorded(session, principal, plan, follow_up, _FIELDS)
    changes = {"follow_up_due_on": next_due}
    if action is not None and action.follow_up_due_on != next_due:
        await update_recorded(session, principal, plan, action, changes, ("follow_up_due_on",))
        await action_repository.bump_actions_version(session, plan.id)
    elif action is None and plan.follow_up_due_on != next_due:
        await update_recorded(session, principal, plan, plan, changes, ("follow_up_due_on",))
    return read_as(FollowUpRead, follow_up)


async def update_follow_up(
    session: AsyncSession,
    principal: Principal,
    follow_up_id: uuid.UUID,
    data: FollowUpUpdate,
    *,
    if_match: str | None,
) -> FollowUpRead:
    follow_up, plan = await visible_part(
        session, principal, FollowUp, follow_up_id, for_update=True
    )
    check_if_match(if_match, follow_up.version)
    changes = data.model_dump(exclude_unset=True)
    # `rag: null` clears the colour: a follow-up may have none (seed 004).
    refuse_nulls(changes, ("reported_on",))
    if errors := await check_meeting_refs(session, principal, meeting_id=changes.get("meeting_id")):
        raise invalid(errors)
    if changes.get("rag") is not None:
        changes["rag"] = str(changes["rag"])
    await update_recorded(session, principal, plan, follow_up, changes, _FIELDS)
    return read_as(FollowUpRead, follow_up)


async def delete_follow_up(
    session: AsyncSession, principal: Principal, follow_up_id: uuid.UUID, *, if_match: str | None
) -> None:
    follow_up, plan = await visible_part(
        session, principal, FollowUp, follow_up_id, for_update=True
    )
    check_if_match(if_match, follow_up.version)
    await delete_recorded(session, principal, plan, follow_up, snapshot(follow_up, _FIELDS))
