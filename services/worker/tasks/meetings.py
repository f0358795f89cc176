"""Assignment reminders: `assignment.due_soon` and `assignment.overdue`, each once."""

from __future__ import annotations

from typing import Any

from services.core import clock
from services.core.db import transaction
from services.core.meetings import assignment_service


async def notify_assignments(ctx: dict[str, Any]) -> dict[str, int]:
    # The clock module (not a bound import) so tests can fix the date.
    today = clock.utcnow().date()
    async with transaction(ctx["sessionmaker"]) as session:
        return await assignment_service.notify_due(session, today)


async def notify_assignments_cron(ctx: dict[str, Any]) -> dict[str, int]:
    return await notify_assignments(ctx)
