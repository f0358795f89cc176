"""A unit's written analysis of a KPI for a period (seed 002 prints one beside each figure):
written and rewritten with author and time, every version kept, the latest shown on the
series point and in the scorecard."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.audit import service as audit_service
from services.core.errors import invalid_field
from services.core.kpis import inputs, repository
from services.core.kpis.catalogue_service import definition
from services.core.kpis.errors import AnalysisNotFound
from services.core.kpis.models import KpiAnalysis
from services.core.kpis.schemas import AnalysisIn, AnalysisRead, AnalysisVersion
from services.core.orgs import service as orgs_service
from services.core.periods import Period
from services.core.principal import Principal
from services.core.tree import OrgUnit


async def _target(
    session: AsyncSession, principal: Principal, code: str, org_unit: str, period: str
) -> tuple[str, OrgUnit, Period]:
    d = await definition(session, code)
    p = inputs.period(period, ["path", "period"])
    if p.grain.value not in d.grains:
        raise invalid_field(
            ["path", "period"],
            f"{d.code} has no {p.grain.value} values; its grains are {', '.join(d.grains)}",
            "grain_not_available",
        )
    unit = await orgs_service.get_visible(session, principal, org_unit)
    return d.code, unit, p


def _read(code: str, unit: OrgUnit, p: Period, versions: list[KpiAnalysis]) -> AnalysisRead:
    current, *earlier = versions
    assert current.written_at is not None
    return AnalysisRead(
        kpi=code,
        org_unit=unit.code,
        period=p.label,
        text=current.text,
        author=current.author,
        written_at=current.written_at,
        history=[_version(v) for v in earlier],
    )


def _version(row: KpiAnalysis) -> AnalysisVersion:
    assert row.written_at is not None
    return AnalysisVersion(text=row.text, author=row.author, written_at=row.written_at)


async def put_analysis(
    session: AsyncSession,
    principal: Principal,
    code: str,
    org_unit: str,
    period: str,
    data: AnalysisIn,
) -> AnalysisRead:
    kpi, unit, p = await _target(session, principal, code, org_unit, period)
    await repository.add_analysis(
        session,
        KpiAnalysis(
            kpi=kpi,
            org_unit_id=inputs.unit_id(unit),
            period=p.label,
            text=data.text,
            author=principal.actor,
        ),
    )
    await audit_service.record(
        session,
        principal,
        "kpi.analysis",
        "kpi",
        kpi,
        org_unit_id=unit.id,
        details={"period": p.label},
    )
    versions = await repository.analyses(session, kpi, inputs.unit_id(unit), p.label)
    return _read(kpi, unit, p, versions)


async def get_analysis(
    session: AsyncSession, principal: Principal, code: str, org_unit: str, period: str
) -> AnalysisRead:
    kpi, unit, p = await _target(session, principal, code, org_unit, period)
    versions = await repository.analyses(session, kpi, inputs.unit_id(unit), p.label)
    if not versions:
        raise AnalysisNotFound(f"No analysis of {kpi} for {unit.code} in {p.label}")
    return _read(kpi, unit, p, versions)
