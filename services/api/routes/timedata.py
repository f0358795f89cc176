"""The time-data contract: what HR and finance systems push (batches), what integrations and
audits read back, and the per-source code mappings."""

from __future__ import annotations

import inspect
import uuid
from typing import Annotated, Any, Literal

from fastapi import Depends, Path, Query, Request, Response
from pydantic import BaseModel

from services.api.deps import (
    Admin,
    FromDate,
    IdempotencyDep,
    PageDep,
    PersonDataReader,
    Reader,
    ReplicaSessionDep,
    SessionDep,
    SettingsDep,
    TimedataWriter,
    ToDate,
    UpdatedSince,
    api_router,
    get_batch_validator,
    get_metrics,
    require_any,
)
from services.api.operations import creates, lists, operation, reads, upserts
from services.core.pagination import Page, Tombstone
from services.core.principal import Principal, Scope
from services.core.timedata import imports
from services.core.timedata import service as timedata_service
from services.core.timedata.schemas import (
    BatchResult,
    BudgetIn,
    BudgetsBatch,
    CodeMappings,
    CodeMappingsResult,
    EmploymentIn,
    EmploymentRead,
    EmploymentsBatch,
    ImportRead,
    PersonnelCostIn,
    PersonnelCostRead,
    PersonnelCostsBatch,
    ProfessionIn,
    ProfessionRead,
    SourceName,
    TimeRecordIn,
    TimeRecordRead,
    TimeRecordsBatch,
)
from services.core.validation import Code, IsoDate

router = api_router(prefix="", tags=["time-data"])
TimedataReader = Annotated[Principal, Depends(require_any(Scope.read, Scope.timedata_write))]

Atomic = Annotated[
    bool, Query(description="Store nothing (422 listing every bad record) if any record is bad.")
]
_BATCH_DOC = """Upserts up to 10 000 records by `(source, external_id)`; a record
`{{"source", "external_id", "deleted": true}}` removes one. Good records are stored and each bad
one is reported by its index with its errors, unless `atomic=true`. Resending the same records
changes nothing (`unchanged`). Accepts `Idempotency-Key`: a retried request gets the first
answer. Every change marks its (org unit, month) cells for KPI recalculation.
Time records are stored in monthly partitions made as records need them; when one cannot
be made the batch is refused whole with 503 `partition_unavailable` (send it again).

Example record: `{example}`"""


def _example(model: Any) -> Any:
    return model.model_config["json_schema_extra"]["examples"][0]


def _batch_endpoint(kind: str, model: Any, batch: type[BaseModel]) -> Any:
    async def endpoint(
        request_body: BaseModel,
        session: SessionDep,
        settings: SettingsDep,
        principal: TimedataWriter,
        idem: IdempotencyDep,
        atomic: Atomic = False,
    ) -> Response:
        if (replay := await idem.replay()) is not None:
            return replay
        result = await timedata_service.ingest_batch(
            session,
            settings,
            principal,
            kind,
            # The records as sent (the batch model skips their validation): the ingest checks
            # them one by one, through its fast path where it can.
            list(getattr(request_body, "records")),  # noqa: B009
            atomic=atomic,
            validator=get_batch_validator(idem.request),
        )
        metrics = get_metrics(idem.request)
        for outcome in ("inserted", "updated", "deleted", "unchanged", "rejected"):
            if count := getattr(result, outcome):
                metrics.ingest_records.labels(kind, outcome).inc(count)
        return await idem.respond(session, 200, result)

    endpoint.__doc__ = _BATCH_DOC.format(example=_example(model))
    # FastAPI reads the body's type from the signature: each kind its own typed batch.
    signature = inspect.signature(endpoint)
    endpoint.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[
            p.replace(annotation=batch) if p.name == "request_body" else p
            for p in signature.parameters.values()
        ]
    )
    return endpoint


for _kind, _model, _batch, _name in (
    ("time-records", TimeRecordIn, TimeRecordsBatch, "post_time_records_batch"),
    ("employments", EmploymentIn, EmploymentsBatch, "post_employments_batch"),
    ("personnel-costs", PersonnelCostIn, PersonnelCostsBatch, "post_personnel_costs_batch"),
    ("budgets", BudgetIn, BudgetsBatch, "post_budgets_batch"),
):
    router.add_api_route(
        f"/{_kind}:batch",
        _batch_endpoint(_kind, _model, _batch),
        methods=["POST"],
        name=_name,
        **upserts(f"Upsert a batch of {_kind.replace('-', ' ')}", BatchResult, 409, 413, 503),
        openapi_extra={
            "requestBody": {
                "content": {
                    "application/json": {
                        "example": {
                            "records": [
                                _example(_model),
                                {"source": "heroma", "external_id": "OLD-1", "deleted": True},
                            ],
                        }
                    }
                }
            }
        },
    )

OrgUnitFilter = Annotated[Code | None, Query(description="Only this unit and its subtree.")]


@router.get(
    "/time-records", **lists("List time records", Page[TimeRecordRead | Tombstone], 404, 429)
)
async def list_time_records(
    session: SessionDep,
    reads: ReplicaSessionDep,
    settings: SettingsDep,
    principal: PersonDataReader,
    page: PageDep,
    updated_since: UpdatedSince = None,
    org_unit: OrgUnitFilter = None,
    date_from: FromDate = None,
    date_to: ToDate = None,
    profession: Code | None = None,
    staff_kind: Annotated[str | None, Query(pattern="^(own|agency)$")] = None,
    time_type: Annotated[str | None, Query(max_length=32)] = None,
    source: SourceName | None = None,
) -> Page[Any]:
    """Person-level (pseudonymous) records for integrations and audits: the key needs
    `persondata:read` (`read` is not enough), and every call is written to the audit log.
    `employee` is this key's own pseudonym of the employee, never the sender's id: stable for
    this key, different for every other key, so two consumers cannot join their extracts on it.
    Person-level reads have a stricter per-key limit of their own
    (`PULS_PERSON_DATA_RATE_LIMIT_PER_MINUTE`, 120 pages a minute by default): 429 with
    `Retry-After` above it."""
    return await timedata_service.list_records(
        session,
        settings,
        principal,
        "time-records",
        reads=reads,
        org_unit=org_unit,
        date_from=date_from,
        date_to=date_to,
        window=page.window(updated_since),
        filters={
            "profession": profession,
            "staff_kind": staff_kind,
            "time_type": time_type,
            "source": source,
        },
    )


@router.get("/employments", **lists("List employments", Page[EmploymentRead | Tombstone], 404, 429))
async def list_employments(
    session: SessionDep,
    reads: ReplicaSessionDep,
    settings: SettingsDep,
    principal: PersonDataReader,
    page: PageDep,
    updated_since: UpdatedSince = None,
    org_unit: OrgUnitFilter = None,
    date_from: Annotated[
        IsoDate | None, Query(alias="from", description="Started on or after.")
    ] = None,
    date_to: Annotated[
        IsoDate | None, Query(alias="to", description="Started on or before.")
    ] = None,
    profession: Code | None = None,
    contract: Annotated[str | None, Query(pattern="^(permanent|fixed_term|hourly)$")] = None,
    source: SourceName | None = None,
) -> Page[Any]:
    """Person-level (pseudonymous) employments: `persondata:read`, per-key pseudonyms, every
    call audited and the stricter per-key limit of person-level reads, as for
    `GET /v1/time-records`."""
    return await timedata_service.list_records(
        session,
        settings,
        principal,
        "employments",
        reads=reads,
        org_unit=org_unit,
        date_from=date_from,
        date_to=date_to,
        window=page.window(updated_since),
        filters={"profession": profession, "contract": contract, "source": source},
    )


@router.get(
    "/personnel-costs", **lists("List personnel costs", Page[PersonnelCostRead | Tombstone], 404)
)
async def list_personnel_costs(
    session: SessionDep,
    reads: ReplicaSessionDep,
    settings: SettingsDep,
    principal: Reader,
    page: PageDep,
    updated_since: UpdatedSince = None,
    org_unit: OrgUnitFilter = None,
    date_from: Annotated[
        IsoDate | None, Query(alias="from", description="Months from (a date).")
    ] = None,
    date_to: Annotated[
        IsoDate | None, Query(alias="to", description="Months up to (a date).")
    ] = None,
    profession: Code | None = None,
    category: Annotated[str | None, Query(pattern="^(own_staff|agency)$")] = None,
    source: SourceName | None = None,
) -> Page[Any]:
    """Monthly personnel cost per cost centre, profession and category, as finance sent it
    (amounts per group, no employees: `read` suffices)."""
    return await timedata_service.list_records(
        session,
        settings,
        principal,
        "personnel-costs",
        reads=reads,
        org_unit=org_unit,
        date_from=date_from,
        date_to=date_to,
        window=page.window(updated_since),
        filters={"profession": profession, "category": category, "source": source},
    )


SourcePath = Annotated[SourceName, Path(description="The sending system, e.g. `heroma`.")]


@router.get(
    "/sources/{source}/code-mappings",
    **operation("Get a source's code mappings", CodeMappings, problems=(401, 403, 422)),
)
async def get_code_mappings(
    source: SourcePath, session: SessionDep, principal: Admin
) -> CodeMappings:
    """How the sender's own pay/absence and profession codes translate to Puls's."""
    return await timedata_service.get_mappings(session, source)


@router.put(
    "/sources/{source}/code-mappings",
    **upserts("Replace a source's code mappings", CodeMappingsResult, 413),
)
async def put_code_mappings(
    source: SourcePath, data: CodeMappings, session: SessionDep, principal: Admin
) -> CodeMappingsResult:
    """Replaces the whole mapping of `source`. Stored records whose code now maps differently
    are re-mapped at once and their KPI cells recalculated; the sender's code stays on them."""
    return await timedata_service.put_mappings(session, principal, source, data)


@router.get("/professions", **lists("List the profession catalogue", Page[ProfessionRead]))
async def list_professions(
    session: SessionDep, principal: Reader, page: PageDep, updated_since: UpdatedSince = None
) -> Page[ProfessionRead]:
    """By code. Entries are never deleted, so `updated_since` (added or renamed since) has no
    tombstones."""
    return await timedata_service.list_professions(session, window=page.window(updated_since))


@router.get("/professions/{code}", **reads("Get a profession", ProfessionRead))
async def get_profession(code: Code, session: SessionDep, principal: Reader) -> ProfessionRead:
    return await timedata_service.read_profession(session, code)


@router.put("/professions/{code}", **upserts("Add or rename a profession", ProfessionRead))
async def put_profession(
    code: Code, data: ProfessionIn, session: SessionDep, principal: Admin
) -> ProfessionRead:
    """Extends the catalogue (DESIGN.md's codes are seeded) so feeds may use the new code."""
    return await timedata_service.put_profession(session, principal, code, data)


ImportKind = Literal["time-records", "employments", "personnel-costs"]
_CSV_EXAMPLE = (
    "source;external_id;org_unit_code;employee_ref;profession;staff_kind;time_type;work_date;"
    "hours\nheroma;TR-1;SUS-AKUT;19790312-1234;nurse;own;worked;2024-03-04;7,5\n"
)


@router.post(
    "/imports",
    **creates("Import a CSV or NDJSON file", ImportRead, 409, 429, status=202),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {"schema": {"type": "string"}, "example": _CSV_EXAMPLE},
                "application/x-ndjson": {
                    "schema": {"type": "string"},
                    "example": '{"source": "heroma", "external_id": "TR-1", "…": "…"}\n',
                },
            },
        }
    },
)
async def create_import(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: TimedataWriter,
    idem: IdempotencyDep,
    kind: ImportKind,
    source: Annotated[SourceName, Query(description="Used for rows without a source column.")],
) -> Response:
    """For systems that send files: CSV (header row; `;` or `,`; UTF-8 with or without BOM;
    decimal comma accepted) or NDJSON, one record per line, same fields as the batch
    endpoints. The file is streamed to disk and imported by the worker in one transaction:
    all good rows or, if the file itself is unreadable, none. Returns 202 with the import's
    `Location`; poll it for status, progress and the first 1 000 line-numbered errors. A line
    longer than `PULS_IMPORT_MAX_LINE_LENGTH` characters (64 Ki) fails the import with its
    number. A key may have `PULS_IMPORT_MAX_ACTIVE_PER_KEY` (3) imports queued or running;
    one more is 429 with `Retry-After`."""
    fmt = imports.file_format(request.headers.get("content-type"))
    # Refused before a byte is stored; checked again, under a lock, when the import is queued.
    await imports.check_capacity(session, settings, principal)
    declared = request.headers.get("content-length")
    path, size, digest = await imports.receive_file(
        request.stream(), settings, int(declared) if declared else None
    )
    try:
        replay = await idem.replay(body_digest=f"{kind}:{source}:{fmt}:{digest}")
        if replay is not None:
            path.unlink(missing_ok=True)
            return replay
        created = await imports.create(
            session, settings, principal, kind=kind, source=source, path=path, size=size, fmt=fmt
        )
        return await idem.respond(session, 202, created, {"Location": f"/v1/imports/{created.id}"})
    except BaseException:
        # A refused or failed request keeps no file (a replay conflict, too many imports, a
        # database error); one that dies before its commit leaves it to the worker's sweep.
        path.unlink(missing_ok=True)
        raise


@router.get("/imports", **lists("List imports", Page[ImportRead]))
async def list_imports(
    session: SessionDep,
    principal: TimedataReader,
    page: PageDep,
    status: Annotated[
        Literal["queued", "running", "succeeded", "failed"] | None,
        Query(description="Only imports in this state."),
    ] = None,
    kind: Annotated[ImportKind | None, Query(description="Only imports of this kind.")] = None,
    updated_since: UpdatedSince = None,
) -> Page[ImportRead]:
    """Files sent for import in the caller's subtree, newest first, with their status. With
    `updated_since`: the imports whose status, progress or counts changed since, by change
    time (`updated_at`), so an integration follows its imports without polling each one.
    Imports are never deleted, so there are no tombstones."""
    return await imports.list_imports(
        session, principal, status=status, kind=kind, window=page.window(updated_since)
    )


@router.get("/imports/{import_id}", **reads("Get an import's status", ImportRead))
async def get_import(
    import_id: uuid.UUID, session: SessionDep, principal: TimedataReader
) -> ImportRead:
    """Status (queued, running, succeeded, failed), rows read so far, counts and errors."""
    return await imports.read(session, principal, import_id)
