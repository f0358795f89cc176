"""Large JSON batches are validated in a child process, at a lower CPU priority.

In a thread, validating a batch of thousands of records holds the GIL in turns with the event
loop: every dashboard read the API answers meanwhile waits for its turns. In a child process
the event loop keeps the interpreter to itself, and the lower priority lets the operating
system give interactive work (these reads, PostgreSQL's backends) the cores first; a nightly
batch can wait a few milliseconds. The child returns the rows as COPY text, as a file import's
validator does."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from services.core import deprecation
from services.core.config import Settings
from services.core.timedata import ingest

log = logging.getLogger(__name__)

# The priority the child runs at (0 normal, 19 lowest).
NICENESS = 10


def _start_child() -> None:
    os.nice(NICENESS)
    parent = os.getppid()

    def watch() -> None:
        # A killed parent cannot stop its pool; a child left waiting for work would live on.
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, name="puls-parent-watch", daemon=True).start()


def _prepare(
    settings: Settings,
    kind_name: str,
    records: list[Any],
    lookups: ingest.Lookups,
    index_offset: int,
) -> ingest.Prepared:
    # The child handles no request: what its validation notes goes back with the batch.
    uses, _ = deprecation.collect()
    prepared = ingest.prepare(
        settings, ingest.KINDS[kind_name], records, lookups, index_offset=index_offset
    )
    prepared.encode()
    prepared.deprecations = uses
    return prepared


class BatchValidator:
    """One API process's validator child, started at the first large batch."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn, not fork: the API has an event loop, threads and open connections.
            self._pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_child,
            )
        return self._pool

    async def prepare(
        self,
        kind: ingest.FeedKind,
        records: list[Any],
        lookups: ingest.Lookups,
        *,
        index_offset: int = 0,
    ) -> ingest.Prepared:
        if len(records) < self.settings.batch_process_min_records:
            # In a thread: the event loop keeps answering other requests meanwhile.
            return await asyncio.to_thread(
                ingest.prepare, self.settings, kind, records, lookups, index_offset=index_offset
            )
        args = (self.settings, kind.name, records, lookups, index_offset)
        loop = asyncio.get_running_loop()
        try:
            prepared = await loop.run_in_executor(self._executor(), _prepare, *args)
            deprecation.note_all(prepared.deprecations)
            return prepared
        except BrokenProcessPool:
            # The child died (killed, out of memory): this batch is validated here, and the
            # next one starts a new child.
            log.warning("batch validator process died; validating in a thread")
            self._pool = None
            prepared = await asyncio.to_thread(_prepare, *args)
            deprecation.note_all(prepared.deprecations)
            return prepared

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
