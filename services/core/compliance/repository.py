"""Compliance queries."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.core.compliance.models import AgencyExemption, WorkingTimeRule
from services.core.crud import Window, fetch_mirrored, live_row, scoped
from services.core.tree import OrgUnit, in_subtree, subtree_upper_bound, with_unit


async def get(session: AsyncSession, model: Any, item_id: uuid.UUID, *, for_update: bool) -> Any:
    stmt = with_unit(model, outer=model is WorkingTimeRule)
    return await live_row(session, stmt, model, item_id, for_update=for_update)


async def page(
    session: AsyncSession, model: Any, scope_path: str | None, window: Window
) -> Sequence[Any]:
    stmt = with_unit(model, outer=model is WorkingTimeRule)
    if scope_path is not None:
        # Region-wide rules (no unit) bind every subtree, so every key sees them.
        stmt = stmt.where(
            sa.or_(col(OrgUnit.path).is_(None), in_subtree(col(OrgUnit.path), scope_path))
        )
    return await fetch_mirrored(session, stmt, model, window)


async def exemptions(
    session: AsyncSession, policy_id: uuid.UUID, *, scope_path: str | None, window: Window
) -> Sequence[Any]:
    stmt = scoped(
        with_unit(AgencyExemption), scope_path, (col(AgencyExemption.policy_id), policy_id)
    )
    return await fetch_mirrored(session, stmt, AgencyExemption, window)


async def overlapping_exemption(
    session: AsyncSession, policy_id: uuid.UUID, path: str, first: date, last: date
) -> bool:
    """Another live exemption of the policy, granted or applied for, covering some of the same
    units and days (a rejected application does not stand in the way of a new one)."""
    found = await session.execute(
        sa.text(
            """
            SELECT 1 FROM agency_exemptions x JOIN org_units o ON o.id = x.org_unit_id
            WHERE x.policy_id = :policy AND x.deleted_at IS NULL AND x.status <> 'rejected'
              AND x.valid_from <= :last AND x.valid_to >= :first
              AND (starts_with(o.path, :path) OR starts_with(:path, o.path))
            LIMIT 1
            """
        ),
        {"policy": policy_id, "path": path, "first": first, "last": last},
    )
    return found.first() is not None


# A violation as the list shows it, live (`v`, changed at `updated_at`) or withdrawn (`h`, from
# the history, changed when it was withdrawn): the same columns, then the change time and
# whether it is a tombstone.
_VIOLATION_COLUMNS = (
    "{t}.kind, {t}.source_id, o.code, {t}.work_date, {t}.employee, {t}.profession, "
    "{t}.hours, {t}.cost_sek, {t}.details"
)


def _violation_filters(
    t: str, path: str, first: date | None, last: date | None, kind: str | None, prof: str | None
) -> tuple[str, dict[str, Any]]:
    where = ["o.path >= :lo", "o.path < :hi"]
    params: dict[str, Any] = {"lo": path, "hi": subtree_upper_bound(path)}
    for name, value, clause in (
        ("first", first, "{t}.work_date >= :first"),
        ("last", last, "{t}.work_date <= :last"),
        ("kind", kind, "{t}.kind = :kind"),
        ("profession", prof, "{t}.profession = :profession"),
    ):
        if value is not None:
            where.append(clause.format(t=t))
            params[name] = value
    return " AND ".join(where), params


async def violations(
    session: AsyncSession,
    *,
    path: str,
    first: date | None,
    last: date | None,
    kind: str | None,
    profession: str | None,
    after_id: int,
    limit: int,
) -> list[Any]:
    """A page of violations in the subtree (one row more than `limit`: is there a next page)."""
    condition, params = _violation_filters("v", path, first, last, kind, profession)
    rows = await session.execute(
        sa.text(
            f"SELECT v.id, {_VIOLATION_COLUMNS.format(t='v')}, v.updated_at, false "
            "FROM compliance_violations v JOIN org_units o ON o.id = v.org_unit_id "
            f"WHERE {condition} AND v.id > :after ORDER BY v.id LIMIT :limit"
        ),
        {**params, "after": after_id, "limit": limit + 1},
    )
    return list(rows.all())


async def violation_changes(
    session: AsyncSession,
    *,
    path: str,
    first: date | None,
    last: date | None,
    kind: str | None,
    profession: str | None,
    since: datetime,
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[Any]:
    """A page of what changed in the subtree's violations after `since`, by change time:
    violations found or changed, and those withdrawn (from the history, as tombstones). The
    same filters apply to both."""
    live, params = _violation_filters("v", path, first, last, kind, profession)
    gone, _ = _violation_filters("h", path, first, last, kind, profession)
    params |= {"since": since, "limit": limit + 1}
    later = {"v": "", "h": ""}
    if after is not None:
        params |= {"after_at": after[0], "after_id": after[1]}
        later = {
            "v": " AND (v.updated_at, v.id) > (:after_at, :after_id)",
            "h": " AND (h.withdrawn_at, h.violation_id) > (:after_at, :after_id)",
        }
    rows = await session.execute(
        sa.text(
            f"""
            SELECT * FROM (
                SELECT v.id, {_VIOLATION_COLUMNS.format(t="v")}, v.updated_at AS changed,
                       false AS withdrawn
                FROM compliance_violations v JOIN org_units o ON o.id = v.org_unit_id
                WHERE {live} AND v.updated_at > :since{later["v"]}
                UNION ALL
                SELECT h.violation_id, {_VIOLATION_COLUMNS.format(t="h")}, h.withdrawn_at,
                       true
                FROM compliance_violation_history h JOIN org_units o ON o.id = h.org_unit_id
                WHERE {gone} AND h.withdrawn_at > :since{later["h"]}
            ) AS changes
            ORDER BY changed, id LIMIT :limit
            """
        ),
        params,
    )
    return list(rows.all())


async def summary(
    session: AsyncSession, path: str, first: date | None, last: date | None
) -> tuple[list[Any], list[Any]]:
    params = {"lo": path, "hi": subtree_upper_bound(path), "first": first, "last": last}
    window = (
        "(CAST(:first AS date) IS NULL OR {d} >= :first) "
        "AND (CAST(:last AS date) IS NULL OR {d} <= :last)"
    )
    rows = await session.execute(
        sa.text(
            f"""
            SELECT o.code, to_char(date_trunc('month', v.work_date), 'YYYY-MM'), v.kind,
                   count(*), sum(v.hours), count(DISTINCT v.employee)
            FROM compliance_violations v JOIN org_units o ON o.id = v.org_unit_id
            WHERE o.path >= :lo AND o.path < :hi AND {window.format(d="v.work_date")}
            GROUP BY 1, 2, 3 ORDER BY 2, 1, 3
            """
        ),
        params,
    )
    unchecked = await session.execute(
        sa.text(
            f"""
            SELECT o.code, to_char(u.month, 'YYYY-MM'), u.records, u.hours
            FROM compliance_uncheckable u JOIN org_units o ON o.id = u.org_unit_id
            WHERE o.path >= :lo AND o.path < :hi AND {window.format(d="u.month")}
            ORDER BY 2, 1
            """
        ),
        params,
    )
    return list(rows.all()), list(unchecked.all())


async def exemption_page(
    session: AsyncSession, scope_path: str | None, status: str | None, window: Window
) -> Sequence[Any]:
    """A page of exemptions of every policy in the caller's subtree, of one status if given."""
    stmt = scoped(with_unit(AgencyExemption), scope_path, (col(AgencyExemption.status), status))
    return await fetch_mirrored(session, stmt, AgencyExemption, window)


async def exemption_summary(
    session: AsyncSession, path: str, first: date | None, last: date | None, tz: str
) -> list[Any]:
    """Applications per unit and the local month they were received, by status."""
    rows = await session.execute(
        sa.text(
            """
            SELECT o.code, to_char(x.month, 'YYYY-MM'), count(*),
                   count(*) FILTER (WHERE x.status = 'requested'),
                   count(*) FILTER (WHERE x.status = 'granted'),
                   count(*) FILTER (WHERE x.status = 'rejected')
            FROM (SELECT *, date_trunc('month', created_at AT TIME ZONE :tz)::date AS month
                  FROM agency_exemptions WHERE deleted_at IS NULL) AS x
            JOIN org_units o ON o.id = x.org_unit_id
            WHERE o.path >= :lo AND o.path < :hi
              AND (CAST(:first AS date) IS NULL
                   OR x.month >= date_trunc('month', CAST(:first AS date)))
              AND (CAST(:last AS date) IS NULL OR x.month <= :last)
            GROUP BY o.code, x.month ORDER BY x.month, o.code
            """
        ),
        {"lo": path, "hi": subtree_upper_bound(path), "first": first, "last": last, "tz": tz},
    )
    return list(rows.all())
