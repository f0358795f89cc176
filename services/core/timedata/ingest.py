"""Bulk upsert of fed records: validate each record, resolve codes in one query per kind, COPY
the good rows into a staging table and apply them with one set-based statement that writes only
rows that changed and marks their (org unit, month) cells dirty in the same transaction.

Used by the JSON batch endpoints (one request, at most 10 000 records) and by file imports (the
worker, chunk by chunk inside one transaction)."""

from __future__ import annotations

import asyncio
import enum
import functools
import hashlib
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import MINYEAR, date, timedelta
from typing import TYPE_CHECKING, Any

import asyncpg
import sqlalchemy as sa
from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.core.clock import utcnow
from services.core.config import Settings
from services.core.kpis import repository as kpis_repository
from services.core.periods import month_of
from services.core.principal import Principal
from services.core.timedata import fastpath, partitions
from services.core.timedata.pseudonym import pseudonymizer
from services.core.timedata.schemas import (
    BudgetIn,
    EmploymentIn,
    FieldProblem,
    PersonnelCostIn,
    RecordError,
    RecordKey,
    TimeRecordIn,
)
from services.core.tree import OrgUnit, in_subtree

if TYPE_CHECKING:
    from services.core.timedata.validator import BatchValidator

MAX_ERRORS_PER_RECORD = 20


@dataclass(frozen=True)
class FeedKind:
    name: str
    table: str
    model: type[BaseModel]
    # Columns after (source, external_id), with their PostgreSQL types for the staging table.
    columns: tuple[tuple[str, str], ...]
    # Columns the dirty-cell rule needs, and the SQL turning rows `x` of them into cells.
    date_columns: tuple[str, ...]
    cells_sql: str
    to_row: Callable[[Any, int, str | None, str, str | None], tuple[Any, ...]]
    time_code: bool = False
    # Whose row it is and what the time facts read from an employee's latest row of this kind
    # (gender and birth year, and the start date that makes a row the latest): a row that
    # changes them marks the cells of the employee's time records too, in every unit and month.
    person_columns: tuple[str, ...] = ()


def _time_row(
    r: TimeRecordIn, unit: int, employee: str | None, profession: str, time_type: str | None
) -> tuple[Any, ...]:
    return (
        unit,
        employee,
        profession,
        r.staff_kind,
        time_type,
        r.work_date,
        r.hours,
        r.start,
        r.end,
        r.cost_sek,
        r.agency,
        r.assignment_ref,
        r.time_code,
        r.profession_code,
    )


def _employment_row(
    r: EmploymentIn, unit: int, employee: str | None, profession: str, pay_form: str | None
) -> tuple[Any, ...]:
    return (
        unit,
        employee,
        profession,
        r.contract,
        r.fte,
        r.is_manager,
        r.start_date,
        r.end_date,
        r.end_reason,
        r.gender,
        r.birth_year,
        r.profession_code,
        pay_form,
        r.pay_form_code,
    )


def _cost_row(
    r: PersonnelCostIn, unit: int, _e: str | None, profession: str, _t: str | None
) -> tuple[Any, ...]:
    year, month = (int(p) for p in r.period.split("-"))
    return (unit, date(year, month, 1), profession, r.category, r.amount_sek, r.profession_code)


TIME_RECORDS = FeedKind(
    name="time-records",
    table="time_records",
    model=TimeRecordIn,
    columns=(
        ("org_unit_id", "bigint"),
        ("employee", "text"),
        ("profession", "text"),
        ("staff_kind", "text"),
        ("time_type", "text"),
        ("work_date", "date"),
        ("hours", "numeric(5,2)"),
        ("start_at", "timestamptz"),
        ("end_at", "timestamptz"),
        ("cost_sek", "numeric(14,2)"),
        ("agency", "text"),
        ("assignment_ref", "text"),
        ("time_code", "text"),
        ("profession_code", "text"),
        ("content_hash", "bigint"),
    ),
    date_columns=("work_date",),
    cells_sql=f"SELECT org_unit_id, {month_of('work_date')} AS month FROM touched",
    to_row=_time_row,
    time_code=True,
)

EMPLOYMENTS = FeedKind(
    name="employments",
    table="employments",
    model=EmploymentIn,
    columns=(
        ("org_unit_id", "bigint"),
        ("employee", "text"),
        ("profession", "text"),
        ("contract", "text"),
        ("fte", "numeric(4,3)"),
        ("is_manager", "boolean"),
        ("start_date", "date"),
        ("end_date", "date"),
        ("end_reason", "text"),
        ("gender", "text"),
        ("birth_year", "integer"),
        ("profession_code", "text"),
        ("pay_form", "text"),
        ("pay_form_code", "text"),
        ("content_hash", "bigint"),
    ),
    date_columns=("start_date", "end_date"),
    # An employment counts in every month it covers (headcount, turnover), up to this month.
    cells_sql=(
        "SELECT t.org_unit_id, m::date AS month FROM touched t, generate_series("
        "date_trunc('month', greatest(t.start_date, CAST(:floor AS date))), "
        "date_trunc('month', least(coalesce(t.end_date, CAST(:today AS date)), "
        "CAST(:today AS date))), interval '1 month') AS m"
    ),
    to_row=_employment_row,
    person_columns=("employee", "gender", "birth_year", "start_date", "pay_form"),
)

PERSONNEL_COSTS = FeedKind(
    name="personnel-costs",
    table="personnel_costs",
    model=PersonnelCostIn,
    columns=(
        ("org_unit_id", "bigint"),
        ("period", "date"),
        ("profession", "text"),
        ("category", "text"),
        ("amount_sek", "numeric(16,2)"),
        ("profession_code", "text"),
        ("content_hash", "bigint"),
    ),
    date_columns=("period",),
    cells_sql="SELECT org_unit_id, period AS month FROM touched",
    to_row=_cost_row,
)


def _first_month(period: str) -> date | None:
    """The first day of a `YYYY` or `YYYY-MM` period (the contract's patterns), None for year
    0000, which the pattern lets through and no date can hold: outside any accepted window."""
    year = int(period[:4])
    if year < MINYEAR:
        return None
    return date(year, int(period[5:]) if len(period) > 4 else 1, 1)


def _budget_row(r: BudgetIn, unit: int, _e: str | None, _p: str, _t: str | None) -> tuple[Any, ...]:
    first = _first_month(r.period)
    assert first is not None, "prepare refuses a period no date holds"
    # A year's budget is spread over its twelve months.
    last = first.replace(month=12) if len(r.period) == 4 else first
    return (unit, r.period, first, last, r.category, r.amount_sek)


BUDGETS = FeedKind(
    name="budgets",
    table="budgets",
    model=BudgetIn,
    columns=(
        ("org_unit_id", "bigint"),
        ("period", "text"),
        ("first_month", "date"),
        ("last_month", "date"),
        ("category", "text"),
        ("amount_sek", "numeric(16,2)"),
        ("content_hash", "bigint"),
    ),
    date_columns=("first_month", "last_month"),
    # Budgets are spread over their months in the cost facts.
    cells_sql=(
        "SELECT t.org_unit_id, m::date AS month FROM touched t, "
        "generate_series(t.first_month, t.last_month, interval '1 month') AS m"
    ),
    to_row=_budget_row,
)

KINDS = {k.name: k for k in (TIME_RECORDS, EMPLOYMENTS, PERSONNEL_COSTS, BUDGETS)}
_KEYS = TypeAdapter(list[RecordKey])


@dataclass
class Outcome:
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    rejected: int = 0
    errors: list[RecordError] = field(default_factory=list)

    def add(self, other: Outcome) -> None:
        self.inserted += other.inserted
        self.updated += other.updated
        self.deleted += other.deleted
        self.unchanged += other.unchanged
        self.rejected += other.rejected
        self.errors += other.errors

    def counts(self) -> dict[str, int]:
        return {
            "inserted": self.inserted,
            "updated": self.updated,
            "deleted": self.deleted,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
        }


@dataclass
class _Checked:
    upserts: list[tuple[int, Any]] = field(default_factory=list)
    deletes: list[tuple[int, RecordKey]] = field(default_factory=list)
    errors: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    # The record position behind each prepared row and each delete key, in order.
    row_positions: list[int] = field(default_factory=list)
    delete_positions: list[int] = field(default_factory=list)

    def reject(self, index: int, loc: list[str | int], msg: str, code: str) -> None:
        self.errors.setdefault(index, []).append({"loc": loc, "msg": msg, "code": code})


def _pydantic_errors(exc: ValidationError, skip: int = 0) -> dict[int, list[dict[str, Any]]]:
    """Errors of a list validation, keyed by list index, with locations inside the record."""
    by_index: dict[int, list[dict[str, Any]]] = {}
    for error in exc.errors(include_url=False):
        loc = list(error["loc"])
        index = loc[0] if loc and isinstance(loc[0], int) else -1
        inner = [p for p in loc[1 + skip :] if isinstance(p, int | str)]
        problem = error.get("ctx", {}).get("error")
        if isinstance(problem, FieldProblem):
            # A rule across fields that one field breaks: said at that field.
            inner, message, code = [*inner, problem.field], str(problem), problem.code
        else:
            message, code = error["msg"], error["type"]
        by_index.setdefault(int(index), []).append({"loc": inner, "msg": message, "code": code})
    return by_index


@functools.cache
def _list_adapter(model: type[BaseModel]) -> TypeAdapter[list[Any]]:
    # Building a validator costs milliseconds: once per kind, not once per batch.
    return TypeAdapter(list[model])  # type: ignore[valid-type]


@functools.cache
def _fast_path(model: type[BaseModel]) -> Callable[[Any], Any]:
    return fastpath.build(model)


def _validate(kind: FeedKind, records: Sequence[Any], checked: _Checked) -> None:
    adapter = _list_adapter(kind.model)
    fast = _fast_path(kind.model)
    upsert_positions: list[int] = []
    upsert_raw: list[Any] = []
    delete_positions: list[int] = []
    delete_raw: list[Any] = []
    for position, raw in enumerate(records):
        if isinstance(raw, dict) and raw.get("deleted") is True:
            delete_positions.append(position)
            delete_raw.append(raw)
        elif (record := fast(raw)) is not None:
            checked.upserts.append((position, record))
        else:
            upsert_positions.append(position)
            upsert_raw.append(raw)
    for positions, raws, validator, sink in (
        (upsert_positions, upsert_raw, adapter, checked.upserts),
        (delete_positions, delete_raw, _KEYS, checked.deletes),
    ):
        if not raws:
            continue
        try:
            valid = validator.validate_python(raws)
            sink.extend(zip(positions, valid, strict=True))
            continue
        except ValidationError as exc:
            bad = _pydantic_errors(exc)
        for local, errors in bad.items():
            checked.errors[positions[local]] = errors[:MAX_ERRORS_PER_RECORD]
        good = [i for i in range(len(raws)) if i not in bad]
        valid = validator.validate_python([raws[i] for i in good])
        sink.extend((positions[i], v) for i, v in zip(good, valid, strict=True))
    if upsert_positions:
        checked.upserts.sort(key=operator.itemgetter(0))


async def _lookups(
    session: AsyncSession,
    principal: Principal | None,
    org_path: str | None,
    codes: set[str] | None,
    sources: set[str] | None,
) -> tuple[dict[str, int], set[str], dict[tuple[str, str, str], str]]:
    units: dict[str, int] = {}
    if codes is None or codes:
        stmt = sa.select(col(OrgUnit.code), col(OrgUnit.id)).where(
            col(OrgUnit.deleted_at).is_(None)
        )
        if codes is not None:
            stmt = stmt.where(col(OrgUnit.code).in_(codes))
        scope = org_path if principal is None else principal.org_path
        if scope is not None:
            stmt = stmt.where(in_subtree(col(OrgUnit.path), scope))
        units = {
            code: unit_id
            for code, unit_id in (await session.execute(stmt)).all()
            if unit_id is not None
        }
    professions = set((await session.execute(sa.text("SELECT code FROM professions"))).scalars())
    mappings: dict[tuple[str, str, str], str] = {}
    if sources is None or sources:
        rows = await session.execute(
            sa.text(
                "SELECT source, kind, code, target FROM code_mappings "
                "WHERE CAST(:sources AS text[]) IS NULL OR source = ANY(:sources)"
            ),
            {"sources": None if sources is None else list(sources)},
        )
        mappings = {(s, k, c): t for s, k, c, t in rows.all()}
    return units, professions, mappings


def _stage_name(kind: FeedKind, suffix: str) -> str:
    return f"stage_{kind.table}_{suffix}"


async def _ensure_stage(session: AsyncSession, kind: FeedKind) -> None:
    """Staging tables live for the transaction; a file import reuses them chunk after chunk,
    emptying only those the last chunk filled (each TRUNCATE makes a new file)."""
    created: set[str] = session.info.setdefault("puls_stages", set())
    filled = _filled_stages(session)
    if kind.table in created:
        used = sorted(name for name in filled if name.startswith(f"stage_{kind.table}_"))
        if used:
            await session.execute(sa.text(f"TRUNCATE {', '.join(used)}"))
            filled.difference_update(used)
        return
    columns = ", ".join(f"{name} {pg_type}" for name, pg_type in kind.columns)
    await session.execute(
        sa.text(
            f"CREATE TEMP TABLE {_stage_name(kind, 'up')} "
            f"(source text, external_id text, {columns}) ON COMMIT DROP"
        )
    )
    await session.execute(
        sa.text(
            f"CREATE TEMP TABLE {_stage_name(kind, 'del')} (source text, external_id text) "
            "ON COMMIT DROP"
        )
    )
    if kind.table == partitions.TABLE:
        await session.execute(
            sa.text(
                f"CREATE TEMP TABLE {_stage_name(kind, 'fresh')} "
                "(source text, external_id text) ON COMMIT DROP"
            )
        )
        await session.execute(
            sa.text(
                f"CREATE TEMP TABLE {_stage_name(kind, 'moved')} "
                "(source text, external_id text, work_date date) ON COMMIT DROP"
            )
        )
    created.add(kind.table)


def _filled_stages(session: AsyncSession) -> set[str]:
    """The staging tables written since they were last emptied."""
    filled: set[str] = session.info.setdefault("puls_filled_stages", set())
    return filled


async def _stage_driver(session: AsyncSession, table: str) -> asyncpg.Connection:
    """The asyncpg connection under the session, to COPY into staging table `table`."""
    _filled_stages(session).add(table)
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: asyncpg.Connection | None = raw.driver_connection
    assert driver is not None
    return driver


async def _copy(
    session: AsyncSession, table: str, columns: list[str], rows: list[tuple[Any, ...]]
) -> None:
    driver = await _stage_driver(session, table)
    await driver.copy_records_to_table(table, records=rows, columns=columns)


async def _copy_text(session: AsyncSession, table: str, columns: list[str], data: bytes) -> None:
    driver = await _stage_driver(session, table)
    # A buffer, sent as it is: a file-like source is read in a thread, 512 kB a hop (and
    # bytes would be taken for a file name).
    await driver.copy_to_table(table, source=memoryview(data), columns=columns, format="text")


class New(enum.Enum):
    """Which of a chunk's staged time records the key statement found new: the upsert is
    planned for what there is (a first load is all new, a resent file none)."""

    ALL = "all"
    SOME = "some"
    NONE = "none"


@functools.cache
def _upsert_sql(kind: FeedKind, new_rows: New = New.SOME) -> str:
    names = [name for name, _ in kind.columns]
    # The hash says how the sender spelt the record, not what it means: a new spelling alone
    # is stored (so the next identical file is skipped) but is not a change of the record.
    content = [n for n in names if n != "content_hash"]
    o_dates = ", ".join(f"o.{d}" for d in kind.date_columns)
    u_dates = ", ".join(f"u.{d}" for d in kind.date_columns)
    cols = ", ".join(names)
    dates = ", ".join(kind.date_columns)
    assign = ", ".join(f"{n} = EXCLUDED.{n}" for n in names)
    current = ", ".join(f"t.{n}" for n in content)
    incoming = ", ".join(f"EXCLUDED.{n}" for n in content)
    # A partitioned table's unique key holds the partition key (time_record_keys, claimed
    # by _KEYS_SQL, keeps the record key unique on its own).
    conflict = "source, external_id" + (
        ", " + ", ".join(kind.date_columns) if kind.table == partitions.TABLE else ""
    )
    person, people = "", ""
    if kind.person_columns:
        person = "".join(f", t.{c}" for c in kind.person_columns if c not in kind.date_columns)
        old = ", ".join(f"o.{c}" for c in kind.person_columns)
        new = ", ".join(f"u.{c}" for c in kind.person_columns)
        # The row's employee now and before (a row moved to another employee changes both).
        people = _person_cells(
            f"SELECT x.employee FROM up u {_old_row(kind, 'LEFT JOIN')} "
            "CROSS JOIN LATERAL (VALUES (u.employee), (o.employee)) AS x(employee) "
            f"WHERE u.inserted OR o.deleted_at IS NOT NULL OR ({old}) IS DISTINCT FROM ({new})"
        )
    stage = _stage_name(kind, "up")
    returning = f"t.source, t.external_id, t.org_unit_id, {dates}{person}"

    def upsert(where: str) -> str:
        """The upsert of the staged rows that pass `where` (`s` a staged row)."""
        return f"""
        INSERT INTO {kind.table} AS t (source, external_id, {cols})
        SELECT source, external_id, {cols} FROM {stage} s {where}
        -- One lock order for every writer, so concurrent batches with the same keys queue
        -- behind each other instead of deadlocking. Bytewise: the same order for all of
        -- them, and far cheaper to sort than the database's collation.
        ORDER BY source COLLATE "C", external_id COLLATE "C"
        ON CONFLICT ({conflict}) DO UPDATE SET {assign},
            updated_at = now(), deleted_at = NULL
        WHERE ({current}, t.deleted_at IS NULL) IS DISTINCT FROM ({incoming}, true)
            OR (EXCLUDED.content_hash IS NOT NULL
                AND t.content_hash IS DISTINCT FROM EXCLUDED.content_hash)
        RETURNING {returning}"""

    if kind.table == partitions.TABLE:
        # The key statement has told which records are new (the fresh stage): they are
        # inserted plainly, and only the others go through ON CONFLICT, whose check of the
        # unique index before each insert is a sixth of the cost of inserting a new row.
        # The key table's row lock has already ordered writers of one key. When all or none
        # are new, the stage is not matched against the fresh keys at all (two sorts of the
        # chunk, a tenth of a first load's upsert).
        fresh = _stage_name(kind, "fresh")

        def plain(join: str) -> str:
            """The plain insert of the staged rows `join` keeps."""
            return f"""INSERT INTO {kind.table} AS t (source, external_id, {cols})
        SELECT source, external_id, {cols} FROM {stage} {join}
        RETURNING {returning}, true AS inserted"""

        if new_rows is New.ALL:
            up = f"up AS ({plain('')}"
        elif new_rows is New.NONE:
            up = f"up AS ({upsert('')}, false AS inserted"
        else:
            stored = upsert(
                f"WHERE NOT EXISTS (SELECT 1 FROM {fresh} f "
                "WHERE f.source = s.source AND f.external_id = s.external_id)"
            )
            up = f"""fresh_rows AS ({plain(f"JOIN {fresh} USING (source, external_id)")}
    ), stored_rows AS ({stored}, false AS inserted
    ), up AS (
        SELECT * FROM fresh_rows UNION ALL SELECT * FROM stored_rows"""
    else:
        up = f"up AS ({upsert('')}, (xmax = 0) AS inserted"
    return f"""
    WITH {up}
    ), touched AS (
        SELECT org_unit_id, {dates} FROM up
        UNION ALL
        -- Every part of one statement reads the same snapshot: this is the row as it was
        -- before the update, so a record moved to another unit or month marks its old cell.
        SELECT o.org_unit_id, {o_dates}
        FROM up u {_old_row(kind, "JOIN")}
        WHERE NOT u.inserted
            AND (o.org_unit_id, {o_dates}) IS DISTINCT FROM (u.org_unit_id, {u_dates})
    ), cells AS ({kind.cells_sql}{people}), mark AS ({_MARK_SQL})
    SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up
    """


def _old_row(kind: FeedKind, join: str) -> str:
    """`join` of the row `u` (a returned row of the upsert) had before the statement, as `o`.
    On the partitioned table the lookup carries the month (_MOVE_SQL has already moved a
    record whose month changed) and is one index probe per row in that month's partition: as
    a plain join the planner hashes every partition instead (it does not count the partitions
    pruned at run time), a whole-table scan per batch, quadratic over a night's batches."""
    if kind.table != partitions.TABLE:
        return f"{join} {kind.table} o USING (source, external_id)"
    dates = " AND ".join(f"o.{d} = u.{d}" for d in kind.date_columns)
    return (
        f"{join} LATERAL (SELECT * FROM {kind.table} o WHERE o.source = u.source "
        f"AND o.external_id = u.external_id AND {dates} LIMIT 1) o ON true"
    )


def _stored(kind: FeedKind, keys: str, alias: str) -> str:
    """A FROM item: `keys` (a relation aliased `alias`, with source and external_id) joined to
    their stored rows as `t`. On the partitioned table each row is found by the date its key
    table holds, one index probe in one partition (see _old_row), and carries its `part` and
    `place` (tableoid, ctid) to be written by. The key's date must reach the row's lookup as a
    parameter from outside it: joined to the key table inside one subquery, the planner hashed
    the two and probed partition after partition for the key (23 µs a row at 37 months, 6 µs
    this way)."""
    if kind.table != partitions.TABLE:
        return f"{keys} JOIN {kind.table} t USING (source, external_id)"
    return (
        f"{keys} JOIN time_record_keys stored_key ON stored_key.source = {alias}.source "
        f"AND stored_key.external_id = {alias}.external_id "
        f"CROSS JOIN LATERAL (SELECT t.*, t.tableoid AS part, t.ctid AS place FROM {kind.table} t "
        "WHERE t.source = stored_key.source AND t.external_id = stored_key.external_id "
        "AND t.work_date = stored_key.work_date LIMIT 1) t"
    )


async def _prepare_partitions(session: AsyncSession, kind: FeedKind) -> tuple[int, int]:
    """Before the upsert of staged time records: makes the partitions of their months (the
    validator kept only dates in the accepted window), claims their keys and deletes the rows
    of records moved to another month from the old partition, marking the old cells. How many
    moved, and how many rows the upsert will insert (new keys and moved records)."""
    stage = _stage_name(kind, "up")
    months = (
        await session.execute(sa.text(f"SELECT DISTINCT {month_of('work_date')} FROM {stage}"))
    ).scalars()
    await partitions.ensure_for_session(session, list(months))
    fresh, moving = _stage_name(kind, "fresh"), _stage_name(kind, "moved")
    _filled_stages(session).update((fresh, moving))
    claimed = await session.execute(
        sa.text(_KEYS_SQL.format(stage=stage, fresh=fresh, moved=moving))
    )
    moving_keys, new_keys = claimed.one()
    if not moving_keys:
        return 0, int(new_keys)
    # Rare (a record re-sent with a date in another month), so a statement of its own: the
    # common path never plans a delete on the partitioned table.
    result = await session.execute(sa.text(_MOVE_SQL.format(moved=moving, fresh=fresh)))
    moved = int(result.scalar_one())
    return moved, int(new_keys) + moved


def _person_cells(employees: str) -> str:
    """The cells of the time records of `employees` (a query), to add to a statement's."""
    return f"""
        UNION ALL
        SELECT r.org_unit_id, {month_of("r.work_date")} FROM time_records r
        WHERE r.employee IN ({employees}) AND r.deleted_at IS NULL"""


# The key table's row lock orders writers of one key, as the upsert's did before partitioning
# (bytewise order). The keys the upsert will insert go to the fresh stage, those whose month
# changed to the moved stage.
_KEYS_SQL = """
    WITH k AS (
        INSERT INTO time_record_keys AS k (source, external_id, work_date)
        SELECT source, external_id, work_date FROM {stage}
        ORDER BY source COLLATE "C", external_id COLLATE "C"
        ON CONFLICT (source, external_id) DO UPDATE SET work_date = EXCLUDED.work_date
        WHERE k.work_date <> EXCLUDED.work_date
        RETURNING k.source, k.external_id, k.work_date, (xmax = 0) AS inserted
    ), counts AS MATERIALIZED (
        SELECT count(*) FILTER (WHERE inserted) AS new, count(*) FILTER (WHERE NOT inserted)
            AS moving
        FROM k
    ), fresh AS (
        -- The keys whose row the upsert will insert (RETURNING cannot tell on a partitioned
        -- table: it has no xmax there). Not when every staged key is new (a first load): the
        -- upsert then inserts the whole stage without asking which.
        INSERT INTO {fresh} (source, external_id) SELECT source, external_id FROM k
        WHERE inserted AND (SELECT new FROM counts) < (SELECT count(*) FROM {stage})
    ), moved AS (
        INSERT INTO {moved} (source, external_id, work_date)
        SELECT source, external_id, work_date FROM k WHERE NOT inserted
    )
    SELECT moving, new FROM counts
"""

# A moved record's row is deleted from its old partition, found by a probe of each
# partition's key index and deleted by its (partition, ctid) (a plain join to time_records
# would be hashed over every partition), and its old cells are marked.
_MOVE_SQL = (
    """
    WITH gone AS (
        SELECT x.tableoid AS part, x.ctid AS place FROM {moved} k CROSS JOIN LATERAL (
            SELECT tableoid, ctid FROM time_records x WHERE x.source = k.source
                AND x.external_id = k.external_id AND x.work_date <> k.work_date LIMIT 1
        ) x
    ), moved AS (
        DELETE FROM time_records o USING gone
        WHERE o.tableoid = gone.part AND o.ctid = gone.place
        RETURNING o.source, o.external_id, o.org_unit_id, o.work_date, o.employee
    ), fresh AS (
        -- A moved record's row is inserted into its new month's partition.
        INSERT INTO {fresh} (source, external_id) SELECT source, external_id FROM moved
    ), cells AS (
        SELECT org_unit_id, """
    + month_of("work_date")
    + """ AS month FROM moved"""
    + _person_cells("SELECT employee FROM moved").replace("{", "{{").replace("}", "}}")
    + """
    ), mark AS ("""
    + kpis_repository.mark_dirty("cells").replace("{", "{{").replace("}", "}}")
    + """)
    SELECT count(*) FROM moved
    """
)


# The KPI engine owns the dirty marks; the upsert marks its cells in the same statement with
# the SQL kpis gives for that (one pass over the changed rows, as fast as before the move).
_MARK_SQL = kpis_repository.mark_dirty("cells")


def content_hash(text: str) -> int:
    """A signed 64-bit hash of a record's text, the width of a bigint column."""
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def unchanged(
    session: AsyncSession,
    kind: FeedKind,
    keys: Sequence[tuple[str, str] | None],
    hashes: Sequence[int | None],
    *,
    scope: str | None,
) -> set[int]:
    """Positions whose record is stored, live, in scope and with the same content hash: the
    sender sent exactly this line before, so there is nothing to validate or write."""
    positions = [i for i, (k, h) in enumerate(zip(keys, hashes, strict=True)) if k and h]
    if not positions:
        return set()
    scoped = (
        "AND t.org_unit_id IN (SELECT id FROM org_units WHERE path >= :lo AND path < :hi)"
        if scope is not None
        else ""
    )
    rows = await session.execute(
        sa.text(
            "SELECT k.i FROM "
            + _stored(
                kind,
                "unnest(CAST(:i AS int[]), CAST(:sources AS text[]), "
                "CAST(:ids AS text[]), CAST(:hashes AS bigint[])) AS k(i, source, external_id, h)",
                "k",
            )
            + f" WHERE t.content_hash = k.h AND t.deleted_at IS NULL {scoped}"
        ),
        {
            "i": positions,
            "sources": [keys[i][0] for i in positions],  # type: ignore[index]
            "ids": [keys[i][1] for i in positions],  # type: ignore[index]
            "hashes": [hashes[i] for i in positions],
            **({"lo": scope, "hi": scope[:-1] + "0"} if scope is not None else {}),
        },
    )
    return set(rows.scalars())


async def source_is_empty(session: AsyncSession, kind: FeedKind, source: str) -> bool:
    """Whether `kind` holds no live record of `source`."""
    found = await session.execute(
        sa.text(
            f"SELECT NOT EXISTS (SELECT 1 FROM {kind.table} "
            "WHERE source = :source AND deleted_at IS NULL)"
        ),
        {"source": source},
    )
    return bool(found.scalar_one())


async def refresh_statistics(session: AsyncSession, kind: FeedKind) -> None:
    """The row count, and the key columns the upsert joins on: what the plans need while one
    transaction grows the table (autovacuum analyses every column after it commits)."""
    await session.execute(sa.text(f"ANALYZE {kind.table} (source, external_id)"))


def _delete_sql(kind: FeedKind, scoped: bool) -> str:
    dates = ", ".join(f"t.{d}" for d in kind.date_columns)
    # The employee's latest row may be another one now.
    people = _person_cells("SELECT employee FROM touched") if kind.person_columns else ""
    scope = (
        "AND t.org_unit_id IN (SELECT id FROM org_units WHERE path >= :lo AND path < :hi)"
        if scoped
        else ""
    )
    # On the partitioned table the rows are found one partition each and updated by
    # (partition, ctid), not hashed over every partition.
    found = (
        f"FROM (SELECT t.part, t.place FROM "
        f"{_stored(kind, _stage_name(kind, 'del') + ' s', 's')} WHERE t.deleted_at IS NULL) s "
        "WHERE t.tableoid = s.part AND t.ctid = s.place"
        if kind.table == partitions.TABLE
        else f"FROM {_stage_name(kind, 'del')} s WHERE t.source = s.source "
        "AND t.external_id = s.external_id AND t.deleted_at IS NULL"
    )
    return f"""
    WITH touched AS (
        UPDATE {kind.table} t SET deleted_at = now(), updated_at = now()
        {found}
        {scope}
        RETURNING t.org_unit_id, {dates}{", t.employee" if kind.person_columns else ""}
    ), cells AS ({kind.cells_sql}{people}), mark AS ({_MARK_SQL})
    SELECT count(*) FROM touched
    """


async def _foreign_keys(
    session: AsyncSession, kind: FeedKind, keys: list[tuple[str, str]], org_path: str
) -> set[tuple[str, str]]:
    """Keys that already exist under an org unit outside the caller's subtree: a confined key
    must not move or overwrite another unit's records."""
    rows = await session.execute(
        sa.text(
            "SELECT t.source, t.external_id FROM "
            + _stored(
                kind,
                "unnest(CAST(:sources AS text[]), CAST(:ids AS text[])) AS k(source, external_id)",
                "k",
            )
            + " JOIN org_units o ON o.id = t.org_unit_id WHERE NOT (o.path >= :lo AND o.path < :hi)"
        ),
        {
            "sources": [k[0] for k in keys],
            "ids": [k[1] for k in keys],
            "lo": org_path,
            "hi": org_path[:-1] + "0",
        },
    )
    return {(s, e) for s, e in rows.all()}


@dataclass
class Lookups:
    """What validation needs from the database: the org units in scope by code, the profession
    catalogue and the sources' code mappings."""

    units: dict[str, int]
    professions: set[str]
    mappings: dict[tuple[str, str, str], str]


@dataclass
class Prepared:
    """A batch checked and turned into rows, ready to store."""

    checked: _Checked
    rows: list[tuple[Any, ...]]
    deletes: list[tuple[str, str]]
    records: Sequence[Any]
    index_offset: int
    # The rows as lines of COPY text, when they were prepared in another process; `rows` then
    # keeps only each row's key and `external_ids` stands in for the records.
    encoded: list[bytes] | None = None
    external_ids: list[str | None] | None = None
    # Deprecated input noted while preparing it in another process, for the API's answer.
    deprecations: list[str] = field(default_factory=list)

    def keys(self) -> set[tuple[str, str]]:
        return {(row[0], row[1]) for row in self.rows} | set(self.deletes)

    def external_id(self, position: int) -> str | None:
        if self.external_ids is not None:
            return self.external_ids[position]
        return _external_id(self.records[position])

    def encode(self) -> None:
        """Makes the batch cheap to send to another process: text lines, keys, positions."""
        self.encoded = [_copy_line(row) for row in self.rows]
        self.rows = [(row[0], row[1]) for row in self.rows]
        self.external_ids = [_external_id(r) for r in self.records]
        self.records = []
        self.checked.upserts.clear()
        self.checked.deletes.clear()


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
# Dates and shift times repeat across a batch (and the fast path hands out one object per
# spelling, whose hash Python keeps): their text is looked up, not formatted again. Equal
# instants in other offsets share a text, which is the same timestamptz.
_ISO_TEXT: dict[date, str] = {}
_ISO_REMEMBERED = 8192


def _iso(value: date) -> str:
    if len(_ISO_TEXT) >= _ISO_REMEMBERED:
        _ISO_TEXT.clear()
    text = _ISO_TEXT[value] = value.isoformat()
    return text


def _copy_line(row: tuple[Any, ...]) -> bytes:
    # One expression per value, no call: this runs for every row of a large import.
    text = "\t".join(
        [
            (v if v.isprintable() and "\\" not in v else v.translate(_COPY_ESCAPES))
            if type(v) is str
            else "\\N"
            if v is None
            else ("t" if v else "f")
            if type(v) is bool
            else (_ISO_TEXT.get(v) or _iso(v))  # dates, and datetimes with their offset
            if isinstance(v, date)
            else str(v)  # int, Decimal
            for v in row
        ]
    )
    return (text + "\n").encode()


async def load_lookups(
    session: AsyncSession,
    principal: Principal | None,
    org_path: str | None,
    *,
    codes: set[str] | None,
    sources: set[str] | None,
) -> Lookups:
    """`None` loads every unit in scope and every source's mappings (a file import looks them
    up once, not per chunk)."""
    units, professions, mappings = await _lookups(session, principal, org_path, codes, sources)
    return Lookups(units, professions, mappings)


async def apply(
    session: AsyncSession,
    settings: Settings,
    kind: FeedKind,
    records: Sequence[Any],
    *,
    principal: Principal | None,
    org_path: str | None = None,
    atomic: bool = False,
    index_offset: int = 0,
    validator: BatchValidator | None = None,
) -> Outcome:
    """Validates and stores `records`. Returns the counts and each rejected record with its
    index (plus `index_offset`, e.g. the line number of a file chunk). With `atomic`, nothing is
    written when any record is bad; the caller raises. The API validates through its
    `validator` (large batches in a child process)."""
    # `org_unit` is the other name of `org_unit_code` (one of them is sent).
    codes = {
        code
        for r in records
        if isinstance(r, dict)
        for code in (r.get("org_unit_code"), r.get("org_unit"))
        if isinstance(code, str)
    }
    sources = {r["source"] for r in records if isinstance(r, dict) and _is_str(r.get("source"))}
    lookups = await load_lookups(session, principal, org_path, codes=codes, sources=sources)
    if validator is not None:
        prepared = await validator.prepare(kind, list(records), lookups, index_offset=index_offset)
    else:
        # The CPU half in a thread: the event loop keeps answering other requests meanwhile.
        prepared = await asyncio.to_thread(
            prepare, settings, kind, records, lookups, index_offset=index_offset
        )
    scope = principal.org_path if principal is not None else org_path
    return await store(session, settings, kind, prepared, scope=scope, atomic=atomic)


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def prepare(
    settings: Settings,
    kind: FeedKind,
    records: Sequence[Any],
    lookups: Lookups,
    *,
    index_offset: int = 0,
    hashes: Sequence[int | None] | None = None,
) -> Prepared:
    """The CPU half of a batch (validation, code mapping, pseudonyms, rows): no database, so a
    file import can prepare the next chunk in a thread while the database stores this one."""
    checked = _Checked()
    _validate(kind, records, checked)

    first_seen: dict[tuple[str, str], int] = {}
    in_order = (
        sorted([*checked.upserts, *checked.deletes], key=operator.itemgetter(0))
        if checked.deletes
        else checked.upserts
    )
    for position, record in in_order:
        if (first := first_seen.setdefault((record.source, record.external_id), position)) != (
            position
        ):
            checked.reject(
                position,
                ["external_id"],
                f"duplicate of record {first + index_offset} in this batch",
                "duplicate_key",
            )

    units, professions, mappings = lookups.units, lookups.professions, lookups.mappings
    needs_employee = kind not in (PERSONNEL_COSTS, BUDGETS)
    pseudonym = pseudonymizer(settings) if needs_employee and checked.upserts else None
    earliest = settings.accepted_from_date
    latest = utcnow().date() + timedelta(days=settings.accepted_days_ahead)
    rows: list[tuple[Any, ...]] = []
    row_positions: list[int] = []
    pseudonyms: dict[str, str] = {}
    # The loop below runs for every record: what it asks of `kind` is asked once, here.
    errors, to_row, time_code = checked.errors, kind.to_row, kind.time_code
    is_budget, is_employment, is_cost = (
        kind is BUDGETS,
        kind is EMPLOYMENTS,
        kind is PERSONNEL_COSTS,
    )
    date_fields = [name for name in kind.date_columns if name != "period"]
    for position, r in checked.upserts:
        if position in errors:
            continue
        unit = units.get(r.org_unit_code)
        if unit is None:
            checked.reject(
                position,
                ["org_unit" if r.org_unit is not None else "org_unit_code"],
                f"unknown org unit {r.org_unit_code!r}",
                "unknown_org_unit",
            )
        # A budget is the unit's, not a profession's.
        profession = "" if is_budget else r.profession
        if profession is None:
            profession = mappings.get((r.source, "profession", r.profession_code))
            if profession is None:
                checked.reject(
                    position,
                    ["profession_code"],
                    f"profession code {r.profession_code!r} has no mapping for source {r.source!r}",
                    "unmapped_code",
                )
        if not is_budget and profession is not None and profession not in professions:
            checked.reject(
                position, ["profession"], f"unknown profession {profession!r}", "unknown_profession"
            )
        # The code a time record's type or an employment's pay form is mapped from.
        time_type = None
        if is_employment:
            time_type = r.pay_form
            if time_type is None and r.pay_form_code is not None:
                time_type = mappings.get((r.source, "pay_form", r.pay_form_code))
                if time_type is None:
                    checked.reject(
                        position,
                        ["pay_form_code"],
                        f"pay form code {r.pay_form_code!r} has no mapping for source {r.source!r}",
                        "unmapped_code",
                    )
            if time_type is None:
                time_type = "hourly" if r.contract == "hourly" else "monthly"
        if time_code:
            time_type = r.time_type
            if time_type is None:
                time_type = mappings.get((r.source, "time", r.time_code))
                if time_type is None:
                    checked.reject(
                        position,
                        ["time_code"],
                        f"time code {r.time_code!r} has no mapping for source {r.source!r}",
                        "unmapped_code",
                    )
        for field_name in date_fields:
            value = getattr(r, field_name, None)
            if isinstance(value, date) and not earliest <= value <= latest:
                checked.reject(
                    position,
                    [field_name],
                    f"{value} is outside the accepted window {earliest} – {latest}",
                    "date_out_of_window",
                )
        if is_cost or is_budget:
            month_start = _first_month(r.period)
            if month_start is None or not earliest <= month_start <= latest:
                checked.reject(
                    position,
                    ["period"],
                    f"{r.period} is outside the accepted window",
                    "date_out_of_window",
                )
        if position in errors or unit is None or profession is None:
            continue
        employee = None
        if pseudonym is not None:
            # A batch holds many records per employee: one HMAC each.
            employee = pseudonyms.get(r.employee_ref)
            if employee is None:
                employee = pseudonyms[r.employee_ref] = pseudonym(r.employee_ref)
        rows.append(
            (
                r.source,
                r.external_id,
                *to_row(r, unit, employee, profession, time_type),
                None if hashes is None else hashes[position],
            )
        )
        row_positions.append(position)
    deletes = [(r.source, r.external_id) for position, r in checked.deletes]
    checked.row_positions = row_positions
    checked.delete_positions = [position for position, _ in checked.deletes]
    return Prepared(checked, rows, deletes, records, index_offset)


async def store(
    session: AsyncSession,
    settings: Settings,
    kind: FeedKind,
    prepared: Prepared,
    *,
    scope: str | None,
    atomic: bool = False,
) -> Outcome:
    """The database half: refuses records another subtree owns, then stages the rows with COPY
    and applies them in one set-based upsert (and one delete) that also marks the dirty cells."""
    checked, rows, deletes = prepared.checked, prepared.rows, prepared.deletes
    if scope is not None and rows:
        # A confined key may not take over another subtree's record. The refusal names
        # neither the other unit nor that the record exists there; a delete of such a record
        # is not refused at all: the scoped delete leaves it, and it counts as unchanged, like
        # a delete of a key never sent.
        keys = [(row[0], row[1]) for row in rows]
        foreign = await _foreign_keys(session, kind, keys, scope)
        if foreign:
            for position, key in zip(checked.row_positions, keys, strict=True):
                if key in foreign:
                    checked.reject(
                        position,
                        ["external_id"],
                        "this source and external_id cannot be written with your key",
                        "unknown_record",
                    )
    encoded = prepared.encoded
    if checked.errors:
        keep = [position not in checked.errors for position in checked.row_positions]
        if encoded is not None:
            encoded = [line for line, kept in zip(encoded, keep, strict=True) if kept]
        rows = [row for row, kept in zip(rows, keep, strict=True) if kept]
        deletes = [
            key
            for position, key in zip(checked.delete_positions, deletes, strict=True)
            if position not in checked.errors
        ]
    outcome = Outcome(
        rejected=len(checked.errors),
        errors=[
            RecordError(
                index=position + prepared.index_offset,
                external_id=prepared.external_id(position),
                errors=errors[:MAX_ERRORS_PER_RECORD],
            )
            for position, errors in sorted(checked.errors.items())
        ],
    )
    if atomic and checked.errors:
        return outcome
    if not rows and not deletes:
        return outcome
    await _ensure_stage(session, kind)
    params = {"floor": settings.accepted_from_date, "today": utcnow().date()}
    if rows:
        columns = ["source", "external_id", *(n for n, _ in kind.columns)]
        if encoded is not None:
            await _copy_text(session, _stage_name(kind, "up"), columns, b"".join(encoded))
        else:
            await _copy(session, _stage_name(kind, "up"), columns, rows)
        moved, new_rows = 0, New.SOME
        if kind.table == partitions.TABLE:
            moved, fresh = await _prepare_partitions(session, kind)
            new_rows = New.ALL if fresh == len(rows) else New.NONE if not fresh else New.SOME
        statement = sa.text(_upsert_sql(kind, new_rows))
        inserted, updated = (await session.execute(statement, params)).one()
        # A record moved to another month is a new row in that month's partition, and an
        # update for the sender.
        outcome.inserted, outcome.updated = int(inserted) - moved, int(updated) + moved
        outcome.unchanged += len(rows) - outcome.inserted - outcome.updated
    if deletes:
        await _copy(session, _stage_name(kind, "del"), ["source", "external_id"], deletes)
        scoped = scope is not None
        bounds = {"lo": scope, "hi": scope[:-1] + "0"} if scope is not None else {}
        deleted = (
            await session.execute(sa.text(_delete_sql(kind, scoped)), {**params, **bounds})
        ).scalar_one()
        outcome.deleted = int(deleted)
        outcome.unchanged += len(deletes) - outcome.deleted
    return outcome


def _external_id(raw: Any) -> str | None:
    if isinstance(raw, dict):
        value = raw.get("external_id")
        return value if isinstance(value, str) else None
    return None
