"""Reads of fed records and the code-mapping statements."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.core.crud import (
    Window,
    catalogue,
    catalogue_page,
    fetch_mirrored,
    newest_first_or_changed,
    put_catalogue_entry,
)
from services.core.kpis import repository as kpis_repository
from services.core.periods import month_of
from services.core.timedata.models import (
    CodeMapping,
    Employment,
    Import,
    PersonnelCost,
    Profession,
    TimeRecord,
)
from services.core.tree import OrgUnit, in_subtree

Model = type[TimeRecord] | type[Employment] | type[PersonnelCost]


async def list_page(
    session: AsyncSession,
    model: Model,
    *,
    scope_path: str | None,
    unit_path: str | None,
    date_column: str,
    date_from: date | None,
    date_to: date | None,
    filters: dict[str, str | None],
    window: Window,
) -> Sequence[Any]:
    stmt: Any = sa.select(model, col(OrgUnit.code)).join(
        OrgUnit, col(OrgUnit.id) == model.org_unit_id
    )
    for path in (scope_path, unit_path):
        if path is not None:
            stmt = stmt.where(in_subtree(col(OrgUnit.path), path))
    column = getattr(model, date_column)
    if date_from is not None:
        stmt = stmt.where(column >= date_from)
    if date_to is not None:
        stmt = stmt.where(column <= date_to)
    for name, value in filters.items():
        if value is not None:
            stmt = stmt.where(getattr(model, name) == value)
    return await fetch_mirrored(session, stmt, model, window)


async def mappings_of(session: AsyncSession, source: str) -> Sequence[CodeMapping]:
    rows = await session.execute(
        sa.select(CodeMapping)
        .where(col(CodeMapping.source) == source)
        .order_by(col(CodeMapping.kind), col(CodeMapping.code))
    )
    return rows.scalars().all()


async def replace_mappings(
    session: AsyncSession, source: str, pairs: list[tuple[str, str, str]]
) -> None:
    await session.execute(sa.delete(CodeMapping).where(col(CodeMapping.source) == source))
    if pairs:
        await session.execute(
            sa.text(
                "INSERT INTO code_mappings (source, kind, code, target) "
                "SELECT :source, k, c, t FROM unnest(CAST(:kinds AS text[]), "
                "CAST(:codes AS text[]), CAST(:targets AS text[])) AS m(k, c, t)"
            ),
            {
                "source": source,
                "kinds": [p[0] for p in pairs],
                "codes": [p[1] for p in pairs],
                "targets": [p[2] for p in pairs],
            },
        )


# Re-mapping stored records after a mapping change, set-based, marking their cells dirty with
# the KPI engine's SQL for that, in the same statement.
_MARK_CHANGED = kpis_repository.mark_dirty("changed")
_MARK_CELLS = kpis_repository.mark_dirty("cells")
_REMAP = {
    ("time_records", "time"): (
        "time_type",
        "time_code",
        month_of("r.work_date"),
    ),
    ("time_records", "profession"): (
        "profession",
        "profession_code",
        month_of("r.work_date"),
    ),
    ("personnel_costs", "profession"): ("profession", "profession_code", "r.period"),
}


async def remap(session: AsyncSession, source: str) -> int:
    total = 0
    for (table, kind), (target_col, code_col, month) in _REMAP.items():
        result = await session.execute(
            sa.text(f"""
            WITH changed AS (
                UPDATE {table} r SET {target_col} = m.target, updated_at = now()
                FROM code_mappings m
                WHERE r.source = :source AND m.source = r.source AND m.kind = :kind
                  AND m.code = r.{code_col} AND r.{target_col} IS DISTINCT FROM m.target
                  AND r.deleted_at IS NULL
                RETURNING r.org_unit_id, {month} AS month
            ), mark AS ({_MARK_CHANGED})
            SELECT count(*) FROM changed
            """),
            {"source": source, "kind": kind},
        )
        total += int(result.scalar_one())
    # Employments: profession and pay form changes move headcount between groups in every
    # month (a pay form also the employee's time records' extended presence, recomputed with
    # the next full recalculation).
    for target_col, code_col, kind in (
        ("profession", "profession_code", "profession"),
        ("pay_form", "pay_form_code", "pay_form"),
    ):
        result = await session.execute(
            sa.text(f"""
            WITH changed AS (
                UPDATE employments r SET {target_col} = m.target, updated_at = now()
                FROM code_mappings m
                WHERE r.source = :source AND m.source = r.source AND m.kind = :kind
                  AND m.code = r.{code_col} AND r.{target_col} IS DISTINCT FROM m.target
                  AND r.deleted_at IS NULL
                RETURNING r.org_unit_id, r.start_date, r.end_date
            ), cells AS (
                SELECT c.org_unit_id, m::date AS month FROM changed c, generate_series(
                    date_trunc('month', c.start_date),
                    date_trunc('month', least(coalesce(c.end_date, current_date), current_date)),
                    interval '1 month') AS m
            ), mark AS ({_MARK_CELLS})
            SELECT count(*) FROM changed
            """),
            {"source": source, "kind": kind},
        )
        total += int(result.scalar_one())
    return total


async def profession_codes(session: AsyncSession) -> set[str]:
    return set((await session.execute(sa.select(col(Profession.code)))).scalars())


async def professions(session: AsyncSession) -> Sequence[Profession]:
    return await catalogue(session, Profession)


async def professions_page(session: AsyncSession, window: Window) -> Sequence[Any]:
    return await catalogue_page(session, Profession, window)


async def profession(session: AsyncSession, code: str) -> Profession | None:
    return await session.get(Profession, code)


async def put_profession(
    session: AsyncSession, code: str, name_en: str, name_sv: str
) -> Profession:
    return await put_catalogue_entry(session, Profession, code, name_en, name_sv)


async def try_lock_import(session: AsyncSession, import_id: uuid.UUID) -> bool:
    """One worker runs an import: the others skip it while this transaction holds it."""
    locked = await session.execute(
        sa.text("SELECT pg_try_advisory_xact_lock(hashtext(:id))"), {"id": str(import_id)}
    )
    return bool(locked.scalar())


async def update_import(session: AsyncSession, import_id: uuid.UUID, **values: Any) -> None:
    await session.execute(sa.update(Import).where(col(Import.id) == import_id).values(**values))


async def stalled_imports(session: AsyncSession, stale_seconds: int) -> list[str]:
    rows = await session.execute(
        sa.text(
            "SELECT id FROM imports WHERE status IN ('queued', 'running') AND "
            "coalesce(heartbeat_at, created_at) < now() - make_interval(secs => :s)"
        ),
        {"s": stale_seconds},
    )
    return [str(r) for r in rows.scalars()]


async def active_imports_of(session: AsyncSession, created_by: str, *, lock: bool) -> int:
    """The imports `created_by` has queued or running. With `lock`, counted after that key's
    other transactions that counted with it have ended (a transaction-scoped lock), so two
    uploads at once cannot both take the last place."""
    if lock:
        await session.execute(
            sa.text("SELECT pg_advisory_xact_lock(hashtext('imports-of:' || :actor))"),
            {"actor": created_by},
        )
    count = await session.execute(
        sa.select(sa.func.count())
        .select_from(Import)
        .where(col(Import.created_by) == created_by, col(Import.status).in_(["queued", "running"]))
    )
    return int(count.scalar_one())


async def live_import_files(session: AsyncSession) -> set[str]:
    """The files of imports still queued or running: every other upload file is an orphan."""
    rows = await session.execute(
        sa.select(col(Import.file_path)).where(col(Import.status).in_(["queued", "running"]))
    )
    return set(rows.scalars())


async def import_progress(session: AsyncSession) -> dict[str, tuple[int, int]]:
    """Imports queued and running: per status, how many and the rows they have read."""
    found = await session.execute(
        sa.text(
            "SELECT status, count(*), coalesce(sum(rows_read), 0) FROM imports "
            "WHERE status IN ('queued', 'running') GROUP BY status"
        )
    )
    return {status: (int(n), int(rows)) for status, n, rows in found.all()}


IMPORTS = "imports"


async def imports_page(
    session: AsyncSession,
    *,
    scope_path: str | None,
    status: str | None,
    kind: str | None,
    window: Window,
) -> Sequence[Import]:
    """Imports newest first (with `updated_since`: changed since, by change time). One sent
    with a region-wide key (no `org_path`) is seen only by region-wide keys, as
    `imports.read` decides for one."""
    stmt: Any = sa.select(Import)
    if scope_path is not None:
        stmt = stmt.where(in_subtree(col(Import.org_path), scope_path))
    if status is not None:
        stmt = stmt.where(col(Import.status) == status)
    if kind is not None:
        stmt = stmt.where(col(Import.kind) == kind)
    paged = newest_first_or_changed(
        stmt,
        window,
        newest=[col(Import.created_at), col(Import.id)],
        changed=col(Import.updated_at),
        key=col(Import.id),
        name=IMPORTS,
    )
    found: Sequence[Import] = (await session.execute(paged)).scalars().all()
    return found
