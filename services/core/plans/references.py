"""What plans ask of meetings, without importing them: meetings link to plans (agenda items,
proposals from overdue actions), so the dependency runs meetings → plans, and meetings registers
these lookups when its agenda service is loaded (the API, worker and CLI all load it)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.principal import Principal

Visible = Callable[[AsyncSession, Principal, uuid.UUID], Awaitable[bool]]


@dataclass(frozen=True)
class MeetingLookups:
    decision_visible: Visible
    meeting_visible: Visible


_registered: list[MeetingLookups] = []


def register_meeting_lookups(lookups: MeetingLookups) -> None:
    _registered[:] = [lookups]


def meeting_lookups() -> MeetingLookups:
    if not _registered:
        # A plan referring to a meeting cannot be checked; failing loudly beats storing a
        # reference nobody checked.
        raise RuntimeError("services.core.meetings.agenda_service is not loaded")
    return _registered[0]
