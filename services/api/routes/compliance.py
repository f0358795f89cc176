"""Working-time rules, agency-staff policies and exemptions (admin), and the violations the
worker finds in the time data."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import Query, Response

from services.api.deps import (
    Admin,
    FromDate,
    IfMatch,
    PageDep,
    PersonDataReader,
    Reader,
    SessionDep,
    SettingsDep,
    ToDate,
    UpdatedSince,
    api_router,
)
from services.api.operations import creates, deletes, lists, reads, updates
from services.api.responses import no_content, versioned
from services.core.compliance import service as compliance_service
from services.core.compliance.schemas import (
    ExemptionCreate,
    ExemptionRead,
    PolicyCreate,
    PolicyRead,
    PolicyUpdate,
    RuleCreate,
    RuleRead,
    RuleUpdate,
    Summary,
    ViolationPage,
)
from services.core.pagination import Page, Tombstone
from services.core.validation import Code

router = api_router(prefix="/compliance", tags=["compliance"])


@router.get("/rules", **lists("List working-time rules", Page[RuleRead | Tombstone]))
async def list_rules(
    session: SessionDep, principal: Reader, page: PageDep, updated_since: UpdatedSince = None
) -> Any:
    """Daily and weekly rest and overtime caps, seeded with the Working Hours Act's defaults."""
    return await compliance_service.list_rules(session, principal, page.window(updated_since))


@router.post("/rules", **creates("Add a working-time rule", RuleRead))
async def create_rule(data: RuleCreate, session: SessionDep, principal: Admin) -> Any:
    """Rest rules need `min_rest_hours` (at most the period's length) and
    `period_start_hour`; overtime caps need `max_hours`. Optionally for some professions and
    an org subtree, over a validity range. The time data in scope is checked again."""
    rule = await compliance_service.create_rule(session, principal, data)
    return versioned(rule, 201, f"/v1/compliance/rules/{rule.id}")


@router.patch("/rules/{rule_id}", **updates("Change a working-time rule", RuleRead))
async def update_rule(
    rule_id: uuid.UUID,
    data: RuleUpdate,
    session: SessionDep,
    principal: Admin,
    if_match: IfMatch = None,
) -> Any:
    return versioned(
        await compliance_service.update_rule(session, principal, rule_id, data, if_match=if_match)
    )


@router.get("/agency-policies", **lists("List agency-staff policies", Page[PolicyRead | Tombstone]))
async def list_policies(
    session: SessionDep, principal: Reader, page: PageDep, updated_since: UpdatedSince = None
) -> Any:
    return await compliance_service.list_policies(session, principal, page.window(updated_since))


@router.post("/agency-policies", **creates("Ban or limit agency staff", PolicyRead))
async def create_policy(data: PolicyCreate, session: SessionDep, principal: Admin) -> Any:
    """Agency staff of the professions in the org subtree may not work from `valid_from`:
    at all, or within `banned_windows` (local weekdays 1–7 and times; a window whose `to` is
    before `from` runs past midnight)."""
    policy = await compliance_service.create_policy(session, principal, data)
    return versioned(policy, 201, f"/v1/compliance/agency-policies/{policy.id}")


@router.get("/agency-policies/{policy_id}", **reads("Get an agency-staff policy", PolicyRead))
async def get_policy(policy_id: uuid.UUID, session: SessionDep, principal: Reader) -> Any:
    return versioned(await compliance_service.read_policy(session, principal, policy_id))


@router.patch(
    "/agency-policies/{policy_id}", **updates("Change an agency-staff policy", PolicyRead)
)
async def update_policy(
    policy_id: uuid.UUID,
    data: PolicyUpdate,
    session: SessionDep,
    principal: Admin,
    if_match: IfMatch = None,
) -> Any:
    return versioned(
        await compliance_service.update_policy(
            session, principal, policy_id, data, if_match=if_match
        )
    )


@router.delete("/agency-policies/{policy_id}", **deletes("Withdraw an agency-staff policy", 412))
async def delete_policy(
    policy_id: uuid.UUID, session: SessionDep, principal: Admin, if_match: IfMatch = None
) -> Response:
    await compliance_service.delete_policy(session, principal, policy_id, if_match=if_match)
    return no_content()


@router.get(
    "/agency-policies/{policy_id}/exemptions",
    **lists("List a policy's exemptions", Page[ExemptionRead | Tombstone], 404),
)
async def list_exemptions(
    policy_id: uuid.UUID,
    session: SessionDep,
    principal: Reader,
    page: PageDep,
    updated_since: UpdatedSince = None,
) -> Page[ExemptionRead | Tombstone]:
    """In the caller's subtree, by id; with `updated_since`, withdrawn exemptions come back as
    tombstones."""
    return await compliance_service.list_exemptions(
        session, principal, policy_id, window=page.window(updated_since)
    )


@router.post(
    "/agency-policies/{policy_id}/exemptions",
    **creates("Exempt units and days from a policy", ExemptionRead, 404, 409),
)
async def create_exemption(
    policy_id: uuid.UUID, data: ExemptionCreate, session: SessionDep, principal: Admin
) -> Any:
    """Who decided, why, for which subtree and days (optionally the meeting decision). An
    exemption overlapping another of the same policy is refused (409)."""
    return await compliance_service.create_exemption(session, principal, policy_id, data)


@router.delete("/exemptions/{exemption_id}", **deletes("Withdraw an exemption"))
async def delete_exemption(
    exemption_id: uuid.UUID, session: SessionDep, principal: Admin
) -> Response:
    await compliance_service.delete_exemption(session, principal, exemption_id)
    return no_content()


@router.get("/violations", **lists("Violations found in the time data", ViolationPage, 404, 429))
async def list_violations(
    session: SessionDep,
    settings: SettingsDep,
    principal: PersonDataReader,
    page: PageDep,
    org_unit: Annotated[Code, Query(description="The subtree to list.")],
    date_from: FromDate = None,
    date_to: ToDate = None,
    kind: Literal["daily_rest", "weekly_rest", "overtime_month", "overtime_year", "agency_policy"]
    | None = None,
    profession: Code | None = None,
) -> Any:
    """Person-level: each row is one employee's working time, so the key needs
    `persondata:read` (`read` gets 403; dashboards use `GET /v1/compliance/summary` and the
    violation KPIs, which `read` may see). Every read is audited, `employee` is this key's own
    pseudonym (see `GET /v1/time-records`) and the stricter per-key limit of person-level reads
    applies."""
    return await compliance_service.list_violations(
        session,
        settings,
        principal,
        org_unit=org_unit,
        first=date_from,
        last=date_to,
        kind=kind,
        profession=profession,
        cursor=page.cursor,
        limit=page.limit,
    )


@router.get("/summary", **reads("Violations per unit and month", Summary))
async def get_summary(
    session: SessionDep,
    principal: Reader,
    org_unit: Annotated[Code, Query()],
    date_from: FromDate = None,
    date_to: ToDate = None,
) -> Any:
    """Counts and hours by kind, and the shifts that could not be checked (no times):
    aggregated, so `read` suffices (the violations themselves need `persondata:read`)."""
    return await compliance_service.summary(
        session, principal, org_unit=org_unit, first=date_from, last=date_to
    )
