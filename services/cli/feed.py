"""`puls feed`: the reference client for the time-data contract.

It reads a CSV or NDJSON file as the file-import endpoint does (same columns, `;` or `,`,
decimal comma, BOM), never holding more than the batches in flight, and posts it as JSON
batches. Each batch carries an Idempotency-Key made of the run's id and the batch number, and the
run's progress is kept in a state file: a retried request gets the stored answer instead of a
second write, and a run that was stopped resumes after the last batch the server confirmed.
429 and 5xx answers and lost connections are retried with exponential backoff and jitter,
honouring `Retry-After`."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from services.core.timedata import files, ingest

RETRYABLE = {408, 409, 425, 429, 500, 502, 503, 504}
MAX_DELAY = 120.0
KINDS = tuple(ingest.KINDS)


class FeedAborted(Exception):
    """The server refused a whole batch (not a record in it), or retries ran out."""


@dataclass
class FeedSummary:
    records: int = 0
    batches: int = 0
    resumed_batches: int = 0
    retries: int = 0
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("inserted", "updated", "deleted", "unchanged", "rejected"), 0
        )
    )
    # (line in the file, the errors for it), in file order
    rejects: list[tuple[int, list[dict[str, Any]]]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rejected(self) -> int:
        return self.counts["rejected"]


@dataclass
class Retry:
    attempts: int = 8
    base_delay: float = 1.0
    sleep: Callable[[float], Any] = asyncio.sleep


@asynccontextmanager
async def api_client(url: str, key: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=url.rstrip("/"),
        headers={"Authorization": f"Bearer {key}", "User-Agent": "puls-feed"},
        timeout=httpx.Timeout(120.0, connect=10.0),
    ) as client:
        yield client


def retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def backoff(attempt: int, base: float) -> float:
    """Exponential with full jitter, so many clients that failed together do not return
    together."""
    return float(random.uniform(0, min(MAX_DELAY, base * 2**attempt)))


class _State:
    """The run's id and the batches the server confirmed, in a small JSON file next to the
    others of its kind; removed when the run completes."""

    def __init__(self, path: Path | None, fingerprint: str) -> None:
        self.path = path
        self.fingerprint = fingerprint
        self.run_id = uuid.uuid4().hex
        self.done: dict[int, dict[str, Any]] = {}
        if path is not None and path.exists():
            saved = json.loads(path.read_text())
            if saved.get("fingerprint") == fingerprint:
                self.run_id = saved["run_id"]
                self.done = {int(k): v for k, v in saved["done"].items()}

    def record(self, batch: int, result: dict[str, Any]) -> None:
        self.done[batch] = result
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(
                json.dumps(
                    {"fingerprint": self.fingerprint, "run_id": self.run_id, "done": self.done}
                )
            )
            tmp.replace(self.path)

    def finish(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)


def fingerprint(path: Path, kind: str, source: str, batch_size: int) -> str:
    """Identifies a run by what it sends: the file's size, modification time and first MB, so
    fingerprinting a large file costs nothing noticeable."""
    stat = path.stat()
    digest = hashlib.sha256(
        f"{kind}|{source}|{batch_size}|{stat.st_size}|{stat.st_mtime_ns}".encode()
    )
    with path.open("rb") as handle:
        digest.update(handle.read(1 << 20))
    return digest.hexdigest()


def _count_lines(path: Path) -> int:
    count = 0
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            count += block.count(b"\n")
    return count


async def post_batch(
    client: httpx.AsyncClient,
    kind: str,
    records: list[Any],
    idempotency_key: str,
    retry: Retry,
    summary: FeedSummary,
) -> dict[str, Any]:
    body = json.dumps({"records": records}, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "Idempotency-Key": idempotency_key}
    problem = ""
    for attempt in range(retry.attempts):
        if attempt:
            summary.retries += 1
        try:
            response = await client.post(f"/v1/{kind}:batch", content=body, headers=headers)
        except httpx.TransportError as exc:
            problem = f"{type(exc).__name__}: {exc}"
            await retry.sleep(backoff(attempt, retry.base_delay))
            continue
        if response.status_code == 200:
            result: dict[str, Any] = response.json()
            return result
        problem = f"{response.status_code} {response.text[:500]}"
        if response.status_code not in RETRYABLE:
            raise FeedAborted(f"the server refused a batch: {problem}")
        wait = retry_after(response)
        await retry.sleep(
            min(MAX_DELAY, wait) if wait is not None else backoff(attempt, retry.base_delay)
        )
    raise FeedAborted(f"gave up after {retry.attempts} attempts: {problem}")


async def feed_file(
    client: httpx.AsyncClient,
    path: Path,
    *,
    kind: str,
    source: str,
    batch_size: int = 5_000,
    concurrency: int = 1,
    state_dir: Path | None = None,
    retry: Retry | None = None,
    show_progress: bool = False,
) -> FeedSummary:
    """Sends the file in batches; returns the summed counts and every rejected record by its
    line in the file. Batches run `concurrency` at a time: with more than one, two records
    with the same (source, external_id) in different batches land in no guaranteed order."""
    if kind not in ingest.KINDS:
        raise FeedAborted(f"unknown kind {kind!r}; one of {', '.join(KINDS)}")
    retry = retry or Retry()
    fmt = "ndjson" if path.suffix.lower() in {".ndjson", ".jsonl"} else "csv"
    fp = fingerprint(path, kind, source, batch_size)
    state = _State(state_dir / f"{fp[:32]}.json" if state_dir else None, fp)
    summary = FeedSummary()
    started = time.perf_counter()
    slots = asyncio.Semaphore(concurrency)
    pending: set[asyncio.Task[None]] = set()
    progress = _Progress(show_progress, _count_lines(path) - (fmt == "csv"), path.name)

    async def send(number: int, lines: list[int], rows: list[Any]) -> None:
        try:
            result = state.done.get(number)
            if result is None:
                result = await post_batch(
                    client, kind, rows, f"feed-{state.run_id}-{number}", retry, summary
                )
                state.record(number, result)
            else:
                summary.resumed_batches += 1
            _add(summary, result, lines)
            progress.advance(len(lines))
        finally:
            slots.release()

    try:
        with progress:
            for number, chunk in enumerate(
                # No content hashes: the server computes none for a JSON batch.
                files.chunks(path, fmt, ingest.KINDS[kind], source, size=batch_size, hashed=False)
            ):
                # Rows the file itself garbles (too few fields, not JSON) never leave here.
                lines, rows = [], []
                for line, row in zip(chunk.lines, chunk.rows, strict=True):
                    if isinstance(row, dict) and "__error__" in row:
                        summary.counts["rejected"] += 1
                        summary.rejects.append(
                            (line, [{"loc": [], "msg": row["__error__"], "code": "unreadable"}])
                        )
                    else:
                        lines.append(line)
                        rows.append(row)
                summary.records += len(chunk.rows)
                summary.batches += 1
                await slots.acquire()
                task = asyncio.create_task(send(number, lines, rows))
                pending.add(task)
                task.add_done_callback(pending.discard)
                failed = [t for t in list(pending) if t.done() and t.exception()]
                if failed:
                    raise failed[0].exception()  # type: ignore[misc]
            if pending:
                await asyncio.gather(*pending)
    except files.ImportFileError as exc:
        raise FeedAborted(f"{path.name}: {exc}") from None
    finally:
        for task in pending:
            task.cancel()
    state.finish()
    summary.rejects.sort(key=lambda item: item[0])
    summary.seconds = time.perf_counter() - started
    return summary


def _add(summary: FeedSummary, result: dict[str, Any], lines: list[int]) -> None:
    for name in summary.counts:
        summary.counts[name] += int(result.get(name, 0))
    for error in result.get("errors", []):
        summary.rejects.append((lines[error["index"]], error["errors"]))


class _Progress:
    """A rich progress bar on a terminal, nothing otherwise."""

    def __init__(self, enabled: bool, total: int, label: str) -> None:
        self._bar: Any = None
        self._task: Any = None
        if enabled:
            # rich only on a terminal: a piped or scheduled run never draws a bar.
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("rows"),
                TimeRemainingColumn(),
            )
            self._task = self._bar.add_task(label, total=max(total, 0))

    def __enter__(self) -> _Progress:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def advance(self, rows: int) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, rows)


def print_summary(summary: FeedSummary, label: str, show: int = 20) -> None:
    counts = ", ".join(f"{name} {count:,}" for name, count in summary.counts.items())
    rate = summary.records / summary.seconds if summary.seconds else 0.0
    typer.echo(
        f"{label}: {summary.records:,} records in {summary.batches} batches, {counts} "
        f"({rate:,.0f} rows/s, {summary.retries} retries, {summary.resumed_batches} resumed)"
    )
    for line, errors in summary.rejects[:show]:
        messages = "; ".join(
            f"{'.'.join(str(part) for part in e.get('loc', [])) or 'record'}: {e.get('msg')}"
            for e in errors
        )
        typer.echo(f"  line {line}: {messages}")
    if len(summary.rejects) > show:
        typer.echo(f"  … and {len(summary.rejects) - show:,} more rejected records")


def feed_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV or NDJSON.")],
    kind: Annotated[str, typer.Option(help=f"One of {', '.join(KINDS)}.")],
    source: Annotated[str, typer.Option(help="The sending system, e.g. heroma.")],
    url: Annotated[str, typer.Option(envvar="PULS_URL")] = "http://127.0.0.1:8000",
    key: Annotated[str, typer.Option(envvar="PULS_API_KEY", help="A timedata:write key.")] = "",
    batch_size: Annotated[int, typer.Option(min=1, max=10_000)] = 5_000,
    concurrency: Annotated[int, typer.Option(min=1, max=16)] = 1,
    state_dir: Annotated[
        Path, typer.Option(help="Where a run keeps its progress, to resume after a stop.")
    ] = Path(".puls/feed-state"),
    rejects_out: Annotated[
        Path | None, typer.Option(help="Write every rejected record's line and errors (NDJSON).")
    ] = None,
) -> None:
    """Send a time-data file to Puls in JSON batches, with retries and resume."""
    if kind not in KINDS:
        raise typer.BadParameter(f"one of {', '.join(KINDS)}", param_hint="--kind")
    if not key:
        raise typer.BadParameter("an API key with timedata:write is needed", param_hint="--key")

    async def run() -> FeedSummary:
        async with api_client(url, key) as client:
            return await feed_file(
                client,
                file,
                kind=kind,
                source=source,
                batch_size=batch_size,
                concurrency=concurrency,
                state_dir=state_dir,
                show_progress=True,
            )

    try:
        summary = asyncio.run(run())
    except FeedAborted as exc:
        typer.echo(f"stopped: {exc} (run the same command again to resume)", err=True)
        raise typer.Exit(2) from None
    print_summary(summary, kind)
    if rejects_out is not None:
        with rejects_out.open("w", encoding="utf-8") as out:
            for line, errors in summary.rejects:
                out.write(json.dumps({"line": line, "errors": errors}, ensure_ascii=False) + "\n")
    raise typer.Exit(1 if summary.rejected else 0)
