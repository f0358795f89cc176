"""Action plans: plans, packages, actions and follow-ups, their history, the summary and the
due/overdue scan. Every lookup goes through the plan's org unit and the caller's scope, so
another unit's ids are 404; services flush, never commit."""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from services.core import clock
from services.core.audit import service as audit_service
from services.core.auth.schemas import Principal
from services.core.config import Settings
from services.core.errors import ValidationFailed, field_error
from services.core.events import service as events_service
from services.core.http import check_if_match
from services.core.kpis import service as kpis_service
from services.core.kpis.errors import TargetNotFound
from services.core.logging import request_id_var
from services.core.orgs import service as orgs_service
from services.core.orgs.errors import OrgUnitNotFound
from services.core.pagination import Page, Tombstone, mirror_page, split_page
from services.core.plans import repository
from services.core.plans.errors import (
    ActionCodeTaken,
    ActionNotFound,
    FollowUpNotFound,
    InvalidTransition,
    PackageInUse,
    PackageNotFound,
    PlanInvalid,
    PlanNotFound,
)
from services.core.plans.models import Action, ActionPackage, ActionPlan, FollowUp
from services.core.plans.references import meeting_lookups
from services.core.plans.schemas import (
    ACTION_TRANSITIONS,
    DONE_BELOW_100,
    PLAN_TRANSITIONS,
    ActionBulkResult,
    ActionCreate,
    ActionRead,
    ActionUpdate,
    AreaIn,
    AreaRead,
    FollowUpCreate,
    FollowUpRead,
    FollowUpUpdate,
    HistoryEntry,
    OverdueAction,
    PackageCreate,
    PackageProgress,
    PackageRead,
    PackageUpdate,
    PlanCreate,
    PlanRead,
    PlanStatus,
    PlanSummary,
    PlanUpdate,
    TargetEffect,
)

# Due dates are the region's local dates: "past due" turns at local midnight.
REGION_TIMEZONE = ZoneInfo("Europe/Stockholm")
FINISHED = ("done", "cancelled")


def local_today() -> date:
    return clock.utcnow().astimezone(REGION_TIMEZONE).date()


# --- helpers ---------------------------------------------------------------------------------


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


async def _history(
    session: AsyncSession,
    principal: Principal,
    plan_id: uuid.UUID,
    entity_type: str,
    entity_id: uuid.UUID,
    operation: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    *,
    org_unit_id: int | None,
) -> None:
    old, new = _diff(before, after)
    if operation == "update" and not new:
        return
    await repository.add_history(
        session,
        plan_id=plan_id,
        entity_type=entity_type,
        entity_id=entity_id,
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
        str(entity_id),
        org_unit_id=org_unit_id,
        details={"plan_id": str(plan_id), "fields": sorted(new or old or {})},
    )


def _invalid(errors: list[dict[str, Any]]) -> PlanInvalid:
    fields = ", ".join(".".join(str(p) for p in e["loc"][1:]) for e in errors[:5])
    return PlanInvalid(f"{len(errors)} invalid field(s): {fields}", errors=errors)


async def _org_unit(
    session: AsyncSession, principal: Principal, code: str, loc: list[str | int]
) -> tuple[int, str]:
    try:
        unit = await orgs_service.get_visible(session, principal, code)
    except OrgUnitNotFound:
        raise _invalid(
            [field_error(loc, f"unknown org unit {code!r}", "unknown_org_unit")]
        ) from None
    assert unit.id is not None
    return unit.id, unit.code


async def _check_people(
    session: AsyncSession,
    principal: Principal,
    refs: Sequence[tuple[list[str | int], uuid.UUID | None]],
) -> list[dict[str, Any]]:
    ids = {ref for _, ref in refs if ref is not None}
    found = await repository.visible_people(session, ids, principal.org_path)
    return [
        field_error(loc, f"unknown person {ref}", "unknown_person")
        for loc, ref in refs
        if ref is not None and ref not in found
    ]


# --- areas -----------------------------------------------------------------------------------


async def list_areas(session: AsyncSession) -> list[AreaRead]:
    return [
        AreaRead(code=a.code, name_en=a.name_en, name_sv=a.name_sv)
        for a in await repository.list_areas(session)
    ]


async def put_area(
    session: AsyncSession, principal: Principal, code: str, data: AreaIn
) -> AreaRead:
    await repository.put_area(session, code, data.name_en, data.name_sv)
    await audit_service.record(session, principal, "action_area.put", "action_area", code)
    return AreaRead(code=code, name_en=data.name_en, name_sv=data.name_sv)


# --- plans -----------------------------------------------------------------------------------

_PLAN_FIELDS = (
    "title",
    "purpose",
    "owner_id",
    "period_start",
    "period_end",
    "status",
    "decided_at",
    "decided_by",
    "cost_estimate_sek",
    "expected_saving_sek",
    "calculation_basis",
)


def _plan_doc(plan: ActionPlan, org_code: str, targets: list[uuid.UUID]) -> dict[str, Any]:
    doc = {f: getattr(plan, f) for f in _PLAN_FIELDS}
    doc["org_unit"] = org_code
    doc["kpi_target_ids"] = sorted(targets)
    return doc


def _plan_read(plan: ActionPlan, org_code: str, targets: list[uuid.UUID]) -> PlanRead:
    assert plan.created_at is not None and plan.updated_at is not None
    return PlanRead(
        id=plan.id,
        org_unit=org_code,
        kpi_target_ids=sorted(targets),
        created_at=plan.created_at,
        updated_at=plan.updated_at,
        version=plan.version,
        **{f: getattr(plan, f) for f in _PLAN_FIELDS},
    )


async def get_visible_plan(
    session: AsyncSession, principal: Principal, plan_id: uuid.UUID, *, for_update: bool = False
) -> tuple[ActionPlan, str]:
    """The plan and its org unit code if the caller may see it; 404 otherwise."""
    row = await repository.get_plan(session, plan_id, for_update=for_update)
    if row is None or not principal.sees_path(row[2]):
        raise PlanNotFound(f"No action plan with id {plan_id}")
    return row[0], row[1]


def _check_period(start: date, end: date, loc_prefix: list[str | int]) -> list[dict[str, Any]]:
    if end < start:
        return [
            field_error(
                [*loc_prefix, "period_end"], "must not be before period_start", "end_before_start"
            )
        ]
    return []


def _check_plan_transition(old: str, new: str) -> None:
    if new != old and new not in PLAN_TRANSITIONS[old]:
        raise InvalidTransition(
            f"A plan cannot go from {old} to {new}",
            errors=[
                field_error(
                    ["body", "status"],
                    f"{old} → {new} is not allowed; allowed: "
                    + ", ".join(sorted(PLAN_TRANSITIONS[old])),
                    "invalid_status_transition",
                )
            ],
        )


async def read_plan(session: AsyncSession, principal: Principal, plan_id: uuid.UUID) -> PlanRead:
    plan, org_code = await get_visible_plan(session, principal, plan_id)
    targets = await repository.target_ids(session, [plan.id])
    return _plan_read(plan, org_code, targets.get(plan.id, []))


async def list_plans(
    session: AsyncSession,
    principal: Principal,
    *,
    org_unit: str | None,
    status: str | None,
    owner_id: uuid.UUID | None,
    updated_since: datetime | None,
    cursor: str | None,
    limit: int,
) -> Page[PlanRead | Tombstone]:
    org_path = None
    if org_unit is not None:
        org_path = (await orgs_service.get_visible(session, principal, org_unit)).path
    rows = await repository.list_plans(
        session,
        scope_path=principal.org_path,
        org_path=org_path,
        status=status,
        owner_id=owner_id,
        updated_since=updated_since,
        cursor=cursor,
        limit=limit,
    )
    targets = await repository.target_ids(session, [r[0].id for r in rows[:limit]])
    return mirror_page(
        rows,
        limit,
        updated_since=updated_since,
        tombstone_id=lambda plan: str(plan.id),
        to_read=lambda r: _plan_read(r[0], r[1], targets.get(r[0].id, [])),
    )


async def _check_meeting_refs(
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
                ["body", "decided_by"], f"unknown decision {decided_by}", "unknown_decision"
            )
        )
    if meeting_id is not None and not await lookups.meeting_visible(session, principal, meeting_id):
        errors.append(
            field_error(["body", "meeting_id"], f"unknown meeting {meeting_id}", "unknown_meeting")
        )
    return errors


async def create_plan(session: AsyncSession, principal: Principal, data: PlanCreate) -> PlanRead:
    errors = _check_period(data.period_start, data.period_end, ["body"])
    errors += await _check_people(session, principal, [(["body", "owner_id"], data.owner_id)])
    errors += await _check_meeting_refs(session, principal, decided_by=data.decided_by)
    if errors:
        raise _invalid(errors)
    org_unit_id, org_code = await _org_unit(session, principal, data.org_unit, ["body", "org_unit"])
    decided_at = data.decided_at
    if decided_at is None and data.status not in ("draft", "cancelled"):
        decided_at = clock.utcnow()
    plan = ActionPlan(
        title=data.title,
        purpose=data.purpose,
        org_unit_id=org_unit_id,
        owner_id=data.owner_id,
        period_start=data.period_start,
        period_end=data.period_end,
        status=data.status,
        decided_at=decided_at,
        decided_by=data.decided_by,
        cost_estimate_sek=data.cost_estimate_sek,
        expected_saving_sek=data.expected_saving_sek,
        calculation_basis=data.calculation_basis,
    )
    await _check_targets(session, principal, data.kpi_target_ids)
    session.add(plan)
    await session.flush()
    await repository.replace_targets(session, plan.id, data.kpi_target_ids)
    await session.refresh(plan)
    targets = sorted(set(data.kpi_target_ids))
    await _history(
        session,
        principal,
        plan.id,
        "plan",
        plan.id,
        "create",
        None,
        _plan_doc(plan, org_code, targets),
        org_unit_id=org_unit_id,
    )
    return _plan_read(plan, org_code, targets)


async def update_plan(
    session: AsyncSession,
    principal: Principal,
    plan_id: uuid.UUID,
    data: PlanUpdate,
    *,
    if_match: str | None,
) -> PlanRead:
    plan, org_code = await get_visible_plan(session, principal, plan_id, for_update=True)
    check_if_match(if_match, plan.version)
    targets = (await repository.target_ids(session, [plan.id])).get(plan.id, [])
    before = _plan_doc(plan, org_code, targets)
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    errors = [
        field_error(["body", f], "cannot be null", "null")
        for f in ("title", "period_start", "period_end", "status", "org_unit", "kpi_target_ids")
        if f in changes and changes[f] is None
    ]
    if errors:
        raise _invalid(errors)
    errors = _check_period(
        changes.get("period_start", plan.period_start),
        changes.get("period_end", plan.period_end),
        ["body"],
    )
    if "owner_id" in changes:
        errors += await _check_people(session, principal, [(["body", "owner_id"], data.owner_id)])
    if changes.get("decided_by") is not None:
        errors += await _check_meeting_refs(session, principal, decided_by=changes["decided_by"])
    if errors:
        raise _invalid(errors)
    if "status" in changes:
        _check_plan_transition(plan.status, changes["status"])
        if changes["status"] == "decided" and plan.decided_at is None:
            changes.setdefault("decided_at", clock.utcnow())
    if "org_unit" in changes:
        plan.org_unit_id, org_code = await _org_unit(
            session, principal, changes.pop("org_unit"), ["body", "org_unit"]
        )
    if "kpi_target_ids" in changes:
        targets = sorted(set(changes.pop("kpi_target_ids")))
        await _check_targets(session, principal, targets)
        await repository.replace_targets(session, plan.id, targets)
    for field, value in changes.items():
        setattr(plan, field, value)
    plan.touch()
    await session.flush()
    await session.refresh(plan)
    await _history(
        session,
        principal,
        plan.id,
        "plan",
        plan.id,
        "update",
        before,
        _plan_doc(plan, org_code, targets),
        org_unit_id=plan.org_unit_id,
    )
    return _plan_read(plan, org_code, targets)


async def delete_plan(
    session: AsyncSession, principal: Principal, plan_id: uuid.UUID, *, if_match: str | None
) -> None:
    plan, org_code = await get_visible_plan(session, principal, plan_id, for_update=True)
    check_if_match(if_match, plan.version)
    targets = (await repository.target_ids(session, [plan.id])).get(plan.id, [])
    plan.mark_deleted()
    await session.flush()
    await _history(
        session,
        principal,
        plan.id,
        "plan",
        plan.id,
        "delete",
        _plan_doc(plan, org_code, targets),
        None,
        org_unit_id=plan.org_unit_id,
    )


# --- packages --------------------------------------------------------------------------------

_PACKAGE_FIELDS = ("name", "description", "owner_id", "due_date", "cost_goal")


def _package_doc(package: ActionPackage) -> dict[str, Any]:
    return {f: getattr(package, f) for f in _PACKAGE_FIELDS}


def _package_read(package: ActionPackage) -> PackageRead:
    assert package.created_at is not None and package.updated_at is not None
    return PackageRead(
        id=package.id,
        plan_id=package.plan_id,
        created_at=package.created_at,
        updated_at=package.updated_at,
        version=package.version,
        **_package_doc(package),
    )


async def _visible_package(
    session: AsyncSession, principal: Principal, package_id: uuid.UUID, *, for_update: bool
) -> tuple[ActionPackage, ActionPlan]:
    package = await repository.get_package(session, package_id, for_update=for_update)
    if package is not None:
        try:
            plan, _ = await get_visible_plan(session, principal, package.plan_id)
            return package, plan
        except PlanNotFound:
            pass
    raise PackageNotFound(f"No action package with id {package_id}")


async def read_package(
    session: AsyncSession, principal: Principal, package_id: uuid.UUID
) -> PackageRead:
    package, _ = await _visible_package(session, principal, package_id, for_update=False)
    return _package_read(package)


async def list_packages(
    session: AsyncSession,
    principal: Principal,
    plan_id: uuid.UUID,
    *,
    owner_id: uuid.UUID | None,
    updated_since: datetime | None,
    cursor: str | None,
    limit: int,
) -> Page[PackageRead | Tombstone]:
    await get_visible_plan(session, principal, plan_id)
    rows = await repository.list_packages(
        session,
        plan_id,
        owner_id=owner_id,
        updated_since=updated_since,
        cursor=cursor,
        limit=limit,
    )
    return mirror_page(
        rows,
        limit,
        updated_since=updated_since,
        tombstone_id=lambda p: str(p.id),
        to_read=lambda r: _package_read(r[0]),
    )


async def create_package(
    session: AsyncSession, principal: Principal, plan_id: uuid.UUID, data: PackageCreate
) -> PackageRead:
    plan, _ = await get_visible_plan(session, principal, plan_id)
    errors = await _check_people(session, principal, [(["body", "owner_id"], data.owner_id)])
    if errors:
        raise _invalid(errors)
    package = ActionPackage(plan_id=plan.id, **data.model_dump())
    session.add(package)
    await session.flush()
    await session.refresh(package)
    await _history(
        session,
        principal,
        plan.id,
        "package",
        package.id,
        "create",
        None,
        _package_doc(package),
        org_unit_id=plan.org_unit_id,
    )
    return _package_read(package)


async def update_package(
    session: AsyncSession,
    principal: Principal,
    package_id: uuid.UUID,
    data: PackageUpdate,
    *,
    if_match: str | None,
) -> PackageRead:
    package, plan = await _visible_package(session, principal, package_id, for_update=True)
    check_if_match(if_match, package.version)
    changes = data.model_dump(exclude_unset=True)
    if "name" in changes and changes["name"] is None:
        raise _invalid([field_error(["body", "name"], "cannot be null", "null")])
    if changes.get("owner_id") is not None:
        errors = await _check_people(session, principal, [(["body", "owner_id"], data.owner_id)])
        if errors:
            raise _invalid(errors)
    before = _package_doc(package)
    for field, value in changes.items():
        setattr(package, field, value)
    package.touch()
    await session.flush()
    await session.refresh(package)
    await _history(
        session,
        principal,
        plan.id,
        "package",
        package.id,
        "update",
        before,
        _package_doc(package),
        org_unit_id=plan.org_unit_id,
    )
    return _package_read(package)


async def delete_package(
    session: AsyncSession, principal: Principal, package_id: uuid.UUID, *, if_match: str | None
) -> None:
    package, plan = await _visible_package(session, principal, package_id, for_update=True)
    check_if_match(if_match, package.version)
    if await repository.package_has_actions(session, package.id):
        raise PackageInUse("Move or delete the package's actions first")
    package.mark_deleted()
    await session.flush()
    await _history(
        session,
        principal,
        plan.id,
        "package",
        package.id,
        "delete",
        _package_doc(package),
        None,
        org_unit_id=plan.org_unit_id,
    )


# --- actions ---------------------------------------------------------------------------------

_ACTION_FIELDS = (
    "code",
    "title",
    "description",
    "package_id",
    "responsible_id",
    "start_date",
    "due_date",
    "status",
    "progress",
)


def _action_doc(action: Action, org_code: str | None) -> dict[str, Any]:
    doc = {f: getattr(action, f) for f in _ACTION_FIELDS}
    doc["area"] = action.area_code
    doc["org_unit"] = org_code
    return doc


def _warnings(status: str, progress: int) -> list[str]:
    return [DONE_BELOW_100] if status == "done" and progress < 100 else []


def _action_read(action: Action, org_code: str | None) -> ActionRead:
    assert action.created_at is not None and action.updated_at is not None
    return ActionRead(
        id=action.id,
        plan_id=action.plan_id,
        overdue=action.overdue_since is not None,
        overdue_since=action.overdue_since,
        warnings=_warnings(action.status, action.progress),
        created_at=action.created_at,
        updated_at=action.updated_at,
        version=action.version,
        **_action_doc(action, org_code),
    )


async def _validate_actions(
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
    errors += await _check_people(
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


def _transition_error(loc: list[str | int], old: str, new: str) -> dict[str, Any] | None:
    if new == old or new in ACTION_TRANSITIONS[old]:
        return None
    hint = " (reopen it first: status not_started)" if old == "cancelled" else ""
    return field_error(
        [*loc, "status"],
        f"{old} → {new} is not allowed{hint}; allowed: "
        + ", ".join(sorted(ACTION_TRANSITIONS[old])),
        "invalid_status_transition",
    )


async def _visible_action(
    session: AsyncSession, principal: Principal, action_id: uuid.UUID, *, for_update: bool
) -> tuple[Action, str | None, ActionPlan]:
    row = await repository.get_action(session, action_id)
    if row is not None:
        try:
            # Writers lock the plan before the action, as the list sync does, so concurrent
            # single edits and syncs queue up instead of deadlocking.
            plan, _ = await get_visible_plan(
                session, principal, row[0].plan_id, for_update=for_update
            )
        except PlanNotFound:
            pass
        else:
            if for_update:
                row = await repository.get_action(session, action_id, for_update=True, fresh=True)
            if row is not None:
                return row[0], row[1], plan
    raise ActionNotFound(f"No action with id {action_id}")


async def read_action(
    session: AsyncSession, principal: Principal, action_id: uuid.UUID
) -> ActionRead:
    action, org_code, _ = await _visible_action(session, principal, action_id, for_update=False)
    return _action_read(action, org_code)


async def list_actions(
    session: AsyncSession,
    principal: Principal,
    plan_id: uuid.UUID,
    filters: dict[str, Any],
    *,
    updated_since: datetime | None,
    cursor: str | None,
    limit: int,
) -> tuple[Page[ActionRead | Tombstone], int]:
    """A page of the plan's actions and the collection's version (its ETag)."""
    plan, _ = await get_visible_plan(session, principal, plan_id)
    rows = await repository.list_actions(
        session, plan.id, filters, updated_since=updated_since, cursor=cursor, limit=limit
    )
    page = mirror_page(
        rows,
        limit,
        updated_since=updated_since,
        tombstone_id=lambda a: str(a.id),
        to_read=lambda r: _action_read(r[0], r[1]),
    )
    return page, plan.actions_version


async def list_actions_across_plans(
    session: AsyncSession,
    principal: Principal,
    *,
    org_unit: str | None,
    filters: dict[str, Any],
    updated_since: datetime | None,
    cursor: str | None,
    limit: int,
) -> Page[ActionRead | Tombstone]:
    org_path = None
    if org_unit is not None:
        org_path = (await orgs_service.get_visible(session, principal, org_unit)).path
    rows = await repository.list_actions_across_plans(
        session,
        scope_path=principal.org_path,
        org_path=org_path,
        filters=filters,
        updated_since=updated_since,
        cursor=cursor,
        limit=limit,
    )
    return mirror_page(
        rows,
        limit,
        updated_since=updated_since,
        tombstone_id=lambda a: str(a.id),
        to_read=lambda r: _action_read(r[0], r[1]),
    )


CSV_COLUMNS = (
    "code",
    "title",
    "description",
    "area",
    "package_id",
    "package",
    "responsible_id",
    "org_unit",
    "start_date",
    "due_date",
    "status",
    "progress",
    "overdue",
)


def _natural_key(code: str) -> list[tuple[int, Any]]:
    # "3.10" after "3.2", the order a plan is read in.
    return [(0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"[.\-]", code)]


async def export_actions_csv(
    session: AsyncSession, principal: Principal, plan_id: uuid.UUID, filters: dict[str, Any]
) -> tuple[str, int]:
    plan, _ = await get_visible_plan(session, principal, plan_id)
    rows = sorted(
        await repository.all_actions(session, plan.id, filters),
        key=lambda r: _natural_key(r[0].code),
    )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for action, org_code, package_name in rows:
        writer.writerow(
            [
                action.code,
                action.title,
                action.description or "",
                action.area_code or "",
                action.package_id or "",
                package_name or "",
                action.responsible_id or "",
                org_code or "",
                action.start_date or "",
                action.due_date or "",
                action.status,
                action.progress,
                "true" if action.overdue_since is not None else "false",
            ]
        )
    return out.getvalue(), plan.actions_version


def _row_values(data: ActionCreate) -> dict[str, Any]:
    values = data.model_dump()
    values["status"] = str(data.status)
    return values


def _db_row(values: dict[str, Any], unit_ids: dict[str, int]) -> dict[str, Any]:
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
        "status": values["status"],
        "progress": values["progress"],
    }


async def create_action(
    session: AsyncSession, principal: Principal, plan_id: uuid.UUID, data: ActionCreate
) -> ActionRead:
    plan, _ = await get_visible_plan(session, principal, plan_id, for_update=True)
    values = _row_values(data)
    if data.code in await repository.current_statuses(session, plan.id, [data.code]):
        raise ActionCodeTaken(
            f"Action code {data.code!r} is already used in this plan",
            errors=[field_error(["body", "code"], "already used in this plan", "duplicate_code")],
        )
    errors, unit_ids = await _validate_actions(session, principal, plan.id, [(["body"], values)])
    if errors:
        raise _invalid(errors)
    # The bulk statement also revives a deleted action's code and writes the history.
    await repository.bulk_upsert_actions(
        session,
        plan.id,
        [_db_row(values, unit_ids)],
        today=local_today(),
        actor=principal.actor,
        request_id=request_id_var.get(),
    )
    await repository.bump_actions_version(session, plan.id)
    row = await _action_by_code(session, plan.id, data.code)
    await audit_service.record(
        session,
        principal,
        "action.create",
        "action",
        str(row[0].id),
        org_unit_id=plan.org_unit_id,
        details={"plan_id": str(plan.id)},
    )
    return _action_read(row[0], row[1])


async def _action_by_code(session: AsyncSession, plan_id: uuid.UUID, code: str) -> Any:
    action_id = await repository.action_id_by_code(session, plan_id, code)
    return await repository.get_action(session, action_id, fresh=True)


async def update_action(
    session: AsyncSession,
    principal: Principal,
    action_id: uuid.UUID,
    data: ActionUpdate,
    *,
    if_match: str | None,
) -> ActionRead:
    action, org_code, plan = await _visible_action(session, principal, action_id, for_update=True)
    check_if_match(if_match, action.version)
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    errors = [
        field_error(["body", f], "cannot be null", "null")
        for f in ("code", "title", "status", "progress")
        if f in changes and changes[f] is None
    ]
    if errors:
        raise _invalid(errors)
    before = _action_doc(action, org_code)
    merged = {**before, **changes}
    errors, unit_ids = await _validate_actions(
        session,
        principal,
        plan.id,
        [(["body"], {k: v for k, v in merged.items() if k in changes or k.endswith("_date")})],
    )
    if errors:
        raise _invalid(errors)
    if "status" in changes:
        changes["status"] = str(changes["status"])
        if (problem := _transition_error(["body"], action.status, changes["status"])) is not None:
            raise InvalidTransition(problem["msg"], errors=[problem])
    if "code" in changes and changes["code"] != action.code:
        if await repository.action_code_taken(
            session, plan.id, changes["code"], other_than=action.id
        ):
            raise ActionCodeTaken(
                f"Action code {changes['code']!r} is already used in this plan",
                errors=[
                    field_error(["body", "code"], "already used in this plan", "duplicate_code")
                ],
            )
    if "area" in changes:
        action.area_code = changes.pop("area")
    if "org_unit" in changes:
        code = changes.pop("org_unit")
        action.org_unit_id = unit_ids[code] if code is not None else None
        org_code = code
    for field, value in changes.items():
        setattr(action, field, value)
    if action.status in FINISHED or action.due_date is None or action.due_date >= local_today():
        action.overdue_since = None
    action.touch()
    await session.flush()
    await session.refresh(action)
    await repository.bump_actions_version(session, plan.id)
    await _history(
        session,
        principal,
        plan.id,
        "action",
        action.id,
        "update",
        before,
        _action_doc(action, org_code),
        org_unit_id=plan.org_unit_id,
    )
    return _action_read(action, org_code)


async def delete_action(
    session: AsyncSession, principal: Principal, action_id: uuid.UUID, *, if_match: str | None
) -> None:
    action, org_code, plan = await _visible_action(session, principal, action_id, for_update=True)
    check_if_match(if_match, action.version)
    action.overdue_since = None
    action.mark_deleted()
    await session.flush()
    await repository.bump_actions_version(session, plan.id)
    await _history(
        session,
        principal,
        plan.id,
        "action",
        action.id,
        "delete",
        _action_doc(action, org_code),
        None,
        org_unit_id=plan.org_unit_id,
    )


async def bulk_upsert_actions(
    session: AsyncSession,
    principal: Principal,
    plan_id: uuid.UUID,
    items: Sequence[ActionCreate],
    *,
    if_match: str | None,
) -> ActionBulkResult:
    """Upserts the list by code in one statement. All or nothing: any bad row rejects the
    list with every bad index named. Actions not in the list are left as they are."""
    plan, _ = await get_visible_plan(session, principal, plan_id, for_update=True)
    check_if_match(if_match, plan.actions_version)
    values = [_row_values(item) for item in items]
    errors: list[dict[str, Any]] = []
    first_at: dict[str, int] = {}
    for index, v in enumerate(values):
        if v["code"] in first_at:
            errors.append(
                field_error(
                    ["body", index, "code"],
                    f"code {v['code']!r} also at index {first_at[v['code']]}",
                    "duplicate_code",
                )
            )
        first_at.setdefault(v["code"], index)
    found, unit_ids = await _validate_actions(
        session, principal, plan.id, [(["body", i], v) for i, v in enumerate(values)]
    )
    errors += found
    current = await repository.current_statuses(session, plan.id, list(first_at))
    for index, v in enumerate(values):
        if v["code"] in current and (
            problem := _transition_error(["body", index], current[v["code"]], v["status"])
        ):
            errors.append(problem)
    if errors:
        errors.sort(key=lambda e: (e["loc"][1], str(e["loc"][2:])))
        raise _invalid(errors)
    inserted, updated = 0, 0
    if values:
        inserted, updated = await repository.bulk_upsert_actions(
            session,
            plan.id,
            [_db_row(v, unit_ids) for v in values],
            today=local_today(),
            actor=principal.actor,
            request_id=request_id_var.get(),
        )
    version = plan.actions_version
    if inserted or updated:
        version = await repository.bump_actions_version(session, plan.id)
    await audit_service.record(
        session,
        principal,
        "action.bulk_upsert",
        "action_plan",
        str(plan.id),
        org_unit_id=plan.org_unit_id,
        details={"inserted": inserted, "updated": updated},
    )
    return ActionBulkResult(
        inserted=inserted,
        updated=updated,
        unchanged=len(values) - inserted - updated,
        actions_version=version,
    )


# --- follow-ups ------------------------------------------------------------------------------

_FOLLOW_UP_FIELDS = ("action_id", "reported_on", "ongoing_work", "result", "rag", "meeting_id")


def _follow_up_doc(follow_up: FollowUp) -> dict[str, Any]:
    return {f: getattr(follow_up, f) for f in _FOLLOW_UP_FIELDS}


def _follow_up_read(follow_up: FollowUp) -> FollowUpRead:
    assert follow_up.created_at is not None and follow_up.updated_at is not None
    return FollowUpRead(
        id=follow_up.id,
        plan_id=follow_up.plan_id,
        created_at=follow_up.created_at,
        updated_at=follow_up.updated_at,
        version=follow_up.version,
        **_follow_up_doc(follow_up),
    )


async def _visible_follow_up(
    session: AsyncSession, principal: Principal, follow_up_id: uuid.UUID, *, for_update: bool
) -> tuple[FollowUp, ActionPlan]:
    follow_up = await repository.get_follow_up(session, follow_up_id, for_update=for_update)
    if follow_up is not None:
        try:
            plan, _ = await get_visible_plan(session, principal, follow_up.plan_id)
            return follow_up, plan
        except PlanNotFound:
            pass
    raise FollowUpNotFound(f"No follow-up with id {follow_up_id}")


async def read_follow_up(
    session: AsyncSession, principal: Principal, follow_up_id: uuid.UUID
) -> FollowUpRead:
    follow_up, _ = await _visible_follow_up(session, principal, follow_up_id, for_update=False)
    return _follow_up_read(follow_up)


async def list_follow_ups(
    session: AsyncSession,
    principal: Principal,
    plan_id: uuid.UUID,
    *,
    action_id: uuid.UUID | None,
    rag: str | None,
    updated_since: datetime | None,
    cursor: str | None,
    limit: int,
) -> Page[FollowUpRead | Tombstone]:
    await get_visible_plan(session, principal, plan_id)
    rows = await repository.list_follow_ups(
        session,
        plan_id,
        action_id=action_id,
        rag=rag,
        updated_since=updated_since,
        cursor=cursor,
        limit=limit,
    )
    return mirror_page(
        rows,
        limit,
        updated_since=updated_since,
        tombstone_id=lambda f: str(f.id),
        to_read=lambda r: _follow_up_read(r[0]),
    )


async def create_follow_up(
    session: AsyncSession, principal: Principal, plan_id: uuid.UUID, data: FollowUpCreate
) -> FollowUpRead:
    plan, _ = await get_visible_plan(session, principal, plan_id)
    if errors := await _check_meeting_refs(session, principal, meeting_id=data.meeting_id):
        raise _invalid(errors)
    if data.action_id is not None:
        row = await repository.get_action(session, data.action_id)
        if row is None or row[0].plan_id != plan.id:
            raise _invalid(
                [
                    field_error(
                        ["body", "action_id"],
                        f"no action {data.action_id} in this plan",
                        "unknown_action",
                    )
                ]
            )
    follow_up = FollowUp(plan_id=plan.id, **data.model_dump())
    follow_up.rag = str(data.rag)
    session.add(follow_up)
    await session.flush()
    await session.refresh(follow_up)
    await _history(
        session,
        principal,
        plan.id,
        "follow_up",
        follow_up.id,
        "create",
        None,
        _follow_up_doc(follow_up),
        org_unit_id=plan.org_unit_id,
    )
    return _follow_up_read(follow_up)


async def update_follow_up(
    session: AsyncSession,
    principal: Principal,
    follow_up_id: uuid.UUID,
    data: FollowUpUpdate,
    *,
    if_match: str | None,
) -> FollowUpRead:
    follow_up, plan = await _visible_follow_up(session, principal, follow_up_id, for_update=True)
    check_if_match(if_match, follow_up.version)
    changes = data.model_dump(exclude_unset=True)
    errors = [
        field_error(["body", f], "cannot be null", "null")
        for f in ("reported_on", "rag")
        if f in changes and changes[f] is None
    ]
    errors += await _check_meeting_refs(session, principal, meeting_id=changes.get("meeting_id"))
    if errors:
        raise _invalid(errors)
    before = _follow_up_doc(follow_up)
    for field, value in changes.items():
        setattr(follow_up, field, str(value) if field == "rag" else value)
    follow_up.touch()
    await session.flush()
    await session.refresh(follow_up)
    await _history(
        session,
        principal,
        plan.id,
        "follow_up",
        follow_up.id,
        "update",
        before,
        _follow_up_doc(follow_up),
        org_unit_id=plan.org_unit_id,
    )
    return _follow_up_read(follow_up)


async def delete_follow_up(
    session: AsyncSession, principal: Principal, follow_up_id: uuid.UUID, *, if_match: str | None
) -> None:
    follow_up, plan = await _visible_follow_up(session, principal, follow_up_id, for_update=True)
    check_if_match(if_match, follow_up.version)
    follow_up.mark_deleted()
    await session.flush()
    await _history(
        session,
        principal,
        plan.id,
        "follow_up",
        follow_up.id,
        "delete",
        _follow_up_doc(follow_up),
        None,
        org_unit_id=plan.org_unit_id,
    )


# --- history ---------------------------------------------------------------------------------


async def history(
    session: AsyncSession,
    principal: Principal,
    plan_id: uuid.UUID,
    *,
    entity_id: uuid.UUID | None,
    cursor: str | None,
    limit: int,
) -> Page[HistoryEntry]:
    await get_visible_plan(session, principal, plan_id)
    rows = await repository.list_history(
        session, plan_id, entity_id=entity_id, cursor=cursor, limit=limit
    )
    page_rows, next_cursor = split_page(rows, limit, lambda h: (h.id,))
    return Page(
        items=[
            HistoryEntry(
                id=h.id or 0,
                at=h.at,
                actor=h.actor,
                entity_type=h.entity_type,
                entity_id=h.entity_id,
                operation=h.operation,
                before=h.before,
                after=h.after,
            )
            for h in page_rows
        ],
        next_cursor=next_cursor,
    )


# --- summary ---------------------------------------------------------------------------------


async def _check_targets(
    session: AsyncSession, principal: Principal, target_ids: Sequence[uuid.UUID]
) -> None:
    """Linked targets must exist and be visible to the caller: a 422 naming the field."""
    for target_id in sorted(set(target_ids)):
        try:
            await kpis_service.read_target(session, principal, target_id)
        except TargetNotFound:
            raise ValidationFailed(
                f"Unknown KPI target {target_id}",
                errors=[
                    field_error(
                        ["body", "kpi_target_ids"],
                        f"unknown KPI target {target_id}",
                        "unknown_kpi_target",
                    )
                ],
            ) from None


async def kpi_effects_for_targets(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    plan: ActionPlan,
    target_ids: Sequence[uuid.UUID],
) -> list[TargetEffect]:
    """Each linked target's KPI value (at the target's unit and profession) in the month the
    plan started and in this month: the plan's effect."""
    effects = []
    for target_id in target_ids:
        kpi, (start, now) = await kpis_service.target_values(
            session, settings, principal, target_id, [plan.period_start, local_today()]
        )
        change = now - start if start is not None and now is not None else None
        effects.append(
            TargetEffect(
                kpi_target_id=target_id, kpi=kpi, value_at_start=start, value_now=now, change=change
            )
        )
    return effects


async def summary(
    session: AsyncSession, settings: Settings, principal: Principal, plan_id: uuid.UUID
) -> PlanSummary:
    plan, _ = await get_visible_plan(session, principal, plan_id)
    today = local_today()
    counts = await repository.status_counts(session, plan.id)
    overdue = await repository.overdue_action_ids(session, plan.id, today)
    packages = await repository.package_progress(session, plan.id, today)
    targets = (await repository.target_ids(session, [plan.id])).get(plan.id, [])
    net = None
    if plan.cost_estimate_sek is not None and plan.expected_saving_sek is not None:
        net = plan.expected_saving_sek - plan.cost_estimate_sek
    return PlanSummary(
        plan_id=plan.id,
        status=PlanStatus(plan.status),
        actions=sum(counts.values()),
        done=counts.get("done", 0),
        by_status={s: counts.get(s, 0) for s in ACTION_TRANSITIONS},
        overdue=len(overdue),
        overdue_action_ids=overdue,
        done_with_progress_below_100=await repository.done_below_100(session, plan.id),
        packages=[
            PackageProgress(
                package_id=r[0],
                name=r[1],
                owner_id=r[2],
                due_date=r[3],
                actions=r[4],
                done=r[5],
                average_progress=r[6],
                overdue=r[7],
            )
            for r in packages
        ],
        cost_estimate_sek=plan.cost_estimate_sek,
        expected_saving_sek=plan.expected_saving_sek,
        net_saving_sek=net,
        calculation_basis=plan.calculation_basis,
        targets=await kpi_effects_for_targets(session, settings, principal, plan, targets),
    )


# --- the due/overdue scan --------------------------------------------------------------------


def _event_data(row: Any) -> dict[str, Any]:
    return {
        "action_id": str(row.id),
        "plan_id": str(row.plan_id),
        "code": row.code,
        "title": row.title,
        "due_date": row.due_date.isoformat(),
        "status": row.status,
        "progress": row.progress,
        "responsible_id": str(row.responsible_id) if row.responsible_id else None,
    }


async def scan_due_actions(
    session: AsyncSession, *, today: date, due_soon_days: int
) -> dict[str, int]:
    """Marks open actions of decided/active plans that are past due as overdue and publishes
    `action.overdue` once per action (until it is finished or its due date moves), and
    `action.due_soon` once per due date, `due_soon_days` before it. Idempotent."""
    cleared = await repository.clear_overdue(session, today)
    await repository.lock_plans_with_newly_overdue(session, today)
    overdue = await repository.mark_overdue(session, today)
    await events_service.publish_many(
        session,
        "action.overdue",
        [
            ({**_event_data(r), "overdue_since": r.overdue_since.isoformat()}, r.org_unit_id)
            for r in overdue
        ],
    )
    due_soon: Sequence[Any] = []
    if due_soon_days > 0:
        due_soon = await repository.mark_due_soon(
            session, today, today + timedelta(days=due_soon_days)
        )
        await events_service.publish_many(
            session,
            "action.due_soon",
            [
                ({**_event_data(r), "days_left": (r.due_date - today).days}, r.org_unit_id)
                for r in due_soon
            ],
        )
    return {"overdue": len(overdue), "due_soon": len(due_soon), "cleared": cleared}


async def overdue_actions_in_subtree(
    session: AsyncSession, org_unit_id: int, day: date
) -> list[OverdueAction]:
    """For other domains: open actions of live plans under a unit, due before `day`."""
    return await repository.overdue_actions_in_subtree(session, org_unit_id, day)
