"""File imports for systems that can only send files (CSV or NDJSON).

The API streams the upload to disk (never into memory) and queues the import; the worker
reads the file in chunks of rows, stages each chunk with COPY and applies it set-based, all in
ONE transaction, so a killed worker leaves no half-applied rows and a re-run gives the same
table. Progress is written on a separate connection so callers can watch it."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.audit import service as audit_service
from services.core.config import Settings
from services.core.crud import Window, read_as, status_page, visible_or_404
from services.core.errors import UnsupportedMediaType, ValidationFailed, field_error
from services.core.events import service as events_service
from services.core.kpis import recalculation_service
from services.core.pagination import Page
from services.core.principal import Principal
from services.core.queue import defer_job
from services.core.timedata import files, ingest, partitions, repository
from services.core.timedata.errors import ImportNotFound, TooManyImports
from services.core.timedata.models import Import
from services.core.timedata.schemas import ImportRead

MAX_KEPT_ERRORS = 1_000
# When a key with too many imports at work may try again: about how long a small import takes.
RETRY_AFTER_SECONDS = 30
UPLOAD_SUFFIX = ".upload"
MEDIA_TYPES = {
    "text/csv": "csv",
    "application/csv": "csv",
    "application/x-ndjson": "ndjson",
    "application/ndjson": "ndjson",
    "application/jsonl": "ndjson",
}


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
    path = import_dir(settings) / f"{uuid.uuid4()}{UPLOAD_SUFFIX}"
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
                errors=[field_error(["body"], "truncated upload", "truncated")],
            )
        if size == 0:
            raise ValidationFailed(
                "The file is empty",
                errors=[field_error(["body"], "empty file", "empty_file")],
            )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, size, digest.hexdigest()


def to_read(record: Import) -> ImportRead:
    return read_as(
        ImportRead,
        record,
        id=str(record.id),
        format=record.file_format,
        errors=record.errors or [],
    )


async def check_capacity(
    session: AsyncSession, settings: Settings, principal: Principal, *, lock: bool = False
) -> None:
    """At most PULS_IMPORT_MAX_ACTIVE_PER_KEY imports of one key queued or running: a key that
    sends file after file without waiting cannot fill the disk or the queue (429 above it).
    The route asks before receiving the file (no lock: the upload may take minutes); `create`
    asks again with the key's lock held to its commit."""
    active = await repository.active_imports_of(session, principal.actor, lock=lock)
    limit = settings.import_max_active_per_key
    if active >= limit:
        raise TooManyImports(
            f"This key has {active} imports queued or running (at most {limit}, "
            "PULS_IMPORT_MAX_ACTIVE_PER_KEY); wait for one to finish (GET /v1/imports/{id})",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )


async def create(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    *,
    kind: str,
    source: str,
    path: Path,
    size: int,
    fmt: str,
) -> ImportRead:
    """Queues the import of the file at `path`. The caller removes the file when this raises
    (or the request's transaction does not commit; the sweep removes what a crash left)."""
    await check_capacity(session, settings, principal, lock=True)
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
    await audit_service.add_audited(
        session,
        principal,
        record,
        "import",
        details={"kind": kind, "source": source, "bytes": size},
    )
    defer_job(session, "run_import", str(record.id), job_id=f"import:{record.id}")
    return to_read(record)


async def read(session: AsyncSession, principal: Principal, import_id: uuid.UUID) -> ImportRead:
    # An import sent with a region-wide key is seen only by region-wide keys.
    record = visible_or_404(
        await session.get(Import, import_id),
        lambda record: principal.sees_path(record.org_path or ""),
        ImportNotFound(f"No import with id {import_id}"),
    )
    return to_read(record)


async def progress(session: AsyncSession) -> dict[str, tuple[int, int]]:
    """For the worker's gauges: per status (queued, running), how many imports and the rows
    they have read so far."""
    return await repository.import_progress(session)


async def list_imports(
    session: AsyncSession,
    principal: Principal,
    *,
    status: str | None,
    kind: str | None,
    window: Window,
) -> Page[ImportRead]:
    """Newest first; with `updated_since`, those whose status or progress changed since, by
    change time. Imports are never deleted (their files are), so there are no tombstones."""
    rows = await repository.imports_page(
        session, scope_path=principal.org_path, status=status, kind=kind, window=window
    )
    return status_page(
        rows,
        window,
        to_read,
        newest=lambda r: (r.created_at, r.id),
        changed=lambda r: (r.updated_at, r.id),
        name=repository.IMPORTS,
    )


# ---- reading files -------------------------------------------------------------------------


# Progress (and the heartbeat that tells a live import from a dead one) at most this often.
PROGRESS_SECONDS = 0.5


async def _progress(
    sessionmaker: async_sessionmaker[AsyncSession], import_id: uuid.UUID, rows: int
) -> None:
    async with sessionmaker() as s, s.begin():
        await repository.update_import(s, import_id, rows_read=rows, heartbeat_at=sa.func.now())


async def run(
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    import_id: uuid.UUID,
    validators: files.ValidatorProcesses | None = None,
) -> str | None:
    """Applies an import inside the caller's transaction. Returns its final status, or None
    when another worker holds it or it is already finished. A large file is validated by one
    of `validators` (the worker keeps one started)."""
    locked = await repository.try_lock_import(session, import_id)
    record = await session.get(Import, import_id)
    if not locked or record is None or record.status in ("succeeded", "failed"):
        return None
    # On its own connection: the import's transaction must not hold the row, or progress
    # updates (also on their own connection) would wait for it to commit.
    async with sessionmaker() as marker, marker.begin():
        await repository.update_import(
            marker,
            import_id,
            status="running",
            started_at=sa.func.now(),
            heartbeat_at=sa.func.now(),
            attempts=Import.attempts + 1,
        )
    kind = ingest.KINDS[record.kind]
    lookups = await ingest.load_lookups(session, None, record.org_path, codes=None, sources=None)
    chunks = files.preparer(
        settings,
        Path(record.file_path),
        record.file_format,
        kind,
        record.source,
        lookups,
        validators,
    )
    outcome = ingest.Outcome()
    rows_read = chunks_stored = unanalysed = 0
    reported = time.monotonic()
    # A source with no live records yet has no line to skip: no lookups (a first load).
    known_source = not await ingest.source_is_empty(session, kind, record.source)

    async def store(current: files.PreparedChunk) -> None:
        nonlocal rows_read, chunks_stored, reported, unanalysed
        part = await ingest.store(session, settings, kind, current.prepared, scope=record.org_path)
        for error in part.errors:  # positions in the chunk → line numbers in the file
            error.index = current.lines[error.index]
        chunks_stored += 1
        unanalysed += part.inserted
        if (
            chunks_stored & (chunks_stored - 1) == 0
            and chunks_stored >= 4
            and unanalysed
            and (known_source or kind.table != partitions.TABLE)
        ):
            # The table grows inside this one transaction where autovacuum cannot see it;
            # fresh statistics at 4, 8, 16 … chunks keep cached plans from treating it as
            # the small table it was when the import began. A file sent again unchanged
            # grows nothing: its ANALYZE of every partition was a fifth of its time. A first
            # load of time records plans nothing on them (new keys are inserted plainly, a
            # key sent twice is found by its unique index): its five ANALYZEs of every
            # partition were a thirtieth of a million records' import.
            await ingest.refresh_statistics(session, kind)
            unanalysed = 0
        outcome.add(ingest.Outcome(rejected=len(current.bad), errors=current.bad))
        outcome.add(part)
        outcome.unchanged += current.skipped
        outcome.errors = outcome.errors[:MAX_KEPT_ERRORS]
        rows_read += current.size
        if time.monotonic() - reported >= PROGRESS_SECONDS:
            await _progress(sessionmaker, import_id, rows_read)
            reported = time.monotonic()

    async def prepare_next(
        pending: files.PreparedChunk | None,
    ) -> asyncio.Future[files.PreparedChunk] | None:
        """Reads the next chunk's keys and sets its preparation going; None at the end."""
        next_keys = await chunks.read()
        if next_keys is None:
            return None
        keys, hashes = next_keys
        skip = (
            await ingest.unchanged(session, kind, keys, hashes, scope=record.org_path)
            if known_source
            else set()
        )
        if skip:
            # A key twice in this chunk goes through validation, which reports it.
            held = pending.prepared.keys() if pending is not None else set()
            counts = Counter(keys)
            skip = {i for i in skip if counts[keys[i]] == 1 and keys[i] not in held}
        return asyncio.ensure_future(chunks.prepare(skip))

    # A pipeline: while the database stores chunk k, the preparer validates chunk k+1 (and
    # reads k+2), so Python's share and PostgreSQL's share of the work overlap. Before that,
    # one query finds the lines of k+1 sent before exactly as stored, which are skipped unless
    # chunk k (not yet stored) holds the same key and may still change it.
    work: asyncio.Future[files.PreparedChunk] | None = None
    try:
        pending: files.PreparedChunk | None = None
        while True:
            work = None
            if pending is not None and not known_source:
                # Nothing to look up (a first load): k+1's keys are awaited beside the store
                # of k, not before it, so the database does not wait while the preparer reads
                # them (a second of a million records' import).
                reading = asyncio.ensure_future(prepare_next(pending))
                try:
                    await store(pending)
                finally:
                    await asyncio.wait([reading])
                    work = reading.result()
            else:
                work = await prepare_next(pending)
                if pending is not None:
                    await store(pending)
            if work is None:
                break
            pending = await work
    except (files.ImportFileError, UnicodeDecodeError, OSError) as exc:
        return await _fail(session, record, str(exc), rows_read)
    finally:
        if work is not None and not work.done():
            # A thread cannot be cancelled; let it finish so its outcome is not left dangling.
            await asyncio.wait([work])
        if work is not None and work.done() and not work.cancelled():
            work.exception()
        chunks.close()
    status = "succeeded"
    await repository.update_import(
        session,
        import_id,
        status=status,
        finished_at=sa.func.clock_timestamp(),
        rows_read=rows_read,
        counts=outcome.counts(),
        error_count=outcome.rejected,
        errors=[e.model_dump() for e in outcome.errors],
    )
    await events_service.publish(
        session,
        "import.completed",
        {"import_id": str(import_id), "kind": record.kind, **outcome.counts()},
    )
    if outcome.inserted or outcome.updated or outcome.deleted:
        recalculation_service.wake_recalculation(session)
    Path(record.file_path).unlink(missing_ok=True)
    return status


async def _fail(session: AsyncSession, record: Import, reason: str, rows_read: int) -> str:
    import_id, kind, file_path = record.id, record.kind, record.file_path
    # Nothing of the file is kept: roll back what the chunks wrote, then record the failure.
    await session.rollback()
    await repository.update_import(
        session,
        import_id,
        status="failed",
        finished_at=sa.func.clock_timestamp(),
        failure=reason,
        rows_read=rows_read,
    )
    await events_service.publish(
        session, "import.failed", {"import_id": str(import_id), "kind": kind, "reason": reason}
    )
    Path(file_path).unlink(missing_ok=True)
    return "failed"


async def remove_orphan_files(
    session: AsyncSession, settings: Settings, *, older_than_seconds: float
) -> int:
    """Removes upload files no queued or running import holds: those of a request that died
    between receiving the file and committing its import, or of an import whose worker died
    after finishing it. Files written to in the last `older_than_seconds` are left alone (an
    upload under way has no import yet). Returns how many were removed."""
    directory = import_dir(settings)
    # By name: the API and the worker may spell the same directory differently.
    live = {Path(p).name for p in await repository.live_import_files(session)}
    cutoff = time.time() - older_than_seconds
    removed = 0
    for path in directory.glob(f"*{UPLOAD_SUFFIX}"):
        try:
            if path.name in live or path.stat().st_mtime > cutoff:
                continue
            path.unlink()
        except FileNotFoundError:
            continue
        removed += 1
    return removed


async def stalled(session: AsyncSession, *, stale_seconds: int) -> list[str]:
    """Imports whose job was lost (Redis flushed, worker killed): queued or running with no
    heartbeat for `stale_seconds`. The sweep queues them again."""
    return await repository.stalled_imports(session, stale_seconds)
