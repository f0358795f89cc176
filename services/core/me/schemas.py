from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from services.core.contract import response_config
from services.core.people.schemas import PersonRead

_PERSON_ID = "5d1c0f8a-7b2e-4f7e-9a51-0c9a3e1d2b44"


class AuthMethod(StrEnum):
    """How the caller authenticated: an API key or an access token."""

    oidc = "oidc"
    api_key = "api_key"
    bootstrap_key = "bootstrap_key"


class MeRead(BaseModel):
    model_config = response_config(
        {
            "auth_method": "oidc",
            "person": {
                "id": _PERSON_ID,
                "name": "Jonas Hansson",
                "initials": "JH",
                "title": "HR-direktör",
                "email": "jonas.hansson@example.org",
                "org_unit": "RS",
                "subject": "3f1e6b52-8c0d-4a77-9d1e-2b7f0c4a9e15",
                "created_at": "2026-11-25T08:00:00Z",
                "updated_at": "2026-11-25T08:00:00Z",
                "version": 1,
            },
            "key_id": None,
            "key_name": None,
            "scopes": ["plans:write", "read"],
            "subtree": "RS",
        }
    )

    auth_method: AuthMethod = Field(
        description="`oidc`: a person's access token; `api_key`; `bootstrap_key`."
    )
    person: PersonRead | None = Field(description="The signed-in person (OIDC only).")
    key_id: uuid.UUID | None = Field(description="The API key's id (API keys only).")
    key_name: str | None = Field(description="The API key's name (API keys only).")
    scopes: list[str]
    subtree: str | None = Field(
        description="The org unit whose subtree the caller is confined to; null: the region."
    )


class WorkKind(StrEnum):
    """What kind of work an item of `GET /v1/me/work` is: `follow_up` a follow-up agenda item
    the person presents at a meeting, `owed_follow_up` a report-back they owe on an action or a
    plan by its `follow_up_due_on`."""

    assignment = "assignment"
    action = "action"
    follow_up = "follow_up"
    owed_follow_up = "owed_follow_up"
    meeting = "meeting"


class AgendaEntry(BaseModel):
    """One item of an upcoming meeting's agenda."""

    id: uuid.UUID
    number: int
    title: str
    kind: str
    presenter_ids: list[uuid.UUID]


class WorkItem(BaseModel):
    """One thing the signed-in person has to do, with its due date."""

    kind: WorkKind
    id: uuid.UUID = Field(
        description="The assignment's, action's, agenda item's (follow-up) or meeting's id; "
        "for an owed follow-up the action's (with `action_id`) or the plan's."
    )
    title: str
    due_date: date | None = Field(
        description="When it is due; for a meeting and a follow-up, the meeting's local date; "
        "for an owed follow-up, the action's or plan's `follow_up_due_on`."
    )
    status: str | None = Field(description="The assignment's or action's status.")
    overdue: bool = Field(description="Past its due date and not done.")
    plan_id: uuid.UUID | None = None
    action_id: uuid.UUID | None = Field(
        default=None, description="Owed follow-ups on an action: the action."
    )
    meeting_id: uuid.UUID | None = None
    starts_at: datetime | None = Field(default=None, description="Meetings and follow-ups.")
    ends_at: datetime | None = None
    place: str | None = None
    agenda: list[AgendaEntry] | None = Field(default=None, description="Meetings only.")


_WORK_EXAMPLE: dict[str, Any] = {
    "person_id": _PERSON_ID,
    "until": "2026-12-20",
    "items": [
        {
            "kind": "assignment",
            "id": "3b4c5d6e-7f8a-4b9c-8d0e-1f2a3b4c5d6e",
            "title": "Ta fram underlag om bemanningsläget.",
            "due_date": "2026-12-07",
            "status": "open",
            "overdue": False,
            "plan_id": None,
            "meeting_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
        },
        {
            "kind": "owed_follow_up",
            "id": "9e8d7c6b-5a49-4382-a1b0-c9d8e7f6a5b4",
            "title": "3.2 Ta fram bemanningsplan med måltal för antal AT, ST",
            "due_date": "2026-12-07",
            "status": None,
            "overdue": False,
            "plan_id": "0f1e2d3c-4b5a-4697-8a9b-0c1d2e3f4a5b",
            "action_id": "9e8d7c6b-5a49-4382-a1b0-c9d8e7f6a5b4",
        },
        {
            "kind": "meeting",
            "id": "8d0e6679-7425-40de-944b-e07fc1f90ae8",
            "title": "Ledningsgruppen",
            "due_date": "2026-12-08",
            "status": None,
            "overdue": False,
            "meeting_id": "8d0e6679-7425-40de-944b-e07fc1f90ae8",
            "starts_at": "2026-12-08T08:00:00Z",
            "ends_at": "2026-12-08T10:00:00Z",
            "place": "Sal 3",
            "agenda": [
                {
                    "id": "1f0e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
                    "number": 1,
                    "title": "Bemanningsläget",
                    "kind": "follow_up",
                    "presenter_ids": [_PERSON_ID],
                }
            ],
        },
    ],
    "truncated": False,
}


class WorkRead(BaseModel):
    model_config = response_config(_WORK_EXAMPLE)

    person_id: uuid.UUID
    until: date = Field(description="Meetings and follow-ups are listed up to this local date.")
    items: list[WorkItem] = Field(
        description="Open assignments, unfinished actions with a due date, follow-ups the "
        "person presents, report-backs they owe (`owed_follow_up`) and upcoming meetings, by "
        "due date (then kind)."
    )
    truncated: bool = Field(
        description="A kind had more items than the limit; each kind lists its earliest."
    )
