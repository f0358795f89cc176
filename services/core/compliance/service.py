"""Compliance operations. Every change to a rule, policy or exemption marks the cells it can
affect dirty, so the worker re-detects them with the KPI recalculation."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.core import periods
from services.core.audit import service as audit_service
from services.core.compliance import repository
from services.core.compliance.errors import (
    ExemptionAlreadyDecided,
    ExemptionNotFound,
    OverlappingExemption,
    PolicyNotFound,
    RuleNotFound,
)
from services.core.compliance.models import (
    AgencyExemption,
    AgencyPolicy,
    Violation,
    WorkingTimeRule,
)
from services.core.compliance.schemas import (
    ExemptionCreate,
    ExemptionDecision,
    ExemptionRead,
    ExemptionSummary,
    ExemptionSummaryRow,
    PolicyCreate,
    PolicyRead,
    PolicyUpdate,
    RuleCreate,
    RuleRead,
    RuleUpdate,
    Summary,
    SummaryRow,
    ViolationPage,
    ViolationRead,
)
from services.core.config import Settings
from services.core.crud import (
    Window,
    apply_update,
    in_scope_or_404,
    insert,
    page_of,
    read_as,
    soft_delete,
    visible_or_404,
)
from services.core.errors import ValidationFailed, field_error, invalid_field
from services.core.events import service as events_service
from services.core.http import check_if_match
from services.core.kpis import inputs, recalculation_service
from services.core.kpis.suppression import Group, protect_lines
from services.core.orgs import service as orgs_service
from services.core.pagination import Page, Tombstone, decode_cursor, encode_cursor
from services.core.principal import Principal
from services.core.timedata.pseudonym import viewer_pseudonymizer

# The hours a rest rule's window holds: rolling, and fixed (a local period is an hour shorter
# on the night the clocks go forward).
REST_LIMIT = {"daily_rest": 24, "weekly_rest": 168}
FIXED_REST_LIMIT = {"daily_rest": 23, "weekly_rest": 167}


async def _unit(session: AsyncSession, principal: Principal, code: str | None) -> Any:
    return None if code is None else await inputs.body_org_unit(session, principal, code)


async def _changed(
    session: AsyncSession,
    principal: Principal,
    action: str,
    row: Any,
    *,
    scope: str | None,
    since: date,
    org_unit_id: int | None = None,
    details: dict[str, Any] | None = None,
    recheck: bool = True,
) -> None:
    """Audits a change to a rule, policy or exemption (`action`: "<resource type>.<verb>") and
    (`recheck`) marks every cell it can affect, in `scope` (an org path; None: all) from
    `since`'s month."""
    resource_type = action.split(".")[0]
    await audit_service.record(
        session,
        principal,
        action,
        resource_type,
        str(row.id),
        org_unit_id=org_unit_id,
        details=details,
    )
    if recheck:
        await recalculation_service.mark_scope(session, scope, since.replace(day=1), None)
        recalculation_service.wake_recalculation(session)


# ---- rules ---------------------------------------------------------------------------------


def _rule_read(rule: WorkingTimeRule, code: str | None) -> RuleRead:
    return read_as(RuleRead, rule, id=str(rule.id), org_unit=code)


def _check_rule(rule: WorkingTimeRule) -> None:
    if rule.kind in REST_LIMIT:
        if rule.min_rest_hours is None:
            raise invalid_field(
                ["body", "min_rest_hours"], f"a {rule.kind} rule needs min_rest_hours"
            )
        fixed = rule.period == "fixed"
        if fixed and rule.period_start_hour is None:
            raise invalid_field(
                ["body", "period_start_hour"],
                "a fixed period needs period_start_hour (the local hour it starts, the dygnsbryt)",
            )
        limit = (FIXED_REST_LIMIT if fixed else REST_LIMIT)[rule.kind]
        if rule.min_rest_hours > limit:
            window = f"a {'fixed period' if fixed else 'rolling window'} of {limit} h"
            raise invalid_field(
                ["body", "min_rest_hours"],
                f"{rule.min_rest_hours} h of rest cannot fit in {window}",
                "impossible",
            )
        if rule.max_hours is not None:
            raise invalid_field(["body", "max_hours"], "max_hours belongs to an overtime rule")
    else:
        if rule.max_hours is None:
            raise invalid_field(["body", "max_hours"], f"a {rule.kind} rule needs max_hours")
        for name in ("min_rest_hours", "period_start_hour", "enforced_from"):
            if getattr(rule, name) is not None:
                raise invalid_field(["body", name], f"{name} belongs to a rest rule")
        if rule.period != "rolling":
            raise invalid_field(["body", "period"], "period belongs to a rest rule")
    if rule.valid_to is not None and rule.valid_to < rule.valid_from:
        raise invalid_field(["body", "valid_to"], "valid_to is before valid_from", "range")
    if rule.enforced_from is not None and rule.enforced_from < rule.valid_from:
        raise invalid_field(
            ["body", "enforced_from"], "enforced_from is before valid_from", "range"
        )


async def list_rules(
    session: AsyncSession, principal: Principal, window: Window
) -> Page[RuleRead | Tombstone]:
    rows = await repository.page(session, WorkingTimeRule, principal.org_path, window)
    return page_of(rows, window, lambda r: _rule_read(r[0], r[1]))


async def create_rule(session: AsyncSession, principal: Principal, data: RuleCreate) -> RuleRead:
    if data.org_unit is None:
        principal.require_whole_region("A rule without an org unit")
    unit = await _unit(session, principal, data.org_unit)
    rule = WorkingTimeRule(
        kind=data.kind,
        name=data.name,
        min_rest_hours=data.min_rest_hours,
        period=data.period or "rolling",
        period_start_hour=data.period_start_hour,
        enforced_from=data.enforced_from,
        max_hours=data.max_hours,
        professions=data.professions,
        org_unit_id=unit.id if unit else None,
        valid_from=data.valid_from,
        valid_to=data.valid_to,
        enabled=True if data.enabled is None else data.enabled,
    )
    _check_rule(rule)
    await insert(session, rule)
    scope = unit.path if unit else None
    await _changed(session, principal, "rule.create", rule, scope=scope, since=rule.valid_from)
    return _rule_read(rule, unit.code if unit else None)


async def read_rule(session: AsyncSession, principal: Principal, rule_id: uuid.UUID) -> RuleRead:
    # Region-wide rules (no unit) bind every subtree, so every key sees them.
    row = visible_or_404(
        await repository.get(session, WorkingTimeRule, rule_id, for_update=False),
        lambda r: r[2] is None or principal.sees_path(r[2]),
        RuleNotFound(f"No rule with id {rule_id}"),
    )
    return _rule_read(row[0], row[1])


async def update_rule(
    session: AsyncSession,
    principal: Principal,
    rule_id: uuid.UUID,
    data: RuleUpdate,
    *,
    if_match: str | None,
) -> RuleRead:
    # Region-wide rules (no unit) bind every subtree, so every key sees them.
    row = visible_or_404(
        await repository.get(session, WorkingTimeRule, rule_id, for_update=True),
        lambda r: r[2] is None or principal.sees_path(r[2]),
        RuleNotFound(f"No rule with id {rule_id}"),
    )
    rule: WorkingTimeRule = row[0]
    changes = data.model_dump(exclude_unset=True)
    # Every key sees the region-wide rules, but only keys of the whole region change them or
    # make a rule region-wide.
    if row[2] is None or ("org_unit" in changes and changes["org_unit"] is None):
        principal.require_whole_region("A rule without an org unit")
    check_if_match(if_match, rule.version)
    since = min(rule.valid_from, changes.get("valid_from") or rule.valid_from)
    code = row[1]
    if "org_unit" in changes:
        unit = await _unit(session, principal, changes.pop("org_unit"))
        rule.org_unit_id, code = (unit.id, unit.code) if unit else (None, None)
    for name in ("name", "valid_from", "enabled", "period"):
        if name in changes and changes[name] is None:
            raise invalid_field(["body", name], f"{name} cannot be null", "null")
    for name, value in changes.items():
        setattr(rule, name, value)
    _check_rule(rule)  # the rule as changed, before anything is written
    await apply_update(session, rule, {})
    await _changed(
        session,
        principal,
        "rule.update",
        rule,
        scope=principal.org_path,  # a confined key's rule stays inside its subtree
        since=since,
        details={"fields": sorted(changes)},
    )
    return _rule_read(rule, code)


# ---- agency policies and exemptions ---------------------------------------------------------


def _policy_read(policy: AgencyPolicy, code: str) -> PolicyRead:
    return read_as(PolicyRead, policy, id=str(policy.id), org_unit=code)


async def _visible_policy(
    session: AsyncSession, principal: Principal, policy_id: uuid.UUID, *, for_update: bool = False
) -> tuple[AgencyPolicy, str, str]:
    row = in_scope_or_404(
        await repository.get(session, AgencyPolicy, policy_id, for_update=for_update),
        principal,
        PolicyNotFound(f"No agency policy with id {policy_id}"),
    )
    return row[0], row[1], row[2]


async def list_policies(
    session: AsyncSession, principal: Principal, window: Window
) -> Page[PolicyRead | Tombstone]:
    rows = await repository.page(session, AgencyPolicy, principal.org_path, window)
    return page_of(rows, window, lambda r: _policy_read(r[0], r[1]))


async def read_policy(
    session: AsyncSession, principal: Principal, policy_id: uuid.UUID
) -> PolicyRead:
    policy, code, _ = await _visible_policy(session, principal, policy_id)
    return _policy_read(policy, code)


async def create_policy(
    session: AsyncSession, principal: Principal, data: PolicyCreate
) -> PolicyRead:
    unit = await _unit(session, principal, data.org_unit)
    policy = AgencyPolicy(
        name=data.name,
        professions=list(dict.fromkeys(data.professions)),
        org_unit_id=unit.id,
        valid_from=data.valid_from,
        valid_to=data.valid_to,
        banned_windows=[w.model_dump(by_alias=True) for w in data.banned_windows]
        if data.banned_windows
        else None,
        holidays=data.holidays,
        decision_ref=data.decision_ref,
    )
    await insert(session, policy)
    await _changed(
        session,
        principal,
        "agency_policy.create",
        policy,
        scope=unit.path,
        since=policy.valid_from,
        org_unit_id=unit.id,
    )
    return _policy_read(policy, unit.code)


async def update_policy(
    session: AsyncSession,
    principal: Principal,
    policy_id: uuid.UUID,
    data: PolicyUpdate,
    *,
    if_match: str | None,
) -> PolicyRead:
    policy, code, path = await _visible_policy(session, principal, policy_id, for_update=True)
    check_if_match(if_match, policy.version)
    changes = data.model_dump(exclude_unset=True)
    if "name" in changes and changes["name"] is None:
        raise invalid_field(["body", "name"], "name cannot be null", "null")
    if changes.get("valid_to") is not None and changes["valid_to"] < policy.valid_from:
        raise invalid_field(["body", "valid_to"], "valid_to is before valid_from", "range")
    await apply_update(session, policy, changes)
    await _changed(
        session, principal, "agency_policy.update", policy, scope=path, since=policy.valid_from
    )
    return _policy_read(policy, code)


async def delete_policy(
    session: AsyncSession, principal: Principal, policy_id: uuid.UUID, *, if_match: str | None
) -> None:
    policy, _, path = await _visible_policy(session, principal, policy_id, for_update=True)
    check_if_match(if_match, policy.version)
    await soft_delete(session, policy)
    await _changed(
        session, principal, "agency_policy.delete", policy, scope=path, since=policy.valid_from
    )


def _exemption_read(x: AgencyExemption, code: str) -> ExemptionRead:
    return read_as(
        ExemptionRead,
        x,
        id=str(x.id),
        policy_id=str(x.policy_id),
        org_unit=code,
        requested_at=x.created_at,
    )


async def list_exemptions(
    session: AsyncSession, principal: Principal, policy_id: uuid.UUID, *, window: Window
) -> Page[ExemptionRead | Tombstone]:
    """The policy's exemptions in the caller's subtree, by id (with `updated_since`: change
    order, withdrawn ones as tombstones)."""
    await _visible_policy(session, principal, policy_id)
    rows = await repository.exemptions(
        session, policy_id, scope_path=principal.org_path, window=window
    )
    return page_of(rows, window, lambda r: _exemption_read(r[0], r[1]))


async def read_exemption(
    session: AsyncSession, principal: Principal, exemption_id: uuid.UUID
) -> ExemptionRead:
    """An exemption or application in the caller's subtree; a withdrawn one is gone (404)."""
    row = in_scope_or_404(
        await repository.get(session, AgencyExemption, exemption_id, for_update=False),
        principal,
        ExemptionNotFound(f"No exemption with id {exemption_id}"),
    )
    return _exemption_read(row[0], row[1])


async def list_all_exemptions(
    session: AsyncSession, principal: Principal, status: str | None, window: Window
) -> Page[ExemptionRead | Tombstone]:
    rows = await repository.exemption_page(session, principal.org_path, status, window)
    return page_of(rows, window, lambda r: _exemption_read(r[0], r[1]))


async def create_exemption(
    session: AsyncSession, principal: Principal, policy_id: uuid.UUID, data: ExemptionCreate
) -> ExemptionRead:
    """An application (`requested`), or with `decided_by` an exemption already granted."""
    policy, _, policy_path = await _visible_policy(session, principal, policy_id, for_update=True)
    unit = await _unit(session, principal, data.org_unit)
    if not unit.path.startswith(policy_path):
        raise invalid_field(
            ["body", "org_unit"], f"{unit.code} is outside the policy's org subtree", "scope"
        )
    if await repository.overlapping_exemption(
        session, policy.id, unit.path, data.valid_from, data.valid_to
    ):
        raise OverlappingExemption(
            "Another exemption of this policy, granted or applied for, already covers some of "
            "these units and days"
        )
    granted = data.decided_by is not None
    exemption = AgencyExemption(
        policy_id=policy.id,
        org_unit_id=unit.id,
        valid_from=data.valid_from,
        valid_to=data.valid_to,
        status="granted" if granted else "requested",
        requested_by=data.requested_by,
        reason=data.reason,
        decided_by=data.decided_by,
        decided_at=datetime.now(UTC) if granted else None,
        decision_ref=data.decision_ref,
    )
    await insert(session, exemption)
    await _changed(
        session,
        principal,
        "agency_exemption.create",
        exemption,
        scope=unit.path,
        since=data.valid_from,
        org_unit_id=unit.id,
        # An application changes nothing the checks see until it is granted.
        recheck=granted,
    )
    return _exemption_read(exemption, unit.code)


async def decide_exemption(
    session: AsyncSession,
    principal: Principal,
    exemption_id: uuid.UUID,
    data: ExemptionDecision,
) -> ExemptionRead:
    """Grants or rejects an application: who, when, why. A decided one is not decided again
    (409): a changed mind is a new application."""
    row = in_scope_or_404(
        await repository.get(session, AgencyExemption, exemption_id, for_update=True),
        principal,
        ExemptionNotFound(f"No exemption with id {exemption_id}"),
    )
    exemption: AgencyExemption = row[0]
    if exemption.status != "requested":
        raise ExemptionAlreadyDecided(
            f"The exemption was already {exemption.status} by {exemption.decided_by} "
            f"on {exemption.decided_at:%Y-%m-%d}"
        )
    await apply_update(
        session,
        exemption,
        {
            "status": data.decision,
            "decided_by": data.decided_by,
            "decided_at": datetime.now(UTC),
            "decision_reason": data.reason,
            "decision_ref": data.decision_ref or exemption.decision_ref,
        },
    )
    read = _exemption_read(exemption, row[1])
    await _changed(
        session,
        principal,
        "agency_exemption.decide",
        exemption,
        scope=row[2],
        since=exemption.valid_from,
        org_unit_id=exemption.org_unit_id,
        details={"status": data.decision},
        recheck=data.decision == "granted",
    )
    await events_service.publish(
        session,
        "compliance.exemption_decided",
        read.model_dump(
            mode="json",
            include={
                "id",
                "policy_id",
                "org_unit",
                "valid_from",
                "valid_to",
                "status",
                "decided_by",
                "decided_at",
            },
        ),
        org_unit_id=exemption.org_unit_id,
    )
    return read


async def exemption_summary(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    *,
    org_unit: str,
    first: date | None,
    last: date | None,
) -> ExemptionSummary:
    unit = await orgs_service.get_visible(session, principal, org_unit)
    rows = await repository.exemption_summary(
        session, unit.path, first, last, settings.local_timezone
    )
    return ExemptionSummary(
        org_unit=unit.code,
        rows=[
            ExemptionSummaryRow(
                org_unit=code,
                month=month,
                received=int(received),
                requested=int(requested),
                granted=int(granted),
                rejected=int(rejected),
            )
            for code, month, received, requested, granted, rejected in rows
        ],
    )


async def delete_exemption(
    session: AsyncSession, principal: Principal, exemption_id: uuid.UUID
) -> None:
    row = in_scope_or_404(
        await repository.get(session, AgencyExemption, exemption_id, for_update=True),
        principal,
        ExemptionNotFound(f"No exemption with id {exemption_id}"),
    )
    exemption: AgencyExemption = row[0]
    await soft_delete(session, exemption)
    await _changed(
        session,
        principal,
        "agency_exemption.delete",
        exemption,
        scope=row[2],
        since=exemption.valid_from,
    )


# ---- reads ---------------------------------------------------------------------------------


# What the cursors of the violations list in change order (`updated_since`) are `on`.
_VIOLATION_CHANGES = "compliance_violations:changes"


def _malformed_cursor() -> ValidationFailed:
    return ValidationFailed(
        "The cursor is not one this service issued",
        errors=[field_error(["query", "cursor"], "invalid cursor", "invalid_cursor")],
    )


def _violation_cursor(cursor: str) -> int:
    """The id a violations cursor continues after; any other value, however it decodes, is
    the same 422 as every malformed cursor (not a 500 from int() or the database)."""
    (after,) = decode_cursor(cursor, [col(Violation.id)])
    if type(after) is not int or not 0 <= after < 2**63:
        raise _malformed_cursor()
    return after


def _violation_changes_cursor(cursor: str) -> tuple[datetime, int]:
    """The change time and id a cursor of the change order continues after."""
    at, after = decode_cursor(
        cursor, [col(Violation.updated_at), col(Violation.id)], _VIOLATION_CHANGES
    )
    if type(after) is not int or not 0 <= after < 2**63 or not isinstance(at, datetime):
        raise _malformed_cursor()
    if at.tzinfo is None:
        raise _malformed_cursor()
    return at, after


async def list_violations(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    *,
    org_unit: str,
    first: date | None,
    last: date | None,
    kind: str | None,
    profession: str | None,
    cursor: str | None,
    limit: int,
    updated_since: datetime | None = None,
) -> ViolationPage:
    """Person-level rows, for keys with `persondata:read` (the route checks it): audited, each
    employee shown as the caller's own pseudonym. Every row is one employee's working time, so
    no small-group rule applies here (a row list would leak it by differencing anyway); the
    aggregated counts a dashboard needs are `summary`, readable with `read`.

    By id; with `updated_since`, what changed since by change time: violations found or
    changed, and withdrawn ones (a corrected record, a changed rule) as tombstones."""
    unit = await orgs_service.get_visible(session, principal, org_unit)
    filters: dict[str, Any] = {
        "path": unit.path,
        "first": first,
        "last": last,
        "kind": kind,
        "profession": profession,
    }
    if updated_since is None:
        after = _violation_cursor(cursor) if cursor else 0
        rows = await repository.violations(session, **filters, after_id=after, limit=limit)
    else:
        rows = await repository.violation_changes(
            session,
            **filters,
            since=updated_since,
            after=_violation_changes_cursor(cursor) if cursor else None,
            limit=limit,
        )
    kept = rows[:limit]
    await audit_service.record(
        session,
        principal,
        "compliance.violations.read",
        "org_unit",
        unit.code,
        org_unit_id=unit.id,
        details={"kind": kind, "from": str(first), "to": str(last), "rows": len(kept)},
    )
    shown = viewer_pseudonymizer(settings, principal)
    items: list[ViolationRead | Tombstone] = [
        Tombstone(id=str(r[0]), updated_at=r[10])
        if r[11]
        else ViolationRead(
            id=r[0],
            kind=r[1],
            severity="deviation" if r[1] == "agreement_deviation" else "violation",
            rule_id=str(r[2]),
            org_unit=r[3],
            date=r[4],
            employee=shown(r[5]),
            profession=r[6],
            hours=r[7],
            cost_sek=r[8],
            details=r[9],
            updated_at=r[10],
        )
        for r in kept
    ]
    next_cursor = None
    if len(rows) > limit and kept:
        last_row = kept[-1]
        next_cursor = (
            encode_cursor([last_row[0]])
            if updated_since is None
            else encode_cursor([last_row[10], last_row[0]], _VIOLATION_CHANGES)
        )
    return ViolationPage(items=items, next_cursor=next_cursor)


async def summary(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    *,
    org_unit: str,
    first: date | None,
    last: date | None,
) -> Summary:
    """Violations per booked unit, month and kind. For keys without `admin` the small-group
    rule of the KPIs (docs/privacy.md): a row from fewer than `PULS_MIN_GROUP_SIZE` distinct
    employees is hidden, and so is the next smallest row of its unit and month wherever that
    would leave exactly one hidden row beside a readable total (`_SUM_LINES`). Their window is
    whole months, so two windows inside one month cannot be subtracted either."""
    unit = await orgs_service.get_visible(session, principal, org_unit)
    admin = principal.is_admin
    if not admin:
        first = first.replace(day=1) if first else None
        last = periods.last_day(last.replace(day=1)) if last else None
    rows, unchecked = await repository.summary(session, unit.path, first, last)
    hidden: set[tuple[str, str, str]] = set()
    if not admin:
        groups = {
            (code, month, kind): Group(int(people), kind) for code, month, kind, *_, people in rows
        }
        hidden = protect_lines(groups, _summary_lines(groups), settings.min_group_size)
    return Summary(
        org_unit=unit.code,
        rows=[
            SummaryRow(
                org_unit=code,
                month=month,
                kind=kind,
                violations=None if (code, month, kind) in hidden else int(count),
                hours=None if (code, month, kind) in hidden else hours,
                employees=int(people) if admin else None,
                suppressed=(code, month, kind) in hidden,
            )
            for code, month, kind, count, hours, people in rows
        ],
        uncheckable=[
            {"org_unit": code, "month": month, "records": int(n), "hours": str(h)}
            for code, month, n, h in unchecked
        ],
    )


# The sums of a unit-month's summary rows another read shows or could show: all its kinds
# together, and its rest violations (daily and weekly), the `rest_violations` KPI of the
# unit's own facts (`children=true`).
_SUM_LINES: tuple[frozenset[str] | None, ...] = (None, frozenset({"daily_rest", "weekly_rest"}))


def _summary_lines(
    groups: dict[tuple[str, str, str], Group],
) -> list[list[tuple[str, str, str]]]:
    by_cell: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
    for key in sorted(groups):
        by_cell.setdefault(key[:2], []).append(key)
    return [
        [key for key in keys if kinds is None or key[2] in kinds]
        for keys in by_cell.values()
        for kinds in _SUM_LINES
    ]
