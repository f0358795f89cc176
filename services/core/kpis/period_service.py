"""Closing a period for reporting: every computed KPI point of the period, for every org unit,
is published (a snapshot with its time). Later corrections from the feeds still update the
live figures; the series then shows the published value beside the revised one, so a closed
year's annual report can be reproduced exactly. Reopening is an admin action with a reason."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.audit import service as audit_service
from services.core.clock import utcnow
from services.core.crud import read_as
from services.core.errors import invalid_field
from services.core.kpis import inputs, repository
from services.core.kpis.errors import PeriodClosed, PeriodNotClosed
from services.core.kpis.models import KpiPeriodClosure
from services.core.kpis.schemas import PeriodClosureRead, ReopenIn
from services.core.periods import Grain, Period
from services.core.principal import Principal


def _period(label: str) -> Period:
    p = inputs.period(label, ["path", "label"])
    if p.grain is Grain.week:
        raise invalid_field(
            ["path", "label"], "a week is not closed for reporting; close its month", "week"
        )
    return p


async def close(session: AsyncSession, principal: Principal, label: str) -> PeriodClosureRead:
    principal.require_whole_region("Closing a period")
    p = _period(label)
    if await repository.open_closure(session, p.label, for_update=True) is not None:
        raise PeriodClosed(f"{p.label} is closed already; reopen it first to publish again")
    closure = await repository.add_closure(
        session, KpiPeriodClosure(period=p.label, closed_by=principal.actor)
    )
    count = await repository.publish(session, p.label, p.first, p.last, p.month_count)
    await audit_service.record(
        session, principal, "kpi.period_close", "period", p.label, details={"points": count}
    )
    return read_as(PeriodClosureRead, closure, published_points=count)


async def reopen(
    session: AsyncSession, principal: Principal, label: str, data: ReopenIn
) -> PeriodClosureRead:
    principal.require_whole_region("Reopening a period")
    p = _period(label)
    closure = await repository.open_closure(session, p.label, for_update=True)
    if closure is None:
        raise PeriodNotClosed(f"{p.label} is not closed")
    closure.reopened_by = principal.actor
    closure.reopened_at = utcnow()
    closure.reopen_reason = data.reason
    await session.flush()
    await audit_service.record(
        session, principal, "kpi.period_reopen", "period", p.label, details={"reason": data.reason}
    )
    return read_as(PeriodClosureRead, closure)
