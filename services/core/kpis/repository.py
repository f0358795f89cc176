"""Every KPI query but the recalculation's bulk SQL (facts.py): monthly sums over an org
subtree, targets and their states, manual values, recalculation requests and the dirty marks
other domains write through here."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.core.crud import Window, fetch_mirrored, live_row, newest_first_or_changed, scoped
from services.core.kpis.catalogue import BUDGET_OF, CATALOGUE, MEASURE_OF, Measure, Temporal
from services.core.kpis.facts import UNIT_LOCK
from services.core.kpis.models import (
    MEASURES,
    KpiAnalysis,
    KpiPeriodClosure,
    KpiPublished,
    KpiTarget,
    ManualKpi,
    ManualValue,
    Recalculation,
)
from services.core.pagination import changes_name, keyset
from services.core.tree import (
    OrgUnit,
    ancestor_ids,
    in_subtree,
    in_subtree_sql,
    subtree_upper_bound,
    with_unit,
)


@dataclass(frozen=True)
class MonthSum:
    numerator: Decimal
    denominator: Decimal | None
    # The largest number of distinct employees behind any one unit-month summed here (under
    # the filters): at least that many distinct employees stand behind the sum, however many
    # split rows an employee has (suppression errs toward hiding).
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
    weekly: bool = False,
    budget: bool = False,
) -> dict[tuple[str, date], MonthSum]:
    """Sums per month (and per child of `prefix` when `by_child`, keyed by the child's id as
    text, '' for the unit itself) of the facts in the subtree. A month with facts of the KPI's
    kind has data, zeros included: a unit that reported its hours and had no overtime had 0
    overtime hours (a ratio over a zero denominator is then null with its reason). `weekly`:
    per ISO week from the week facts (keyed by the week's Monday; a profession filter only).
    `budget`: a cost KPI's budget instead of its value."""
    child = "split_part(substr(o.path, :plen + 1), '/', 1)" if by_child else "''"
    measure = Measure("cost", BUDGET_OF[kpi]) if budget else MEASURE_OF[kpi]
    num = measure.numerator
    den = measure.denominator or "NULL::numeric"
    if weekly:
        where = " AND f.profession = :profession" if "profession" in filters else ""
        source = f"""(
            SELECT f.org_unit_id, f.week AS month, sum({num}) {FIRST} AS numerator,
                   sum({den}) {FIRST} AS denominator, {HEADS} AS employees,
                   max(f.computed_at) AS computed_at
            FROM kpi_week_facts f {SUBTREE} {PEOPLE}
            WHERE f.kind = :kind AND f.week BETWEEN :first AND :last {where}
            GROUP BY f.org_unit_id, f.week
        )"""
    elif filters:
        # Splits are summed per unit and month first, so `employees` stays per unit-month.
        where = "".join(f" AND f.{name} = :{name}" for name in filters)
        if "pay_form" not in filters:
            where += " AND f.pay_form <> 'hourly'"  # as the cell totals: monthly-paid staff
        source = f"""(
            SELECT f.org_unit_id, f.month, sum({num}) {FIRST} AS numerator,
                   sum({den}) {FIRST} AS denominator, {HEADS} AS employees,
                   max(f.computed_at) AS computed_at
            FROM kpi_facts f {SUBTREE} {PEOPLE}
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


# Distinct employees of a group of fact rows: each row joined with its `people`, one line per
# employee (one line of nulls for a row without), so the rows' measures are summed over their
# FIRST line only and HEADS counts distinct employees (an employee in two split rows of a
# unit-month, two professions, is one). A row without `people` (money, or facts from before
# they were kept) adds no one: the count can only come out smaller.
PEOPLE = "LEFT JOIN LATERAL unnest(f.people) WITH ORDINALITY AS u(person, nth) ON true"
FIRST = "FILTER (WHERE u.nth IS NULL OR u.nth = 1)"
HEADS = "CASE WHEN bool_or(f.employees IS NOT NULL) THEN count(DISTINCT u.person) END"
# Only the subtree's facts are unnested (the outer query restricts to it again).
SUBTREE = "JOIN org_units t ON t.id = f.org_unit_id AND t.path >= :lo AND t.path < :hi"


# The dimensions a split can be grouped by (interpolated into SQL, so only these names).
SPLIT_DIMENSIONS = ("profession", "staff_kind", "gender", "age_band")


async def split_employees(
    session: AsyncSession,
    kpi: str,
    prefix: str,
    first: date,
    last: date,
    dims: tuple[str, ...],
) -> list[Any]:
    """For small-group suppression: (child id as text, '' for the unit's own facts; month; the
    categories of `dims`; employees; the child's code) of every group with facts in `prefix`'s
    subtree. `employees` counts as `monthly` does (distinct employees per unit-month, the
    largest unit behind the group), so a group here is suppressed exactly when its series is.
    `prefix` '/' groups by the roots."""
    assert all(d in SPLIT_DIMENSIONS for d in dims)
    measure = MEASURE_OF[kpi]
    cats = "".join(f", c.{d}" for d in dims)
    if dims:
        source = f"""(
            SELECT f.org_unit_id, f.month{cats.replace("c.", "f.")}, {HEADS} AS employees
            FROM kpi_facts f {SUBTREE} {PEOPLE}
            WHERE f.kind = :kind AND f.month BETWEEN :first AND :last
            GROUP BY f.org_unit_id, f.month{cats.replace("c.", "f.")}
        )"""
    else:
        source = """(
            SELECT org_unit_id, month, employees FROM kpi_cell_totals
            WHERE kind = :kind AND month BETWEEN :first AND :last
        )"""
    groups = ", ".join(str(n) for n in range(1, len(dims) + 3))
    rows = await session.execute(
        sa.text(
            f"""
            SELECT s.*, k.code FROM (
                SELECT split_part(substr(o.path, :plen + 1), '/', 1) AS child, c.month{cats},
                       coalesce(max(c.employees), 0) AS employees
                FROM {source} c JOIN org_units o ON o.id = c.org_unit_id
                WHERE o.path >= :lo AND o.path < :hi
                GROUP BY {groups}
            ) s LEFT JOIN org_units k ON k.id::text = s.child
            """
        ),
        {
            "kind": measure.kind,
            "first": first,
            "last": last,
            "lo": prefix,
            "hi": subtree_upper_bound(prefix),
            "plen": len(prefix),
        },
    )
    return list(rows.all())


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


class FactsState:
    """facts_token read at most once, for one request: the sums and the suppression passes it
    keeps or reuses are then of one state, for one statement."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._read = False
        self._token: tuple[Any, ...] | None = None

    async def token(self) -> tuple[Any, ...] | None:
        if not self._read:
            self._token = await facts_token(self._session)
            self._read = True
        return self._token


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
        with_unit(KpiTarget)
        .where(col(KpiTarget.deleted_at).is_(None))
        .order_by(col(KpiTarget.created_at))
    )
    if kpi is not None:
        stmt = stmt.where(col(KpiTarget.kpi) == kpi)
    return list((await session.execute(stmt)).all())


async def get_target(
    session: AsyncSession, target_id: uuid.UUID, *, for_update: bool = False
) -> Any:
    return await live_row(
        session, with_unit(KpiTarget), KpiTarget, target_id, for_update=for_update
    )


async def target_page(
    session: AsyncSession, *, scope_path: str | None, kpi: str | None, window: Window
) -> Sequence[Any]:
    stmt: Any = sa.select(KpiTarget, col(OrgUnit.code)).join(
        OrgUnit, col(OrgUnit.id) == col(KpiTarget.org_unit_id)
    )
    stmt = scoped(stmt, scope_path, (col(KpiTarget.kpi), kpi))
    return await fetch_mirrored(session, stmt, KpiTarget, window)


async def latest_target_states(session: AsyncSession, prefix: str) -> list[Any]:
    """Each live target in the subtree with its latest evaluated month and status."""
    rows = await session.execute(
        sa.text(
            """
            SELECT DISTINCT ON (s.target_id) s.target_id, t.kpi, o.code, s.month, s.status
            FROM kpi_target_states s
            JOIN kpi_targets t ON t.id = s.target_id AND t.deleted_at IS NULL
            JOIN org_units o ON o.id = t.org_unit_id
            WHERE o.path >= :lo AND o.path < :hi
            ORDER BY s.target_id, s.month DESC
            """
        ),
        {"lo": prefix, "hi": subtree_upper_bound(prefix)},
    )
    return list(rows.all())


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


async def manual_values_page(
    session: AsyncSession,
    kpi: str,
    *,
    scope_path: str | None,
    org_unit_id: int | None,
    window: Window,
) -> Sequence[Any]:
    """One page of a manual KPI's values in the caller's subtree: (value, unit code) by unit
    and month, or with `updated_since` those entered since, by entry time. Values are
    replaced, never deleted."""
    stmt: Any = (
        sa.select(ManualValue, col(OrgUnit.code))
        .join(OrgUnit, col(OrgUnit.id) == col(ManualValue.org_unit_id))
        .where(col(ManualValue.kpi) == kpi)
    )
    stmt = scoped(stmt, scope_path, (col(ManualValue.org_unit_id), org_unit_id))
    key = [col(ManualValue.org_unit_id), col(ManualValue.month)]
    order = key if window.updated_since is None else [col(ManualValue.entered_at), *key]
    if window.updated_since is not None:
        stmt = stmt.where(col(ManualValue.entered_at) > window.updated_since)
    on = changes_name(f"manual_kpi_values/{kpi}", window.updated_since)
    rows: Sequence[Any] = (
        await session.execute(keyset(stmt, order, window.cursor, window.limit, on=on))
    ).all()
    return rows


async def manual_value(
    session: AsyncSession, kpi: str, org_unit_id: int, month: date, *, for_update: bool
) -> ManualValue | None:
    """The value stored for a unit and month (locked with `for_update`, so a conditional
    replacement sees no other writer between its check and its write)."""
    stmt = sa.select(ManualValue).where(
        col(ManualValue.kpi) == kpi,
        col(ManualValue.org_unit_id) == org_unit_id,
        col(ManualValue.month) == month,
    )
    if for_update:
        stmt = stmt.with_for_update()
    found: ManualValue | None = (await session.execute(stmt)).scalar_one_or_none()
    return found


async def upsert_manual_value(session: AsyncSession, value: ManualValue) -> ManualValue:
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
            "version": col(ManualValue.version) + 1,
        },
    ).returning(ManualValue)
    row: ManualValue = (
        await session.execute(
            sa.select(ManualValue).from_statement(stmt),
            # A value read earlier in this transaction (an `If-Match` check) is refreshed.
            execution_options={"populate_existing": True},
        )
    ).scalar_one()
    return row


RECALCULATIONS = "kpi_recalculations"


async def recalculations_page(
    session: AsyncSession, *, scope_path: str | None, status: str | None, window: Window
) -> Sequence[Any]:
    """(recalculation, unit code) newest first. A request for everything (no unit) is seen
    only by keys of the whole region, as `read_recalculation` decides for one."""
    stmt: Any = with_unit(Recalculation, outer=True)
    if scope_path is not None:
        stmt = stmt.where(in_subtree(col(OrgUnit.path), scope_path))
    if status is not None:
        stmt = stmt.where(col(Recalculation.status) == status)
    paged = newest_first_or_changed(
        stmt,
        window,
        newest=[col(Recalculation.created_at), col(Recalculation.id)],
        changed=col(Recalculation.updated_at),
        key=col(Recalculation.id),
        name=RECALCULATIONS,
    )
    rows: Sequence[Any] = (await session.execute(paged)).all()
    return rows


async def add_analysis(session: AsyncSession, analysis: KpiAnalysis) -> None:
    session.add(analysis)
    await session.flush()


async def analyses(
    session: AsyncSession, kpi: str, org_unit_id: int, period: str
) -> list[KpiAnalysis]:
    """Every version of a unit's analysis of a KPI for a period, newest first."""
    rows = await session.execute(
        sa.select(KpiAnalysis)
        .where(
            col(KpiAnalysis.kpi) == kpi,
            col(KpiAnalysis.org_unit_id) == org_unit_id,
            col(KpiAnalysis.period) == period,
        )
        .order_by(col(KpiAnalysis.id).desc())
    )
    return list(rows.scalars())


async def get_recalculation(session: AsyncSession, rid: uuid.UUID) -> Any:
    return (
        await session.execute(
            with_unit(Recalculation, outer=True).where(col(Recalculation.id) == rid)
        )
    ).first()


# ---- target evaluation ---------------------------------------------------------------------

# Per computed KPI, the kind of fact row it reads and its numerator and denominator over that
# row's measures: one statement then sums every target's KPI, whatever the KPI.
_KIND = "CASE s.kpi {} END".format(
    " ".join(f"WHEN '{k}' THEN '{m.kind}'" for k, m in MEASURE_OF.items())
)
_NUMERATOR = "CASE s.kpi {} END".format(
    " ".join(f"WHEN '{k}' THEN {m.numerator}" for k, m in MEASURE_OF.items())
)
_DENOMINATOR = "CASE s.kpi {} END".format(
    " ".join(f"WHEN '{k}' THEN {m.denominator}" for k, m in MEASURE_OF.items() if m.denominator)
)


def _target_sums(due: str) -> str:
    """The sums `monthly` gives, for many targets at once: per row (id, kpi, profession, path,
    month) of `due`, the target's KPI summed over its unit's subtree in that month, from the
    cell totals or, for a profession's target, from that profession's facts. A month without
    facts of the KPI's kind has no row (no data)."""
    sums = """
        SELECT s.id, s.month, sum({num}) AS numerator, sum({den}) AS denominator
        FROM units s JOIN {table} x ON x.org_unit_id = s.unit AND x.month = s.month
         AND x.kind = {kind} {where}
        GROUP BY s.id, s.month"""
    measures = {"num": _NUMERATOR, "den": _DENOMINATOR, "kind": _KIND}
    totals = sums.format(table="kpi_cell_totals", where="WHERE s.profession IS NULL", **measures)
    split = sums.format(
        table="kpi_facts",
        where="AND x.profession = s.profession AND x.pay_form <> 'hourly'",
        **measures,
    )
    return f"""
    WITH {due}, units AS (
        SELECT d.id, d.kpi, d.profession, d.month, u.id AS unit
        FROM due d JOIN org_units u ON {in_subtree_sql("u.path", "d.path")}
    ), sums AS ({totals}
        UNION ALL {split}
    )"""


# Every live target of a computed KPI with a claimed cell in its unit's subtree, and the
# claimed months it is valid in. A subtree is a range of the path index (tree.py), so each
# target finds its units by index and the cells by a hash on the unit: with starts_with, every
# target was compared with every claimed cell (1 036 targets × 17 673 cells: 1.3 s of a lane's
# full recalculation, 0.35 s now).
_DUE_MONTHS = (
    _target_sums(
        f"""cells AS (
        SELECT org_unit_id, month
        FROM unnest(CAST(:units AS bigint[]), CAST(:months AS date[])) AS c(org_unit_id, month)
    ), due AS (
        SELECT DISTINCT t.id, t.kpi, t.profession, o.path, c.month, t.created_at
        FROM kpi_targets t
        JOIN org_units o ON o.id = t.org_unit_id
        JOIN org_units u ON {in_subtree_sql("u.path", "o.path")}
        JOIN cells c ON c.org_unit_id = u.id
        WHERE t.deleted_at IS NULL AND t.kpi = ANY(:kpis)
          AND t.valid_from <= c.month AND (t.valid_to IS NULL OR c.month <= t.valid_to)
    )"""
    )
    + """
    SELECT d.id, d.month, s.numerator, s.denominator, st.status
    FROM due d JOIN sums s USING (id, month)
    LEFT JOIN kpi_target_states st ON st.target_id = d.id AND st.month = d.month
    ORDER BY d.created_at, d.id, d.month
"""
)

_BASELINE_MONTHS = (
    _target_sums(
        """due AS (
        SELECT t.id, t.kpi, t.profession, o.path, m::date AS month
        FROM unnest(CAST(:ids AS uuid[]), CAST(:firsts AS date[]), CAST(:lasts AS date[]))
            AS b(id, first, last)
        JOIN kpi_targets t ON t.id = b.id
        JOIN org_units o ON o.id = t.org_unit_id,
        generate_series(b.first, b.last, interval '1 month') AS m
    )"""
    )
    + """
    SELECT id, month, numerator, denominator FROM sums
"""
)


async def due_target_months(session: AsyncSession, cells: Sequence[tuple[int, date]]) -> list[Any]:
    """(target id, month, numerator, denominator, last published status) of every live target
    of a computed KPI in every claimed month of its subtree that has data, oldest target
    first."""
    rows = await session.execute(
        sa.text(_DUE_MONTHS),
        {
            "units": [u for u, _ in cells],
            "months": [m for _, m in cells],
            "kpis": list(MEASURE_OF),
        },
    )
    return list(rows.all())


async def target_month_sums(
    session: AsyncSession, spans: Sequence[tuple[uuid.UUID, date, date]]
) -> list[Any]:
    """(target id, month, numerator, denominator) of each target's KPI over its own span of
    months (target id, first month, last month): the baselines of baseline targets."""
    rows = await session.execute(
        sa.text(_BASELINE_MONTHS),
        {
            "ids": [s[0] for s in spans],
            "firsts": [s[1] for s in spans],
            "lasts": [s[2] for s in spans],
        },
    )
    return list(rows.all())


async def targets_by_id(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[KpiTarget, str, str]]:
    """Each target with its org unit's code and path."""
    rows = await session.execute(
        sa.select(KpiTarget, col(OrgUnit.code), col(OrgUnit.path))
        .join(OrgUnit, col(OrgUnit.id) == col(KpiTarget.org_unit_id))
        .where(col(KpiTarget.id).in_(ids))
    )
    return {target.id: (target, code, path) for target, code, path in rows.all()}


async def save_target_states(
    session: AsyncSession, states: Sequence[tuple[uuid.UUID, date, str]]
) -> None:
    """The status published for each (target, month), replacing the one before."""
    await session.execute(
        sa.text(
            "INSERT INTO kpi_target_states (target_id, month, status) "
            "SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:months AS date[]), "
            "CAST(:statuses AS text[])) "
            "ON CONFLICT (target_id, month) "
            "DO UPDATE SET status = EXCLUDED.status, changed_at = now()"
        ),
        {
            "ids": [s[0] for s in states],
            "months": [s[1] for s in states],
            "statuses": [s[2] for s in states],
        },
    )


# ---- dirty cells ---------------------------------------------------------------------------


def mark_dirty(cells: str) -> str:
    """SQL that marks the (org_unit_id, month) rows of `cells` (a CTE of the statement) dirty,
    for the bulk writers of other domains (ingest, re-mapping) to embed as `mark AS (…)`: the
    statement that changes the rows marks their cells in the same pass, instead of returning
    them to be marked in another round trip. In the order every writer marks cells (no two
    writers wait for each other's marks in opposite orders); a mark made again gets a new row
    version, so a recalculation holding the cell computes it once more, as a change of its data
    (not a spill)."""
    return f"""
        INSERT INTO kpi_dirty_cells (org_unit_id, month)
        SELECT DISTINCT org_unit_id, month FROM {cells} ORDER BY org_unit_id, month
        ON CONFLICT (org_unit_id, month) DO UPDATE SET marked_at = now(), spill = false
"""


async def unclaimed_dirty_cells(session: AsyncSession) -> bool:
    """Whether a dirty cell waits that no recalculation holds (each holds its units' locks)."""
    found = await session.execute(
        sa.text(
            "SELECT EXISTS (SELECT 1 FROM kpi_dirty_cells WHERE "
            + UNIT_LOCK.format(unit="org_unit_id")
            + ")"
        )
    )
    return bool(found.scalar_one())


async def dirty_state(session: AsyncSession) -> tuple[int, float]:
    """How many cells are dirty, and the age in seconds of the oldest mark (0 when none)."""
    found = await session.execute(
        sa.text(
            "SELECT count(*), coalesce(extract(epoch FROM now() - min(marked_at)), 0) "
            "FROM kpi_dirty_cells"
        )
    )
    cells, age = found.one()
    return int(cells), max(float(age), 0.0)


# ---- published figures ---------------------------------------------------------------------


def _pooled(temporal: Temporal | None, expression: str | None) -> str:
    """SQL pooling a measure expression over a period's months as KpiDefinition.pooled does
    (a month without facts counts as zero)."""
    if temporal is None or expression is None:
        return "NULL::numeric"
    match temporal:
        case Temporal.flow:
            return f"coalesce(sum({expression}), 0)"
        case Temporal.stock:
            return f"coalesce(sum({expression}) FILTER (WHERE month = :last), 0)"
        case Temporal.mean:
            return f"coalesce(sum({expression}), 0) / :months"
    raise AssertionError(temporal)  # pragma: no cover


_ALL_MEASURES = ", ".join(f"sum(t.{m}) AS {m}" for ms in MEASURES.values() for m in ms)
# Every computed KPI's point for every live org unit (its subtree pooled), in one statement:
# the cell totals summed per unit, kind and month over each unit's subtree, then pooled. Each
# total goes to the units on its unit's path, joined by id: comparing every unit's path with
# every other's by starts_with ran past the statement timeout with 2 209 units.
_PUBLISH = f"""
INSERT INTO kpi_published (period, kpi, org_unit_id, numerator, denominator)
WITH sums AS MATERIALIZED (
    SELECT a.id AS org_unit_id, t.kind, t.month, {_ALL_MEASURES}
    FROM kpi_cell_totals t
    JOIN org_units d ON d.id = t.org_unit_id
    CROSS JOIN LATERAL {ancestor_ids("d.path")} AS up(id)
    JOIN org_units a ON a.id = CAST(up.id AS bigint) AND a.deleted_at IS NULL
    WHERE t.month BETWEEN :first AND :last
    GROUP BY a.id, t.kind, t.month
)
""" + "\nUNION ALL\n".join(
    f"SELECT :period, '{code}', org_unit_id, "
    f"{_pooled(d.numerator, MEASURE_OF[code].numerator)}, "
    f"{_pooled(d.denominator, MEASURE_OF[code].denominator)} "
    f"FROM sums WHERE kind = '{MEASURE_OF[code].kind}' GROUP BY org_unit_id"
    for code, d in CATALOGUE.items()
)


async def publish(session: AsyncSession, period: str, first: date, last: date, months: int) -> int:
    """Replaces the published figures of `period` with the live ones; how many points."""
    await session.execute(sa.delete(KpiPublished).where(col(KpiPublished.period) == period))
    result = await session.execute(
        sa.text(_PUBLISH),
        {"period": period, "first": first, "last": last, "months": months},
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def open_closure(
    session: AsyncSession, period: str, *, for_update: bool = False
) -> KpiPeriodClosure | None:
    stmt = sa.select(KpiPeriodClosure).where(
        col(KpiPeriodClosure.period) == period, col(KpiPeriodClosure.reopened_at).is_(None)
    )
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def add_closure(session: AsyncSession, closure: KpiPeriodClosure) -> KpiPeriodClosure:
    session.add(closure)
    await session.flush()
    await session.refresh(closure)
    return closure


class Published(NamedTuple):
    numerator: Decimal | None
    denominator: Decimal | None
    published_at: datetime


class Analysis(NamedTuple):
    text: str
    author: str
    written_at: datetime


@dataclass(frozen=True)
class PeriodNotes:
    """What stands beside a unit's points: the figures published when a period was closed and
    the latest written analysis, by period label."""

    published: dict[str, Published]
    analyses: dict[str, Analysis]


# One round trip for both: a series read pays for each statement's round trip and the ORM's
# work on its rows more than for the rows (usually none).
_PERIOD_NOTES = sa.text("""
SELECT true AS published, period, numerator, denominator, published_at AS at,
       NULL::text AS text, NULL::text AS author
FROM kpi_published
WHERE :with_published AND kpi = :kpi AND org_unit_id = :unit AND period = ANY(:periods)
UNION ALL (
    SELECT DISTINCT ON (period) false, period, NULL, NULL, written_at, text, author
    FROM kpi_analyses
    WHERE kpi = :kpi AND org_unit_id = :unit AND period = ANY(:periods)
    ORDER BY period, id DESC
)
""")


async def period_notes(
    session: AsyncSession,
    kpi: str,
    org_unit_id: int,
    periods: Sequence[str],
    *,
    with_published: bool,
) -> PeriodNotes:
    """The published figures (with `with_published`) and the latest analysis of each of
    `periods` that has one."""
    rows = await session.execute(
        _PERIOD_NOTES,
        {
            "with_published": with_published,
            "kpi": kpi,
            "unit": org_unit_id,
            "periods": list(periods),
        },
    )
    notes = PeriodNotes({}, {})
    for r in rows:
        if r.published:
            notes.published[r.period] = Published(r.numerator, r.denominator, r.at)
        else:
            notes.analyses[r.period] = Analysis(r.text, r.author, r.at)
    return notes
