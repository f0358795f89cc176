"""Violation detection on the KPI engine's claimed cells, all set-based.

Runs as a KPI cell hook, in the recalculation's transaction and before the facts, so the
`rest_violations` and `agency_policy_violation_hours` KPIs read what it wrote. For each claimed
(org unit, month) it replaces the violations dated in that cell: rest rules look at each
affected employee's shifts a week either side (a rest period crosses month ends), overtime caps
at the whole month or year, agency policies at the cell's agency shifts. Shifts without start
and end times are counted as not checkable, never as fine."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import holidays
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.config import Settings
from services.core.events import service as events_service
from services.core.kpis import facts
from services.core.kpis.facts import SHIFT_TYPES, people_of
from services.core.periods import month_of
from services.core.tree import in_subtree_sql, subtree_upper_bound_sql

# Whether a working-time rule `r` covers a record: its professions (all when null) and its org
# subtree (the whole region when null; `lo`/`hi` are the subtree's path bounds in the rules CTE).
_RULE_COVERS = (
    "(r.professions IS NULL OR {profession} = ANY(r.professions))\n"
    "     AND (r.org_unit_id IS NULL OR ({path} >= r.lo AND {path} < r.hi))"
)
# The rest rules in force: the minima the rest statement is built for, its rules and the
# groups the compliance facts count as checked all take their rules from this.
_LIVE_REST_RULES = "r.kind IN ('daily_rest', 'weekly_rest') AND r.enabled AND r.deleted_at IS NULL"

# The cells' violations as they were before this round, to tell new, changed and withdrawn
# ones from those found again.
_REMEMBER = """
INSERT INTO compliance_previous
SELECT v.* FROM compliance_violations v JOIN kpi_claimed c
  ON v.org_unit_id = c.org_unit_id AND v.work_date >= c.month
 AND v.work_date < (c.month + interval '1 month')::date
"""

# What this round found (the rules write into `compliance_found`) replaces what the cells
# held, writing only the differences: a violation found again unchanged keeps its row, so its
# id, its first detection and its change time, and a client linking to one or mirroring the
# list with `updated_since` sees the same violation after every recomputation of its cell.
_GONE = """
DELETE FROM compliance_violations v USING compliance_previous p
WHERE v.id = p.id AND NOT EXISTS (
    SELECT 1 FROM compliance_found f
    WHERE f.kind = p.kind AND f.source_id = p.source_id AND f.employee = p.employee
      AND f.work_date = p.work_date AND f.org_unit_id = p.org_unit_id)
"""
_CHANGED = """
UPDATE compliance_violations v
SET profession = f.profession, hours = f.hours, cost_sek = f.cost_sek, details = f.details,
    updated_at = now()
FROM compliance_found f
WHERE v.kind = f.kind AND v.source_id = f.source_id AND v.employee = f.employee
  AND v.work_date = f.work_date AND v.org_unit_id = f.org_unit_id
  AND (v.profession, v.hours, v.cost_sek, v.details)
      IS DISTINCT FROM (f.profession, f.hours, f.cost_sek, f.details)
"""
_NEW = """
INSERT INTO compliance_violations
    (kind, source_id, org_unit_id, work_date, employee, profession, hours, cost_sek, details)
SELECT f.kind, f.source_id, f.org_unit_id, f.work_date, f.employee, f.profession, f.hours,
       f.cost_sek, f.details
FROM compliance_found f
WHERE NOT EXISTS (
    SELECT 1 FROM compliance_previous p
    WHERE p.kind = f.kind AND p.source_id = f.source_id AND p.employee = f.employee
      AND p.work_date = f.work_date AND p.org_unit_id = f.org_unit_id)
"""

# A violation's identity, the columns that tell found from previous ones.
_VIOLATION_KEY = "kind, source_id, employee, work_date, org_unit_id"

# Each claimed cell's violations (`c`, a row of kpi_claimed) as `v`, by the unit-and-date
# index: OFFSET 0 keeps the lateral from being flattened into a join that hashes every
# violation (170 ms at 10 M records), or filters all of the unit's violations by date for
# each claimed month (40 ms). As fast as the hash for a full recalculation, a few
# milliseconds for the few cells of an incremental one. `{columns}` of `v` are read, where
# `{also}` (more conditions on `v`) holds.
_CELL_VIOLATIONS = """CROSS JOIN LATERAL (
    SELECT {columns} FROM compliance_violations v
    WHERE v.org_unit_id = c.org_unit_id AND v.work_date >= c.month
      AND v.work_date < (c.month + interval '1 month')::date {also}
    OFFSET 0
) AS v"""

# What the rules find this round, before it replaces what the cells held (`_GONE` …).
_FOUND_TABLE = """
CREATE TEMP TABLE IF NOT EXISTS compliance_found (
    kind text NOT NULL, source_id uuid NOT NULL, org_unit_id bigint NOT NULL,
    work_date date NOT NULL, employee text NOT NULL, profession text NOT NULL,
    hours numeric(8, 2) NOT NULL, cost_sek numeric(14, 2), details jsonb,
    UNIQUE (kind, source_id, employee, work_date, org_unit_id)
) ON COMMIT DROP
"""

# What the cells held before this round and no longer hold (a record corrected, a rule
# changed): kept as it was reported, with when it was withdrawn.
_WITHDRAWN = """
INSERT INTO compliance_violation_history
    (violation_id, kind, source_id, org_unit_id, work_date, employee, profession, hours,
     cost_sek, details, detected_at)
SELECT p.id, p.kind, p.source_id, p.org_unit_id, p.work_date, p.employee, p.profession,
       p.hours, p.cost_sek, p.details, p.detected_at
FROM compliance_previous p
WHERE NOT EXISTS (
    SELECT 1 FROM compliance_violations v
    WHERE v.kind = p.kind AND v.source_id = p.source_id AND v.employee = p.employee
      AND v.work_date = p.work_date AND v.org_unit_id = p.org_unit_id)
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

# Rest, as the agreements count it (docs/compliance.md): a rolling rule checks the 24 hours
# (7 × 24 for weekly rest) from every shift's start, a fixed one each local period from the
# rule's hour (the "dygnsbryt"); either must hold a stretch off of the rule's minimum *inside*
# it (clipped to it). Stretches off lie between the employee's shifts, all of them, in any
# unit (rest is time off any work), measured between real instants (a DST night is an hour
# shorter or longer than the clock says).
#
# Checking every window of every shift would be a range join per shift. Instead one window
# pass over each employee's sorted shifts finds the blocks of work under each minimum (shifts
# with less than the minimum between them): a rolling window from a shift's start fails exactly
# when its block's end lies more than (window − minimum) after that start, and a fixed period
# fails exactly when it lies inside (block start − minimum, block end + minimum). So only
# blocks longer than a threshold are looked at, with the shifts inside them; those are the
# breaches themselves, a small set. The window's columns are one per distinct minimum among
# the rules (`start_<k>`, the latest block start so far under minimum `m<k>`).
_REST_MINIMA = f"""
SELECT r.min_rest_hours,
       min(CASE WHEN r.period = 'fixed'
                THEN greatest(w.hours - 2 * r.min_rest_hours - 1, 0)
                ELSE w.hours - r.min_rest_hours END) * 3600 AS threshold,
       max(w.hours) FILTER (WHERE r.kind = 'daily_rest') IS NOT NULL AS daily
FROM working_time_rules r
CROSS JOIN LATERAL (SELECT CASE r.kind WHEN 'weekly_rest' THEN 168 ELSE 24 END AS hours) AS w
WHERE {_LIVE_REST_RULES}
GROUP BY 1 ORDER BY 1
"""

# Whether another live rest rule of the same kind covering the shift `x` is more specific
# than `r` (one naming the profession over one for all; then the deeper org unit): the more
# specific one applies (an agreement for doctors replaces the general rule for them).
_OVERRIDDEN = """EXISTS (
    SELECT 1 FROM rules o
    WHERE o.kind = r.kind AND o.id <> r.id
      AND (o.professions IS NULL OR x.profession = ANY(o.professions))
      AND (o.org_unit_id IS NULL OR (xo.path >= o.lo AND xo.path < o.hi))
      AND x.work_date BETWEEN o.valid_from AND o.valid_to
      AND ((o.professions IS NOT NULL AND r.professions IS NULL)
           OR ((o.professions IS NULL) = (r.professions IS NULL) AND o.depth > r.depth)))"""


def _seconds(k: int) -> str:
    return f"CAST(CAST(:m{k} AS numeric) * 3600 AS float8)"


# The shifts of the affected employees. For a backlog, one scan of the months' partitions
# hashed against them; for a few cells, each employee's shifts by their index (the statement
# runs without nested loops, see _detect_rest, which left a few employees hashed against
# every record of the months: 0.5 s of an incremental recalculation's 0.6 s at 3 M records).
_SHIFTS_SCANNED = """
    SELECT affected.person, t.org_unit_id, t.profession, t.work_date, t.start_at AS s,
           t.end_at AS e
    FROM time_records t
    JOIN affected USING (employee)
    WHERE {shift}"""
# OFFSET 0 keeps the planner from flattening the lateral into the join above.
_SHIFTS_BY_EMPLOYEE = """
    SELECT affected.person, t.org_unit_id, t.profession, t.work_date, t.s, t.e
    FROM affected CROSS JOIN LATERAL (
        SELECT t.org_unit_id, t.profession, t.work_date, t.start_at AS s, t.end_at AS e
        FROM time_records t
        WHERE t.employee = affected.employee AND {shift}
        OFFSET 0
    ) AS t"""
_SHIFT = f"""t.staff_kind = 'own' AND t.deleted_at IS NULL AND t.start_at IS NOT NULL
      AND t.end_at > t.start_at AND t.time_type IN {SHIFT_TYPES}
      AND t.work_date BETWEEN :first AND :last"""


def _rest_statement(minima: int, many: bool) -> str:
    starts = ",\n           ".join(
        f"max(s) FILTER (WHERE before >= {_seconds(k)}) OVER b AS start_{k}" for k in range(minima)
    )
    blocks = "\n    UNION ALL\n    ".join(
        f"SELECT CAST(:m{k} AS numeric) AS min_rest_hours, person, start_{k} AS b_start, "
        f"end_so_far AS b_end\n    FROM rested WHERE after >= {_seconds(k)} "
        f"AND date_part('epoch', end_so_far - start_{k}) > :t{k}"
        for k in range(minima)
    )
    members = "\n    UNION ALL\n    ".join(
        f"SELECT b.min_rest_hours, b.b_start, b.b_end, x.*\n    FROM blocks b\n    "
        f"JOIN rested x ON x.person = b.person AND x.start_{k} = b.b_start\n    "
        f"WHERE b.min_rest_hours = CAST(:m{k} AS numeric)"
        for k in range(minima)
    )
    covers = _RULE_COVERS.format(profession="x.profession", path="xo.path")
    return f"""
WITH rules AS (
    SELECT r.id, r.kind, r.period, r.enforced_from,
           CASE r.kind WHEN 'weekly_rest' THEN 'week' ELSE 'day' END AS unit,
           CASE r.kind WHEN 'weekly_rest' THEN interval '7 days' ELSE interval '1 day' END
               AS days_long,
           CASE r.kind WHEN 'weekly_rest' THEN interval '168 hours' ELSE interval '24 hours'
               END AS window_long,
           r.min_rest_hours, make_interval(secs => r.min_rest_hours * 3600) AS min_rest,
           make_interval(hours => coalesce(r.period_start_hour, 0)) AS shift_by,
           r.professions, r.org_unit_id, r.valid_from,
           coalesce(r.valid_to, 'infinity'::date) AS valid_to,
           o.path AS lo, {subtree_upper_bound_sql("o.path")} AS hi, coalesce(o.depth, -1) AS depth
    FROM working_time_rules r LEFT JOIN org_units o ON o.id = r.org_unit_id
    WHERE {_LIVE_REST_RULES}
), affected AS (
    -- Each employee numbered: shifts are sorted by that, not by the pseudonym's text.
    SELECT employee, row_number() OVER () AS person
    FROM (SELECT DISTINCT employee FROM compliance_employees WHERE shifts) AS a
), shifts AS (
    -- Narrow rows, as they are sorted (the unit's path and the pseudonym are looked up for
    -- the few shifts in long blocks).
    {(_SHIFTS_SCANNED if many else _SHIFTS_BY_EMPLOYEE).format(shift=_SHIFT)}
), rested AS MATERIALIZED (
    -- The stretch off before each shift (from the latest end so far) and after it (to the
    -- next start). Before the first and after the last shift seen a stretch is open: never
    -- too short. Stretches are seconds in float8 (exact to the microsecond here, and cheaper
    -- to compare than intervals). The windows share one sort.
    SELECT g.*,
           {starts}
    FROM (
        SELECT w.*, greatest(e, prev_end) AS end_so_far,
               CASE WHEN prev_end IS NULL THEN 'Infinity'::float8
                    ELSE greatest(date_part('epoch', s - prev_end), 0) END AS before,
               CASE WHEN next_start IS NULL THEN 'Infinity'::float8
                    ELSE greatest(date_part('epoch', next_start - greatest(e, prev_end)), 0)
               END AS after
        FROM (
            -- The end so far is the current end or the latest before it (GREATEST skips a
            -- null).
            SELECT sh.*, max(e) OVER w AS prev_end, lead(s) OVER w AS next_start
            FROM shifts sh
            WINDOW w AS (PARTITION BY person ORDER BY s, e
                         ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
        ) AS w
    ) AS g
    WINDOW b AS (PARTITION BY person ORDER BY s, e ROWS UNBOUNDED PRECEDING)
), quick AS (
    -- Quick returns: a stretch off between consecutive shifts shorter than the daily rest
    -- minimum that applies to the shift after it, counted there (the time facts sum them).
    UPDATE {facts.CELL_PEOPLE} p SET quick_returns = q.n
    FROM (
        SELECT x.org_unit_id, {month_of("x.work_date")} AS month,
               x.profession, a.employee, count(*) AS n
        FROM rested x
        JOIN affected a ON a.person = x.person
        JOIN org_units xo ON xo.id = x.org_unit_id
        JOIN rules r ON r.kind = 'daily_rest' AND {covers}
         AND x.work_date BETWEEN r.valid_from AND r.valid_to
        WHERE x.before > 0 AND x.before < CAST(:quick AS float8)
          AND x.before < date_part('epoch', r.min_rest) AND NOT {_OVERRIDDEN}
        GROUP BY 1, 2, 3, 4
    ) AS q
    WHERE p.org_unit_id = q.org_unit_id AND p.month = q.month AND p.profession = q.profession
      AND p.employee = q.employee AND p.staff_kind = 'own'
), blocks AS MATERIALIZED (
    -- Each long block at its last shift (a long stretch after it), with its first shift's
    -- start.
    {blocks}
), members AS MATERIALIZED (
    -- The shifts of the long blocks, with the stretch off after each: a shift's block under
    -- each minimum is its `start_<k>`, so this is an equality join, not a range per block.
    {members}
), windows AS (
    -- Rolling: the window from each shift of a block that its block outlasts by more than
    -- the window less the minimum.
    SELECT x.person, x.min_rest_hours, x.b_start, r.id AS rule_id, r.kind, r.enforced_from,
           x.work_date AS day, x.s AS w_start, x.s + r.window_long AS w_end,
           x.org_unit_id, x.profession, x.s
    FROM members x
    JOIN org_units xo ON xo.id = x.org_unit_id
    JOIN rules r ON r.min_rest_hours = x.min_rest_hours AND r.period = 'rolling'
     AND x.s < x.b_end - (r.window_long - r.min_rest)
     AND x.work_date BETWEEN r.valid_from AND r.valid_to
     AND {covers}
    WHERE NOT {_OVERRIDDEN}
    UNION ALL
    -- Fixed: each period inside (block start − minimum, block end + minimum), a DST day
    -- being 23 or 25 hours, at its first shift under the rule.
    (SELECT DISTINCT ON (p.person, p.rule_id, p.day)
           p.person, p.min_rest_hours, p.b_start, p.rule_id, p.kind, p.enforced_from, p.day,
           p.p_start, p.p_end, x.org_unit_id, x.profession, x.s
    FROM (
        SELECT b.person, b.min_rest_hours, b.b_start, r.id AS rule_id, r.kind, r.enforced_from,
               k.day, k.p_start, k.p_end
        FROM blocks b
        JOIN rules r ON r.min_rest_hours = b.min_rest_hours AND r.period = 'fixed'
        CROSS JOIN LATERAL (
            SELECT d::date AS day, (d + r.shift_by) AT TIME ZONE :tz AS p_start,
                   (d + r.days_long + r.shift_by) AT TIME ZONE :tz AS p_end
            FROM generate_series(
                date_trunc(r.unit, (((b.b_start - r.min_rest) AT TIME ZONE :tz)
                                    - r.shift_by)::date::timestamp),
                date_trunc(r.unit, (((b.b_end + r.min_rest) AT TIME ZONE :tz)
                                    - r.shift_by)::date::timestamp),
                r.days_long) AS d
        ) AS k
        WHERE k.p_start > b.b_start - r.min_rest AND k.p_end < b.b_end + r.min_rest
          AND k.day BETWEEN r.valid_from AND r.valid_to
    ) AS p
    JOIN rules r ON r.id = p.rule_id
    JOIN members x ON x.person = p.person AND x.min_rest_hours = p.min_rest_hours
     AND x.b_start = p.b_start AND x.s < p.p_end AND x.e > p.p_start
    JOIN org_units xo ON xo.id = x.org_unit_id
    WHERE {covers} AND NOT {_OVERRIDDEN}
    ORDER BY p.person, p.rule_id, p.day, x.s, x.e, x.org_unit_id, x.profession)
), rests AS (
    -- The stretches off inside each window, clipped to it: the one before the block reaching
    -- into a fixed period, and those after each of the block's shifts. The shortest is the
    -- shortest whole stretch between consecutive shifts that begins in the window.
    SELECT w.person, w.rule_id, w.day, w.kind, w.enforced_from, w.min_rest_hours,
           w.org_unit_id, w.profession, w.s,
           greatest(date_part('epoch', least(w.b_start, w.w_end) - w.w_start), 0,
                    max(date_part('epoch', least(coalesce(g.next_start, 'infinity'), w.w_end)
                                           - greatest(g.end_so_far, w.w_start)))
                        FILTER (WHERE g.end_so_far IS NOT NULL)) AS longest,
           min(g.after) FILTER (WHERE g.end_so_far >= w.w_start AND g.next_start IS NOT NULL)
               AS shortest
    FROM windows w
    LEFT JOIN members g ON g.person = w.person AND g.min_rest_hours = w.min_rest_hours
     AND g.b_start = w.b_start AND g.after > 0 AND g.end_so_far < w.w_end
     AND coalesce(g.next_start, 'infinity') > w.w_start
    GROUP BY w.person, w.rule_id, w.day, w.kind, w.enforced_from, w.min_rest_hours,
             w.org_unit_id, w.profession, w.s, w.b_start, w.w_start, w.w_end
), found AS (
    -- One per employee, rule and day: its worst window.
    SELECT DISTINCT ON (person, rule_id, day)
           CASE WHEN day < enforced_from THEN 'agreement_deviation' ELSE kind END AS kind,
           rule_id, org_unit_id, day, a.employee, profession, min_rest_hours,
           CAST(longest AS numeric) / 3600 AS rest, CAST(shortest AS numeric) / 3600 AS shortest
    FROM rests JOIN affected a USING (person)
    ORDER BY person, rule_id, day, longest, s
)
INSERT INTO compliance_found
    (kind, source_id, org_unit_id, work_date, employee, profession, hours, details)
SELECT kind, rule_id, org_unit_id, day, employee, profession,
       round(min_rest_hours - rest, 2),
       jsonb_build_object('longest_rest_hours', round(rest, 2),
                          'shortest_rest_hours', round(shortest, 2),
                          'required_rest_hours', min_rest_hours)
FROM found
WHERE (org_unit_id, {month_of("day")})
      IN (SELECT org_unit_id, month FROM kpi_claimed)
ON CONFLICT DO NOTHING
"""


# Overtime caps, monthly and yearly in one pass: the record that takes the month's (or year's)
# sum past the cap carries the violation, with every hour over the cap.
_OVERTIME = f"""
INSERT INTO compliance_found
    (kind, source_id, org_unit_id, work_date, employee, profession, hours, details)
WITH rules AS (
    SELECT r.id, r.kind, r.max_hours, r.professions, r.org_unit_id,
           CASE r.kind WHEN 'overtime_month' THEN 'month' ELSE 'year' END AS unit,
           CASE r.kind WHEN 'overtime_month' THEN interval '1 month' ELSE interval '1 year' END
               AS span,
           CASE r.kind WHEN 'overtime_month' THEN 'YYYY-MM' ELSE 'YYYY' END AS label,
           r.valid_from, coalesce(r.valid_to, 'infinity'::date) AS valid_to,
           o.path AS lo, {subtree_upper_bound_sql("o.path")} AS hi
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
      AND t.work_date >= :years_first AND t.work_date < :years_end
      AND {_RULE_COVERS.format(profession="t.profession", path="o.path")}
)
SELECT kind, rule_id, org_unit_id, work_date, employee, profession, total - max_hours,
       jsonb_build_object('overtime_hours', total, 'cap_hours', max_hours,
                          'period', to_char(bucket, label))
FROM hours
WHERE running > max_hours AND running - hours <= max_hours
  AND (org_unit_id, {month_of("work_date")}) IN (
      SELECT org_unit_id, month FROM kpi_claimed)
ON CONFLICT DO NOTHING
"""

# Agency policies: hours of agency shifts inside a banned window (or any hour, for a ban),
# unless a granted exemption covers the unit and the day. A policy with a holiday calendar
# takes its public holidays for Sundays and their eves for Saturdays (Sundays stay Sundays).
_AGENCY = f"""
INSERT INTO compliance_found
    (kind, source_id, org_unit_id, work_date, employee, profession, hours, cost_sek, details)
WITH policies AS (
    SELECT p.*, o.path AS lo, {subtree_upper_bound_sql("o.path")} AS hi
    FROM agency_policies p JOIN org_units o ON o.id = p.org_unit_id
    WHERE p.deleted_at IS NULL
), records AS (
    -- The cell's month as an equality beside its range: with the range alone, a backlog's
    -- cells were joined to its agency records by a nested loop (37 813 cells × 4 817 records,
    -- 8.9 s of a million records' detection); hashed by unit and month, 0.35 s.
    SELECT t.*, o.path
    FROM kpi_claimed c
    JOIN time_records t ON t.org_unit_id = c.org_unit_id
     AND {month_of("t.work_date")} = c.month
     AND t.work_date >= c.month AND t.work_date < (c.month + interval '1 month')::date
    JOIN org_units o ON o.id = t.org_unit_id
    WHERE t.staff_kind = 'agency' AND t.deleted_at IS NULL AND t.time_type = 'worked'
      AND t.work_date >= :first AND t.work_date < :end
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
                    WHERE (CASE WHEN p.holidays IS NULL THEN extract(isodow FROM d)::int
                                WHEN d::date = ANY(:holidays) THEN 7
                                WHEN d::date = ANY(:eves) THEN
                                    greatest(extract(isodow FROM d)::int, 6)
                                ELSE extract(isodow FROM d)::int END) IN (
                        SELECT jsonb_array_elements_text(w->'weekdays')::int)
                ) END AS banned
    FROM policies p
    JOIN records r ON r.profession = ANY(p.professions)
     AND r.path >= p.lo AND r.path < p.hi
     AND r.work_date >= p.valid_from AND (p.valid_to IS NULL OR r.work_date <= p.valid_to)
    WHERE NOT EXISTS (
        SELECT 1 FROM agency_exemptions x JOIN org_units xo ON xo.id = x.org_unit_id
        WHERE x.policy_id = p.id AND x.deleted_at IS NULL AND x.status = 'granted'
          AND r.work_date BETWEEN x.valid_from AND x.valid_to
          AND {in_subtree_sql("r.path", "xo.path")}
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

# The two KPIs' fact rows, per cell and profession: every group the checks looked at (own
# staff with timed shifts under a rest rule, agency staff's worked hours under a policy, in
# force in the month) with what was just detected there, so a month that kept the rules is 0,
# not missing. `employees`, for suppression, counts the group's employees, as for the time KPIs.
# The violations the compliance facts count (the rest rules' and the agency policies').
_RULE_VIOLATIONS = _CELL_VIOLATIONS.format(
    columns="v.org_unit_id, v.profession, v.employee, v.hours, v.kind",
    also="AND v.kind IN ('daily_rest', 'weekly_rest', 'agency_policy')",
)
FACTS = f"""
INSERT INTO kpi_new_facts (org_unit_id, month, kind, profession, staff_kind, gender, age_band,
                           employees, people, violations, violation_hours)
WITH groups AS (
    SELECT p.org_unit_id, p.month, p.profession, o.path,
           CASE p.staff_kind WHEN 'own' THEN 'rest' ELSE 'agency_policy' END AS kind,
           count(DISTINCT p.employee) AS employees, {people_of("p.employee")} AS people
    FROM kpi_cell_people p JOIN org_units o ON o.id = p.org_unit_id
    WHERE (p.staff_kind = 'own' AND p.timed_shifts)
       OR (p.staff_kind = 'agency' AND p.worked IS NOT NULL)
    GROUP BY 1, 2, 3, 4, 5
), rules AS (
    SELECT 'rest' AS kind, r.professions, r.org_unit_id, r.valid_from, r.valid_to,
           o.path AS lo, {subtree_upper_bound_sql("o.path")} AS hi
    FROM working_time_rules r LEFT JOIN org_units o ON o.id = r.org_unit_id
    WHERE {_LIVE_REST_RULES}
    UNION ALL
    SELECT 'agency_policy', a.professions, a.org_unit_id, a.valid_from, a.valid_to,
           o.path, {subtree_upper_bound_sql("o.path")}
    FROM agency_policies a JOIN org_units o ON o.id = a.org_unit_id
    WHERE a.deleted_at IS NULL
), checked AS (
    SELECT g.org_unit_id, g.month, g.kind, g.profession, g.employees, g.people FROM groups g
    WHERE EXISTS (
        SELECT 1 FROM rules r
        WHERE r.kind = g.kind AND {_RULE_COVERS.format(profession="g.profession", path="g.path")}
          AND r.valid_from < (g.month + interval '1 month')::date
          AND (r.valid_to IS NULL OR r.valid_to >= g.month))
), found AS (
    SELECT org_unit_id, month, kind, profession, count(DISTINCT employee) AS violators,
           {people_of("employee")} AS violator_people, count(*) AS violations, sum(hours) AS hours
    FROM (
        SELECT v.org_unit_id, c.month, v.profession, v.employee, v.hours,
               CASE WHEN v.kind = 'agency_policy' THEN 'agency_policy' ELSE 'rest' END AS kind
        FROM kpi_claimed c
        {_RULE_VIOLATIONS}
    ) v
    GROUP BY 1, 2, 3, 4
)
-- A violation dated in a month where its group has no records (a night shift's week that
-- begins in the next month) still counts, with its employees.
SELECT org_unit_id, month, kind, profession, '', '', '', coalesce(c.employees, f.violators),
       coalesce(c.people, f.violator_people),
       CASE kind WHEN 'rest' THEN coalesce(f.violations, 0) END,
       CASE kind WHEN 'agency_policy' THEN coalesce(f.hours, 0) END
FROM checked c FULL JOIN found f USING (org_unit_id, month, kind, profession)
"""


# One event per org unit and day with violations the cells did not hold before this round.
# Without counts or hours: events go to `read` keys and webhooks, and a unit-day's figures are
# one or two employees' (summed over a month they would undo the summary's small-group rule,
# docs/privacy.md#compliance-summary); the figures are read where that rule applies.
_FRESH = f"""
SELECT v.org_unit_id,
       jsonb_build_object('org_unit', o.code, 'date', v.work_date,
                          'kinds', array_agg(DISTINCT v.kind ORDER BY v.kind)) AS data
FROM kpi_claimed c
{_CELL_VIOLATIONS.format(columns="v.*", also="")}
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


async def _detect_rest(
    session: AsyncSession, months: Sequence[date], tz: str, *, many: bool
) -> None:
    """The rest rules over the claimed months' shifts and those up to 9 days either side (a
    week's period and a stretch off cross month ends), bound as values so that the planner
    sees how many shifts they are."""
    minima = (await session.execute(sa.text(_REST_MINIMA))).all()
    if minima and months:
        params: dict[str, Any] = {f"m{k}": m for k, (m, _, _) in enumerate(minima)}
        params |= {f"t{k}": float(t) for k, (_, t, _) in enumerate(minima)}
        # Stretches shorter than the largest daily minimum are the candidate quick returns.
        daily = [m for m, _, is_daily in minima if is_daily]
        params["quick"] = float(max(daily)) * 3600 if daily else 0.0
        after_last = (max(months) + timedelta(days=32)).replace(day=1)
        span = {"first": min(months) - timedelta(days=9), "last": after_last + timedelta(days=9)}
        # The blocks' members are joined on equal block starts, which the planner takes for a
        # handful of rows; a nested loop over them then scans every member per window.
        await _execute_without(
            session,
            "nestloop",
            _rest_statement(len(minima), many),
            {"tz": tz, **span, **params},
        )


@functools.cache
def _holidays_of(year: int) -> frozenset[date]:
    """Sweden's public holidays of a year, computed once per process: the library takes
    about 20 ms a year, and every round asks for the years of its months again."""
    return frozenset(holidays.country_holidays("SE", years=year, include_sundays=False))


def _swedish_holidays(months: Sequence[date]) -> dict[str, list[date]]:
    """Sweden's public holidays (not every Sunday, which the library counts by default) in the
    years around `months`, and their eves: the day before each that is not itself one
    (trettondagsafton, skärtorsdag, påskafton, valborg, midsommarafton, julafton, nyårsafton…)."""
    if not months:
        return {"holidays": [], "eves": []}
    days = set().union(
        *(_holidays_of(year) for year in range(min(months).year - 1, max(months).year + 2))
    )
    eves = {day - timedelta(days=1) for day in days} - days
    return {"holidays": sorted(days), "eves": sorted(eves)}


async def detect(
    session: AsyncSession, cells: Sequence[tuple[int, Any]], *, tz: str, many: bool = False
) -> int:
    """Replaces the claimed cells' violations (writing only what changed); publishes
    `compliance.violation_detected` once per org unit and day that has new ones. Returns how
    many violations the cells hold.
    `cells` as `facts.claim` returned them (it filled and analysed `kpi_claimed`). `many`: the
    cells are a backlog (their records are scanned, not looked up)."""
    await session.execute(
        sa.text(
            "CREATE TEMP TABLE IF NOT EXISTS compliance_previous "
            "(LIKE compliance_violations) ON COMMIT DROP"
        )
    )
    await session.execute(sa.text(_FOUND_TABLE))
    await session.execute(
        sa.text(
            "CREATE TEMP TABLE IF NOT EXISTS compliance_employees (org_unit_id bigint, "
            "month date, employee text, shifts boolean, overtime boolean, untimed bigint, "
            "untimed_hours numeric) ON COMMIT DROP"
        )
    )
    await session.execute(
        sa.text("TRUNCATE compliance_previous, compliance_found, compliance_employees")
    )
    await session.execute(sa.text(_CELL_EMPLOYEES))
    await session.execute(sa.text("ANALYZE compliance_employees"))
    await session.execute(sa.text(_REMEMBER))
    await session.execute(
        sa.text(
            "DELETE FROM compliance_uncheckable u USING kpi_claimed c "
            "WHERE u.org_unit_id = c.org_unit_id AND u.month = c.month"
        )
    )
    await session.execute(sa.text(_UNCHECKABLE))
    months = [month for _, month in cells]
    await _detect_rest(session, months, tz, many=many)
    # The overtime records of many employees: one scan of the table, not an index range per
    # employee and month or year (the planner takes each range for a few records).
    # The claimed months' days and years, bound as values: only their partitions are planned.
    years = {
        "years_first": date(min(months).year, 1, 1),
        "years_end": date(max(months).year + 1, 1, 1),
    }
    await _execute_without(session, "nestloop" if many else None, _OVERTIME, years)
    # A backlog's agency records hashed too: the banned hours, a subquery per record, make the
    # planner take them for a handful and loop over them once per unit.
    await _execute_without(
        session,
        "nestloop" if many else None,
        _AGENCY,
        {"tz": tz, **facts.week_span(months), **_swedish_holidays(months)},
    )
    # The columns the statements below join on: the rest (details' JSON above all) took two
    # thirds of the ANALYZE.
    await session.execute(
        sa.text(
            f"ANALYZE compliance_found ({_VIOLATION_KEY}), "
            f"compliance_previous (id, {_VIOLATION_KEY})"
        )
    )
    for statement in (_GONE, _CHANGED, _NEW):
        await session.execute(sa.text(statement))
    await events_service.publish_selected(session, "compliance.violation_detected", _FRESH)
    await session.execute(sa.text(_WITHDRAWN))
    total = await session.execute(
        sa.text(
            "SELECT count(*) FROM kpi_claimed c JOIN compliance_violations v "
            "ON v.org_unit_id = c.org_unit_id AND v.work_date >= c.month "
            "AND v.work_date < (c.month + interval '1 month')::date"
        )
    )
    return int(total.scalar_one())


async def _detect_claimed(session: AsyncSession, cells: facts.Cells, settings: Settings) -> None:
    await detect(session, cells, tz=settings.local_timezone, many=len(cells) >= facts.SCAN_CELLS)


def register_with_kpis() -> None:
    """Detection runs as a cell hook of every KPI recalculation, and FACTS is the source of
    its rest and agency-policy facts. `services.core.compliance` calls this on import."""
    facts.register(kinds=("rest", "agency_policy"), source=FACTS, hook=_detect_claimed)
