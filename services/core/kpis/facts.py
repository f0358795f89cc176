"""Leaf facts: the set-based SQL that recomputes every computed KPI's numerator and
denominator for a set of claimed (org unit, month) cells.

A recalculation claims dirty cells by their org units, with a transaction-level advisory lock
per unit (others skip the units it holds), and remembers each mark's row version. It then
replaces the cells' facts in one statement per source (time records, employments, personnel
costs) and, last, deletes the marks that are still the versions it claimed. The marks are not
row-locked meanwhile, so a feed changing the same cells marks them again without waiting for the
recalculation (every writer marks with `ON CONFLICT … DO UPDATE`, which makes a new row
version, so its change is computed in a later round); a crash leaves the marks in place.
Other domains add their own sources or hooks (`FACT_SOURCES`, `CELL_HOOKS`), which run in the
same transaction for the same cells."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.compliance import detection
from services.core.config import Settings
from services.core.orgs.repository import subtree_upper_bound
from services.core.timedata.models import ABSENCE_TYPES

CLAIMED = "kpi_claimed"
# Own staff with records in the claimed cells: whose sick spells and rest periods to look at.
# One pass over the cells, analysed, so the later statements fetch just these employees'
# history by index instead of hashing the whole table against a badly estimated join.
CLAIMED_EMPLOYEES = "kpi_claimed_employees"
_CLAIMED_EMPLOYEES = f"""
INSERT INTO {CLAIMED_EMPLOYEES} (employee, sick, shifts)
SELECT t.employee, bool_or(t.time_type = 'sick'),
       bool_or(t.time_type IN {detection.SHIFT_TYPES} AND t.start_at IS NOT NULL)
FROM {CLAIMED} c
JOIN time_records t ON t.org_unit_id = c.org_unit_id
 AND t.work_date >= c.month AND t.work_date < (c.month + interval '1 month')::date
WHERE t.staff_kind = 'own' AND t.deleted_at IS NULL
GROUP BY t.employee
"""

_ABSENCES = ", ".join(f"'{t}'" for t in ABSENCE_TYPES)

# One advisory-lock key per org unit; pg_try_advisory_xact_lock lets another transaction skip
# it. Per unit, not per cell: each lock takes a slot in PostgreSQL's shared lock table (about
# 64 × max_connections in all), so a round locks at most UNITS_PER_ROUND of them.
UNIT_LOCK = "pg_try_advisory_xact_lock(hashtextextended('kpi_unit:' || {unit}, 0))"
UNITS_PER_ROUND = 500

_CLAIM = f"""
INSERT INTO {CLAIMED} (org_unit_id, month, mark)
WITH units AS MATERIALIZED (
    SELECT org_unit_id, min(month) AS first, count(*) AS cells FROM kpi_dirty_cells
    GROUP BY org_unit_id
), queue AS MATERIALIZED (
    -- Oldest months first: a spell's later months are then still dirty when an earlier round
    -- renumbers them, instead of being computed twice.
    SELECT org_unit_id, sum(cells) OVER w - cells AS before FROM units
    WINDOW w AS (ORDER BY first, org_unit_id)
    ORDER BY first, org_unit_id
), locked AS MATERIALIZED (
    -- Tried one by one as the limit pulls them: no more units are locked than taken, and none
    -- once the units ahead of it hold :limit cells.
    SELECT org_unit_id FROM queue
    WHERE CASE WHEN before < :limit THEN {UNIT_LOCK.format(unit="org_unit_id")} ELSE false END
    LIMIT {UNITS_PER_ROUND}
)
SELECT d.org_unit_id, d.month, d.xmin FROM kpi_dirty_cells d JOIN locked USING (org_unit_id)
ORDER BY d.month, d.org_unit_id
LIMIT :limit
"""

# Marks a writer changed since the claim (a new row version) stay for the next round. Locked in
# order first, as writers lock them, so a concurrent feed and this never deadlock.
_RELEASE = f"""
WITH done AS (
    SELECT d.org_unit_id, d.month FROM kpi_dirty_cells d
    JOIN {CLAIMED} c ON c.org_unit_id = d.org_unit_id AND c.month = d.month
    WHERE d.xmin = c.mark
    ORDER BY d.org_unit_id, d.month
    FOR UPDATE OF d
)
DELETE FROM kpi_dirty_cells d USING done
WHERE d.org_unit_id = done.org_unit_id AND d.month = done.month
"""

# Every own sick day of the employees who have one in a claimed cell, numbered within its spell:
# a spell continues while the next sick day is at most 5 calendar days after the previous one,
# and a spell that began before the claimed month counts from its real first day.
_SICK_DAYS = f"""
INSERT INTO kpi_sick_days (employee, work_date, spell, day_no, units, claimed)
WITH affected AS (
    SELECT employee FROM {CLAIMED_EMPLOYEES} WHERE sick
), days AS (
    SELECT t.employee, t.work_date, array_agg(DISTINCT t.org_unit_id) AS units,
           bool_or(c.org_unit_id IS NOT NULL) AS claimed
    FROM time_records t
    JOIN affected a USING (employee)
    LEFT JOIN {CLAIMED} c ON c.org_unit_id = t.org_unit_id
     AND c.month = date_trunc('month', t.work_date)::date
    WHERE t.time_type = 'sick' AND t.staff_kind = 'own' AND t.deleted_at IS NULL
    GROUP BY t.employee, t.work_date
), starts AS (
    SELECT employee, work_date, units, claimed,
           CASE WHEN work_date - lag(work_date) OVER w <= 5 THEN 0 ELSE 1 END AS new_spell
    FROM days WINDOW w AS (PARTITION BY employee ORDER BY work_date)
), spells AS (
    SELECT employee, work_date, units, claimed,
           sum(new_spell) OVER (PARTITION BY employee ORDER BY work_date) AS spell
    FROM starts
)
SELECT employee, work_date, spell,
       work_date - min(work_date) OVER (PARTITION BY employee, spell) + 1, units, claimed
FROM spells
"""

_AGE_BAND = """CASE WHEN {birth} IS NULL THEN ''
     WHEN extract(year FROM {month})::int - {birth} <= 29 THEN '-29'
     WHEN extract(year FROM {month})::int - {birth} <= 49 THEN '30-49'
     ELSE '50-' END"""

# Sources write into a temporary table first: the facts and the cell totals are then two
# plain inserts from it, with no join back into the (large) facts table.
_INSERT = (
    "INSERT INTO kpi_new_facts (org_unit_id, month, kpi, profession, staff_kind, gender, "
    "age_band, numerator, denominator, employees)"
)

# The claimed cells' records, joined on the cell's month as well as on its date range: a
# large claim can then hash-join one scan of the table, a small one reads the index per cell.
_CELL_RECORDS = """
JOIN time_records t ON t.org_unit_id = c.org_unit_id
 AND t.work_date >= c.month AND t.work_date < (c.month + interval '1 month')::date
 AND date_trunc('month', t.work_date::timestamp)::date = c.month"""

# Hours are summed per employee and time type first (one hash aggregate over the records),
# then per employee, then per group: an employee is one row of each group, so counting rows
# counts distinct employees. Sick hours by day of spell are summed apart, from the numbered
# sick days, so the records are not joined with them.
_TIME_FACTS = f"""
{_INSERT}
WITH by_type AS (
    SELECT c.org_unit_id, c.month, t.profession, t.staff_kind, t.employee, t.time_type,
           sum(t.hours) AS hours
    FROM {CLAIMED} c {_CELL_RECORDS}
    WHERE t.deleted_at IS NULL
    GROUP BY c.org_unit_id, c.month, t.profession, t.staff_kind, t.employee, t.time_type
), per_employee AS MATERIALIZED (
    SELECT org_unit_id, month, profession, staff_kind, employee,
           sum(hours) FILTER (WHERE time_type = 'scheduled') AS scheduled,
           sum(hours) FILTER (WHERE time_type = 'sick') AS sick,
           sum(hours) FILTER (WHERE time_type IN ({_ABSENCES})) AS absent,
           sum(hours) FILTER (WHERE time_type = 'overtime') AS overtime,
           sum(hours) FILTER (WHERE time_type = 'extra_time') AS extra,
           sum(hours) FILTER (WHERE time_type = 'worked') AS worked
    FROM by_type
    GROUP BY org_unit_id, month, profession, staff_kind, employee
), sick_split AS (
    SELECT c.org_unit_id, c.month, t.profession, t.employee,
           sum(t.hours) FILTER (WHERE s.day_no <= 14) AS short,
           sum(t.hours) FILTER (WHERE s.day_no >= 15) AS long,
           sum(t.hours) FILTER (WHERE s.day_no >= 60) AS d60
    FROM kpi_sick_days s
    JOIN time_records t ON t.employee = s.employee AND t.work_date = s.work_date
    JOIN {CLAIMED} c ON c.org_unit_id = t.org_unit_id
     AND c.month = date_trunc('month', t.work_date::timestamp)::date
    WHERE s.claimed AND t.time_type = 'sick' AND t.staff_kind = 'own' AND t.deleted_at IS NULL
    GROUP BY c.org_unit_id, c.month, t.profession, t.employee
), people AS (
    -- Gender and birth year where the employee's employments carry them (the latest one).
    SELECT DISTINCT ON (e.employee) e.employee, e.gender, e.birth_year
    FROM employments e
    WHERE e.deleted_at IS NULL AND e.employee IN (SELECT employee FROM per_employee)
    ORDER BY e.employee, e.start_date DESC
), own AS (
    SELECT r.org_unit_id, r.month, r.profession, coalesce(p.gender, '') AS gender,
           {_AGE_BAND.format(birth="p.birth_year", month="r.month")} AS age_band,
           count(*) AS employees,
           coalesce(sum(r.scheduled), 0) AS scheduled,
           coalesce(sum(r.sick), 0) AS sick,
           coalesce(sum(x.short), 0) AS short,
           coalesce(sum(x.long), 0) AS long,
           coalesce(sum(x.d60), 0) AS d60,
           coalesce(sum(r.absent), 0) AS absent,
           coalesce(sum(r.overtime), 0) AS overtime,
           coalesce(sum(r.extra), 0) AS extra
    FROM per_employee r LEFT JOIN people p USING (employee)
    LEFT JOIN sick_split x USING (org_unit_id, month, profession, employee)
    WHERE r.staff_kind = 'own'
    GROUP BY 1, 2, 3, 4, 5
), worked AS (
    SELECT org_unit_id, month, profession,
           count(DISTINCT employee) AS employees,
           coalesce(sum(worked) FILTER (WHERE staff_kind = 'agency'), 0) AS agency,
           sum(worked) AS total,
           coalesce(sum(worked) FILTER (WHERE staff_kind = 'agency' AND profession = 'doctor'), 0)
               AS agency_doctor
    FROM per_employee WHERE worked IS NOT NULL
    GROUP BY org_unit_id, month, profession
)
SELECT o.org_unit_id, o.month, k.kpi, o.profession, 'own', o.gender, o.age_band, k.n, k.d,
       o.employees
FROM own o CROSS JOIN LATERAL (VALUES
    ('sick_leave_pct', o.sick, o.scheduled),
    ('sick_leave_short_pct', o.short, o.scheduled),
    ('sick_leave_long_pct', o.long, o.scheduled),
    ('sick_leave_60plus_share_pct', o.d60, o.sick),
    ('presence_pct', o.scheduled - o.absent, o.scheduled),
    ('overtime_hours', o.overtime, NULL),
    ('extra_time_hours', o.extra, NULL)
) AS k(kpi, n, d)
WHERE k.n <> 0 OR coalesce(k.d, 0) <> 0
UNION ALL
SELECT w.org_unit_id, w.month, k.kpi, w.profession, '', '', '', k.n, k.d, w.employees
FROM worked w CROSS JOIN LATERAL (VALUES
    ('agency_hours_share_pct', w.agency, w.total),
    ('agency_doctor_weeks', w.agency_doctor, NULL)
) AS k(kpi, n, d)
WHERE k.n <> 0 OR coalesce(k.d, 0) <> 0
"""

_EMPLOYMENT_FACTS = f"""
{_INSERT}
WITH spans AS (
    SELECT c.org_unit_id, c.month, (c.month + interval '1 month - 1 day')::date AS last_day,
           e.employee, e.profession, e.contract, e.fte, e.is_manager, e.end_date, e.end_reason,
           coalesce(e.gender, '') AS gender,
           {_AGE_BAND.format(birth="e.birth_year", month="c.month")} AS age_band
    FROM {CLAIMED} c
    JOIN employments e ON e.org_unit_id = c.org_unit_id AND e.deleted_at IS NULL
     AND e.start_date <= (c.month + interval '1 month - 1 day')::date
     AND (e.end_date IS NULL OR e.end_date >= c.month)
), flagged AS (
    SELECT *, end_date IS NULL OR end_date >= last_day AS active FROM spans
), agg AS (
    SELECT org_unit_id, month, profession, gender, age_band,
           count(DISTINCT employee) FILTER (WHERE active) AS headcount,
           coalesce(sum(fte) FILTER (WHERE active), 0) AS fte,
           count(DISTINCT employee) FILTER (WHERE active AND contract = 'permanent') AS permanent,
           count(DISTINCT employee) FILTER (WHERE active AND contract = 'fixed_term') AS fixed,
           count(DISTINCT employee)
               FILTER (WHERE active AND contract IN ('permanent', 'fixed_term')) AS monthly,
           count(DISTINCT employee)
               FILTER (WHERE active AND contract IN ('permanent', 'fixed_term') AND fte >= 1)
               AS full_time,
           count(DISTINCT employee) FILTER (WHERE active AND is_manager) AS managers,
           count(*) FILTER (
               WHERE contract = 'permanent' AND end_date BETWEEN month AND last_day
                 AND coalesce(end_reason, '') <> 'internal_transfer'
           ) AS ended
    FROM flagged
    GROUP BY org_unit_id, month, profession, gender, age_band
)
SELECT a.org_unit_id, a.month, k.kpi, a.profession, '', a.gender, a.age_band, k.n, k.d,
       a.headcount
FROM agg a CROSS JOIN LATERAL (VALUES
    ('headcount', a.headcount::numeric, NULL::numeric),
    ('fte', a.fte, NULL),
    ('permanent_share_pct', a.permanent, (a.permanent + a.fixed)::numeric),
    ('full_time_share_pct', a.full_time, a.monthly),
    ('employees_per_manager', a.headcount, a.managers),
    ('turnover_pct', a.ended, a.permanent)
) AS k(kpi, n, d)
WHERE k.n <> 0 OR coalesce(k.d, 0) <> 0
"""

_COST_FACTS = f"""
{_INSERT}
WITH agg AS (
    SELECT p.org_unit_id, c.month, p.profession,
           coalesce(sum(p.amount_sek) FILTER (WHERE p.category = 'agency'), 0) AS agency,
           sum(p.amount_sek) AS total
    FROM {CLAIMED} c
    JOIN personnel_costs p ON p.org_unit_id = c.org_unit_id AND p.period = c.month
    WHERE p.deleted_at IS NULL
    GROUP BY p.org_unit_id, c.month, p.profession
)
SELECT a.org_unit_id, a.month, k.kpi, a.profession, '', '', '', k.n, k.d, NULL
FROM agg a CROSS JOIN LATERAL (VALUES
    ('agency_cost_sek', a.agency, NULL::numeric),
    ('agency_cost_share_pct', a.agency, a.total),
    ('personnel_cost_sek', a.total, NULL)
) AS k(kpi, n, d)
WHERE k.n <> 0 OR coalesce(k.d, 0) <> 0
"""

# A changed sick day can renumber the rest of its spell in later months (and other units):
# those cells are marked dirty for the next round. Only forward, so marking ends.
_FORWARD_SPELLS = """
INSERT INTO kpi_dirty_cells (org_unit_id, month)
WITH touched AS (
    SELECT employee, spell, date_trunc('month', max(work_date) FILTER (WHERE claimed)) AS last
    FROM kpi_sick_days GROUP BY employee, spell HAVING bool_or(claimed)
)
SELECT DISTINCT unit, date_trunc('month', s.work_date)::date
FROM kpi_sick_days s JOIN touched t USING (employee, spell), unnest(s.units) AS unit
WHERE date_trunc('month', s.work_date) > t.last
ORDER BY 1, 2
ON CONFLICT (org_unit_id, month) DO NOTHING
"""

Cells = list[tuple[int, Any]]
CellHook = Callable[[AsyncSession, Cells, Settings], Awaitable[Any]]


async def _detect_violations(session: AsyncSession, cells: Cells, settings: Settings) -> None:
    await detection.detect(session, cells, tz=settings.local_timezone)


# Work other domains do on the same claimed cells, in the same transaction, before the facts
# (so their own fact sources can read what they wrote).
CELL_HOOKS: list[CellHook] = [_detect_violations]
FACT_SOURCES: list[str] = [_TIME_FACTS, _EMPLOYMENT_FACTS, _COST_FACTS, detection.FACTS]


async def _prepare(session: AsyncSession) -> None:
    # A full recalculation sorts and hashes about a million records: in memory, not on disk.
    # A merge join of the claimed cells with an index of records can scan the whole index
    # when no record passes its filter (a unit's first cells at the index's far end): the
    # cells' records are either hashed (many cells) or fetched per cell (few).
    await session.execute(sa.text("SET LOCAL work_mem = '256MB'"))
    await session.execute(sa.text("SET LOCAL enable_mergejoin = off"))
    await session.execute(sa.text("SET LOCAL jit = off"))
    await session.execute(
        sa.text(
            f"CREATE TEMP TABLE IF NOT EXISTS {CLAIMED} "
            "(org_unit_id bigint, month date, mark xid, PRIMARY KEY (org_unit_id, month)) "
            "ON COMMIT DROP"
        )
    )
    await session.execute(
        sa.text(
            "CREATE TEMP TABLE IF NOT EXISTS kpi_sick_days "
            "(employee text, work_date date, spell bigint, day_no int, units bigint[], "
            "claimed boolean) ON COMMIT DROP"
        )
    )
    await session.execute(
        sa.text(
            "CREATE TEMP TABLE IF NOT EXISTS kpi_new_facts "
            "(LIKE kpi_facts INCLUDING DEFAULTS) ON COMMIT DROP"
        )
    )
    await session.execute(
        sa.text(
            f"CREATE TEMP TABLE IF NOT EXISTS {CLAIMED_EMPLOYEES} "
            "(employee text PRIMARY KEY, sick boolean, shifts boolean) ON COMMIT DROP"
        )
    )
    await session.execute(
        sa.text(f"TRUNCATE {CLAIMED}, {CLAIMED_EMPLOYEES}, kpi_sick_days, kpi_new_facts")
    )


async def claim(session: AsyncSession, limit: int) -> Cells:
    """Takes up to `limit` dirty cells for this transaction (others skip them)."""
    await _prepare(session)
    await session.execute(sa.text(_CLAIM), {"limit": limit})
    # Temp tables have no statistics until analysed: without them a few claimed cells look
    # like thousands, and the facts of every cell are scanned to delete a few.
    await session.execute(sa.text(f"ANALYZE {CLAIMED}"))
    await session.execute(sa.text(_CLAIMED_EMPLOYEES))
    await session.execute(sa.text(f"ANALYZE {CLAIMED_EMPLOYEES}"))
    rows = await session.execute(sa.text(f"SELECT org_unit_id, month FROM {CLAIMED}"))
    return [(int(u), m) for u, m in rows.all()]


async def release_claimed(session: AsyncSession) -> None:
    """Deletes the marks of the claimed cells, unless a writer marked them again meanwhile.
    Run last: a writer marking one of these cells waits from here until the commit."""
    await session.execute(sa.text(_RELEASE))


async def recompute_claimed(session: AsyncSession, settings: Settings) -> None:
    """Runs the registered hooks on the claimed cells, then replaces their facts."""
    await session.execute(
        sa.text(
            f"DELETE FROM kpi_facts f USING {CLAIMED} c "
            "WHERE f.org_unit_id = c.org_unit_id AND f.month = c.month"
        )
    )
    await session.execute(sa.text(_SICK_DAYS))
    if CELL_HOOKS:
        rows = await session.execute(sa.text(f"SELECT org_unit_id, month FROM {CLAIMED}"))
        cells = [(int(u), m) for u, m in rows.all()]
        for hook in CELL_HOOKS:
            await hook(session, cells, settings)
    for statement in FACT_SOURCES:
        await session.execute(sa.text(statement))
    await session.execute(sa.text(_FORWARD_SPELLS))
    await session.execute(sa.text("INSERT INTO kpi_facts SELECT * FROM kpi_new_facts"))
    await session.execute(
        sa.text(
            f"DELETE FROM kpi_cell_totals t USING {CLAIMED} c "
            "WHERE t.org_unit_id = c.org_unit_id AND t.month = c.month"
        )
    )
    await session.execute(
        sa.text(
            "INSERT INTO kpi_cell_totals (org_unit_id, month, kpi, numerator, denominator, "
            "employees, computed_at) SELECT org_unit_id, month, kpi, sum(numerator), "
            "sum(denominator), sum(employees), max(computed_at) "
            "FROM kpi_new_facts GROUP BY org_unit_id, month, kpi"
        )
    )


async def mark_scope(
    session: AsyncSession, *, org_path: str | None, from_month: Any, to_month: Any
) -> int:
    """Marks every cell with data in the scope dirty (an admin's full or partial recompute)."""
    scope = "" if org_path is None else "AND o.path >= :lo AND o.path < :hi"
    bounds = {} if org_path is None else {"lo": org_path, "hi": subtree_upper_bound(org_path)}
    result = await session.execute(
        sa.text(
            f"""
            INSERT INTO kpi_dirty_cells (org_unit_id, month)
            SELECT DISTINCT x.org_unit_id, x.month FROM (
                SELECT org_unit_id, date_trunc('month', work_date)::date AS month
                FROM time_records WHERE deleted_at IS NULL
                UNION
                SELECT org_unit_id, period FROM personnel_costs WHERE deleted_at IS NULL
                UNION
                SELECT e.org_unit_id, m::date FROM employments e, generate_series(
                    date_trunc('month', e.start_date),
                    date_trunc('month', least(coalesce(e.end_date, current_date), current_date)),
                    interval '1 month') AS m
                WHERE e.deleted_at IS NULL
                UNION
                SELECT org_unit_id, month FROM kpi_facts
            ) x JOIN org_units o ON o.id = x.org_unit_id
            WHERE (CAST(:from_month AS date) IS NULL OR x.month >= :from_month)
              AND (CAST(:to_month AS date) IS NULL OR x.month <= :to_month) {scope}
            ORDER BY 1, 2
            ON CONFLICT (org_unit_id, month) DO UPDATE SET marked_at = now()
            """
        ),
        {"from_month": from_month, "to_month": to_month, **bounds},
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
