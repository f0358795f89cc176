"""File imports for systems that can only send files (CSV or NDJSON).

The API streams the upload to disk (never into memory) and queues the import; the worker
reads the file in chunks of rows, stages each chunk with COPY and applies it set-based, all in
ONE transaction, so a killed worker leaves no half-applied rows and a re-run gives the same
table. Progress is written on a separate connection so callers can watch it."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import json
import os
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.audit import service as audit_service
from services.core.auth.schemas import Principal
from services.core.config import Settings
from services.core.errors import UnsupportedMediaType, ValidationFailed
from services.core.events import service as events_service
from services.core.timedata import ingest
from services.core.timedata.errors import ImportNotFound
from services.core.timedata.models import Import
from services.core.timedata.schemas import ImportRead, RecordError
from services.core.validation import loads_strict

CHUNK_ROWS = 5_000
MAX_KEPT_ERRORS = 1_000
MEDIA_TYPES = {
    "text/csv": "csv",
    "application/csv": "csv",
    "application/x-ndjson": "ndjson",
    "application/ndjson": "ndjson",
    "application/jsonl": "ndjson",
}
# Columns whose values may use a decimal comma in CSV files from Swedish systems.
_DECIMAL_COLUMNS = {"hours", "cost_sek", "amount_sek", "fte"}
_BOOLEAN_COLUMNS = {"is_manager", "deleted"}
_TRUE = {"true", "1", "yes", "ja", "t", "y"}
_FALSE = {"false", "0", "no", "nej", "f", "n"}


class ImportFileError(Exception):
    """The file as a whole cannot be read (wrong header, broken quoting): the import fails."""


def import_dir(settings: Settings) -> Path:
    path = Path(settings.import_dir or os.path.join(settings.data_dir, "imports"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def file_format(content_type: str | None) -> str:
    media = (content_type or "").split(";")[0].strip().lower()
    if media not in MEDIA_TYPES:
        raise UnsupportedMediaType(
            f"Send the file as text/csv or application/x-ndjson, not {media or 'nothing'!r}"
        )
    return MEDIA_TYPES[media]


async def receive_file(
    chunks: AsyncIterator[bytes], settings: Settings, declared_length: int | None
) -> tuple[Path, int, str]:
    """Streams the body to a new file; returns its path, size and SHA-256. A body shorter than
    its Content-Length (a dropped connection) is refused and the partial file removed."""
    path = import_dir(settings) / f"{uuid.uuid4()}.upload"
    digest = hashlib.sha256()
    size = 0
    try:
        with path.open("wb") as out:
            async for chunk in chunks:
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
        if declared_length is not None and size != declared_length:
            raise ValidationFailed(
                f"The upload was cut off: {size} of {declared_length} bytes arrived; send it again",
                errors=[{"loc": ["body"], "msg": "truncated upload", "code": "truncated"}],
            )
        if size == 0:
            raise ValidationFailed(
                "The file is empty",
                errors=[{"loc": ["body"], "msg": "empty file", "code": "empty_file"}],
            )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, size, digest.hexdigest()


def to_read(record: Import) -> ImportRead:
    assert record.created_at is not None
    return ImportRead(
        id=str(record.id),
        kind=record.kind,
        source=record.source,
        status=record.status,
        format=record.file_format,
        bytes=record.bytes,
        rows_read=record.rows_read,
        counts=record.counts,
        error_count=record.error_count,
        errors=record.errors or [],
        failure=record.failure,
        created_at=record.created_at,
        started_at=record.started_at,
        finished_at=record.finished_at,
    )


async def create(
    session: AsyncSession,
    principal: Principal,
    *,
    kind: str,
    source: str,
    path: Path,
    size: int,
    fmt: str,
) -> ImportRead:
    record = Import(
        kind=kind,
        source=source,
        file_path=str(path),
        file_format=fmt,
        bytes=size,
        org_path=principal.org_path,
        created_by=principal.actor,
        status="queued",
    )
    session.add(record)
    await session.flush()
    await session.refresh(record)
    await audit_service.record(
        session,
        principal,
        "import.create",
        "import",
        str(record.id),
        details={"kind": kind, "source": source, "bytes": size},
    )
    from services.core.queue import defer_job

    defer_job(session, "run_import", str(record.id), job_id=f"import:{record.id}")
    return to_read(record)


async def read(session: AsyncSession, principal: Principal, import_id: uuid.UUID) -> ImportRead:
    record = await session.get(Import, import_id)
    visible = record is not None and (
        principal.org_path is None
        or (record.org_path is not None and record.org_path.startswith(principal.org_path))
    )
    if record is None or not visible:
        raise ImportNotFound(f"No import with id {import_id}")
    return to_read(record)


# ---- reading files -------------------------------------------------------------------------


def _csv_value(column: str, value: str) -> Any:
    if column in _DECIMAL_COLUMNS:
        return value.replace(",", ".")
    if column in _BOOLEAN_COLUMNS:
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    return value


def _csv_rows(
    handle: IO[str], kind: ingest.FeedKind, source: str
) -> Iterator[tuple[int, Any, int | None]]:
    header_line = handle.readline()
    if not header_line.strip():
        raise ImportFileError("the file has no header row")
    delimiter = ";" if header_line.count(";") > header_line.count(",") else ","
    header = next(csv.reader([header_line], delimiter=delimiter))
    header = [h.strip() for h in header]
    allowed = set(kind.model.model_fields) | {"deleted"}
    unknown = [h for h in header if h not in allowed]
    if unknown or len(set(header)) != len(header):
        raise ImportFileError(
            f"unknown or repeated columns in the header: {', '.join(unknown) or 'repeated'}; "
            f"allowed: {', '.join(sorted(allowed))}"
        )
    reader = csv.reader(handle, delimiter=delimiter, strict=True)
    # The same values under another header (or another default source) are another record.
    signature = "\x1f".join([source, *header, ""])
    try:
        for values in reader:
            line_number = 1 + reader.line_num  # the header was line 1
            if not values or all(not v.strip() for v in values):
                continue
            if len(values) != len(header):
                error = {"__error__": f"{len(values)} fields, header has {len(header)}"}
                yield line_number, error, None
                continue
            row: dict[str, Any] = {
                column: _csv_value(column, value)
                for column, value in zip(header, values, strict=True)
                if value != ""
            }
            row.setdefault("source", source)
            yield line_number, row, ingest.content_hash(signature + "\x1f".join(values))
    except csv.Error as exc:
        raise ImportFileError(f"line {1 + reader.line_num}: {exc}") from None


def _ndjson_rows(handle: IO[str], source: str) -> Iterator[tuple[int, Any, int | None]]:
    for line_number, text in enumerate(handle, start=1):
        if not text.strip():
            continue
        try:
            row = loads_strict(text)
        except json.JSONDecodeError as exc:
            yield line_number, {"__error__": f"not JSON: {exc}"}, None
            continue
        if isinstance(row, dict):
            row.setdefault("source", source)
        yield line_number, row, ingest.content_hash(f"{source}\x1f{text.strip()}")


@dataclass
class _Chunk:
    lines: list[int]
    rows: list[Any]
    hashes: list[int | None] = field(default_factory=list)

    def keys(self) -> list[tuple[str, str] | None]:
        return [
            (row["source"], row["external_id"])
            if isinstance(row, dict)
            and isinstance(row.get("source"), str)
            and isinstance(row.get("external_id"), str)
            else None
            for row in self.rows
        ]


def chunks(
    path: Path, fmt: str, kind: ingest.FeedKind, source: str, size: int = CHUNK_ROWS
) -> Iterator[_Chunk]:
    with path.open("r", encoding="utf-8-sig", newline="") as handle:
        rows = _csv_rows(handle, kind, source) if fmt == "csv" else _ndjson_rows(handle, source)
        chunk = _Chunk([], [])
        for line_number, row, content_hash in rows:
            chunk.lines.append(line_number)
            chunk.rows.append(row)
            chunk.hashes.append(content_hash)
            if len(chunk.rows) >= size:
                yield chunk
                chunk = _Chunk([], [])
        if chunk.rows:
            yield chunk


# ---- running (the worker) ------------------------------------------------------------------


@dataclass
class _Prepared:
    size: int  # rows read, good and bad
    lines: list[int]  # the file line of each record handed to validation
    bad: list[RecordError]  # lines the file itself garbled
    skipped: int  # lines sent before exactly as they are stored
    prepared: ingest.Prepared


def _prepare(
    settings: Settings,
    kind: ingest.FeedKind,
    lookups: ingest.Lookups,
    chunk: _Chunk,
    skip: set[int],
) -> _Prepared:
    good_rows: list[Any] = []
    good_lines: list[int] = []
    good_hashes: list[int | None] = []
    bad: list[RecordError] = []
    for position, (line_number, row) in enumerate(zip(chunk.lines, chunk.rows, strict=True)):
        if position in skip:
            continue
        if isinstance(row, dict) and "__error__" in row:
            bad.append(
                RecordError(
                    index=line_number,
                    external_id=None,
                    errors=[{"loc": [], "msg": row["__error__"], "code": "bad_line"}],
                )
            )
        else:
            good_rows.append(row)
            good_lines.append(line_number)
            good_hashes.append(chunk.hashes[position])
    prepared = ingest.prepare(settings, kind, good_rows, lookups, hashes=good_hashes)
    return _Prepared(len(chunk.rows), good_lines, bad, len(skip), prepared)


async def _progress(
    sessionmaker: async_sessionmaker[AsyncSession], import_id: uuid.UUID, rows: int
) -> None:
    async with sessionmaker() as s, s.begin():
        await s.execute(
            sa.update(Import)
            .where(Import.id == import_id)  # type: ignore[arg-type]
            .values(rows_read=rows, heartbeat_at=sa.func.now())
        )


async def run(
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    import_id: uuid.UUID,
) -> str | None:
    """Applies an import inside the caller's transaction. Returns its final status, or None
    when another worker holds it or it is already finished."""
    locked = (
        await session.execute(
            sa.text("SELECT pg_try_advisory_xact_lock(hashtext(:id))"), {"id": str(import_id)}
        )
    ).scalar()
    record = await session.get(Import, import_id)
    if not locked or record is None or record.status in ("succeeded", "failed"):
        return None
    # On its own connection: the import's transaction must not hold the row, or progress
    # updates (also on their own connection) would wait for it to commit.
    async with sessionmaker() as marker, marker.begin():
        await marker.execute(
            sa.update(Import)
            .where(Import.id == import_id)  # type: ignore[arg-type]
            .values(
                status="running",
                started_at=sa.func.now(),
                heartbeat_at=sa.func.now(),
                attempts=Import.attempts + 1,
            )
        )
    kind = ingest.KINDS[record.kind]
    lookups = await ingest.load_lookups(session, None, record.org_path, codes=None, sources=None)
    rows = chunks(Path(record.file_path), record.file_format, kind, record.source)

    outcome = ingest.Outcome()
    rows_read = chunks_stored = 0

    async def _store(current: _Prepared) -> None:
        nonlocal rows_read, chunks_stored
        part = await ingest.store(session, settings, kind, current.prepared, scope=record.org_path)
        for error in part.errors:  # positions in the chunk → line numbers in the file
            error.index = current.lines[error.index]
        chunks_stored += 1
        if chunks_stored & (chunks_stored - 1) == 0 and chunks_stored >= 4:
            # The table grows inside this one transaction where autovacuum cannot see it;
            # fresh statistics at 4, 8, 16 … chunks keep cached plans from treating it as
            # the small table it was when the import began.
            await ingest.refresh_statistics(session, kind)
        outcome.add(ingest.Outcome(rejected=len(current.bad), errors=current.bad))
        outcome.add(part)
        outcome.unchanged += current.skipped
        outcome.errors = outcome.errors[:MAX_KEPT_ERRORS]
        rows_read += current.size
        await _progress(sessionmaker, import_id, rows_read)

    def prepare_and_read_next(chunk: _Chunk, skip: set[int]) -> tuple[_Prepared, _Chunk | None]:
        return _prepare(settings, kind, lookups, chunk, skip), next(rows, None)

    # A three-step pipeline: while the database stores chunk k, a thread validates chunk k+1
    # (and reads k+2), so Python's share and PostgreSQL's share of the work overlap. Before
    # that, one query finds the lines of k+1 sent before exactly as stored, which are skipped
    # unless chunk k (not yet stored) holds the same key and may still change it.
    work: asyncio.Future[tuple[_Prepared, _Chunk | None]] | None = None
    try:
        chunk = await asyncio.to_thread(next, rows, None)
        pending: _Prepared | None = None
        while chunk is not None or pending is not None:
            work = None
            if chunk is not None:
                keys = chunk.keys()
                skip = await ingest.unchanged(
                    session, kind, keys, chunk.hashes, scope=record.org_path
                )
                if skip:
                    # A key twice in this chunk goes through validation, which reports it.
                    held = pending.prepared.keys() if pending is not None else set()
                    counts = Counter(keys)
                    skip = {i for i in skip if counts[keys[i]] == 1 and keys[i] not in held}
                work = asyncio.ensure_future(asyncio.to_thread(prepare_and_read_next, chunk, skip))
            if pending is not None:
                await _store(pending)
            pending, chunk = (await work) if work is not None else (None, None)
    except (ImportFileError, UnicodeDecodeError, OSError) as exc:
        return await _fail(session, record, str(exc), rows_read)
    finally:
        if work is not None and not work.done():
            # A thread cannot be cancelled; let it finish so its outcome is not left dangling.
            await asyncio.wait([work])
        if work is not None and work.done() and not work.cancelled():
            work.exception()
    status = "succeeded"
    await session.execute(
        sa.update(Import)
        .where(Import.id == import_id)  # type: ignore[arg-type]
        .values(
            status=status,
            finished_at=sa.func.now(),
            rows_read=rows_read,
            counts=outcome.counts(),
            error_count=outcome.rejected,
            errors=[e.model_dump() for e in outcome.errors],
        )
    )
    await events_service.publish(
        session,
        "import.completed",
        {"import_id": str(import_id), "kind": record.kind, **outcome.counts()},
    )
    if outcome.inserted or outcome.updated or outcome.deleted:
        from services.core.timedata.service import request_recalculation

        request_recalculation(session)
    Path(record.file_path).unlink(missing_ok=True)
    return status


async def _fail(session: AsyncSession, record: Import, reason: str, rows_read: int) -> str:
    import_id, kind, file_path = record.id, record.kind, record.file_path
    # Nothing of the file is kept: roll back what the chunks wrote, then record the failure.
    await session.rollback()
    await session.execute(
        sa.update(Import)
        .where(Import.id == import_id)  # type: ignore[arg-type]
        .values(status="failed", finished_at=sa.func.now(), failure=reason, rows_read=rows_read)
    )
    await events_service.publish(
        session, "import.failed", {"import_id": str(import_id), "kind": kind, "reason": reason}
    )
    Path(file_path).unlink(missing_ok=True)
    return "failed"


async def stalled(session: AsyncSession, *, stale_seconds: int) -> list[str]:
    """Imports whose job was lost (Redis flushed, worker killed): queued or running with no
    heartbeat for `stale_seconds`. The sweep queues them again."""
    rows = await session.execute(
        sa.text(
            "SELECT id FROM imports WHERE status IN ('queued', 'running') AND "
            "coalesce(heartbeat_at, created_at) < now() - make_interval(secs => :s)"
        ),
        {"s": stale_seconds},
    )
    return [str(r) for r in rows.scalars()]
