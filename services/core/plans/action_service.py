"""Single actions of a plan: read, list (per plan and across plans), create, change, delete;
and the row rules the list sync (`action_sync`) applies too. Every write bumps the plan's
`actions_version`, the ETag of its action collection."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.audit import service as audit_service
from services.core.crud import Window, apply_update, page_of, read_as, snapshot
from services.core.errors import field_error
from services.core.http import check_if_match
from services.core.logging import request_id_var
from services.core.orgs import service as orgs_service
from services.core.pagination import Page, Tombstone
from services.core.people import service as people_service
from services.core.people.schemas import PersonRef
from services.core.plans import action_repository, repository
from services.core.plans.common import (
    FINISHED,
    check_people,
    invalid,
    listed_subtrees,
    local_today,
    record_change,
    refuse_nulls,
)
from services.core.plans.errors import ActionCodeTaken, ActionNotFound, InvalidTransition
from services.core.plans.models import Action, ActionPlan
from services.core.plans.plan_service import get_visible_plan, plan_of_part
from services.core.plans.schemas import (
    ACTION_TRANSITIONS,
    DONE_BELOW_100,
    ActionCreate,
    ActionRead,
    ActionSort,
    ActionUpdate,
)
from services.core.principal import Principal

_FIELDS = (
    "code",
    "title",
    "description",
    "package_id",
    "responsible_id",
    "start_date",
    "due_date",
    "follow_up_due_on",
    "status",
    "progress",
)


def _doc(action: Action, org_code: str | None) -> dict[str, Any]:
    return {**snapshot(action, _FIELDS), "area": action.area_code, "org_unit": org_code}


def to_read(
    action: Action, org_code: str | None, people: dict[uuid.UUID, PersonRef] | None = None
) -> ActionRead:
    """`people` (from `people_service.refs`) names the responsible person; without it the
    read carries the id only."""
    warnings = [DONE_BELOW_100] if action.status == "done" and action.progress < 100 else []
    return read_as(
        ActionRead,
        action,
        area=action.area_code,
        org_unit=org_code,
        overdue=action.overdue_since is not None,
        warnings=warnings,
        responsible=people_service.ref(people, action.responsible_id)
        if people is not None
        else None,
    )


async def _named(session: AsyncSession, action: Action, org_code: str | None) -> ActionRead:
    return to_read(action, org_code, await people_service.refs(session, [action.responsible_id]))


# --- the rules of an action row, one by one or in a synced list --------------------------------


async def validate_rows(
    session: AsyncSession,
    principal: Principal,
    plan_id: uuid.UUID,
    items: Sequence[tuple[list[str | int], dict[str, Any]]],
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Checks the references and dates of action rows in a few set-based lookups. `items` are
    (location prefix, field values); returns the errors and the org unit ids by code."""
    errors: list[dict[str, Any]] = []
    for loc, values in items:
        start, due = values.get("start_date"), values.get("due_date")
        if start is not None and due is not None and due < start:
            errors.append(
                field_error([*loc, "due_date"], "must not be before start_date", "due_before_start")
            )
    areas = {v["area"] for _, v in items if v.get("area") is not None}
    known_areas = await repository.existing_areas(session, areas)
    errors += [
        field_error([*loc, "area"], f"unknown area {v['area']!r}", "unknown_area")
        for loc, v in items
        if v.get("area") is not None and v["area"] not in known_areas
    ]
    packages = {v["package_id"] for _, v in items if v.get("package_id") is not None}
    package_plans = await repository.package_plans(session, packages)
    for loc, v in items:
        package_id = v.get("package_id")
        if package_id is None:
            continue
        if package_id not in package_plans:
            errors.append(
                field_error(
                    [*loc, "package_id"], f"unknown package {package_id}", "unknown_package"
                )
            )
        elif package_plans[package_id] != plan_id:
            errors.append(
                field_error(
                    [*loc, "package_id"],
                    f"package {package_id} belongs to another plan",
                    "package_of_other_plan",
                )
            )
    errors += await check_people(
        session,
        principal,
        [([*loc, "responsible_id"], v.get("responsible_id")) for loc, v in items],
    )
    codes = {v["org_unit"] for _, v in items if v.get("org_unit") is not None}
    units = await orgs_service.resolve_codes(session, principal, list(codes))
    errors += [
        field_error([*loc, "org_unit"], f"unknown org unit {v['org_unit']!r}", "unknown_org_unit")
        for loc, v in items
        if v.get("org_unit") is not None and v["org_unit"] not in units
    ]
    unit_ids = {code: unit.id for code, unit in units.items() if unit.id is not None}
    return errors, unit_ids


def transition_error(loc: list[str | int], old: str, new: str) -> dict[str, Any] | None:
    """The error of a status move an action may not make, or None."""
    if new == old or new in ACTION_TRANSITIONS[old]:
        return None
    hint = " (reopen it first: status not_started)" if old == "cancelled" else ""
    return field_error(
        [*loc, "status"],
        f"{old} → {new} is not allowed{hint}; allowed: "
        + ", ".join(sorted(ACTION_TRANSITIONS[old])),
        "invalid_status_transition",
    )


def row_values(data: ActionCreate) -> dict[str, Any]:
    values = data.model_dump()
    values["status"] = str(data.status)
    return values


def db_row(values: dict[str, Any], unit_ids: dict[str, int]) -> dict[str, Any]:
    """A validated row as the bulk upsert writes it."""
    return {
        "code": values["code"],
        "title": values["title"],
        "description": values.get("description"),
        "area_code": values.get("area"),
        "package_id": values.get("package_id"),
        "responsible_id": values.get("responsible_id"),
        "org_unit_id": unit_ids.get(values["org_unit"]) if values.get("org_unit") else None,
        "start_date": values.get("start_date"),
        "due_date": values.get("due_date"),
        "follow_up_due_on": values.get("follow_up_due_on"),
        "status": values["status"],
        "progress": values["progress"],
    }


def _code_taken(code: str) -> ActionCodeTaken:
    return ActionCodeTaken(
        f"Action code {code!r} is already used in this plan",
        errors=[field_error(["body", "code"], "already used in this plan", "duplicate_code")],
    )


# --- single actions --------------------------------------------------------------------------


async def _visible(
    session: AsyncSession, principal: Principal, action_id: uuid.UUID, *, for_update: bool
) -> tuple[Action, str | None, ActionPlan]:
    row = await action_repository.get_action(session, action_id)
    not_found = ActionNotFound(f"No action with id {action_id}")
    # Writers lock the plan before the action, as the list sync does, so concurrent single
    # edits and syncs queue up instead of deadlocking.
    plan = await plan_of_part(
        session, principal, row[0] if row is not None else None, not_found, lock_plan=for_update
    )
    if for_update:
        row = await action_repository.get_action(session, action_id, for_update=True, fresh=True)
        if row is None:
            raise not_found
    return row[0], row[1], plan


async def read_action(
    session: AsyncSession, principal: Principal, action_id: uuid.UUID
) -> ActionRead:
    """The action if the caller sees its plan; 404 otherwise (also for other domains)."""
    action, org_code, _ = await _visible(session, principal, action_id, for_update=False)
    return await _named(session, action, org_code)


async def list_actions(
    session: AsyncSession,
    principal: Principal,
    plan_id: uuid.UUID,
    filters: dict[str, Any],
    *,
    window: Window,
    sort: ActionSort | None = None,
) -> tuple[Page[ActionRead | Tombstone], int]:
    """A page of the plan's actions and the collection's version (its ETag)."""
    window = window.sorted_by(action_repository.ACTION_SORTS[sort.value] if sort else None)
    plan, _ = await get_visible_plan(session, principal, plan_id)
    rows = await action_repository.list_actions(session, plan.id, filters, window=window)
    people = await people_service.refs(session, [r[0].responsible_id for r in rows])
    return page_of(rows, window, lambda r: to_read(r[0], r[1], people)), plan.actions_version


async def list_actions_across_plans(
    session: AsyncSession,
    principal: Principal,
    *,
    org_unit: str | None,
    filters: dict[str, Any],
    window: Window,
    sort: ActionSort | None = None,
) -> Page[ActionRead | Tombstone]:
    window = window.sorted_by(action_repository.ACTION_SORTS[sort.value] if sort else None)
    rows = await action_repository.list_actions_across_plans(
        session,
        within=await listed_subtrees(session, principal, org_unit),
        filters=filters,
        window=window,
    )
    people = await people_service.refs(session, [r[0].responsible_id for r in rows])
    return page_of(rows, window, lambda r: to_read(r[0], r[1], people))


async def create_action(
    session: AsyncSession, principal: Principal, plan_id: uuid.UUID, data: ActionCreate
) -> ActionRead:
    plan, _ = await get_visible_plan(session, principal, plan_id, for_update=True)
    values = row_values(data)
    if data.code in await action_repository.current_statuses(session, plan.id, [data.code]):
        raise _code_taken(data.code)
    errors, unit_ids = await validate_rows(session, principal, plan.id, [(["body"], values)])
    if errors:
        raise invalid(errors)
    # The bulk statement also revives a deleted action's code and writes the history.
    await action_repository.bulk_upsert_actions(
        session,
        plan.id,
        [db_row(values, unit_ids)],
        today=local_today(),
        actor=principal.actor,
        request_id=request_id_var.get(),
    )
    await action_repository.bump_actions_version(session, plan.id)
    action_id = await action_repository.action_id_by_code(session, plan.id, data.code)
    row = await action_repository.get_action(session, action_id, fresh=True)
    await audit_service.record(
        session,
        principal,
        "action.create",
        "action",
        str(row[0].id),
        org_unit_id=plan.org_unit_id,
        details={"plan_id": str(plan.id)},
    )
    return await _named(session, row[0], row[1])


async def update_action(
    session: AsyncSession,
    principal: Principal,
    action_id: uuid.UUID,
    data: ActionUpdate,
    *,
    if_match: str | None,
) -> ActionRead:
    action, org_code, plan = await _visible(session, principal, action_id, for_update=True)
    check_if_match(if_match, action.version)
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    refuse_nulls(changes, ("code", "title", "status", "progress"))
    before = _doc(action, org_code)
    merged = {**before, **changes}
    errors, unit_ids = await validate_rows(
        session,
        principal,
        plan.id,
        [(["body"], {k: v for k, v in merged.items() if k in changes or k.endswith("_date")})],
    )
    if errors:
        raise invalid(errors)
    if "status" in changes:
        changes["status"] = str(changes["status"])
        if (problem := transition_error(["body"], action.status, changes["status"])) is not None:
            raise InvalidTransition(problem["msg"], errors=[problem])
    if "code" in changes and changes["code"] != action.code:
        if await action_repository.action_code_taken(
            session, plan.id, changes["code"], other_than=action.id
        ):
            raise _code_taken(changes["code"])
    if "area" in changes:
        changes["area_code"] = changes.pop("area")
    if "org_unit" in changes:
        org_code = changes.pop("org_unit")
        changes["org_unit_id"] = unit_ids[org_code] if org_code is not None else None
    status, due = changes.get("status", action.status), changes.get("due_date", action.due_date)
    if status in FINISHED or due is None or due >= local_today():
        changes["overdue_since"] = None
    await apply_update(session, action, changes)
    await action_repository.bump_actions_version(session, plan.id)
    after = _doc(action, org_code)
    await record_change(session, principal, plan, action, "update", before, after)
    return await _named(session, action, org_code)


async def delete_action(
    session: AsyncSession, principal: Principal, action_id: uuid.UUID, *, if_match: str | None
) -> None:
    """Soft delete; a later sync or create with the same code brings it back."""
    action, org_code, plan = await _visible(session, principal, action_id, for_update=True)
    check_if_match(if_match, action.version)
    before = _doc(action, org_code)
    action.overdue_since = None
    action.mark_deleted()
    await session.flush()
    await action_repository.bump_actions_version(session, plan.id)
    await record_change(session, principal, plan, action, "delete", before, None)
