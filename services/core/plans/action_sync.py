"""A plan's actions as one list: synced from a spreadsheet (upserted by code in one statement)
and exported as CSV."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.audit import service as audit_service
from services.core.errors import field_error
from services.core.http import check_if_match
from services.core.logging import request_id_var
from services.core.people import service as people_service
from services.core.plans import action_repository
from services.core.plans.action_service import db_row, row_values, transition_error, validate_rows
from services.core.plans.common import invalid, local_today
from services.core.plans.plan_service import get_visible_plan
from services.core.plans.schemas import ActionBulkResult, ActionCreate
from services.core.principal import Principal
from services.core.spreadsheets import Decimals, write_csv

# The JSON's fields in its order, with names beside the ids a reader cannot read (the package,
# the responsible person).
CSV_COLUMNS = (
    "code",
    "title",
    "description",
    "area",
    "package_id",
    "package",
    "responsible_id",
    "responsible",
    "org_unit",
    "start_date",
    "due_date",
    "follow_up_due_on",
    "status",
    "progress",
    "overdue",
)


def _natural_key(code: str) -> list[tuple[int, Any]]:
    # "3.10" after "3.2", the order a plan is read in.
    return [(0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"[.\-]", code)]


async def export_actions_csv(
    session: AsyncSession,
    principal: Principal,
    plan_id: uuid.UUID,
    filters: dict[str, Any],
    decimals: Decimals = Decimals.comma,
) -> tuple[str, int]:
    """The plan's filtered actions as one CSV file in code order (`spreadsheets.write_csv`'s
    dialect), and the collection's version (its ETag)."""
    plan, _ = await get_visible_plan(session, principal, plan_id)
    rows = sorted(
        await action_repository.all_actions(session, plan.id, filters),
        key=lambda r: _natural_key(r[0].code),
    )
    people = await people_service.refs(session, [r[0].responsible_id for r in rows])

    def name(person_id: uuid.UUID | None) -> str | None:
        found = people_service.ref(people, person_id)
        return found.name if found else None

    table = [
        [
            action.code,
            action.title,
            action.description,
            action.area_code,
            action.package_id,
            package_name,
            action.responsible_id,
            name(action.responsible_id),
            org_code,
            action.start_date,
            action.due_date,
            action.follow_up_due_on,
            action.status,
            action.progress,
            action.overdue_since is not None,
        ]
        for action, org_code, package_name in rows
    ]
    return write_csv(CSV_COLUMNS, table, decimals), plan.actions_version


def _duplicate_codes(values: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """An error per row repeating an earlier row's code, and the codes in first-seen order."""
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
    return errors, list(first_at)


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
    values = [row_values(item) for item in items]
    errors, codes = _duplicate_codes(values)
    found, unit_ids = await validate_rows(
        session, principal, plan.id, [(["body", i], v) for i, v in enumerate(values)]
    )
    errors += found
    current = await action_repository.current_statuses(session, plan.id, codes)
    for index, v in enumerate(values):
        if v["code"] in current and (
            problem := transition_error(["body", index], current[v["code"]], v["status"])
        ):
            errors.append(problem)
    if errors:
        errors.sort(key=lambda e: (e["loc"][1], str(e["loc"][2:])))
        raise invalid(errors)
    inserted, updated = 0, 0
    if values:
        inserted, updated = await action_repository.bulk_upsert_actions(
            session,
            plan.id,
            [db_row(v, unit_ids) for v in values],
            today=local_today(),
            actor=principal.actor,
            request_id=request_id_var.get(),
        )
    version = plan.actions_version
    if inserted or updated:
        version = await action_repository.bump_actions_version(session, plan.id)
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
