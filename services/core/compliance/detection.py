"""Violation detection on the KPI engine's claimed cells, all set-based.

Runs as a KPI cell hook, in the recalculation's transaction and before the facts, so the
`rest_violations` and `agency_policy_violation_hours` KPIs read what it wrote. For each claimed
(org unit, month) it replaces the violations dated in that cell: rest rules look at each
affected employee's shifts a week either side (a rest period crosses month ends), overtime caps
at the whole month or year, agency policies at the cell's agency shifts. Shifts without start
and end times are counted as not checkable, never as fine."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.events import service as events_service

SHIFT_TYPES = "('worked', 'overtime', 'extra_time')"

# Whether a working-time rule `r` covers a record: its professions (all when null) and its org
# subtree (the whole region when null; `lo`/`hi` are the subtree's path bounds in the rules CTE).
_RULE_COVERS = (
    "(r.professions IS NULL OR {profession} = ANY(r.professions))\n"
    "     AND (r.org_unit_id IS NULL OR ({path} >= r.lo AND {path} < r.hi))"
)
_COVERS_SHIFT = _RULE_COVERS.format(profession="x.profession", path="x.path")

_FORGET = """
WITH gone AS (
    DELETE FROM compliance_violations v USING kpi_claimed c
    WHERE v.org_unit_id = c.org_unit_id AND v.work_date >= c.month
      AND v.work_date < (c.month + interval '1 month')::date
    RETURNING v.kind, v.source_id, v.employee, v.work_date, v.org_unit_id
)
INSERT INTO compliance_previous SELECT * FROM gone
"""

# Per claimed cell and employee, from the KPI engine's one pass over the cells' records: which
# employees the rest and overtime rules must look at (and in which months), and the records of
# shift types without times.
_CELL_EMPLOYEES = """
INSERT INTO compliance_employees (org_unit_id, month, employee, shifts, overtime, untimed,
                                  untimed_hours)
SELECT org_unit_id, month, employee,
       bool_or(staff_kind = 'own' AND timed_shifts),
       bool_or(staff_kind = 'own' AND overtime IS NOT NULL),
       sum(untimed), sum(untimed_hours)
FROM kpi_cell_people
GROUP BY org_unit_id, month, employee
"""

_UNCHECKABLE = """
INSERT INTO compliance_uncheckable (org_unit_id, month, records, hours)
SELECT org_unit_id, month, sum(untimed), sum(untimed_hours)
FROM compliance_employees WHERE untimed > 0
GROUP BY org_unit_id, month
"""

# Rest: each period (a local day, or a week from Monday, starting at the rule's hour) in which
# the employee works must touch a stretch off work, between two shifts, of at least the rule's
# minimum. A stretch may cross the period's edges (so a regular day, evening or night rota
# passes); stretches are measured between real instants (a DST night is 1 h shorter or longer
# than the clock says). Everything joins on equality (employee, period day): linear, not a
# range join of every period with every shift. Daily and weekly rules share one pass over the
# shifts.
_REST = f"""
INSERT INTO compliance_violations
    (kind, source_id, org_unit_id, work_date, employee, profession, hours, details)
WITH rules AS (
    SELECT r.id, r.kind,
           CASE r.kind WHEN 'weekly_rest' THEN 'week' ELSE 'day' END AS unit,
           CASE r.kind WHEN 'weekly_rest' THEN interval '7 days' ELSE interval '1 day' END
               AS days_long,
           r.min_rest_hours, CAST(r.min_rest_hours * 3600 AS float8) AS min_rest,
           make_interval(hours => r.period_start_hour) AS shift_by, r.professions,
           r.org_unit_id, r.valid_from, coalesce(r.valid_to, 'infinity'::date) AS valid_to,
           o.path AS lo, left(o.path, -1) || '0' AS hi
    FROM working_time_rules r LEFT JOIN org_units o ON o.id = r.org_unit_id
    WHERE r.kind IN ('daily_rest', 'weekly_rest') AND r.enabled AND r.deleted_at IS NULL
), affected AS (
    -- Each employee numbered: shifts are sorted and periods hashed by that, not by the
    -- pseudonym's text.
    SELECT employee, row_number() OVER () AS person
    FROM (SELECT DISTINCT employee FROM compliance_employees WHERE shifts) AS a
), span AS (
    SELECT min(month) - 9 AS lo, (max(month) + interval '1 month 9 days')::date AS hi
    FROM kpi_claimed
), shifts AS (
    SELECT affected.person, t.employee, t.org_unit_id, t.profession, t.start_at AS s,
           t.end_at AS e, o.path
    FROM time_records t
    JOIN affected USING (employee)
    JOIN org_units o ON o.id = t.org_unit_id
    CROSS JOIN span
    WHERE t.staff_kind = 'own' AND t.deleted_at IS NULL AND t.start_at IS NOT NULL
      AND t.end_at > t.start_at AND t.time_type IN {SHIFT_TYPES}
      AND t.work_date BETWEEN span.lo AND span.hi
), rested AS MATERIALIZED (
    -- A stretch off that touches a period lies next to a shift in it (the period has work),
    -- so the stretches before and after each shift are all a period needs, counted where
    -- they reach into it. Before the first and after the last shift seen a stretch is open:
    -- never too short. Stretches are seconds in float8 (exact to the microsecond here, and
    -- cheaper to compare and aggregate than intervals).
    SELECT o.*,
           CASE WHEN prev_end IS NULL THEN 'Infinity'::float8
                ELSE greatest(date_part('epoch', s - prev_end), 0) END AS before,
           CASE WHEN next_start IS NULL THEN 'Infinity'::float8
                ELSE greatest(date_part('epoch', next_start - end_so_far), 0) END AS after
    FROM (
        SELECT *, greatest(e, prev_end) AS end_so_far FROM (
            -- One window over one sort: the end so far is the current end or the latest
            -- before it (GREATEST skips a null).
            SELECT sh.*, max(e) OVER w AS prev_end, lead(s) OVER w AS next_start
            FROM shifts sh
            WINDOW w AS (PARTITION BY person ORDER BY s, e
                         ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
        ) AS w
    ) AS o
), shapes AS MATERIALIZED (
    -- The periods of each distinct shift (its start and end) under each rule: the local days
    -- from its start to its end (less the rule's start hour), or the Mondays of their weeks,
    -- with their real start and end instants (a DST day is 23 or 25 hours long). Shifts of a
    -- rota start and end at the same instants, so this is a few thousand rows.
    SELECT sh.s, sh.e, r.id AS rule_id, d::date AS day,
           (d + r.shift_by) AT TIME ZONE :tz AS p_start,
           (d + r.days_long + r.shift_by) AT TIME ZONE :tz AS p_end
    FROM (SELECT DISTINCT s, e FROM rested) AS sh
    CROSS JOIN rules r
    CROSS JOIN LATERAL generate_series(
        date_trunc(r.unit, ((sh.s AT TIME ZONE :tz) - r.shift_by)::date::timestamp),
        date_trunc(r.unit, ((sh.e AT TIME ZONE :tz) - r.shift_by - interval '1 microsecond')
                               ::date::timestamp),
        r.days_long) AS d
    WHERE d::date BETWEEN r.valid_from AND r.valid_to
), periods AS (
    SELECT x.person, r.id AS rule_id, r.min_rest, x.s, k.day,
           greatest(
               CASE WHEN x.s > k.p_start THEN x.before ELSE 0 END,
               CASE WHEN x.end_so_far < k.p_end THEN x.after ELSE 0 END
           ) AS rest
    FROM rested x
    JOIN rules r ON {_COVERS_SHIFT}
    JOIN shapes k ON k.s = x.s AND k.e = x.e AND k.rule_id = r.id
), broken AS (
    -- Each period's longest stretch off, hashed per period (no sort of every period); only
    -- the periods without enough rest go on.
    SELECT person, rule_id, day, max(rest) AS longest, min(s) AS first_s
    FROM periods
    GROUP BY person, rule_id, day, min_rest
    HAVING max(rest) < min_rest
), found AS (
    -- A violation is dated and placed where its period's first shift is (unit, profession).
    SELECT DISTINCT ON (v.person, v.rule_id, v.day)
           r.kind, v.rule_id, x.org_unit_id, v.day, x.employee, x.profession,
           r.min_rest_hours, CAST(v.longest AS numeric) / 3600 AS rest
    FROM broken v
    JOIN rules r ON r.id = v.rule_id
    JOIN rested x ON x.person = v.person AND x.s = v.first_s
     AND {_COVERS_SHIFT}
    ORDER BY v.person, v.rule_id, v.day, x.e, x.org_unit_id, x.profession
)
SELECT kind, rule_id, org_unit_id, day, employee, profession,
       round(min_rest_hours - rest, 2),
       jsonb_build_object('longest_rest_hours', round(rest, 2),
                          'required_rest_hours', min_rest_hours)
FROM found
WHERE (org_unit_id, date_trunc('month', day)::date) IN (SELECT org_unit_id, month FROM kpi_claimed)
ON CONFLICT DO NOTHING
"""

# Overtime caps, monthly and yearly in one pass: the record that takes the month's (or year's)
# sum past the cap carries the violation, with every hour over the cap.
_OVERTIME = f"""
INSERT INTO compliance_violations
    (kind, source_id, org_unit_id, work_date, employee, profession, hours, details)
WITH rules AS (
    SELECT r.id, r.kind, r.max_hours, r.professions, r.org_unit_id,
           CASE r.kind WHEN 'overtime_month' THEN 'month' ELSE 'year' END AS unit,
           CASE r.kind WHEN 'overtime_month' THEN interval '1 month' ELSE interval '1 year' END
               AS span,
           CASE r.kind WHEN 'overtime_month' THEN 'YYYY-MM' ELSE 'YYYY' END AS label,
           r.valid_from, coalesce(r.valid_to, 'infinity'::date) AS valid_to,
           o.path AS lo, left(o.path, -1) || '0' AS hi
    FROM working_time_rules r LEFT JOIN org_units o ON o.id = r.org_unit_id
    WHERE r.kind IN ('overtime_month', 'overtime_year') AND r.enabled AND r.deleted_at IS NULL
), affected AS (
    SELECT DISTINCT c.employee, r.id AS rule_id,
           date_trunc(r.unit, c.month::timestamp)::date AS bucket,
           (date_trunc(r.unit, c.month::timestamp) + r.span)::date AS bucket_end
    FROM compliance_employees c CROSS JOIN rules r WHERE c.overtime
), hours AS (
    SELECT r.id AS rule_id, r.kind, r.max_hours, r.label, t.employee, t.org_unit_id,
           t.profession, t.work_date, t.hours, a.bucket,
           sum(t.hours) OVER (PARTITION BY r.id, t.employee, a.bucket
                              ORDER BY t.work_date, t.id ROWS UNBOUNDED PRECEDING) AS running,
           sum(t.hours) OVER (PARTITION BY r.id, t.employee, a.bucket) AS total
    FROM affected a
    JOIN rules r ON r.id = a.rule_id
    JOIN time_records t ON t.employee = a.employee
     AND t.work_date >= a.bucket AND t.work_date < a.bucket_end
    JOIN org_units o ON o.id = t.org_unit_id
    WHERE t.staff_kind = 'own' AND t.deleted_at IS NULL AND t.time_type = 'overtime'
      AND t.work_date BETWEEN r.valid_from AND r.valid_to
      AND {_RULE_COVERS.format(profession="t.profession", path="o.path")}
)
SELECT kind, rule_id, org_unit_id, work_date, employee, profession, total - max_hours,
       jsonb_build_object('overtime_hours', total, 'cap_hours', max_hours,
                          'period', to_char(bucket, label))
FROM hours
WHERE running > max_hours AND running - hours <= max_hours
  AND (org_unit_id, date_trunc('month', work_date)::date) IN (
      SELECT org_unit_id, month FROM kpi_claimed)
ON CONFLICT DO NOTHING
"""

# Agency policies: hours of agency shifts inside a banned window (or any hour, for a ban),
# unless an exemption covers the unit and the day.
_AGENCY = """
INSERT INTO compliance_violations
    (kind, source_id, org_unit_id, work_date, employee, profession, hours, cost_sek, details)
WITH policies AS (
    SELECT p.*, o.path AS lo, left(o.path, -1) || '0' AS hi
    FROM agency_policies p JOIN org_units o ON o.id = p.org_unit_id
    WHERE p.deleted_at IS NULL
), records AS (
    SELECT t.*, o.path
    FROM kpi_claimed c
    JOIN time_records t ON t.org_unit_id = c.org_unit_id
     AND t.work_date >= c.month AND t.work_date < (c.month + interval '1 month')::date
    JOIN org_units o ON o.id = t.org_unit_id
    WHERE t.staff_kind = 'agency' AND t.deleted_at IS NULL AND t.time_type = 'worked'
), hits AS (
    SELECT p.id AS policy_id, r.org_unit_id, r.work_date, r.employee, r.profession,
           r.hours, r.cost_sek,
           CASE WHEN p.banned_windows IS NULL THEN r.hours
                WHEN r.start_at IS NULL THEN NULL
                ELSE (
                    SELECT coalesce(sum(extract(epoch FROM greatest(
                        interval '0', least(r.end_at, ws.we) - greatest(r.start_at, ws.wb)))), 0)
                        / 3600
                    FROM jsonb_array_elements(p.banned_windows) AS w,
                         generate_series((r.start_at AT TIME ZONE :tz)::date - 1,
                                         (r.end_at AT TIME ZONE :tz)::date, interval '1 day') AS d,
                         LATERAL (SELECT
                             ((d::date + (w->>'from')::time)::timestamp AT TIME ZONE :tz) AS wb,
                             ((d::date + CASE WHEN (w->>'to')::time <= (w->>'from')::time
                                              THEN 1 ELSE 0 END + (w->>'to')::time)::timestamp
                                 AT TIME ZONE :tz) AS we) AS ws
                    WHERE extract(isodow FROM d)::int IN (
                        SELECT jsonb_array_elements_text(w->'weekdays')::int)
                ) END AS banned
    FROM policies p
    JOIN records r ON r.profession = ANY(p.professions)
     AND r.path >= p.lo AND r.path < p.hi
     AND r.work_date >= p.valid_from AND (p.valid_to IS NULL OR r.work_date <= p.valid_to)
    WHERE NOT EXISTS (
        SELECT 1 FROM agency_exemptions x JOIN org_units xo ON xo.id = x.org_unit_id
        WHERE x.policy_id = p.id AND x.deleted_at IS NULL
          AND r.work_date BETWEEN x.valid_from AND x.valid_to
          AND r.path >= xo.path AND r.path < left(xo.path, -1) || '0'
    )
)
SELECT 'agency_policy', policy_id, org_unit_id, work_date, employee, profession,
       round(sum(banned), 2),
       round(sum(cost_sek * banned / hours), 2),
       jsonb_build_object('shifts', count(*))
FROM hits WHERE banned > 0
GROUP BY policy_id, org_unit_id, work_date, employee, profession
ON CONFLICT DO NOTHING
"""

# The two KPIs' fact rows, per cell and profession, from what was just detected.
FACTS = """
INSERT INTO kpi_new_facts (org_unit_id, month, kind, profession, staff_kind, gender, age_band,
                           employees, violations, violation_hours)
SELECT org_unit_id, month, kind, profession, '', '', '', count(DISTINCT employee),
       CASE kind WHEN 'rest' THEN count(*) END,
       CASE kind WHEN 'agency_policy' THEN sum(hours) END
FROM (
    SELECT v.org_unit_id, date_trunc('month', v.work_date)::date AS month, v.profession,
           v.employee, v.hours,
           CASE WHEN v.kind = 'agency_policy' THEN 'agency_policy' ELSE 'rest' END AS kind
    FROM compliance_violations v
    WHERE v.kind IN ('daily_rest', 'weekly_rest', 'agency_policy')
      AND (v.org_unit_id, date_trunc('month', v.work_date)::date) IN (
          SELECT org_unit_id, month FROM kpi_claimed)
) v
GROUP BY org_unit_id, month, kind, profession
"""


# One event per org unit and day with violations the cells did not hold before this round.
_FRESH = """
SELECT v.org_unit_id,
       jsonb_build_object('org_unit', o.code, 'date', v.work_date, 'violations', count(*),
                          'hours', sum(v.hours)::text,
                          'kinds', array_agg(DISTINCT v.kind ORDER BY v.kind)) AS data
FROM kpi_claimed c
JOIN compliance_violations v ON v.org_unit_id = c.org_unit_id
 AND v.work_date >= c.month AND v.work_date < (c.month + interval '1 month')::date
JOIN org_units o ON o.id = v.org_unit_id
WHERE NOT EXISTS (
    SELECT 1 FROM compliance_previous p
    WHERE p.kind = v.kind AND p.source_id = v.source_id
      AND p.employee = v.employee AND p.work_date = v.work_date
      AND p.org_unit_id = v.org_unit_id)
GROUP BY v.org_unit_id, o.code, v.work_date
ORDER BY v.org_unit_id, v.work_date
"""


async def _execute_without(
    session: AsyncSession, plan: str | None, statement: str, params: dict[str, Any] | None = None
) -> None:
    """Runs a statement with one kind of plan node (`enable_<plan>`) off, and on again after."""
    if plan:
        await session.execute(sa.text(f"SET LOCAL enable_{plan} = off"))
    await session.execute(sa.text(statement), params or {})
    if plan:
        await session.execute(sa.text(f"SET LOCAL enable_{plan} = on"))


async def detect(
    session: AsyncSession, cells: Sequence[tuple[int, Any]], *, tz: str, many: bool = False
) -> int:
    """Replaces the claimed cells' violations; publishes `compliance.violation_detected` once
    per org unit and day that has new ones. Returns how many violations the cells hold.
    `cells` as `facts.claim` returned them (it filled and analysed `kpi_claimed`). `many`: the
    cells are a backlog (their records are scanned, not looked up)."""
    await session.execute(
        sa.text(
            "CREATE TEMP TABLE IF NOT EXISTS compliance_previous (kind text, source_id uuid, "
            "employee text, work_date date, org_unit_id bigint) ON COMMIT DROP"
        )
    )
    await session.execute(
        sa.text(
            "CREATE TEMP TABLE IF NOT EXISTS compliance_employees (org_unit_id bigint, "
            "month date, employee text, shifts boolean, overtime boolean, untimed bigint, "
            "untimed_hours numeric) ON COMMIT DROP"
        )
    )
    await session.execute(sa.text("TRUNCATE compliance_previous, compliance_employees"))
    await session.execute(sa.text(_CELL_EMPLOYEES))
    await session.execute(sa.text("ANALYZE compliance_employees"))
    await session.execute(sa.text(_FORGET))
    await session.execute(
        sa.text(
            "DELETE FROM compliance_uncheckable u USING kpi_claimed c "
            "WHERE u.org_unit_id = c.org_unit_id AND u.month = c.month"
        )
    )
    await session.execute(sa.text(_UNCHECKABLE))
    # The periods are hashed, not sorted: the planner, unable to tell how many shifts the
    # affected employees have, would sort a million periods.
    await _execute_without(session, "sort", _REST, {"tz": tz})
    # The overtime records of many employees: one scan of the table, not an index range per
    # employee and month or year (the planner takes each range for a few records).
    await _execute_without(session, "nestloop" if many else None, _OVERTIME)
    await session.execute(sa.text(_AGENCY), {"tz": tz})
    await events_service.publish_selected(session, "compliance.violation_detected", _FRESH)
    total = await session.execute(
        sa.text(
            "SELECT count(*) FROM kpi_claimed c JOIN compliance_violations v "
            "ON v.org_unit_id = c.org_unit_id AND v.work_date >= c.month "
            "AND v.work_date < (c.month + interval '1 month')::date"
        )
    )
    return int(total.scalar_one())
