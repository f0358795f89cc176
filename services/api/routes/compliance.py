"""Working-time rules, agency-staff policies and exemptions (admin), and the violations the
worker finds in the time data."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Query, Response

from services.api.deps import (
    Admin,
    FromDate,
    IdempotencyDep,
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
from services.api.operations import acts_on, creates, deletes, lists, reads, updates
from services.api.responses import created, no_content, versioned
from services.core.compliance import service as compliance_service
from services.core.compliance.schemas import (
    ExemptionCreate,
    ExemptionDecision,
    ExemptionRead,
    ExemptionStatus,
    ExemptionSummary,
    PolicyCreate,
    PolicyRead,
    PolicyUpdate,
    RuleCreate,
    RuleRead,
    RuleUpdate,
    Summary,
    ViolationKind,
    ViolationPage,
)
from services.core.pagination import Page, Tombstone
from services.core.validation import Code

router = api_router(prefix="/compliance", tags=["compliance"])


@router.get("/rules", **lists("List working-time rules", Page[RuleRead | Tombstone]))
async def list_rules(
    session: SessionDep, principal: Reader, page: PageDep, updated_since: UpdatedSince = None
) -> Any:
    """Daily and weekly rest and overtime caps, seeded with the Working Hours Act's defaults
    and the doctors' daily rest enforced from 2024-02-01 (the 2023 agreement)."""
    return await compliance_service.list_rules(session, principal, page.window(updated_since))


@router.post("/rules", **creates("Add a working-time rule", RuleRead))
async def create_rule(
    data: RuleCreate, session: SessionDep, principal: Admin, idem: IdempotencyDep
) -> Any:
    """Rest rules need `min_rest_hours`, which their window must hold (422 naming the field
    otherwise): `rolling` (the default) checks the 24 hours, or 7 × 24, from every shift's
    start; `fixed` needs `period_start_hour` (the dygnsbryt). Before `enforced_from` a breach is
    an `agreement_deviation`. Overtime caps need `max_hours`. Optionally for some professions
    (a rule naming the profession replaces one for all) and an org subtree, over a validity
    range. The time data in scope is checked again."""
    if (replay := await idem.replay()) is not None:
        return replay
    rule = await compliance_service.create_rule(session, principal, data)
    return await created(idem, session, rule, f"/v1/compliance/rules/{rule.id}")


@router.get("/rules/{rule_id}", **reads("Get a working-time rule", RuleRead))
async def get_rule(rule_id: uuid.UUID, session: SessionDep, principal: Reader) -> Any:
    """A rule of the caller's subtree or a region-wide one (which binds every subtree); the
    answer created by `POST /v1/compliance/rules` points here (`Location`)."""
    return versioned(await compliance_service.read_rule(session, principal, rule_id))


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
async def create_policy(
    data: PolicyCreate, session: SessionDep, principal: Admin, idem: IdempotencyDep
) -> Any:
    """Agency staff of the professions in the org subtree may not work from `valid_from`:
    at all, or within `banned_windows` (local weekdays 1–7 and times; a window whose `to` is
    before `from` runs past midnight)."""
    if (replay := await idem.replay()) is not None:
        return replay
    policy = await compliance_service.create_policy(session, principal, data)
    return await created(idem, session, policy, f"/v1/compliance/agency-policies/{policy.id}")


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
    **creates("Apply for an exemption from a policy", ExemptionRead, 404, 409),
)
async def create_exemption(
    policy_id: uuid.UUID,
    data: ExemptionCreate,
    session: SessionDep,
    principal: Admin,
    idem: IdempotencyDep,
) -> Any:
    """An application for a subtree and days, and why (`requested`), decided later with
    `POST /v1/compliance/exemptions/{id}/decision`; with `decided_by` a decision already taken
    is recorded as `granted` (optionally the meeting decision). An exemption overlapping
    another of the same policy, granted or applied for, is refused (409)."""
    if (replay := await idem.replay()) is not None:
        return replay
    exemption = await compliance_service.create_exemption(session, principal, policy_id, data)
    return await created(idem, session, exemption, f"/v1/compliance/exemptions/{exemption.id}")


@router.get(
    "/exemptions", **lists("List exemptions and applications", Page[ExemptionRead | Tombstone])
)
async def list_all_exemptions(
    session: SessionDep,
    principal: Reader,
    page: PageDep,
    status: Annotated[
        ExemptionStatus | None,
        Query(description="Only applications still `requested`, or those `granted` or `rejected`."),
    ] = None,
    updated_since: UpdatedSince = None,
) -> Any:
    """Every policy's exemptions and applications in the key's subtree, with who applied,
    who decided, when and why."""
    return await compliance_service.list_all_exemptions(
        session, principal, status, page.window(updated_since)
    )


@router.get(
    "/exemptions/summary", **reads("Exemption applications per unit and month", ExemptionSummary)
)
async def get_exemption_summary(
    session: SessionDep,
    settings: SettingsDep,
    principal: Reader,
    org_unit: Annotated[Code, Query()],
    date_from: FromDate = None,
    date_to: ToDate = None,
) -> Any:
    """Applications received per unit and local month, and how many are still undecided,
    granted and rejected: the handling of received applications as a figure."""
    return await compliance_service.exemption_summary(
        session, settings, principal, org_unit=org_unit, first=date_from, last=date_to
    )


# `:uuid`, so `/exemptions/summary` is not also this path.
@router.get("/exemptions/{exemption_id:uuid}", **reads("Get an exemption", ExemptionRead))
async def get_exemption(exemption_id: uuid.UUID, session: SessionDep, principal: Reader) -> Any:
    """An exemption or application of the caller's subtree, with who applied, who decided,
    when and why; the answer created by `POST /v1/compliance/agency-policies/{id}/exemptions`
    points here (`Location`). Its `ETag` changes when it is decided; a withdrawn one is 404
    (mirrors see its tombstone in the lists)."""
    return versioned(await compliance_service.read_exemption(session, principal, exemption_id))


@router.post(
    "/exemptions/{exemption_id}/decision",
    **acts_on("Grant or reject an exemption application", ExemptionRead, 400, 409),
)
async def decide_exemption(
    exemption_id: uuid.UUID, data: ExemptionDecision, session: SessionDep, principal: Admin
) -> Any:
    """Records who decided, when (now) and why, and publishes `compliance.exemption_decided`.
    A granted exemption allows what the policy bans, so the time data in scope is checked
    again. An exemption already decided is 409: a changed mind is a new application."""
    return versioned(
        await compliance_service.decide_exemption(session, principal, exemption_id, data)
    )


# `:uuid`, so `/exemptions/summary` is not also this path (a 405's `Allow` would list DELETE).
@router.delete("/exemptions/{exemption_id:uuid}", **deletes("Withdraw an exemption"))
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
    kind: ViolationKind | None = None,
    profession: Code | None = None,
    updated_since: UpdatedSince = None,
) -> Any:
    """Person-level: each row is one employee's working time, so the key needs
    `persondata:read` (`read` gets 403; dashboards use `GET /v1/compliance/summary` and the
    violation KPIs, which `read` may see). Every read is audited, `employee` is this key's own
    pseudonym (see `GET /v1/time-records`) and the stricter per-key limit of person-level reads
    applies. By id; with `updated_since`, the violations found or changed since and, as
    tombstones, those withdrawn since (a corrected record or a changed rule no longer finds
    them), by change time. A violation found again unchanged keeps its id and `updated_at`."""
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
        updated_since=updated_since,
    )


@router.get("/summary", **reads("Violations per unit and month", Summary))
async def get_summary(
    session: SessionDep,
    settings: SettingsDep,
    principal: Reader,
    org_unit: Annotated[Code, Query()],
    date_from: FromDate = None,
    date_to: ToDate = None,
) -> Any:
    """Counts and hours by kind, and the shifts that could not be checked (no times):
    aggregated, so `read` suffices (the violations themselves need `persondata:read`). For
    keys without `admin` the small-group rule applies: a row from fewer than
    `PULS_MIN_GROUP_SIZE` distinct employees has `violations` and `hours` null and
    `suppressed` true, and so has the next smallest row of its unit and month where one hidden
    row could otherwise be subtracted from a total; `from`/`to` are widened to whole months."""
    return await compliance_service.summary(
        session, settings, principal, org_unit=org_unit, first=date_from, last=date_to
    )
