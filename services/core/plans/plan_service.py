"""Action plans and the catalogue of action areas. Every lookup of a plan or of one of its parts
goes through the plan's org unit and the caller's scope, so another unit's ids are 404."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from services.core import clock
from services.core.audit import service as audit_service
from services.core.crud import (
    Window,
    apply_update,
    in_scope_or_404,
    page_from,
    page_of,
    read_as,
    snapshot,
)
from services.core.errors import PulsError, ValidationFailed, field_error
from services.core.http import check_if_match
from services.core.kpis import target_service
from services.core.kpis.errors import TargetNotFound
from services.core.pagination import Page, Tombstone
from services.core.people import service as people_service
from services.core.people.schemas import PersonRef
from services.core.plans import action_repository, repository
from services.core.plans.common import (
    check_meeting_refs,
    check_owner,
    delete_recorded,
    invalid,
    listed_subtrees,
    org_unit,
    record_change,
    refuse_nulls,
)
from services.core.plans.errors import (
    FollowUpNotFound,
    InvalidTransition,
    PackageNotFound,
    PlanNotDecidable,
    PlanNotFound,
)
from services.core.plans.models import ActionPackage, ActionPlan, FollowUp
from services.core.plans.repository import Part
from services.core.plans.schemas import (
    PLAN_TRANSITIONS,
    AreaIn,
    AreaRead,
    PlanCreate,
    PlanRead,
    PlanUpdate,
)
from services.core.principal import Principal

PersonRefs = dict[uuid.UUID, PersonRef]

S = TypeVar("S", bound=BaseModel)

# --- areas -----------------------------------------------------------------------------------


async def list_areas(session: AsyncSession, *, window: Window) -> Page[AreaRead]:
    """By code, or by change time with `updated_since` (entries are never deleted)."""
    rows = await repository.areas_page(session, window)
    return page_from(
        rows,
        window,
        lambda r: read_as(AreaRead, r[0]),
        key=lambda r: r[0].code,
        changed=lambda r: r[0].updated_at,
        name="action_areas",
    )


async def put_area(
    session: AsyncSession, principal: Principal, code: str, data: AreaIn
) -> AreaRead:
    principal.require_whole_region("The action area catalogue")
    stored = await repository.put_area(session, code, data.name_en, data.name_sv)
    await audit_service.record(session, principal, "action_area.put", "action_area", code)
    return read_as(AreaRead, stored)


# --- visibility ------------------------------------------------------------------------------


async def _plan_row(
    session: AsyncSession,
    principal: Principal,
    plan_id: uuid.UUID | None,
    not_found: PulsError,
    *,
    for_update: bool,
) -> Any:
    row = None
    if plan_id is not None:
        row = await repository.get_plan(session, plan_id, for_update=for_update)
    return in_scope_or_404(row, principal, not_found)


async def get_visible_plan(
    session: AsyncSession, principal: Principal, plan_id: uuid.UUID, *, for_update: bool = False
) -> tuple[ActionPlan, str]:
    """The plan and its org unit code if the caller may see it; 404 otherwise."""
    row = await _plan_row(
        session,
        principal,
        plan_id,
        PlanNotFound(f"No action plan with id {plan_id}"),
        for_update=for_update,
    )
    return row[0], row[1]


class _PartOfPlan(Protocol):
    plan_id: uuid.UUID


async def plan_of_part(
    session: AsyncSession,
    principal: Principal,
    part: _PartOfPlan | None,
    not_found: PulsError,
    *,
    lock_plan: bool = False,
) -> ActionPlan:
    """The plan a package, action or follow-up (None when there is none) belongs to, if the
    caller may see it; otherwise the part's own 404, `not_found`."""
    plan_id = part.plan_id if part is not None else None
    plan: ActionPlan = (
        await _plan_row(session, principal, plan_id, not_found, for_update=lock_plan)
    )[0]
    return plan


# The 404 of a package or follow-up looked up by its own id.
_PART_NOT_FOUND: dict[type[Any], Callable[[uuid.UUID], PulsError]] = {
    ActionPackage: lambda part_id: PackageNotFound(f"No action package with id {part_id}"),
    FollowUp: lambda part_id: FollowUpNotFound(f"No follow-up with id {part_id}"),
}


async def visible_part(
    session: AsyncSession,
    principal: Principal,
    model: type[Part],
    part_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> tuple[Part, ActionPlan]:
    """A live package or follow-up and its plan, if the caller may see the plan; the part's
    404 otherwise."""
    part = await repository.get_part(session, model, part_id, for_update=for_update)
    plan = await plan_of_part(session, principal, part, _PART_NOT_FOUND[model](part_id))
    assert part is not None
    return part, plan


async def list_parts(
    session: AsyncSession,
    principal: Principal,
    plan_id: uuid.UUID,
    model: type[Part],
    schema: type[S],
    window: Window,
    **equal: Any,
) -> Page[S | Tombstone]:
    """A page of a visible plan's packages or follow-ups (`equal`: column filters)."""
    await get_visible_plan(session, principal, plan_id)
    rows = await repository.list_parts(session, model, plan_id, window, **equal)
    return page_of(rows, window, lambda r: read_as(schema, r[0]))


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
    "no_cost_impact",
    "no_cost_impact_reason",
    "follow_up_due_on",
)


def _plan_doc(plan: ActionPlan, org_code: str, targets: list[uuid.UUID]) -> dict[str, Any]:
    return {**snapshot(plan, _PLAN_FIELDS), "org_unit": org_code, "kpi_target_ids": sorted(targets)}


def _to_read(
    plan: ActionPlan, org_code: str, targets: list[uuid.UUID], people: PersonRefs
) -> PlanRead:
    return read_as(
        PlanRead,
        plan,
        org_unit=org_code,
        kpi_target_ids=sorted(targets),
        owner=people_service.ref(people, plan.owner_id),
        decided_by_decision_id=plan.decided_by,
    )


async def linked_targets(session: AsyncSession, plan: ActionPlan) -> list[uuid.UUID]:
    """The ids of the KPI targets the plan is meant to move."""
    return (await repository.target_ids(session, [plan.id])).get(plan.id, [])


def _check_period(start: date, end: date) -> list[dict[str, Any]]:
    if end < start:
        return [
            field_error(
                ["body", "period_end"], "must not be before period_start", "end_before_start"
            )
        ]
    return []


# The statuses of a plan that has been decided; entering one needs what a decision needs.
DECIDED = ("decided", "active", "completed")
_CALCULATION = (
    "cost_estimate_sek",
    "expected_saving_sek",
    "no_cost_impact",
    "no_cost_impact_reason",
)
# How many actions without a due date a refusal names one by one.
_LISTED_ACTIONS = 20


def _check_no_cost_impact(values: dict[str, Any]) -> list[dict[str, Any]]:
    """`no_cost_impact` is an economic calculation of its own: it says why, and it does not
    stand beside a cost or a saving."""
    if not values["no_cost_impact"]:
        return []
    if not values["no_cost_impact_reason"]:
        return [
            field_error(
                ["body", "no_cost_impact_reason"],
                "no_cost_impact needs a reason",
                "required",
            )
        ]
    if values["cost_estimate_sek"] is not None or values["expected_saving_sek"] is not None:
        return [
            field_error(
                ["body", "no_cost_impact"],
                "a plan with no cost impact has no cost_estimate_sek or expected_saving_sek",
                "conflicts_with_calculation",
            )
        ]
    return []


async def _check_decidable(
    session: AsyncSession, plan_id: uuid.UUID | None, values: dict[str, Any], *, entering: bool
) -> None:
    """Seed 000: "Handlingsplanerna måste tidsättas och förses med en ekonomisk kalkyl." A plan
    entering a decided status needs a time plan (`period_end`, a due date on every action that
    is not cancelled) and an economic calculation (`cost_estimate_sek`, `expected_saving_sek`
    or `no_cost_impact` with its reason); a decided plan keeps its calculation. The 422 names
    each missing piece."""
    errors: list[dict[str, Any]] = []
    if values["period_end"] is None:
        errors.append(
            field_error(["body", "period_end"], "a decided plan needs an end date", "required")
        )
    if entering and plan_id is not None:
        codes = await action_repository.codes_without_due_date(session, plan_id)
        errors += [
            field_error(
                ["actions", code, "due_date"],
                f"action {code} has no due date",
                "due_date_required",
            )
            for code in codes[:_LISTED_ACTIONS]
        ]
        if len(codes) > _LISTED_ACTIONS:
            errors.append(
                field_error(
                    ["actions"],
                    f"{len(codes) - _LISTED_ACTIONS} more actions have no due date",
                    "due_date_required",
                )
            )
    if (
        values["cost_estimate_sek"] is None
        and values["expected_saving_sek"] is None
        and not values["no_cost_impact"]
    ):
        errors.append(
            field_error(
                ["body", "cost_estimate_sek"],
                "a decided plan needs an economic calculation: cost_estimate_sek, "
                "expected_saving_sek, or no_cost_impact with no_cost_impact_reason",
                "economic_calculation_required",
            )
        )
    if errors:
        missing = sorted({e["code"] for e in errors})
        raise PlanNotDecidable(
            "The plan cannot be decided without a time plan and an economic calculation; "
            f"missing: {', '.join(missing)}",
            errors=errors,
        )


def _check_transition(old: str, new: str) -> None:
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


async def _check_targets(
    session: AsyncSession, principal: Principal, target_ids: Sequence[uuid.UUID]
) -> None:
    """Linked targets must exist and be visible to the caller: a 422 naming the field."""
    for target_id in sorted(set(target_ids)):
        try:
            await target_service.read_target(session, principal, target_id)
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


async def read_plan(session: AsyncSession, principal: Principal, plan_id: uuid.UUID) -> PlanRead:
    plan, org_code = await get_visible_plan(session, principal, plan_id)
    people = await people_service.refs(session, [plan.owner_id])
    return _to_read(plan, org_code, await linked_targets(session, plan), people)


async def list_plans(
    session: AsyncSession,
    principal: Principal,
    *,
    org_unit: str | None,
    status: str | None,
    owner_id: uuid.UUID | None,
    q: str | None = None,
    window: Window,
) -> Page[PlanRead | Tombstone]:
    rows = await repository.list_plans(
        session,
        within=await listed_subtrees(session, principal, org_unit),
        status=status,
        owner_id=owner_id,
        q=q,
        window=window,
    )
    targets = await repository.target_ids(session, [r[0].id for r in rows[: window.limit]])
    people = await people_service.refs(session, [r[0].owner_id for r in rows])
    return page_of(rows, window, lambda r: _to_read(r[0], r[1], targets.get(r[0].id, []), people))


async def create_plan(session: AsyncSession, principal: Principal, data: PlanCreate) -> PlanRead:
    errors = _check_period(data.period_start, data.period_end)
    errors += _check_no_cost_impact(data.model_dump())
    errors += await check_owner(session, principal, data.owner_id)
    errors += await check_meeting_refs(session, principal, decided_by=data.decided_by)
    if errors:
        raise invalid(errors)
    if data.status in DECIDED:
        await _check_decidable(session, None, data.model_dump(), entering=True)
    org_unit_id, org_code = await org_unit(session, principal, data.org_unit, ["body", "org_unit"])
    decided_at = data.decided_at
    if decided_at is None and data.status not in ("draft", "cancelled"):
        decided_at = clock.utcnow()
    plan = ActionPlan(
        **data.model_dump(exclude={"org_unit", "kpi_target_ids", "decided_at"}),
        org_unit_id=org_unit_id,
        decided_at=decided_at,
    )
    await _check_targets(session, principal, data.kpi_target_ids)
    session.add(plan)
    await session.flush()
    await repository.replace_targets(session, plan.id, data.kpi_target_ids)
    await session.refresh(plan)
    targets = sorted(set(data.kpi_target_ids))
    after = _plan_doc(plan, org_code, targets)
    await record_change(session, principal, plan, plan, "create", None, after)
    return _to_read(plan, org_code, targets, await people_service.refs(session, [plan.owner_id]))


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
    targets = await linked_targets(session, plan)
    before = _plan_doc(plan, org_code, targets)
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    refuse_nulls(
        changes, ("title", "period_start", "period_end", "status", "org_unit", "kpi_target_ids")
    )
    errors = _check_period(
        changes.get("period_start", plan.period_start), changes.get("period_end", plan.period_end)
    )
    if "owner_id" in changes:
        errors += await check_owner(session, principal, data.owner_id)
    if changes.get("decided_by") is not None:
        errors += await check_meeting_refs(session, principal, decided_by=changes["decided_by"])
    resulting = {f: changes.get(f, getattr(plan, f)) for f in (*_CALCULATION, "period_end")}
    errors += _check_no_cost_impact(resulting)
    if errors:
        raise invalid(errors)
    if "status" in changes:
        _check_transition(plan.status, changes["status"])
    status = changes.get("status", plan.status)
    entering = status in DECIDED and plan.status not in DECIDED
    if entering or (status in DECIDED and any(f in changes for f in _CALCULATION)):
        await _check_decidable(session, plan.id, resulting, entering=entering)
        if changes["status"] == "decided" and plan.decided_at is None:
            changes.setdefault("decided_at", clock.utcnow())
    if "org_unit" in changes:
        plan.org_unit_id, org_code = await org_unit(
            session, principal, changes.pop("org_unit"), ["body", "org_unit"]
        )
    if "kpi_target_ids" in changes:
        targets = sorted(set(changes.pop("kpi_target_ids")))
        await _check_targets(session, principal, targets)
        await repository.replace_targets(session, plan.id, targets)
    await apply_update(session, plan, changes)
    after = _plan_doc(plan, org_code, targets)
    await record_change(session, principal, plan, plan, "update", before, after)
    return _to_read(plan, org_code, targets, await people_service.refs(session, [plan.owner_id]))


async def delete_plan(
    session: AsyncSession, principal: Principal, plan_id: uuid.UUID, *, if_match: str | None
) -> None:
    plan, org_code = await get_visible_plan(session, principal, plan_id, for_update=True)
    check_if_match(if_match, plan.version)
    doc = _plan_doc(plan, org_code, await linked_targets(session, plan))
    await delete_recorded(session, principal, plan, plan, doc)
