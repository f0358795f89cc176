"""What a KPI request names, checked the same way everywhere: period labels, months, and the
org unit a body refers to (unknown or out of sight: a field error, not a 404)."""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from services.core import periods
from services.core.errors import invalid_field
from services.core.orgs import service as orgs_service
from services.core.orgs.errors import OrgUnitNotFound
from services.core.periods import Grain, Period, PeriodError
from services.core.principal import Principal
from services.core.tree import OrgUnit


def period(text: str, loc: list[str | int]) -> Period:
    try:
        return periods.parse(text)
    except PeriodError as exc:
        raise invalid_field(loc, str(exc), "invalid_period") from None


def month(label: str, loc: list[str | int]) -> date:
    p = period(label, loc)
    if p.grain is not Grain.month:
        raise invalid_field(loc, f"{label!r} is not a month like 2024-03", "invalid_month")
    return p.first


async def body_org_unit(session: AsyncSession, principal: Principal, code: str) -> OrgUnit:
    """The unit a request body names, if the caller may see it."""
    try:
        return await orgs_service.get_visible(session, principal, code)
    except OrgUnitNotFound:
        raise invalid_field(
            ["body", "org_unit"], f"unknown org unit {code!r}", "unknown_org_unit"
        ) from None


def unit_id(unit: OrgUnit) -> int:
    assert unit.id is not None
    return unit.id
