"""The KPI catalogue as callers see it: the computed KPIs of `catalogue.py` and the manual ones
admins add, one `Definition` each, and the values entered for manual KPIs."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.audit import service as audit_service
from services.core.crud import read_as
from services.core.errors import invalid_field
from services.core.kpis import inputs, repository
from services.core.kpis.catalogue import CATALOGUE, WEEKLY, Direction, KpiDefinition, Temporal
from services.core.kpis.errors import KpiExists, KpiNotFound
from services.core.kpis.models import ManualKpi, ManualValue
from services.core.kpis.schemas import KpiRead, ManualKpiCreate, ManualValueIn, ManualValueRead
from services.core.periods import Grain
from services.core.principal import Principal

ALL_GRAINS = tuple(g.value for g in Grain)


@dataclass(frozen=True)
class Definition:
    code: str
    kind: str
    name_en: str
    name_sv: str
    unit: str
    better: Direction
    formula: str
    dimensions: tuple[str, ...]
    grains: tuple[str, ...]
    person_based: bool
    computed: KpiDefinition | None

    @property
    def additive(self) -> bool:
        """A plain amount that grows with the period's length (hours, SEK, weeks)."""
        c = self.computed
        return c is not None and c.numerator is Temporal.flow and c.denominator is None

    def read(self) -> KpiRead:
        return read_as(
            KpiRead,
            self,
            better=self.better.value,
            dimensions=list(self.dimensions),
            grains=list(self.grains),
        )


def computed_definition(d: KpiDefinition) -> Definition:
    return Definition(
        d.code,
        "computed",
        d.name_en,
        d.name_sv,
        d.unit.value,
        d.better,
        d.formula,
        d.dimensions,
        tuple(g for g in d.grains or ALL_GRAINS if g != Grain.week or d.code in WEEKLY),
        d.person_based,
        d,
    )


def _manual(m: ManualKpi) -> Definition:
    return Definition(
        m.code,
        "manual",
        m.name_en,
        m.name_sv,
        m.unit,
        Direction(m.better),
        m.description or "entered by hand",
        (),
        tuple(m.grains),
        False,
        None,
    )


async def definition(session: AsyncSession, code: str) -> Definition:
    if code in CATALOGUE:
        return computed_definition(CATALOGUE[code])
    manual = await session.get(ManualKpi, code)
    if manual is None or manual.deleted_at is not None:
        raise KpiNotFound(f"No KPI {code!r}; GET /v1/kpis lists them")
    return _manual(manual)


async def list_kpis(session: AsyncSession) -> list[KpiRead]:
    computed = [computed_definition(d).read() for d in CATALOGUE.values()]
    return computed + [_manual(m).read() for m in await repository.manual_kpis(session)]


async def create_manual_kpi(
    session: AsyncSession, principal: Principal, data: ManualKpiCreate
) -> KpiRead:
    principal.require_whole_region("The KPI catalogue")
    if data.code in CATALOGUE or await session.get(ManualKpi, data.code) is not None:
        raise KpiExists(f"A KPI {data.code!r} exists already")
    kpi = ManualKpi(
        code=data.code,
        name_en=data.name_en,
        name_sv=data.name_sv,
        unit=data.unit,
        better=data.better,
        grains=list(dict.fromkeys(data.grains)),
        description=data.description,
    )
    session.add(kpi)
    await session.flush()
    await audit_service.record(session, principal, "kpi.create", "kpi", data.code)
    return _manual(kpi).read()


async def post_manual_value(
    session: AsyncSession, principal: Principal, code: str, data: ManualValueIn
) -> ManualValueRead:
    d = await definition(session, code)
    if d.computed is not None:
        raise invalid_field(["path", "code"], f"{code} is computed from the time data, not entered")
    period = inputs.period(data.period, ["body", "period"])
    if period.grain.value not in d.grains:
        raise invalid_field(
            ["body", "period"],
            f"{code} takes values per {', '.join(d.grains)}, not per {period.grain.value}",
            "grain_not_available",
        )
    unit = await inputs.body_org_unit(session, principal, data.org_unit)
    stored = await repository.upsert_manual_value(
        session,
        ManualValue(
            kpi=code,
            org_unit_id=inputs.unit_id(unit),
            month=period.last,
            value=data.value,
            comment=data.comment,
            entered_by=principal.actor,
        ),
    )
    await audit_service.record(
        session,
        principal,
        "kpi.value",
        "kpi",
        code,
        org_unit_id=unit.id,
        details={"period": period.label},
    )
    return read_as(ManualValueRead, stored, org_unit=unit.code, period=period.label)
