"""Time-data operations: batches, reads (audited: they are person-level), code mappings and the
profession catalogue."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.audit import service as audit_service
from services.core.config import Settings
from services.core.crud import Window, page_from, page_of, read_as
from services.core.errors import ValidationFailed, field_error
from services.core.kpis import recalculation_service
from services.core.orgs import service as orgs_service
from services.core.pagination import Page
from services.core.principal import Principal
from services.core.timedata import ingest, repository
from services.core.timedata.errors import BatchRejected, BatchTooLarge, ProfessionNotFound
from services.core.timedata.models import Employment, PersonnelCost, TimeRecord
from services.core.timedata.pseudonym import viewer_pseudonymizer
from services.core.timedata.schemas import (
    BatchResult,
    CodeMappings,
    CodeMappingsResult,
    EmploymentRead,
    PersonnelCostRead,
    ProfessionIn,
    ProfessionRead,
    TimeRecordRead,
)
from services.core.timedata.validator import BatchValidator


async def ingest_batch(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    kind_name: str,
    records: list[Any],
    *,
    atomic: bool,
    validator: BatchValidator | None = None,
) -> BatchResult:
    if len(records) > settings.max_batch_records:
        raise BatchTooLarge(
            f"{len(records)} records; send at most {settings.max_batch_records} per request "
            "or use a file import"
        )
    kind = ingest.KINDS[kind_name]
    outcome = await ingest.apply(
        session, settings, kind, records, principal=principal, atomic=atomic, validator=validator
    )
    if atomic and outcome.errors:
        raise BatchRejected(
            f"{outcome.rejected} of {len(records)} records are bad; nothing was stored",
            errors=[
                {**error.model_dump(), "loc": ["body", "records", e.index, *error.loc]}
                for e in outcome.errors
                for error in e.errors
            ],
        )
    if outcome.inserted or outcome.updated or outcome.deleted:
        recalculation_service.wake_recalculation(session)
    await audit_service.record(
        session,
        principal,
        f"{kind.name}.batch",
        kind.table,
        None,
        details=outcome.counts(),
    )
    return BatchResult(**outcome.counts(), errors=outcome.errors)


def _key(row: Any) -> str:
    return f"{row.source}:{row.external_id}"


def _time_read(row: Any, shown: Callable[[str], str]) -> TimeRecordRead:
    r: TimeRecord = row[0]
    return read_as(
        TimeRecordRead,
        r,
        id=_key(r),
        org_unit=row[1],
        employee=shown(r.employee),
        start=r.start_at,
        end=r.end_at,
    )


def _employment_read(row: Any, shown: Callable[[str], str]) -> EmploymentRead:
    r: Employment = row[0]
    return read_as(EmploymentRead, r, id=_key(r), org_unit=row[1], employee=shown(r.employee))


def _cost_read(row: Any, shown: Callable[[str], str]) -> PersonnelCostRead:
    r: PersonnelCost = row[0]
    return read_as(PersonnelCostRead, r, id=_key(r), org_unit=row[1], period=f"{r.period:%Y-%m}")


_READS: dict[str, tuple[Any, str, Any]] = {
    "time-records": (TimeRecord, "work_date", _time_read),
    "employments": (Employment, "start_date", _employment_read),
    "personnel-costs": (PersonnelCost, "period", _cost_read),
}


async def list_records(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    kind_name: str,
    *,
    org_unit: str | None,
    date_from: date | None,
    date_to: date | None,
    filters: dict[str, str | None],
    window: Window,
    reads: AsyncSession | None = None,
) -> Page[Any]:
    """A page of fed records, read on `reads` (a replica's session) when given; the audit
    row is written on `session` (the primary). Employees appear as the caller's own
    pseudonyms (a per-key HMAC of the stored one), so two keys' extracts cannot be joined."""
    model, date_column, to_read = _READS[kind_name]
    reader = reads if reads is not None else session
    unit_path = None
    if org_unit is not None:
        unit_path = (await orgs_service.get_visible(reader, principal, org_unit)).path
    rows = await repository.list_page(
        reader,
        model,
        scope_path=principal.org_path,
        unit_path=unit_path,
        date_column=date_column,
        date_from=date_from,
        date_to=date_to,
        filters=filters,
        window=window,
    )
    shown = viewer_pseudonymizer(settings, principal)
    page: Page[Any] = page_of(rows, window, lambda row: to_read(row, shown), tombstone_id=_key)
    if model is not PersonnelCost:
        # Person-level data (pseudonymous, but sick leave is health data): every read is logged.
        await audit_service.record(
            session,
            principal,
            f"{kind_name}.read",
            model.__tablename__,
            None,
            details={
                "org_unit": org_unit,
                "from": str(date_from) if date_from else None,
                "to": str(date_to) if date_to else None,
                "filters": {k: v for k, v in filters.items() if v is not None},
                "updated_since": (
                    window.updated_since.isoformat() if window.updated_since else None
                ),
                "returned": len(page.items),
            },
        )
    return page


async def get_mappings(session: AsyncSession, source: str) -> CodeMappings:
    rows = await repository.mappings_of(session, source)
    return CodeMappings(
        time_codes={m.code: m.target for m in rows if m.kind == "time"},  # type: ignore[misc,unused-ignore]
        profession_codes={m.code: m.target for m in rows if m.kind == "profession"},
        pay_form_codes={m.code: m.target for m in rows if m.kind == "pay_form"},  # type: ignore[misc,unused-ignore]
    )


async def put_mappings(
    session: AsyncSession, principal: Principal, source: str, data: CodeMappings
) -> CodeMappingsResult:
    principal.require_whole_region("A source's code mappings")
    known = await repository.profession_codes(session)
    unknown = {
        code: target for code, target in data.profession_codes.items() if target not in known
    }
    if unknown:
        raise ValidationFailed(
            f"{len(unknown)} profession code(s) map to unknown professions",
            errors=[
                field_error(
                    ["body", "profession_codes", code],
                    f"unknown profession {target!r}",
                    "unknown_profession",
                )
                for code, target in sorted(unknown.items())
            ],
        )
    pairs: list[tuple[str, str, str]] = [("time", c, str(t)) for c, t in data.time_codes.items()]
    pairs += [("profession", c, t) for c, t in data.profession_codes.items()]
    pairs += [("pay_form", c, str(t)) for c, t in data.pay_form_codes.items()]
    await repository.replace_mappings(session, source, pairs)
    remapped = await repository.remap(session, source)
    if remapped:
        recalculation_service.wake_recalculation(session)
    await audit_service.record(
        session,
        principal,
        "code_mappings.replace",
        "code_mappings",
        source,
        details={
            "time_codes": len(data.time_codes),
            "profession_codes": len(data.profession_codes),
            "pay_form_codes": len(data.pay_form_codes),
            "remapped": remapped,
        },
    )
    return CodeMappingsResult(**data.model_dump(), remapped_records=remapped)


async def list_professions(session: AsyncSession, *, window: Window) -> Page[ProfessionRead]:
    """By code, or by change time with `updated_since` (entries are never deleted)."""
    rows = await repository.professions_page(session, window)
    return page_from(
        rows,
        window,
        lambda r: read_as(ProfessionRead, r[0]),
        key=lambda r: r[0].code,
        changed=lambda r: r[0].updated_at,
        name="professions",
    )


async def read_profession(session: AsyncSession, code: str) -> ProfessionRead:
    profession = await repository.profession(session, code)
    if profession is None:
        raise ProfessionNotFound(f"No profession with code {code!r}")
    return read_as(ProfessionRead, profession)


async def put_profession(
    session: AsyncSession, principal: Principal, code: str, data: ProfessionIn
) -> ProfessionRead:
    principal.require_whole_region("The profession catalogue")
    stored = await repository.put_profession(session, code, data.name_en, data.name_sv)
    await audit_service.record(session, principal, "profession.put", "profession", code)
    return read_as(ProfessionRead, stored)
