"""Reading an import file (CSV or NDJSON) in chunks of rows and validating each chunk, either
in a thread of the worker (small files) or in a child process (large ones).

A large file is validated in a child process because validation is Python work: in a thread it
would take turns with the worker's event loop for the GIL, and PostgreSQL would wait for both.
The child reads and validates chunk k+1 and encodes its rows as COPY text while the worker's
connection stores chunk k, so the two cores work at once."""

from __future__ import annotations

import asyncio
import csv
import gc
import json
import multiprocessing
import operator
import os
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import IO, Any, Protocol

from services.core.config import Settings
from services.core.timedata import ingest
from services.core.timedata.pseudonym import version_prefix
from services.core.timedata.schemas import RecordError
from services.core.timedata.validator import NICENESS
from services.core.validation import loads_strict

CHUNK_ROWS = 10_000

# Columns whose values may use a decimal comma in CSV files from Swedish systems.
_DECIMAL_COLUMNS = {"hours", "cost_sek", "amount_sek", "fte"}
_BOOLEAN_COLUMNS = {"is_manager", "deleted"}
_TRUE = {"true", "1", "yes", "ja", "t", "y"}
_FALSE = {"false", "0", "no", "nej", "f", "n"}


class ImportFileError(Exception):
    """The file as a whole cannot be read (wrong header, broken quoting): the import fails."""


class _Lines:
    """The lines of a text file, each read at most `limit` characters at a time: a longer line
    (a file without line breaks, a runaway quoted field) fails the import with its number
    instead of being read into memory whole. Iterating gives the lines csv.reader asks for."""

    def __init__(self, handle: IO[str], limit: int | None) -> None:
        self.handle, self.limit, self.number = handle, limit, 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        # csv.reader asks for every line of a file: one frame per line, not two.
        if self.limit is None:
            line = self.handle.readline()
        else:
            # Room for the line break ("\r\n" at most) after `limit` characters.
            line = self.handle.readline(self.limit + 2)
            if len(line) > self.limit and len(line.rstrip("\r\n")) > self.limit:
                raise ImportFileError(
                    f"line {self.number + 1} is longer than {self.limit} characters "
                    "(PULS_IMPORT_MAX_LINE_LENGTH); is it the right file, with line breaks?"
                )
        if not line:
            raise StopIteration
        self.number += 1
        return line

    def readline(self) -> str:
        return next(self, "")


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
    handle: _Lines, kind: ingest.FeedKind, source: str, salt: str = "", hashed: bool = True
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
    signature = salt + "\x1f".join([source, *header, ""])
    decimals = [c for c in header if c in _DECIMAL_COLUMNS]
    booleans = [c for c in header if c in _BOOLEAN_COLUMNS]
    width = len(header)
    # This loop runs for every line of a file: what it calls is bound once, out here.
    line_hash, non_empty = ingest.content_hash, operator.itemgetter(1)
    try:
        for values in reader:
            line_number = 1 + reader.line_num  # the header was line 1
            if not values or (not values[0].strip() and all(not v.strip() for v in values)):
                continue
            if len(values) != width:
                error = {"__error__": f"{len(values)} fields, header has {width}"}
                yield line_number, error, None
                continue
            # The row's non-empty values by column (the lengths are equal: checked above).
            row: dict[str, Any] = dict(filter(non_empty, zip(header, values, strict=False)))
            for column in decimals:  # most columns are taken as they are
                if (value := row.get(column)) is not None and "," in value:
                    row[column] = value.replace(",", ".")
            for column in booleans:
                if (value := row.get(column)) is not None:
                    row[column] = _csv_value(column, value)
            if "source" not in row:
                row["source"] = source
            yield (
                line_number,
                row,
                line_hash(signature + "\x1f".join(values)) if hashed else None,
            )
    except csv.Error as exc:
        raise ImportFileError(f"line {1 + reader.line_num}: {exc}") from None


def _ndjson_rows(
    handle: _Lines, source: str, salt: str = "", hashed: bool = True
) -> Iterator[tuple[int, Any, int | None]]:
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
        yield (
            line_number,
            row,
            ingest.content_hash(f"{salt}{source}\x1f{text.strip()}") if hashed else None,
        )


@dataclass
class Chunk:
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


def hash_salt(settings: Settings, kind: ingest.FeedKind) -> str:
    """Mixed into the content hash of a line with an employee, so a line sent again after the
    pseudonym key was rotated is stored again (under the new pseudonym), not skipped as
    unchanged. Empty for key version 1, whose hashes are those stored before versions."""
    if not any(name == "employee" for name, _ in kind.columns):
        return ""
    return version_prefix(settings.pseudonym_key_version)


def chunks(
    path: Path,
    fmt: str,
    kind: ingest.FeedKind,
    source: str,
    size: int = CHUNK_ROWS,
    *,
    salt: str = "",
    max_line: int | None = None,
    hashed: bool = True,
) -> Iterator[Chunk]:
    """The file's rows in chunks of `size`; a line longer than `max_line` characters fails
    the file (ImportFileError) when it is reached. Without `hashed` the rows have no content
    hash (None): a client sending them needs none."""
    with path.open("r", encoding="utf-8-sig", newline="") as handle:
        lines = _Lines(handle, max_line)
        rows = (
            _csv_rows(lines, kind, source, salt, hashed)
            if fmt == "csv"
            else _ndjson_rows(lines, source, salt, hashed)
        )
        chunk = Chunk([], [])
        for line_number, row, content_hash in rows:
            chunk.lines.append(line_number)
            chunk.rows.append(row)
            chunk.hashes.append(content_hash)
            if len(chunk.rows) >= size:
                yield chunk
                chunk = Chunk([], [])
        if chunk.rows:
            yield chunk


# ---- running (the worker) ------------------------------------------------------------------


@dataclass
class PreparedChunk:
    size: int  # rows read, good and bad
    lines: list[int]  # the file line of each record handed to validation
    bad: list[RecordError]  # lines the file itself garbled
    skipped: int  # lines sent before exactly as they are stored
    prepared: ingest.Prepared


def prepare_chunk(
    settings: Settings,
    kind: ingest.FeedKind,
    lookups: ingest.Lookups,
    chunk: Chunk,
    skip: set[int],
) -> PreparedChunk:
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
    return PreparedChunk(len(chunk.rows), good_lines, bad, len(skip), prepared)


ChunkKeys = tuple[list[tuple[str, str] | None], list[int | None]]


class Preparer(Protocol):
    """Hands out an import's chunks: first the keys and content hashes of the next chunk (so
    the caller can find the lines sent before), then that chunk validated without them."""

    async def read(self) -> ChunkKeys | None: ...

    async def prepare(self, skip: set[int]) -> PreparedChunk: ...

    def close(self) -> None: ...


class _Source:
    """The chunk reader and validator both preparers share; it always holds the next chunk."""

    def __init__(
        self,
        settings: Settings,
        path: Path,
        fmt: str,
        kind: ingest.FeedKind,
        source: str,
        lookups: ingest.Lookups,
    ) -> None:
        self.settings, self.kind, self.lookups = settings, kind, lookups
        self.rows = chunks(
            path,
            fmt,
            kind,
            source,
            salt=hash_salt(settings, kind),
            max_line=settings.import_max_line_length,
        )
        self.chunk: Chunk | None = None
        self.error: BaseException | None = None
        self.advance()

    def advance(self) -> None:
        # A file error surfaces when the caller asks for the chunk it spoiled, not before:
        # the chunks ahead of it are still stored (and then rolled back) in order.
        try:
            self.chunk = next(self.rows, None)
        except (ImportFileError, UnicodeDecodeError, OSError) as exc:
            self.chunk, self.error = None, exc

    def keys(self) -> ChunkKeys | None:
        if self.error is not None:
            raise self.error
        return None if self.chunk is None else (self.chunk.keys(), self.chunk.hashes)

    def prepare(self, skip: set[int]) -> PreparedChunk:
        assert self.chunk is not None
        return prepare_chunk(self.settings, self.kind, self.lookups, self.chunk, skip)

    def prepare_and_advance(self, skip: set[int]) -> PreparedChunk:
        prepared = self.prepare(skip)
        self.advance()
        return prepared


class ThreadPreparer:
    def __init__(self, source: _Source) -> None:
        self.source = source

    async def read(self) -> ChunkKeys | None:
        return self.source.keys()

    async def prepare(self, skip: set[int]) -> PreparedChunk:
        return await asyncio.to_thread(self.source.prepare_and_advance, skip)

    def close(self) -> None:
        pass


class ValidatorProcess:
    """A validator child process and the worker's end of its pipe."""

    def __init__(self) -> None:
        # spawn, not fork: the worker has an event loop, threads and open connections.
        context = multiprocessing.get_context("spawn")
        self.connection, child = context.Pipe()
        self.process = context.Process(
            target=_serve, args=(child,), name="puls-import-validator", daemon=True
        )
        self.process.start()
        child.close()

    def alive(self) -> bool:
        return self.process.is_alive()

    def stop(self) -> None:
        try:
            self.connection.send(("stop",))
        except OSError:
            pass
        self.connection.close()
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()


class ValidatorProcesses:
    """The worker's validator processes for large files. A new process spends about 1.5 s of
    a core importing Puls before it reads its first line, so one finished with an import is
    kept, idle, for the next (a long-running worker starts one as it starts): one at most."""

    def __init__(self) -> None:
        self._idle: ValidatorProcess | None = None

    def warm(self) -> None:
        if self._idle is None:
            self._idle = ValidatorProcess()

    def take(self) -> ValidatorProcess:
        child, self._idle = self._idle, None
        if child is not None and child.alive():
            return child
        if child is not None:
            child.stop()
        return ValidatorProcess()

    def give_back(self, child: ValidatorProcess) -> None:
        if self._idle is not None or not child.alive():
            child.stop()
            return
        try:
            child.connection.send(("done",))
        except OSError:
            child.stop()
            return
        self._idle = child

    def close(self) -> None:
        if self._idle is not None:
            self._idle.stop()
            self._idle = None


class ProcessPreparer:
    def __init__(self, child: ValidatorProcess, keeper: ValidatorProcesses | None) -> None:
        self.child, self.keeper = child, keeper
        self.connection, self.process = child.connection, child.process
        # The child sends the next chunk's keys unasked, right after a prepared chunk.
        self.keys_coming = False
        # An answer is outstanding (or was lost to a cancelled wait), or the child failed:
        # it cannot serve another import.
        self.waiting = False
        self.failed = False

    async def _ask(self, *message: Any) -> Any:
        self.connection.send(message)
        return await self._answer()

    async def _answer(self) -> Any:
        self.waiting = True
        try:
            reply = await asyncio.to_thread(self.connection.recv)
        except EOFError:
            self.failed = True
            exitcode = self.process.exitcode
            raise RuntimeError(f"the import's validator process died ({exitcode})") from None
        self.waiting = False
        match reply:
            case ("error", text):
                raise ImportFileError(text)
            case ("crash", text):
                self.failed = True
                raise RuntimeError(f"the import's validator process failed:\n{text}")
            case ("ok", value):
                return value
        self.failed = True
        raise RuntimeError(f"unexpected reply {reply!r}")

    async def read(self) -> ChunkKeys | None:
        keys: ChunkKeys | None
        if self.keys_coming:
            self.keys_coming = False
            keys = await self._answer()
        else:
            keys = await self._ask("read")
        return keys

    async def prepare(self, skip: set[int]) -> PreparedChunk:
        prepared: PreparedChunk = await self._ask("prepare", skip)
        self.keys_coming = True
        return prepared

    def close(self) -> None:
        reusable = not (self.waiting or self.keys_coming or self.failed)
        if self.keeper is not None and reusable:
            self.keeper.give_back(self.child)
        else:
            self.child.stop()


def _serve(connection: Connection) -> None:
    """The child process: opens an import's file, answers read / prepare until that import is
    done, then waits for the next, until told to stop or the parent goes."""
    # The import waits on PostgreSQL's upserts, and this process keeps ahead of them: let
    # the backend (and the worker's own loop) have a core first when they want one.
    os.nice(NICENESS)
    source: _Source | None = None
    try:
        while True:
            try:
                message = connection.recv()
            except EOFError:
                return
            try:
                if message[0] == "open":
                    settings, path, fmt, kind_name, source_name, lookups = message[1:]
                    kind = ingest.KINDS[kind_name]
                    source = _Source(settings, path, fmt, kind, source_name, lookups)
                elif message[0] == "done":
                    source = None
                    gc.collect()
                elif message[0] == "read":
                    assert source is not None
                    connection.send(("ok", source.keys()))
                elif message[0] == "prepare":
                    assert source is not None
                    prepared = source.prepare(message[1])
                    # Rows cross the pipe as COPY text, not as Python objects to unpickle.
                    prepared.prepared.encode()
                    connection.send(("ok", prepared))
                    # Then the next chunk is read, while the parent still stores the chunk
                    # before this one, and its keys follow unasked: the parent looks them up
                    # as soon as it has stored that chunk, instead of asking and waiting.
                    source.advance()
                    connection.send(("ok", source.keys()))
                else:
                    return
            except (ImportFileError, UnicodeDecodeError, OSError) as exc:
                connection.send(("error", str(exc)))
    except Exception:
        connection.send(("crash", traceback.format_exc()))


def preparer(
    settings: Settings,
    path: Path,
    fmt: str,
    kind: ingest.FeedKind,
    source: str,
    lookups: ingest.Lookups,
    processes: ValidatorProcesses | None = None,
) -> Preparer:
    """Small files are validated in a thread; large ones in a validator process, `processes`'
    idle one if it has one, else a new one (kept there afterwards)."""
    if path.stat().st_size < settings.import_process_min_bytes:
        return ThreadPreparer(_Source(settings, path, fmt, kind, source, lookups))
    opening = ("open", settings, path, fmt, kind.name, source, lookups)
    child = processes.take() if processes is not None else ValidatorProcess()
    try:
        child.connection.send(opening)
    except OSError:  # the kept process died since it was last seen alive
        child.stop()
        child = ValidatorProcess()
        child.connection.send(opening)
    return ProcessPreparer(child, processes)
