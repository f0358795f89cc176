"""What the plans' aggregates share: the region's today, the history entry every write leaves
(with its audit row), the update and delete steps that write one, and the checks of referenced
org units, people and meetings. Nothing here commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from services.core import clock
from services.core.audit import service as audit_service
from services.core.crud import apply_update, insert, snapshot, soft_delete
from services.core.errors import field_error
from services.core.logging import request_id_var
from services.core.orgs import service as orgs_service
from services.core.orgs.errors import OrgUnitNotFound
from services.core.people import service as people_service
from services.core.plans import repository
from services.core.plans.errors import PlanInvalid
from services.core.plans.models import Action, ActionPackage, ActionPlan, FollowUp
from services.core.plans.references import meeting_lookups
from services.core.principal import Principal

# A plan or one of the parts written through these steps.
V = TypeVar("V", ActionPlan, ActionPackage, Action, FollowUp)

# Due dates are the region's local dates: "past due" turns at local midnight.
REGION_TIMEZONE = ZoneInfo("Europe/Stockholm")
FINISHED = ("done", "cancelled")


def local_today() -> date:
    return clock.utcnow().astimezone(REGION_TIMEZONE).date()


# --- history ---------------------------------------------------------------------------------


def _json(value: Any) -> Any:
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list):
        return [_json(v) for v in value]
    return value


def _diff(
    before: dict[str, Any] | None, after: dict[str, Any] | None
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Only the fields that changed, JSON-ready; the whole document on create and delete."""
    if before is None or after is None:
        return (
            {k: _json(v) for k, v in before.items()} if before is not None else None,
            {k: _json(v) for k, v in after.items()} if after is not None else None,
        )
    keys = [k for k in after if _json(before.get(k)) != _json(after[k])]
    return {k: _json(before.get(k)) for k in keys}, {k: _json(after[k]) for k in keys}


# How the history and the audit name what changed.
_ENTITY_TYPES: dict[type[Any], str] = {
    ActionPlan: "plan",
    ActionPackage: "package",
    Action: "action",
    FollowUp: "follow_up",
}


async def record_change(
    session: AsyncSession,
    principal: Principal,
    plan: ActionPlan,
    part: Action | V,
    operation: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    """The plan's history entry (the changed fields before and after) and the audit row of a
    write to the plan or one of its parts; an update that changed nothing leaves neither."""
    old, new = _diff(before, after)
    if operation == "update" and not new:
        return
    entity_type = _ENTITY_TYPES[type(part)]
    await repository.add_history(
        session,
        plan_id=plan.id,
        entity_type=entity_type,
        entity_id=part.id,
        operation=operation,
        actor=principal.actor,
        request_id=request_id_var.get(),
        before=old,
        after=new,
    )
    await audit_service.record(
        session,
        principal,
        f"{entity_type}.{operation}",
        entity_type,
        str(part.id),
        org_unit_id=plan.org_unit_id,
        details={"plan_id": str(plan.id), "fields": sorted(new or old or {})},
    )


async def add_recorded(
    session: AsyncSession, principal: Principal, plan: ActionPlan, part: V, fields: Sequence[str]
) -> V:
    """Stores a new part of the plan and records its history `fields`."""
    await insert(session, part)
    await record_change(session, principal, plan, part, "create", None, snapshot(part, fields))
    return part


async def update_recorded(
    session: AsyncSession,
    principal: Principal,
    plan: ActionPlan,
    part: V,
    changes: dict[str, Any],
    fields: Sequence[str],
) -> V:
    """Applies `changes` to a part of the plan (a new version) and records which of its
    history `fields` changed."""
    before = snapshot(part, fields)
    await apply_update(session, part, changes)
    await record_change(session, principal, plan, part, "update", before, snapshot(part, fields))
    return part


async def delete_recorded(
    session: AsyncSession, principal: Principal, plan: ActionPlan, part: V, doc: dict[str, Any]
) -> None:
    """Soft-deletes a plan or a part of it; the history keeps its last document `doc`."""
    await soft_delete(session, part)
    await record_change(session, principal, plan, part, "delete", doc, None)


# --- input checks ----------------------------------------------------------------------------


def invalid(errors: list[dict[str, Any]]) -> PlanInvalid:
    fields = ", ".join(".".join(str(p) for p in e["loc"][1:]) for e in errors[:5])
    return PlanInvalid(f"{len(errors)} invalid field(s): {fields}", errors=errors)


def refuse_nulls(changes: dict[str, Any], fields: Sequence[str]) -> None:
    """A PATCH may not null a required field: 422 naming each one."""
    if errors := [
        field_error(["body", f], "cannot be null", "null")
        for f in fields
        if f in changes and changes[f] is None
    ]:
        raise invalid(errors)


async def org_unit(
    session: AsyncSession, principal: Principal, code: str, loc: list[str | int]
) -> tuple[int, str]:
    """The id and code of a referenced unit the caller sees; 422 at `loc` otherwise."""
    try:
        unit = await orgs_service.get_visible(session, principal, code)
    except OrgUnitNotFound:
        raise invalid(
            [field_error(loc, f"unknown org unit {code!r}", "unknown_org_unit")]
        ) from None
    assert unit.id is not None
    return unit.id, unit.code


async def listed_subtrees(
    session: AsyncSession, principal: Principal, code: str | None
) -> list[str]:
    """The org paths a list stays under: the caller's scope, and the unit it is narrowed to."""
    paths = [principal.org_path] if principal.org_path is not None else []
    if code is not None:
        paths.append((await orgs_service.get_visible(session, principal, code)).path)
    return paths


async def check_people(
    session: AsyncSession,
    principal: Principal,
    refs: Sequence[tuple[list[str | int], uuid.UUID | None]],
) -> list[dict[str, Any]]:
    """An error per (location, person id) whose person the caller does not see."""
    ids = {ref for _, ref in refs if ref is not None}
    found = await people_service.visible_ids(session, principal, ids)
    return [
        field_error(loc, f"unknown person {ref}", "unknown_person")
        for loc, ref in refs
        if ref is not None and ref not in found
    ]


async def check_owner(
    session: AsyncSession, principal: Principal, owner_id: uuid.UUID | None
) -> list[dict[str, Any]]:
    return await check_people(session, principal, [(["body", "owner_id"], owner_id)])


async def check_meeting_refs(
    session: AsyncSession,
    principal: Principal,
    *,
    decided_by: uuid.UUID | None = None,
    meeting_id: uuid.UUID | None = None,
) -> list[dict[str, Any]]:
    """A plan decided by a meeting decision, a follow-up reported in a meeting: they must exist
    and be visible to the caller."""
    lookups = meeting_lookups()
    errors = []
    if decided_by is not None and not await lookups.decision_visible(
        session, principal, decided_by
    ):
        errors.append(
            field_error(
                ["body", "decided_by_decision_id"],
                f"unknown decision {decided_by}",
                "unknown_decision",
            )
        )
    if meeting_id is not None and not await lookups.meeting_visible(session, principal, meeting_id):
        errors.append(
            field_error(["body", "meeting_id"], f"unknown meeting {meeting_id}", "unknown_meeting")
        )
    return errors
