"""Leaf facts: the set-based SQL that recomputes every computed KPI's numerator and
denominator for a set of claimed (org unit, month) cells.

A recalculation claims dirty cells by their org units, with a transaction-level advisory lock
per unit (others skip the units it holds), and remembers each mark's row version. It then
replaces the cells' facts in one statement per source (time records, employments, personnel
costs) and, last, deletes the marks that are still the versions it claimed. The marks are not
row-locked meanwhile, so a feed changing the same cells marks them again without waiting for the
recalculation (every writer marks with `ON CONFLICT … DO UPDATE`, which makes a new row
version, so its change is computed in a later round); a crash leaves the marks in place.
Other domains add their own sources or hooks (`register`: compliance adds its violation
detection and the rest and agency-policy facts), which run in the same transaction for the same
cells; kpis imports none of them. A recalculation refuses to start while a kind of fact in
`MEASURES` has no source."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.config import Settings
from services.core.kpis.catalogue import ABSENCE_TYPES
from services.core.kpis.models import MEASURES, WEEK_MEASURES
from services.core.periods import month_of
from services.core.tree import subtree_upper_bound

CLAIMED = "kpi_claimed"
# Later months of sick spells this round renumbered, marked dirty at its end.
FORWARD = "kpi_forward_cells"
# Every record of the claimed cells, summed once per cell, profession, staff kind and employee:
# the time facts, the employees whose sick spells and rest periods to look at, and compliance's
# per-employee flags all read this instead of the records again.
CELL_PEOPLE = "kpi_cell_people"
# Own staff with records in the claimed cells: whose sick spells and rest periods to look at.
# Analysed, so the later statements fetch just these employees' history by index instead of
# hashing the whole table against a badly estimated join.
CLAIMED_EMPLOYEES = "kpi_claimed_employees"
_CLAIMED_EMPLOYEES = f"""
INSERT INTO {CLAIMED_EMPLOYEES} (employee, sick, shifts)
SELECT employee, bool_or(sick IS NOT NULL), bool_or(timed_shifts)
FROM {CELL_PEOPLE} WHERE staff_kind = 'own'
GROUP BY employee
"""

_ABSENCES = ", ".join(f"'{t}'" for t in ABSENCE_TYPES)

# One advisory-lock key per org unit; pg_try_advisory_xact_lock lets another transaction skip
# it. Per unit, not per cell: each lock takes a slot in PostgreSQL's shared lock table (about
# 64 × max_connections in all), so a round locks at most UNITS_PER_ROUND of them.
UNIT_LOCK = "pg_try_advisory_xact_lock(hashtextextended('kpi_unit:' || {unit}, 0))"
UNITS_PER_ROUND = 500

_CLAIM = f"""
INSERT INTO {CLAIMED} (org_unit_id, month, mark, spill)
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
    LIMIT :units
)
SELECT d.org_unit_id, d.month, d.xmin, d.spill
FROM kpi_dirty_cells d JOIN locked USING (org_unit_id)
ORDER BY d.month, d.org_unit_id
LIMIT :limit
"""

# Every mark this round touches, the claimed cells' and the later months of the spells it
# renumbered, locked (or inserted) in one pass in the order writers mark cells. A feed marks
# its cells in that order too, so neither ever holds a mark the other needs first: taking the
# later months' marks earlier in the round deadlocked with a feed that had marked a claimed
# cell. (DO UPDATE … WHERE false locks an existing mark without making a new version of it.)
# A new mark of a spell's other month is a `spill`: recomputing it marks nothing further.
_LOCK_MARKS = f"""
INSERT INTO kpi_dirty_cells (org_unit_id, month, spill)
SELECT org_unit_id, month, bool_and(spill) FROM (
    SELECT org_unit_id, month, false AS spill FROM {CLAIMED}
    UNION ALL
    SELECT org_unit_id, month, true FROM {FORWARD}
) AS m
GROUP BY 1, 2
ORDER BY 1, 2
ON CONFLICT (org_unit_id, month) DO UPDATE SET marked_at = EXCLUDED.marked_at WHERE false
"""

# Marks a writer changed since the claim (a new row version) stay for the next round.
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

# Every own sick day of the employees who have one in a claimed cell (per unit and profession
# where a day has records in several), numbered within its spell: a spell continues while the
# next sick day is at most 5 calendar days after the previous one, and a spell that began
# before the claimed month counts from its real first day. `spell_days` is the whole spell's
# length in calendar days (first to last day), `changed` whether the day lies in a claimed cell
# whose data changed (not a spill).
_SICK_DAYS = f"""
INSERT INTO kpi_sick_days (employee, work_date, org_unit_id, profession, hours, spell, day_no,
                           claimed, spell_days, changed)
WITH affected AS (
    SELECT employee FROM {CLAIMED_EMPLOYEES} WHERE sick
), days AS (
    SELECT t.employee, t.work_date, t.org_unit_id, t.profession, sum(t.hours) AS hours,
           bool_or(c.org_unit_id IS NOT NULL) AS claimed,
           coalesce(bool_or(NOT c.spill), false) AS changed
    FROM time_records t
    JOIN affected a USING (employee)
    LEFT JOIN {CLAIMED} c ON c.org_unit_id = t.org_unit_id
     AND c.month = {month_of("t.work_date")}
    WHERE t.time_type = 'sick' AND t.staff_kind = 'own' AND t.deleted_at IS NULL
    GROUP BY t.employee, t.work_date, t.org_unit_id, t.profession
), starts AS (
    -- A day's second row (another unit) is 0 days after its first: the same spell.
    SELECT *, CASE WHEN work_date - lag(work_date) OVER w <= 5 THEN 0 ELSE 1 END AS new_spell
    FROM days WINDOW w AS (PARTITION BY employee ORDER BY work_date)
), spells AS (
    SELECT *, sum(new_spell) OVER (PARTITION BY employee ORDER BY work_date) AS spell
    FROM starts
)
SELECT employee, work_date, org_unit_id, profession, hours, spell,
       work_date - min(work_date) OVER s + 1, claimed,
       max(work_date) OVER s - min(work_date) OVER s + 1, changed
FROM spells WINDOW s AS (PARTITION BY employee, spell)
"""

_AGE_BAND = """CASE WHEN {birth} IS NULL THEN ''
     WHEN date_part('year', {month}::timestamp)::int - {birth} <= 29 THEN '-29'
     WHEN date_part('year', {month}::timestamp)::int - {birth} <= 49 THEN '30-49'
     ELSE '50-' END"""

# An employee as a 32-bit number for the facts' `people` (the distinct employees of a row): the
# first 32 bits of the pseudonym's MD5, stable across PostgreSQL versions (hashtext is not
# promised to be). Two employees sharing a number count as one: the count can only come out
# smaller, and suppression errs toward hiding.
PERSON_ID = "('x' || left(md5({employee}), 8))::bit(32)::int"


def people_of(employee: str, where: str = "true") -> str:
    """The aggregate of a fact row's `people`: the distinct employees among its rows that
    pass `where`, sorted (empty, not null, when none do)."""
    return (
        f"coalesce(array_agg(DISTINCT {PERSON_ID.format(employee=employee)}) "
        f"FILTER (WHERE {where}), '{{}}')"
    )


# Sources write into a temporary table first: the facts and the cell totals are then two
# plain inserts from it, with no join back into the (large) facts table. Each writes its own
# kind's measures (never null in its rows) and leaves the others null.
_INSERT = (
    "INSERT INTO kpi_new_facts (org_unit_id, month, kind, profession, staff_kind, gender, "
    "age_band, employees, people, {})"
)

# The time types that are shifts someone worked (the rest rules check these too): on-call
# time at the workplace (jour) is working time; standby (beredskap) is not.
SHIFT_TYPES = "('worked', 'overtime', 'extra_time', 'on_call')"
_SHIFT = f"t.time_type IN {SHIFT_TYPES}"
_CELL_PEOPLE_INSERT = f"""
INSERT INTO {CELL_PEOPLE} (org_unit_id, month, profession, staff_kind, employee, scheduled,
                           sick, absent, overtime, extra_time, on_call, worked, timed_shifts,
                           untimed, untimed_hours, present)"""
# Summed per day first: presence counts the worked hours inside the schedule, at most a day's
# scheduled hours each day; the day sums are then summed per month (or week). Hours are summed
# as whole hundredths (hours are numeric(5,2)): a sum of integers is a counter in the hash
# table where a numeric sum allocates a state per group and column, and the day sums are half
# a million groups in a full recalculation. `_CELL_PEOPLE_SUMS` turns them back into hours,
# the same values with the same two decimals as numeric sums of the hours.
_CENTS = "CAST(t.hours * 100 AS integer)"
_CELL_PEOPLE_DAY_SUMS = f"""
       sum({_CENTS}) FILTER (WHERE t.time_type = 'scheduled') AS scheduled,
       sum({_CENTS}) FILTER (WHERE t.time_type = 'sick') AS sick,
       sum({_CENTS}) FILTER (WHERE t.time_type IN ({_ABSENCES})) AS absent,
       sum({_CENTS}) FILTER (WHERE t.time_type = 'overtime') AS overtime,
       sum({_CENTS}) FILTER (WHERE t.time_type = 'extra_time') AS extra_time,
       sum({_CENTS}) FILTER (WHERE t.time_type = 'on_call') AS on_call,
       sum({_CENTS}) FILTER (WHERE t.time_type = 'worked') AS worked,
       bool_or({_SHIFT} AND t.start_at IS NOT NULL) AS timed_shifts,
       count(*) FILTER (WHERE {_SHIFT} AND t.start_at IS NULL) AS untimed,
       sum({_CENTS}) FILTER (WHERE {_SHIFT} AND t.start_at IS NULL) AS untimed_hours"""
_CELL_PEOPLE_SUMS = """
       sum(scheduled) * 0.01 AS scheduled, sum(sick) * 0.01 AS sick,
       sum(absent) * 0.01 AS absent, sum(overtime) * 0.01 AS overtime,
       sum(extra_time) * 0.01 AS extra_time, sum(on_call) * 0.01 AS on_call,
       sum(worked) * 0.01 AS worked, bool_or(timed_shifts) AS timed_shifts,
       sum(untimed) AS untimed, sum(untimed_hours) * 0.01 AS untimed_hours,
       sum(least(worked, scheduled)) FILTER (WHERE worked IS NOT NULL AND scheduled IS NOT NULL)
           * 0.01 AS present
"""
# Each claimed cell's records are summed per day once: the cells' monthly sums and the weekly
# sums of the weeks they touch (a week straddling a month's end is in both months, its other
# days read too) both come from those day sums. Reading the records a second time for the
# weeks was half of an incremental recalculation's record work at 10 M.
_WEEK_OF = "({day} - (extract(isodow FROM {day})::int - 1))"
_DAYS_THEN_CELLS = f"""
WITH days AS MATERIALIZED (
    SELECT t.org_unit_id, t.work_date, t.profession, t.staff_kind, t.employee,
           {_CELL_PEOPLE_DAY_SUMS}
    FROM {{records}}
    GROUP BY 1, 2, 3, 4, 5
), weeks AS (
    INSERT INTO kpi_week_people
    SELECT * FROM (
        SELECT org_unit_id, {_WEEK_OF.format(day="work_date")} AS week, profession, staff_kind,
               employee, {_CELL_PEOPLE_SUMS}
        FROM days
        GROUP BY 1, 2, 3, 4, 5
    ) AS x
    WHERE (x.org_unit_id, {month_of("x.week")})
          IN (SELECT org_unit_id, month FROM {CLAIMED})
       OR (x.org_unit_id, {month_of("(x.week + 6)")})
          IN (SELECT org_unit_id, month FROM {CLAIMED})
)
{_CELL_PEOPLE_INSERT}
SELECT * FROM (
    SELECT org_unit_id, {month_of("work_date")} AS month,
           profession, staff_kind, employee, {_CELL_PEOPLE_SUMS}
    FROM days
    GROUP BY 1, 2, 3, 4, 5
) AS x
WHERE (x.org_unit_id, x.month) IN (SELECT org_unit_id, month FROM {CLAIMED})
"""
# Many cells: one scan of the claimed units' records from the Monday before the first claimed
# month to the Sunday after the last. Joining every record with its cell first cost more than
# the sums (a hash probe of two keys per record); a week per claimed cell probed by index cost
# more than the whole scan.
_CELL_PEOPLE_SCAN = _DAYS_THEN_CELLS.format(
    records="""time_records t
    WHERE t.deleted_at IS NULL
      AND t.org_unit_id = ANY(:units) AND t.work_date >= :first AND t.work_date < :end"""
)
# A few cells: each unit's claimed months widened to whole weeks, the overlapping spans of a
# unit merged (neighbouring months share their straddling week, whose days must be read once),
# and each span's records read by the unit-and-date index. OFFSET 0 keeps the planner from
# flattening the lateral into a hash join with a scan of the months' partitions.
_CELL_PEOPLE = _DAYS_THEN_CELLS.format(
    records=f"""(
        SELECT org_unit_id, min(lo) AS lo, max(hi) AS hi
        FROM (
            SELECT *, sum(fresh) OVER (PARTITION BY org_unit_id ORDER BY lo) AS span
            FROM (
                SELECT *, CASE WHEN lo <= max(hi) OVER (PARTITION BY org_unit_id ORDER BY lo
                                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                          THEN 0 ELSE 1 END AS fresh
                FROM (
                    SELECT c.org_unit_id, {_WEEK_OF.format(day="c.month")} AS lo,
                           {_WEEK_OF.format(day="(c.month + interval '1 month - 1 day')::date")}
                               + 7 AS hi
                    FROM {CLAIMED} c
                ) AS weeks
            ) AS marked
        ) AS spans
        GROUP BY org_unit_id, span
    ) AS r
    CROSS JOIN LATERAL (
        SELECT * FROM time_records t
        WHERE t.org_unit_id = r.org_unit_id AND t.work_date >= r.lo AND t.work_date < r.hi
          AND t.deleted_at IS NULL AND t.work_date >= :first AND t.work_date < :end
        OFFSET 0
    ) AS t"""
)
# The weeks whose facts are replaced: those with records now (summed above) and those with
# facts before. A claimed week with neither has nothing to delete or compute:
# of the 160 000 weeks of a full recalculation, most are months of employments before any
# time data.
_CLAIMED_WEEKS = f"""
INSERT INTO kpi_claimed_weeks (org_unit_id, week)
SELECT org_unit_id, week FROM kpi_week_people
UNION
SELECT f.org_unit_id, f.week
FROM kpi_week_facts f
JOIN {CLAIMED} c ON c.org_unit_id = f.org_unit_id
 AND f.week >= date_trunc('week', c.month::timestamp)::date
 AND f.week < (c.month + interval '1 month')::date
"""

# Own staff per group of profession, gender and age band (an employee is one row of its group,
# so counting rows counts distinct employees); worked hours of everyone per profession.
_TIME_FACTS = f"""
{_INSERT.format(", ".join(MEASURES["time"]))}
WITH sick_split AS (
    SELECT org_unit_id, {month_of("work_date")} AS month, profession,
           employee,
           sum(hours) FILTER (WHERE day_no <= 14) AS short,
           sum(hours) FILTER (WHERE day_no >= 15) AS long,
           sum(hours) FILTER (WHERE spell_days >= 60) AS d60
    FROM kpi_sick_days WHERE claimed
    GROUP BY 1, 2, 3, 4
), people AS (
    -- Gender, birth year and pay form where the employee's employments carry them (the
    -- latest one).
    SELECT DISTINCT ON (e.employee) e.employee, e.gender, e.birth_year, e.pay_form
    FROM employments e
    WHERE e.deleted_at IS NULL AND e.employee IN (SELECT employee FROM {CLAIMED_EMPLOYEES})
    ORDER BY e.employee, e.start_date DESC
)
SELECT r.org_unit_id, r.month, 'time', r.profession, 'own', coalesce(p.gender, ''),
       {_AGE_BAND.format(birth="p.birth_year", month="r.month")},
       count(*),
       {people_of("r.employee")},
       coalesce(sum(r.scheduled), 0),
       coalesce(sum(r.sick), 0),
       coalesce(sum(x.short), 0),
       coalesce(sum(x.long), 0),
       coalesce(sum(x.d60), 0),
       coalesce(sum(r.absent), 0),
       coalesce(sum(r.overtime), 0),
       coalesce(sum(r.extra_time), 0),
       coalesce(sum(r.on_call), 0),
       coalesce(sum(r.quick_returns), 0),
       coalesce(sum(r.present), 0),
       coalesce(sum(r.scheduled) FILTER (WHERE p.pay_form IS DISTINCT FROM 'hourly'), 0),
       coalesce(sum(r.worked) FILTER (WHERE p.pay_form = 'hourly'), 0)
FROM {CELL_PEOPLE} r LEFT JOIN people p USING (employee)
LEFT JOIN sick_split x USING (org_unit_id, month, profession, employee)
WHERE r.staff_kind = 'own'
GROUP BY 1, 2, 3, 4, 5, 6, 7
"""

_WORKED_FACTS = f"""
{_INSERT.format(", ".join(MEASURES["worked"]))}
SELECT org_unit_id, month, 'worked', profession, '', '', '', count(DISTINCT employee),
       {people_of("employee")},
       sum(worked) AS worked,
       coalesce(sum(worked) FILTER (WHERE staff_kind = 'agency'), 0) AS worked_agency,
       coalesce(sum(worked) FILTER (WHERE staff_kind = 'agency' AND profession = 'doctor'), 0)
           AS worked_agency_doctor
FROM {CELL_PEOPLE} WHERE worked IS NOT NULL
GROUP BY org_unit_id, month, profession
"""

# Employments per cell and employee first (one may hold several in a month), so the groups
# count employees by plain counts over a hash aggregate instead of sorted DISTINCT counts.
# Split by pay form: the reads leave hourly-paid rows out unless asked for them. A hire is an
# employment starting in the month that does not follow an internal transfer (the same
# employee's employment ending as one in the week before). Recovery (Semesterlagen 12 §) is
# counted in August: staff employed in the unit all summer (1 June – 31 August), and those of
# them with four consecutive weeks of vacation in June–August: a run of vacation days each at
# most 4 calendar days after the previous (a weekend or holiday between) spanning at least 26
# calendar days (four Monday-to-Friday weeks), in any unit.
_EMPLOYMENT_FACTS = f"""
INSERT INTO kpi_new_facts (org_unit_id, month, kind, profession, staff_kind, gender, age_band,
                           pay_form, employees, people, {", ".join(MEASURES["staff"])})
WITH spans AS (
    SELECT c.org_unit_id, c.month, e.employee, e.profession, e.contract, e.fte, e.is_manager,
           e.pay_form, e.end_date, e.end_reason, coalesce(e.gender, '') AS gender,
           {_AGE_BAND.format(birth="e.birth_year", month="c.month")} AS age_band,
           e.end_date IS NULL OR e.end_date >= (c.month + interval '1 month - 1 day')::date
               AS active,
           e.contract = 'permanent' AND e.end_date >= c.month
               AND e.end_date < (c.month + interval '1 month')::date
               AND coalesce(e.end_reason, '') <> 'internal_transfer' AS ended,
           e.start_date >= c.month AND e.start_date < (c.month + interval '1 month')::date
               AND NOT EXISTS (
                   SELECT 1 FROM employments t
                   WHERE t.employee = e.employee AND t.deleted_at IS NULL
                     AND t.end_reason = 'internal_transfer'
                     AND t.end_date BETWEEN e.start_date - 7 AND e.start_date
               ) AS hired,
           extract(month FROM c.month) = 8
               AND e.start_date <= c.month - interval '2 months'
               AND (e.end_date IS NULL
                    OR e.end_date >= (c.month + interval '1 month - 1 day')::date) AS summer
    FROM {CLAIMED} c
    JOIN employments e ON e.org_unit_id = c.org_unit_id AND e.deleted_at IS NULL
     AND e.start_date <= (c.month + interval '1 month - 1 day')::date
     AND (e.end_date IS NULL OR e.end_date >= c.month)
), vacation AS (
    -- Each summer's records by the employee's index, its months' partitions only (summers
    -- before any time data find none): not a scan of the whole table for a few summers.
    -- OFFSET 0 keeps the planner from flattening the lateral into a join of whole tables.
    SELECT s.employee, t.work_date, extract(year FROM t.work_date)::int AS year
    FROM (SELECT DISTINCT employee, month FROM spans WHERE summer) s
    CROSS JOIN LATERAL (
        SELECT t.work_date FROM time_records t
        WHERE t.employee = s.employee
          AND t.work_date BETWEEN CAST(s.month - interval '2 months' AS date)
                              AND CAST(s.month + interval '30 days' AS date)
          AND t.time_type = 'vacation' AND t.staff_kind = 'own' AND t.deleted_at IS NULL
        OFFSET 0
    ) AS t
    GROUP BY s.employee, t.work_date
), runs AS (
    SELECT employee, year, work_date,
           sum(new_run) OVER (PARTITION BY employee ORDER BY work_date) AS run
    FROM (
        SELECT *, CASE WHEN work_date - lag(work_date) OVER (PARTITION BY employee, year
                                                             ORDER BY work_date) <= 4
                       THEN 0 ELSE 1 END AS new_run
        FROM vacation
    ) AS v
), rested AS (
    SELECT DISTINCT employee, year FROM runs GROUP BY employee, year, run
    HAVING max(work_date) - min(work_date) + 1 >= 26
), people AS (
    SELECT s.org_unit_id, s.month, s.profession, s.gender, s.age_band, s.pay_form, s.employee,
           bool_or(active) AS active,
           sum(fte) FILTER (WHERE active) AS fte,
           bool_or(active AND contract = 'permanent') AS permanent,
           bool_or(active AND contract = 'fixed_term') AS fixed_term,
           bool_or(active AND contract IN ('permanent', 'fixed_term')) AS monthly_paid,
           bool_or(active AND contract IN ('permanent', 'fixed_term') AND fte >= 1)
               AS full_time,
           bool_or(active AND is_manager) AS manager,
           count(*) FILTER (WHERE ended) AS ended,
           count(*) FILTER (WHERE hired) AS hired,
           bool_or(summer) AS summer,
           bool_or(summer) AND bool_or(r.employee IS NOT NULL) AS recovered
    FROM spans s
    LEFT JOIN rested r ON r.employee = s.employee AND s.summer
     AND r.year = extract(year FROM s.month)::int
    GROUP BY s.org_unit_id, s.month, s.profession, s.gender, s.age_band, s.pay_form, s.employee
)
SELECT org_unit_id, month, 'staff', profession, '', gender, age_band, pay_form,
       count(*) FILTER (WHERE active),
       {people_of("employee", "active")},
       count(*) FILTER (WHERE active),
       coalesce(sum(fte), 0),
       count(*) FILTER (WHERE permanent),
       count(*) FILTER (WHERE fixed_term),
       count(*) FILTER (WHERE monthly_paid),
       count(*) FILTER (WHERE full_time),
       count(*) FILTER (WHERE manager),
       sum(ended),
       count(*) FILTER (WHERE active AND NOT manager),
       count(*) FILTER (WHERE active AND gender = 'female'),
       count(*) FILTER (WHERE manager AND gender = 'female'),
       sum(hired),
       count(*) FILTER (WHERE summer),
       count(*) FILTER (WHERE recovered)
FROM people
GROUP BY org_unit_id, month, profession, gender, age_band, pay_form
"""

# Personnel cost is own staff and agency staff; consultants are a cost of their own. The
# unit's budgets (no profession) are spread evenly over their months: a month with a budget and
# no outcome yet has an outcome of 0.
_COST_FACTS = f"""
{_INSERT.format(", ".join(MEASURES["cost"]))}
WITH amounts AS (
    SELECT p.org_unit_id, c.month, p.profession, p.category, p.amount_sek AS amount,
           false AS budget
    FROM {CLAIMED} c
    JOIN personnel_costs p ON p.org_unit_id = c.org_unit_id AND p.period = c.month
    WHERE p.deleted_at IS NULL
    UNION ALL
    SELECT b.org_unit_id, c.month, '', b.category,
           b.amount_sek / ((extract(year FROM age(b.last_month, b.first_month)) * 12
                            + extract(month FROM age(b.last_month, b.first_month)) + 1)),
           true
    FROM {CLAIMED} c
    JOIN budgets b ON b.org_unit_id = c.org_unit_id
     AND c.month BETWEEN b.first_month AND b.last_month
    WHERE b.deleted_at IS NULL
)
SELECT org_unit_id, month, 'cost', profession, '', '', '', NULL, NULL,
       coalesce(sum(amount) FILTER (WHERE NOT budget AND category = 'agency'), 0),
       coalesce(sum(amount) FILTER (WHERE NOT budget AND category <> 'consultant'), 0),
       coalesce(sum(amount) FILTER (WHERE NOT budget AND category = 'consultant'), 0),
       coalesce(sum(amount) FILTER (WHERE budget AND category <> 'consultant'), 0),
       coalesce(sum(amount) FILTER (WHERE budget AND category = 'agency'), 0),
       coalesce(sum(amount) FILTER (WHERE budget AND category = 'consultant'), 0)
FROM amounts
GROUP BY org_unit_id, month, profession
"""

# Per kind, summing only its own measures: a sum of a column that is null in every row is
# still work per row. The totals are of monthly-paid staff (what a read without a pay form
# filter shows). `employees` counts the distinct employees of the cell's facts (one with two
# professions is one), null for money.
_TOTALS = [
    f"""
INSERT INTO kpi_cell_totals (org_unit_id, month, kind, employees, {", ".join(measures)},
                             computed_at)
WITH cells AS (
    SELECT org_unit_id, month, kind, bool_or(people IS NOT NULL) AS counted,
           {", ".join(f"sum({m}) AS {m}" for m in measures)}, max(computed_at) AS computed_at
    FROM kpi_new_facts WHERE kind = '{kind}' AND pay_form <> 'hourly'
    GROUP BY org_unit_id, month, kind
), heads AS (
    -- Distinct by hashing, then counted (count(DISTINCT) sorts each cell's people).
    SELECT org_unit_id, month, count(*) AS employees
    FROM (
        SELECT DISTINCT f.org_unit_id, f.month, p
        FROM kpi_new_facts f CROSS JOIN LATERAL unnest(f.people) AS p
        WHERE f.kind = '{kind}' AND f.pay_form <> 'hourly'
    ) AS d
    GROUP BY org_unit_id, month
)
SELECT c.org_unit_id, c.month, c.kind,
       CASE WHEN c.counted THEN coalesce(h.employees, 0) END,
       {", ".join(f"c.{m}" for m in measures)}, c.computed_at
FROM cells c LEFT JOIN heads h USING (org_unit_id, month)
"""
    for kind, measures in MEASURES.items()
]

# A changed sick day can renumber the rest of its spell in later months (and other units), and
# lengthen or shorten the spell across 60 days, which counts every month of it: the spell's
# other cells are marked dirty for the next round (at the release, see _LOCK_MARKS) as spills.
# Only cells whose data changed spill, so marking ends. A change in June or July of a cell
# with absences changes the summer's recovery, counted in August.
_FORWARD_SPELLS = f"""
INSERT INTO {FORWARD} (org_unit_id, month)
WITH touched AS (
    SELECT employee, spell FROM kpi_sick_days GROUP BY employee, spell HAVING bool_or(changed)
)
SELECT DISTINCT s.org_unit_id, {month_of("s.work_date")}
FROM kpi_sick_days s JOIN touched t USING (employee, spell)
WHERE NOT s.claimed
UNION
SELECT c.org_unit_id, make_date(extract(year FROM c.month)::int, 8, 1) FROM {CLAIMED} c
WHERE extract(month FROM c.month) IN (6, 7) AND NOT c.spill
  AND make_date(extract(year FROM c.month)::int, 8, 1) <= current_date
  AND EXISTS (SELECT 1 FROM {CELL_PEOPLE} p WHERE p.org_unit_id = c.org_unit_id
              AND p.month = c.month AND p.absent IS NOT NULL)
EXCEPT
SELECT org_unit_id, month FROM {CLAIMED}
"""

_DELETE_WEEKS = """
DELETE FROM kpi_week_facts f USING kpi_claimed_weeks w
WHERE f.org_unit_id = w.org_unit_id AND f.week = w.week
"""
_WEEK_TIME = f"""
INSERT INTO kpi_week_facts (org_unit_id, week, kind, profession, employees, people,
                            {", ".join(WEEK_MEASURES["time"])})
WITH people AS (
    SELECT DISTINCT ON (e.employee) e.employee, e.pay_form
    FROM employments e
    WHERE e.deleted_at IS NULL
      AND e.employee IN (SELECT employee FROM kpi_week_people WHERE staff_kind = 'own')
    ORDER BY e.employee, e.start_date DESC
)
SELECT r.org_unit_id, r.week, 'time', r.profession, count(*), {people_of("r.employee")},
       coalesce(sum(r.scheduled), 0), coalesce(sum(r.sick), 0), coalesce(sum(r.absent), 0),
       coalesce(sum(r.overtime), 0), coalesce(sum(r.extra_time), 0),
       coalesce(sum(r.on_call), 0), coalesce(sum(r.present), 0),
       coalesce(sum(r.scheduled) FILTER (WHERE p.pay_form IS DISTINCT FROM 'hourly'), 0),
       coalesce(sum(r.worked) FILTER (WHERE p.pay_form = 'hourly'), 0)
FROM kpi_week_people r LEFT JOIN people p USING (employee)
WHERE r.staff_kind = 'own'
GROUP BY r.org_unit_id, r.week, r.profession
"""
_WEEK_WORKED = f"""
INSERT INTO kpi_week_facts (org_unit_id, week, kind, profession, employees, people,
                            {", ".join(WEEK_MEASURES["worked"])})
SELECT org_unit_id, week, 'worked', profession, count(DISTINCT employee),
       {people_of("employee")}, sum(worked),
       coalesce(sum(worked) FILTER (WHERE staff_kind = 'agency'), 0),
       coalesce(sum(worked) FILTER (WHERE staff_kind = 'agency' AND profession = 'doctor'), 0)
FROM kpi_week_people WHERE worked IS NOT NULL
GROUP BY org_unit_id, week, profession
"""

Cells = list[tuple[int, Any]]
CellHook = Callable[[AsyncSession, Cells, Settings], Awaitable[Any]]


# Work other domains do on the same claimed cells, in the same transaction, before the facts
# (so their own fact sources can read what they wrote).
CELL_HOOKS: list[CellHook] = []
FACT_SOURCES: list[str] = [_TIME_FACTS, _WORKED_FACTS, _EMPLOYMENT_FACTS, _COST_FACTS]
# The kinds of fact (MEASURES) the sources write.
_SOURCED_KINDS: set[str] = {"time", "worked", "staff", "cost"}


def register(*, kinds: tuple[str, ...], source: str, hook: CellHook | None = None) -> None:
    """Adds another domain's fact source (an INSERT into kpi_new_facts writing the `kinds`),
    run after the built-in ones, and the hook that prepares what it reads. Registering the
    same again changes nothing."""
    if source not in FACT_SOURCES:
        FACT_SOURCES.append(source)
    if hook is not None and hook not in CELL_HOOKS:
        CELL_HOOKS.append(hook)
    _SOURCED_KINDS.update(kinds)


def _check_sources() -> None:
    missing = sorted(set(MEASURES) - _SOURCED_KINDS)
    if missing:
        raise RuntimeError(
            f"No fact source writes the {', '.join(missing)} facts: the domain computing them "
            "registers with kpis.facts.register when imported (services.core.compliance)"
        )


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
            "(org_unit_id bigint, month date, mark xid, spill boolean, "
            "PRIMARY KEY (org_unit_id, month)) "
            "ON COMMIT DROP"
        )
    )
    await session.execute(
        sa.text(
            f"CREATE TEMP TABLE IF NOT EXISTS {CELL_PEOPLE} "
            "(org_unit_id bigint, month date, profession text, staff_kind text, employee text, "
            "scheduled numeric, sick numeric, absent numeric, overtime numeric, "
            "extra_time numeric, on_call numeric, worked numeric, timed_shifts boolean, "
            "untimed bigint, untimed_hours numeric, present numeric, "
            # Filled by compliance's cell hook (rest stretches too short before a shift).
            "quick_returns bigint) ON COMMIT DROP"
        )
    )
    await session.execute(
        sa.text(
            "CREATE TEMP TABLE IF NOT EXISTS kpi_sick_days "
            "(employee text, work_date date, org_unit_id bigint, profession text, "
            "hours numeric, spell bigint, day_no int, claimed boolean, spell_days int, "
            "changed boolean) ON COMMIT DROP"
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
            f"CREATE TEMP TABLE IF NOT EXISTS {FORWARD} (org_unit_id bigint, month date) "
            "ON COMMIT DROP"
        )
    )
    await session.execute(
        sa.text(
            f"CREATE TEMP TABLE IF NOT EXISTS {CLAIMED_EMPLOYEES} "
            "(employee text PRIMARY KEY, sick boolean, shifts boolean) ON COMMIT DROP"
        )
    )
    await session.execute(
        sa.text(
            "CREATE TEMP TABLE IF NOT EXISTS kpi_claimed_weeks (org_unit_id bigint, week date) "
            "ON COMMIT DROP"
        )
    )
    await session.execute(
        sa.text(
            "CREATE TEMP TABLE IF NOT EXISTS kpi_week_people "
            "(org_unit_id bigint, week date, profession text, staff_kind text, employee text, "
            "scheduled numeric, sick numeric, absent numeric, overtime numeric, "
            "extra_time numeric, on_call numeric, worked numeric, timed_shifts boolean, "
            "untimed bigint, untimed_hours numeric, present numeric) ON COMMIT DROP"
        )
    )
    await session.execute(
        sa.text(
            f"TRUNCATE {CLAIMED}, {CELL_PEOPLE}, {CLAIMED_EMPLOYEES}, {FORWARD}, kpi_sick_days, "
            "kpi_new_facts, kpi_claimed_weeks, kpi_week_people"
        )
    )


# The fed tables whose statistics are stale: a bulk load far ahead of autovacuum. Planned on
# a table that looks empty, the rest rules join a million records with nested loops and run
# for minutes; ANALYZE samples a fixed number of rows, a fraction of a second per table.
# time_records is partitioned by month: its changes are counted on the partitions, and
# ANALYZE of the parent samples the whole (the join estimates) and each partition. Its parent
# without statistics of `employee` is stale as well: an ANALYZE that failed (cancelled, or
# rolled back with its transaction) leaves the partitions counted as analysed without the
# statistics it would have written, and only a feed's key-column ANALYZE behind.
_STALE = """
SELECT relname FROM pg_stat_user_tables
WHERE relname IN ('employments', 'personnel_costs')
  AND n_mod_since_analyze > greatest(10000, n_live_tup / 5)
UNION ALL
SELECT 'time_records' FROM pg_stat_user_tables s
JOIN pg_inherits i ON i.inhrelid = s.relid AND i.inhparent = CAST('time_records' AS regclass)
HAVING sum(s.n_mod_since_analyze) > greatest(10000, sum(s.n_live_tup) / 5)
    OR (sum(s.n_live_tup) > 10000 AND NOT EXISTS (
        SELECT 1 FROM pg_stats WHERE schemaname = current_schema()
            AND tablename = 'time_records' AND attname = 'employee' AND inherited))
"""
# One recalculation analyses at a time; the others go on with the statistics there are.
_ANALYZE_LOCK = "pg_try_advisory_xact_lock(hashtextextended('kpi_analyze', 0))"


async def refresh_statistics(session: AsyncSession) -> list[str]:
    """Analyses the fed tables a bulk load left stale; which. Its own transaction, before the
    rounds (whose plans then see the statistics): inside a round the ANALYZE of ten million
    records was one more statement under the round's statement timeout, and each lane ran its
    own after the other's (ANALYZE locks against itself). Not bound by the statement timeout:
    its cost grows with the partitions (a fixed sample each), about 10 s at 76 months."""
    stale = list((await session.execute(sa.text(_STALE))).scalars().all())
    if not stale or not (await session.execute(sa.text(f"SELECT {_ANALYZE_LOCK}"))).scalar_one():
        return []
    await session.execute(sa.text("SET LOCAL statement_timeout = 0"))
    for table in stale:
        await session.execute(sa.text(f'ANALYZE "{table}"'))
    return stale


async def set_statement_timeout(session: AsyncSession, milliseconds: int) -> None:
    """The statement timeout of this transaction's statements (a round's)."""
    await session.execute(sa.text(f"SET LOCAL statement_timeout = {int(milliseconds)}"))


async def claim(session: AsyncSession, limit: int, *, units: int = UNITS_PER_ROUND) -> Cells:
    """Takes up to `limit` dirty cells of at most `units` org units for this transaction
    (others skip them)."""
    _check_sources()
    await _prepare(session)
    await session.execute(sa.text(_CLAIM), {"limit": limit, "units": min(units, UNITS_PER_ROUND)})
    # Temp tables have no statistics until analysed: without them a few claimed cells look
    # like thousands, and the facts of every cell are scanned to delete a few.
    await session.execute(sa.text(f"ANALYZE {CLAIMED}"))
    rows = await session.execute(sa.text(f"SELECT org_unit_id, month FROM {CLAIMED}"))
    cells = [(int(u), m) for u, m in rows.all()]
    if cells:
        await _sum_cell_people(session, cells)
    return cells


# Above this many cells their records are read in one scan of the table (_CELL_PEOPLE_SCAN);
# below, by index per cell. The planner cannot tell: it estimates the cells' records from the range
# condition alone, a few per cell, and would fetch a million records one cell at a time.
SCAN_CELLS = 400


def week_span(months: Sequence[date]) -> dict[str, date]:
    """`first`, the Monday of the first month's first week, and `end`, the Monday after the
    last month's last week: the days of every ISO week the months touch."""
    first, last = min(months), max(months)
    after_last = (last + timedelta(days=32)).replace(day=1)
    return {
        "first": first - timedelta(days=first.weekday()),
        "end": after_last + timedelta(days=(7 - after_last.weekday()) % 7),
    }


async def _sum_cell_people(session: AsyncSession, cells: Cells) -> None:
    """Sums the claimed cells' records per employee (kpi_cell_people), and those of the weeks
    they touch (kpi_week_people, kpi_claimed_weeks)."""
    # The span of the claimed weeks, bound as values: the planner sees how much of the table
    # they take, and plans only those months' partitions (planning all 89 at 10 M records
    # was a tenth of an incremental recalculation).
    span = week_span([month for _, month in cells])
    if len(cells) >= SCAN_CELLS:
        units = sorted({unit for unit, _ in cells})
        await session.execute(sa.text(_CELL_PEOPLE_SCAN), {"units": units, **span})
    else:
        await session.execute(sa.text(_CELL_PEOPLE), span)
    await session.execute(sa.text(_CLAIMED_WEEKS))
    # The weeks too. At 10 M records a round's 600 000 week sums, taken for a few thousand by
    # a table never analysed, were joined to their employees' pay forms by a nested loop that
    # outran the statement timeout; an incremental round's few claimed weeks, taken for many,
    # deleted their old facts by a scan of all of them.
    await session.execute(sa.text(f"ANALYZE {CELL_PEOPLE}, kpi_week_people, kpi_claimed_weeks"))
    await session.execute(sa.text(_CLAIMED_EMPLOYEES))
    await session.execute(sa.text(f"ANALYZE {CLAIMED_EMPLOYEES}"))


async def bump_version(session: AsyncSession) -> None:
    """Marks the facts as changed for readers that keep sums (committed with the facts). Run
    last in a round: side-by-side rounds wait here for each other's commit, not longer."""
    await session.execute(
        sa.text(
            "INSERT INTO kpi_facts_version (id, version) VALUES (true, gen_random_uuid()) "
            "ON CONFLICT (id) DO UPDATE SET version = excluded.version, changed_at = now()"
        )
    )


async def dirty_backlog(session: AsyncSession) -> tuple[int, int, bool]:
    """How many cells are dirty, in how many org units, and whether all of them are spills
    (later months of sick spells a round renumbered)."""
    found = await session.execute(
        sa.text(
            "SELECT count(*), count(DISTINCT org_unit_id), coalesce(bool_and(spill), false) "
            "FROM kpi_dirty_cells"
        )
    )
    cells, units, spills = found.one()
    return int(cells), int(units), bool(spills)


async def release_claimed(session: AsyncSession) -> None:
    """Marks the later months of the spells this round renumbered, and deletes the marks of
    the claimed cells unless a writer marked them again meanwhile. Run at the end: a writer
    marking one of these cells waits from here until the commit."""
    await session.execute(sa.text(_LOCK_MARKS))
    await session.execute(sa.text(_RELEASE))


async def recompute_claimed(session: AsyncSession, settings: Settings, cells: Cells) -> None:
    """Runs the registered hooks on the claimed cells (as `claim` returned them), then
    replaces their facts."""
    await session.execute(
        sa.text(
            f"DELETE FROM kpi_facts f USING {CLAIMED} c "
            "WHERE f.org_unit_id = c.org_unit_id AND f.month = c.month"
        )
    )
    await session.execute(sa.text(_SICK_DAYS))
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
    for statement in _TOTALS:
        await session.execute(sa.text(statement))
    await _recompute_weeks(session)


async def _recompute_weeks(session: AsyncSession) -> None:
    await session.execute(sa.text(_DELETE_WEEKS))
    await session.execute(sa.text(_WEEK_TIME))
    await session.execute(sa.text(_WEEK_WORKED))


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
                SELECT org_unit_id, {month_of("work_date")} AS month
                FROM time_records WHERE deleted_at IS NULL
                UNION
                SELECT org_unit_id, period FROM personnel_costs WHERE deleted_at IS NULL
                UNION
                SELECT b.org_unit_id, m::date FROM budgets b,
                    generate_series(b.first_month, b.last_month, interval '1 month') AS m
                WHERE b.deleted_at IS NULL
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
            ON CONFLICT (org_unit_id, month) DO UPDATE SET marked_at = now(), spill = false
            """
        ),
        {"from_month": from_month, "to_month": to_month, **bounds},
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
