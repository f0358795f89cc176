"""File imports: run one, and re-queue those whose job was lost."""

from __future__ import annotations

import time
import uuid
from typing import Any

from services.core.clock import utcnow
from services.core.db import transaction
from services.core.queue import unit_of_work
from services.core.timedata import imports, partitions

STALE_SECONDS = 120


async def run_import(ctx: dict[str, Any], import_id: str) -> str | None:
    async with unit_of_work(ctx["sessionmaker"], ctx["arq"]) as (session, _):
        return await imports.run(
            session,
            ctx["sessionmaker"],
            ctx["settings"],
            uuid.UUID(import_id),
            ctx.get("validators"),
        )


async def sweep_imports(ctx: dict[str, Any]) -> int:
    """A killed worker or a flushed Redis must not strand an import until arq's timeout, nor
    a request or worker that died between receiving a file and finishing with it leave the
    file on disk (an upload untouched for STALE_SECONDS that no live import holds)."""
    async with transaction(ctx["sessionmaker"]) as session:
        stalled = await imports.stalled(session, stale_seconds=STALE_SECONDS)
        await imports.remove_orphan_files(
            session, ctx["settings"], older_than_seconds=STALE_SECONDS
        )
    slot = int(time.time() // STALE_SECONDS)
    for import_id in stalled:
        await ctx["arq"].enqueue_job("run_import", import_id, _job_id=f"import:{import_id}:{slot}")
    return len(stalled)


async def sweep_imports_cron(ctx: dict[str, Any]) -> int:
    return await sweep_imports(ctx)


async def maintain_partitions(ctx: dict[str, Any]) -> int:
    """Time records' monthly partitions made ahead and dropped past the retention; how many
    partitions were made or dropped."""
    made, dropped = await partitions.maintain(ctx["engine"], ctx["settings"], utcnow().date())
    return made + len(dropped)


async def maintain_partitions_cron(ctx: dict[str, Any]) -> int:
    return await maintain_partitions(ctx)
