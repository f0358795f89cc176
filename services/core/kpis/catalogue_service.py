"""The KPI catalogue as callers see it: the computed KPIs of `catalogue.py` and the manual ones
admins add, one `Definition` each, and the values entered for manual KPIs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.audit import service as audit_service
from services.core.crud import Window, page_of_entries, read_as
from services.core.errors import PreconditionFailed, invalid_field
from services.core.http import check_if_match
from services.core.kpis import inputs, repository
from services.core.kpis.catalogue import CATALOGUE, WEEKLY, Direction, KpiDefinition, Temporal
from services.core.kpis.errors import KpiExists, KpiNotFound, ManualValueNotFound
from services.core.kpis.models import ManualKpi, ManualValue
from services.core.kpis.schemas import KpiRead, ManualKpiCreate, ManualValueIn, ManualValueRead
from services.core.orgs import service as orgs_service
from services.core.pagination import Page, changes_name, split_page
from services.core.periods import Grain, Period, period_ending
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
    # A manual KPI's change time; the computed ones change only with a release.
    updated_at: datetime | None = None

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
        m.updated_at,
    )


async def definition(session: AsyncSession, code: str) -> Definition:
    if code in CATALOGUE:
        return computed_definition(CATALOGUE[code])
    manual = await session.get(ManualKpi, code)
    if manual is None or manual.deleted_at is not None:
        raise KpiNotFound(f"No KPI {code!r}; GET /v1/kpis lists them")
    return _manual(manual)


async def list_kpis(session: AsyncSession, *, window: Window) -> Page[KpiRead]:
    """By code. With `updated_since`, the manual KPIs added or changed since then (the
    computed ones change only with a release of Puls; KPIs are never deleted)."""
    computed = [computed_definition(d).read() for d in CATALOGUE.values()]
    entries = computed + [_manual(m).read() for m in await repository.manual_kpis(session)]
    return page_of_entries(
        entries, window, key=lambda k: k.code, changed=lambda k: k.updated_at, name="kpis"
    )


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


def _entered_by_hand(code: str, d: Definition) -> None:
    if d.computed is not None:
        raise invalid_field(["path", "code"], f"{code} is computed from the time data, not entered")


def _manual_period(code: str, d: Definition, label: str, loc: list[str | int]) -> Period:
    period = inputs.period(label, loc)
    if period.grain.value not in d.grains:
        raise invalid_field(
            loc,
            f"{code} takes values per {', '.join(d.grains)}, not per {period.grain.value}",
            "grain_not_available",
        )
    return period


def value_label(d: Definition, month: date) -> str:
    """How a stored value's period is named when it is read back: by the KPI's grain, or by
    month when it takes several (the same value is also found by the label it was sent as)."""
    grain = Grain(d.grains[0]) if len(d.grains) == 1 else Grain.month
    return period_ending(grain, month).label


async def post_manual_value(
    session: AsyncSession,
    principal: Principal,
    code: str,
    data: ManualValueIn,
    *,
    if_match: str | None = None,
) -> tuple[ManualValueRead, str]:
    """The value as stored and the path it is read back at. With `if_match`, only the value
    of that version is replaced (412 otherwise, and when there is none yet)."""
    d = await definition(session, code)
    _entered_by_hand(code, d)
    period = _manual_period(code, d, data.period, ["body", "period"])
    unit = await inputs.body_org_unit(session, principal, data.org_unit)
    if if_match is not None:
        current = await repository.manual_value(
            session, code, inputs.unit_id(unit), period.last, for_update=True
        )
        # No value yet is no version an ETag could name: only `*` would match it, and `*`
        # means "an existing one".
        if current is None:
            raise PreconditionFailed(
                "If-Match names a version, but no value is stored for this unit and period"
            )
        check_if_match(if_match, current.version)
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
    read = read_as(ManualValueRead, stored, org_unit=unit.code, period=period.label)
    return read, f"/v1/kpis/{code}/values/{unit.code}/{value_label(d, stored.month)}"


async def read_manual_value(
    session: AsyncSession, principal: Principal, code: str, org_unit: str, label: str
) -> ManualValueRead:
    """One value of a manual KPI, by unit and period (a label of one of the KPI's grains:
    the value of the period's last month, as `post_manual_value` stores it)."""
    d = await definition(session, code)
    _entered_by_hand(code, d)
    period = _manual_period(code, d, label, ["path", "period"])
    unit = await orgs_service.get_visible(session, principal, org_unit)
    stored = await repository.manual_value(
        session, code, inputs.unit_id(unit), period.last, for_update=False
    )
    if stored is None:
        raise ManualValueNotFound(f"No value of {code} for {unit.code} in {label}")
    return read_as(ManualValueRead, stored, org_unit=unit.code, period=label)


async def list_manual_values(
    session: AsyncSession,
    principal: Principal,
    code: str,
    *,
    org_unit: str | None,
    window: Window,
) -> Page[ManualValueRead]:
    """A manual KPI's values as entered (who, when), in the caller's subtree: by unit and
    period, or with `updated_since` those entered since, by entry time. A value is labelled
    with the KPI's grain (by month when it takes several)."""
    d = await definition(session, code)
    _entered_by_hand(code, d)
    unit_id = None
    if org_unit is not None:
        unit_id = inputs.unit_id(await orgs_service.get_visible(session, principal, org_unit))
    rows = await repository.manual_values_page(
        session, code, scope_path=principal.org_path, org_unit_id=unit_id, window=window
    )

    def to_read(row: Any) -> ManualValueRead:
        label = value_label(d, row[0].month)
        return read_as(ManualValueRead, row[0], org_unit=row[1], period=label)

    def cursor_key(row: Any) -> tuple[Any, ...]:
        key = (row[0].org_unit_id, row[0].month)
        return key if window.updated_since is None else (row[0].entered_at, *key)

    kept, next_cursor = split_page(
        rows,
        window.limit,
        cursor_key,
        changes_name(f"manual_kpi_values/{code}", window.updated_since),
    )
    return Page(items=[to_read(r) for r in kept], next_cursor=next_cursor)
