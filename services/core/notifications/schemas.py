from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, Field, model_validator

from services.core.contract import request_config, response_config

_PERSON = "5d1c0f8a-7b2e-4f7e-9a51-0c9a3e1d2b44"
_ACTION = "0b5e9d1c-2f4a-4c7e-8e1b-3a9f6d2c7b10"
_BODY = "7c9e6679-7425-40de-944b-e07fc1f90ae7"


class MailKind(StrEnum):
    """A kind of e-mail Puls sends, each of which a person can turn off."""

    reminder = "reminder"
    overdue = "overdue"
    invitation = "invitation"
    digest = "digest"


class ItemType(StrEnum):
    """What a followed item is: an action (its due date and the report-backs owed on it), an
    assignment, a meeting (its invitations; unfollowed, also the reminders to present a
    follow-up at it) or an action plan (the report-backs owed on it)."""

    action = "action"
    assignment = "assignment"
    meeting = "meeting"
    plan = "plan"


class Language(StrEnum):
    """The language of a person's e-mail."""

    sv = "sv"
    en = "en"


class FollowRead(BaseModel):
    item_type: ItemType
    item_id: uuid.UUID = Field(description="The followed or unfollowed item's id.")
    following: bool = Field(
        description="true: mail about the item although it is not yours; false: no mail "
        "about it although it is."
    )


class SubscriptionsRead(BaseModel):
    model_config = response_config(
        {
            "person_id": _PERSON,
            "language": "sv",
            "kinds": {"reminder": True, "overdue": True, "invitation": True, "digest": False},
            "items": [{"item_type": "action", "item_id": _ACTION, "following": False}],
        }
    )

    person_id: uuid.UUID
    language: Language
    kinds: dict[MailKind, bool] = Field(description="Each kind of e-mail, on or off.")
    items: list[FollowRead] = Field(description="Items followed or unfollowed one by one.")


class SubscriptionsUpdate(BaseModel):
    model_config = request_config({"language": "en", "kinds": {"digest": False}})

    language: Language | None = None
    kinds: dict[MailKind, bool] | None = Field(
        default=None, description="The kinds to turn on (true) or off (false); others stay."
    )


class FollowUpdate(BaseModel):
    model_config = request_config({"following": True})

    following: bool = Field(description="true to follow the item, false to stop.")


class CalendarFeedCreate(BaseModel):
    model_config = request_config({"body_id": _BODY})

    body_id: uuid.UUID | None = Field(default=None, description="A body's meetings.")
    person_id: uuid.UUID | None = Field(
        default=None,
        description="A person's meetings and due dates (yourself, or anyone for an admin).",
    )

    @model_validator(mode="after")
    def _one_target(self) -> CalendarFeedCreate:
        if (self.body_id is None) == (self.person_id is None):
            raise ValueError("give exactly one of body_id and person_id")
        return self


_FEED_EXAMPLE: dict[str, Any] = {
    "id": "3f2b8c1e-9d4a-4e6b-8c2d-1a7e5f9b3c40",
    "kind": "body",
    "body_id": _BODY,
    "person_id": None,
    "created_at": "2026-12-06T09:00:00Z",
}


class CalendarFeedRead(BaseModel):
    model_config = response_config(_FEED_EXAMPLE)

    id: uuid.UUID
    kind: str
    body_id: uuid.UUID | None = Field(
        description="The body whose meetings the feed holds (null for a person's feed)."
    )
    person_id: uuid.UUID | None
    created_at: datetime


class CalendarFeedCreated(CalendarFeedRead):
    """A new calendar feed with its secret URL, shown once."""

    model_config = response_config(
        {
            **_FEED_EXAMPLE,
            "token": "cal_Q2x…",
            "url": "https://puls.example.org/calendar/cal_Q2x….ics",
        }
    )

    # The idempotency store keeps this answer with these fields null (see `Secret-Redacted`).
    secret_fields: ClassVar[tuple[str, ...]] = ("token", "url")

    token: str | None = Field(
        description="The secret in the feed's URL. Shown once; Puls keeps only its hash."
    )
    url: str | None = Field(description="The feed's address for a calendar client.")
