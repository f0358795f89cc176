"""Every KPI query: monthly sums over an org subtree, targets, manual values."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.core.kpis.catalogue import MEASURE_OF
from services.core.kpis.models import KpiTarget, ManualKpi, ManualValue, Recalculation
from services.core.orgs.models import OrgUnit
from services.core.orgs.repository import in_subtree, subtree_upper_bound
from services.core.pagination import keyset, mirror_query

DIMENSIONS = ("profession", "staff_kind", "gender", "age_band")


@dataclass(frozen=True)
class MonthSum:
    numerator: Decimal
    denominator: Decimal | None
    # The largest number of employees behind any one unit-month summed here: at least that
    # many distinct employees stand behind the sum (suppression errs toward hiding).
    employees: int | None
    computed_at: datetime | None


async def monthly(
    session: AsyncSession,
    kpi: str,
    prefix: str,
    first: date,
    last: date,
    filters: dict[str, str],
    *,
    by_child: bool = False,
) -> dict[tuple[str, date], MonthSum]:
    """Sums per month (and per child of `prefix` when `by_child`, keyed by the child's id as
    text, '' for the unit itself) of the facts in the subtree. A month with facts of the KPI's
    kind has data, zeros included: a unit that reported its hours and had no overtime had 0
    overtime hours (a ratio over a zero denominator is then null with its reason)."""
    child = "split_part(substr(o.path, :plen + 1), '/', 1)" if by_child else "''"
    measure = MEASURE_OF[kpi]
    num = measure.numerator
    den = measure.denominator or "NULL::numeric"
    if filters:
        # Splits are summed per unit and month first, so `employees` stays per unit-month.
        where = "".join(f" AND f.{name} = :{name}" for name in filters)
        source = f"""(
            SELECT f.org_unit_id, f.month, sum({num}) AS numerator, sum({den}) AS denominator,
                   sum(f.employees) AS employees, max(f.computed_at) AS computed_at
            FROM kpi_facts f
            WHERE f.kind = :kind AND f.month BETWEEN :first AND :last {where}
            GROUP BY f.org_unit_id, f.month
        )"""
    else:
        source = f"""(
            SELECT org_unit_id, month, {num} AS numerator, {den} AS denominator, employees,
                   computed_at
            FROM kpi_cell_totals WHERE kind = :kind
        )"""
    rows = await session.execute(
        sa.text(
            f"""
            SELECT {child} AS child, c.month, sum(c.numerator), sum(c.denominator),
                   max(c.employees), max(c.computed_at)
            FROM {source} c JOIN org_units o ON o.id = c.org_unit_id
            WHERE c.month BETWEEN :first AND :last AND o.path >= :lo AND o.path < :hi
            GROUP BY 1, 2
            """
        ),
        {
            "kind": measure.kind,
            "first": first,
            "last": last,
            "lo": prefix,
            "hi": subtree_upper_bound(prefix),
            "plen": len(prefix),
            **filters,
        },
    )
    return {
        (key, month): MonthSum(n, d, int(e) if e is not None else None, c)
        for key, month, n, d, e, c in rows.all()
    }


async def facts_token(session: AsyncSession) -> tuple[Any, ...] | None:
    """What the sums of `monthly` depend on besides their arguments: the facts' version and
    the org tree (a moved unit changes which subtree its facts count in). None before the
    first recalculation."""
    row = (
        await session.execute(
            sa.text(
                "SELECT (SELECT version FROM kpi_facts_version), "
                "(SELECT max(updated_at) FROM org_units), (SELECT count(*) FROM org_units)"
            )
        )
    ).one()
    return None if row[0] is None else tuple(row)


async def children(session: AsyncSession, parent_id: int) -> list[OrgUnit]:
    rows = await session.execute(
        sa.select(OrgUnit)
        .where(col(OrgUnit.parent_id) == parent_id, col(OrgUnit.deleted_at).is_(None))
        .order_by(col(OrgUnit.code))
    )
    return list(rows.scalars())


async def targets_for_kpi(session: AsyncSession, kpi: str | None = None) -> list[Any]:
    """Live targets (with their org unit's code and path), for one KPI or all."""
    stmt = (
        sa.select(KpiTarget, col(OrgUnit.code), col(OrgUnit.path))
        .join(OrgUnit, col(OrgUnit.id) == col(KpiTarget.org_unit_id))
        .where(col(KpiTarget.deleted_at).is_(None))
        .order_by(col(KpiTarget.created_at))
    )
    if kpi is not None:
        stmt = stmt.where(col(KpiTarget.kpi) == kpi)
    return list((await session.execute(stmt)).all())


async def get_target(
    session: AsyncSession, target_id: uuid.UUID, *, for_update: bool = False
) -> Any:
    stmt = (
        sa.select(KpiTarget, col(OrgUnit.code), col(OrgUnit.path))
        .join(OrgUnit, col(OrgUnit.id) == col(KpiTarget.org_unit_id))
        .where(col(KpiTarget.id) == target_id, col(KpiTarget.deleted_at).is_(None))
    )
    if for_update:
        stmt = stmt.with_for_update(of=KpiTarget)
    return (await session.execute(stmt)).first()


async def target_page(
    session: AsyncSession,
    *,
    scope_path: str | None,
    kpi: str | None,
    updated_since: datetime | None,
    cursor: str | None,
    limit: int,
) -> list[Any]:
    stmt: Any = sa.select(KpiTarget, col(OrgUnit.code)).join(
        OrgUnit, col(OrgUnit.id) == col(KpiTarget.org_unit_id)
    )
    if scope_path is not None:
        stmt = stmt.where(in_subtree(col(OrgUnit.path), scope_path))
    if kpi is not None:
        stmt = stmt.where(col(KpiTarget.kpi) == kpi)
    stmt, order = mirror_query(stmt, KpiTarget, updated_since)
    return list((await session.execute(keyset(stmt, order, cursor, limit))).all())


async def manual_kpis(session: AsyncSession) -> list[ManualKpi]:
    rows = await session.execute(
        sa.select(ManualKpi)
        .where(col(ManualKpi.deleted_at).is_(None))
        .order_by(col(ManualKpi.code))
    )
    return list(rows.scalars())


async def manual_values(
    session: AsyncSession, kpi: str, org_unit_id: int, first: date, last: date
) -> list[ManualValue]:
    rows = await session.execute(
        sa.select(ManualValue)
        .where(
            col(ManualValue.kpi) == kpi,
            col(ManualValue.org_unit_id) == org_unit_id,
            col(ManualValue.month).between(first, last),
        )
        .order_by(col(ManualValue.month))
    )
    return list(rows.scalars())


async def upsert_manual_value(session: AsyncSession, value: ManualValue) -> ManualValue:
    from sqlalchemy.dialects.postgresql import insert

    insert_stmt = insert(ManualValue).values(
        kpi=value.kpi,
        org_unit_id=value.org_unit_id,
        month=value.month,
        value=value.value,
        comment=value.comment,
        entered_by=value.entered_by,
    )
    stmt = insert_stmt.on_conflict_do_update(
        index_elements=["kpi", "org_unit_id", "month"],
        set_={
            "value": insert_stmt.excluded.value,
            "comment": insert_stmt.excluded.comment,
            "entered_by": insert_stmt.excluded.entered_by,
            "entered_at": sa.func.now(),
        },
    ).returning(ManualValue)
    row: ManualValue = (
        await session.execute(sa.select(ManualValue).from_statement(stmt))
    ).scalar_one()
    return row


async def get_recalculation(session: AsyncSession, rid: uuid.UUID) -> Any:
    return (
        await session.execute(
            sa.select(Recalculation, col(OrgUnit.code), col(OrgUnit.path))
            .outerjoin(OrgUnit, col(OrgUnit.id) == col(Recalculation.org_unit_id))
            .where(col(Recalculation.id) == rid)
        )
    ).first()
