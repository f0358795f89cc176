"""Recalculation: the rounds that drain the dirty cells (facts, then target evaluation), the
marks and wake-ups other domains send when their data changes, and admins' recalculation
requests with their status."""

from __future__ import annotations

import uuid
from datetime import date

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.audit import service as audit_service
from services.core.config import Settings
from services.core.crud import Window, insert, read_as, status_page, visible_or_404
from services.core.errors import invalid_field
from services.core.kpis import facts, inputs, repository
from services.core.kpis.errors import RecalculationNotFound
from services.core.kpis.models import Recalculation
from services.core.kpis.schemas import RecalculationCreate, RecalculationRead
from services.core.kpis.target_evaluation import evaluate_targets
from services.core.pagination import Page
from services.core.principal import Principal
from services.core.queue import defer_job

RECALCULATE_JOB = "recalculate"


def wake_recalculation(session: AsyncSession) -> None:
    """One deduplicated wake-up for the KPI engine after this transaction commits; the dirty
    cells themselves are already in the transaction."""
    defer_job(session, RECALCULATE_JOB, job_id=RECALCULATE_JOB)


async def mark_scope(
    session: AsyncSession, org_path: str | None, from_month: date | None, to_month: date | None
) -> int:
    """Marks every cell with data in the scope dirty (a subtree or all, from a month on or
    all), for a change that can alter any of them (a rule, a policy); returns how many."""
    return await facts.mark_scope(
        session, org_path=org_path, from_month=from_month, to_month=to_month
    )


async def recalculate(
    session: AsyncSession,
    settings: Settings,
    *,
    limit: int = 100_000,
    units: int = facts.UNITS_PER_ROUND,
) -> int:
    """One round: claims up to `limit` dirty cells, replaces their facts and evaluates the
    targets they touch. Returns how many cells it took (0: nothing left)."""
    await facts.set_statement_timeout(session, settings.recalculation_statement_timeout_ms)
    cells = await facts.claim(session, limit, units=units)
    if not cells:
        return 0
    await facts.recompute_claimed(session, settings, cells)
    await evaluate_targets(session, cells, min_group_size=settings.min_group_size)
    await facts.release_claimed(session)
    await facts.bump_version(session)
    return len(cells)


async def refresh_statistics(session: AsyncSession) -> list[str]:
    """Analyses the fed tables a bulk load left stale (before a recalculation's rounds, in a
    transaction of its own); which."""
    return await facts.refresh_statistics(session)


async def backlog(session: AsyncSession) -> tuple[int, int, bool]:
    """How many cells are dirty, in how many org units, and whether they are only the spills
    of the rounds before (marked by the recalculation itself, not by a feed)."""
    return await facts.dirty_backlog(session)


async def lag(session: AsyncSession) -> tuple[int, float]:
    """Dirty cells, and how many seconds the oldest has waited (the figures' lag)."""
    return await repository.dirty_state(session)


async def cells_waiting(session: AsyncSession) -> bool:
    """Whether a dirty cell waits that no running recalculation holds."""
    return await repository.unclaimed_dirty_cells(session)


def _recalculation_read(r: Recalculation, code: str | None) -> RecalculationRead:
    return read_as(
        RecalculationRead,
        r,
        id=str(r.id),
        org_unit=code,
        from_=f"{r.from_month:%Y-%m}" if r.from_month else None,
        to=f"{r.to_month:%Y-%m}" if r.to_month else None,
    )


async def request_recalculation(
    session: AsyncSession, principal: Principal, data: RecalculationCreate
) -> RecalculationRead:
    unit = None
    if data.org_unit is None:
        principal.require_whole_region("A recalculation without an org unit")
    else:
        unit = await inputs.body_org_unit(session, principal, data.org_unit)
    first = inputs.period(data.from_, ["body", "from"]).first if data.from_ else None
    last = inputs.period(data.to, ["body", "to"]).last if data.to else None
    if first and last and last < first:
        raise invalid_field(["body", "to"], "to is before from", "range")
    record = Recalculation(
        org_unit_id=unit.id if unit else None,
        from_month=first,
        to_month=last,
        status="queued",
        requested_by=principal.actor,
    )
    await insert(session, record)
    await audit_service.record(
        session, principal, "kpi.recalculate", "recalculation", str(record.id)
    )
    defer_job(session, "run_recalculation", str(record.id), job_id=f"recalculation:{record.id}")
    return _recalculation_read(record, unit.code if unit else None)


async def read_recalculation(
    session: AsyncSession, principal: Principal, rid: uuid.UUID
) -> RecalculationRead:
    # A request for everything belongs to no unit: only keys of the whole region see it.
    row = visible_or_404(
        await repository.get_recalculation(session, rid),
        lambda r: principal.sees_path(r[2]) if r[2] is not None else principal.org_path is None,
        RecalculationNotFound(f"No recalculation with id {rid}"),
    )
    return _recalculation_read(row[0], row[1])


async def list_recalculations(
    session: AsyncSession, principal: Principal, *, status: str | None, window: Window
) -> Page[RecalculationRead]:
    """Newest first; with `updated_since`, those whose status changed since, by change time.
    Never deleted: no tombstones."""
    rows = await repository.recalculations_page(
        session, scope_path=principal.org_path, status=status, window=window
    )
    return status_page(
        rows,
        window,
        lambda r: _recalculation_read(r[0], r[1]),
        newest=lambda r: (r[0].created_at, r[0].id),
        changed=lambda r: (r[0].updated_at, r[0].id),
        name=repository.RECALCULATIONS,
    )


async def mark_recalculation(session: AsyncSession, rid: uuid.UUID) -> int:
    """Marks the requested scope dirty (the worker then drains it like any other change)."""
    row = await repository.get_recalculation(session, rid)
    if row is None:
        return 0
    record: Recalculation = row[0]
    cells = await mark_scope(session, row[2], record.from_month, record.to_month)
    record.status = "running"
    record.cells = cells
    await session.flush()
    return cells


async def finish_recalculation(
    session: AsyncSession, rid: uuid.UUID, *, error: str | None = None
) -> None:
    record = await session.get(Recalculation, rid)
    if record is not None:
        record.status = "failed" if error else "succeeded"
        record.error = error
        record.finished_at = sa.func.now()  # type: ignore[assignment]
        await session.flush()
