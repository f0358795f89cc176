from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.core.contract import VERSIONED_EXAMPLE, request_config, response_config
from services.core.people.schemas import PERSON_REF_EXAMPLE, PersonRef
from services.core.validation import Code, IsoDate, Name, Rfc3339Time, Text


class BodyRole(StrEnum):
    """A member's role in a body."""

    chair = "chair"
    member = "member"
    secretary = "secretary"


class AttendeeRole(StrEnum):
    """An attendee's role in one meeting (`co_opted` for some items only)."""

    chair = "chair"
    member = "member"
    secretary = "secretary"
    co_opted = "co_opted"
    guest = "guest"


class MeetingKind(StrEnum):
    """What kind of meeting it is."""

    regular = "regular"
    pulse = "pulse"
    follow_up = "follow_up"
    extra = "extra"


class MeetingStatus(StrEnum):
    """Where a meeting stands: planned, held, its minutes approved, or cancelled."""

    planned = "planned"
    held = "held"
    minutes_approved = "minutes_approved"
    cancelled = "cancelled"


class ItemKind(StrEnum):
    """What an agenda item is for."""

    information = "information"
    discussion = "discussion"
    decision = "decision"
    follow_up = "follow_up"


class LinkKind(StrEnum):
    """What an agenda item links to."""

    action_plan = "action_plan"
    action = "action"
    kpi_series = "kpi_series"
    target = "target"


class AssignmentStatus(StrEnum):
    """Where an assignment stands."""

    open = "open"
    in_progress = "in_progress"
    reported = "reported"
    closed = "closed"


class Frequency(StrEnum):
    """How often a body meets."""

    weekly = "weekly"
    biweekly = "biweekly"
    monthly = "monthly"
    tertial = "tertial"


class MeetingSort(StrEnum):
    """Orders of a meetings list besides the default (by id)."""

    starts_at = "starts_at"
    starts_at_desc = "-starts_at"


class AssignmentSort(StrEnum):
    """Orders of an assignments list besides the default (by id); no due date sorts last."""

    due_date = "due_date"
    due_date_desc = "-due_date"


class MeetingExpand(StrEnum):
    items = "items"
    decisions = "decisions"
    assignments = "assignments"


EDIT_REASON_DESCRIPTION = (
    "Why the minutes change: required (and kept in the audit trail) for an admin's change of a "
    "meeting whose minutes are approved; ignored otherwise."
)


class Member(BaseModel):
    """A person who belongs to a body, and their role in it."""

    model_config = ConfigDict(extra="forbid")
    person_id: uuid.UUID
    role: BodyRole


class Schedule(BaseModel):
    """When a body meets. Times are the region's local time (`PULS_LOCAL_TIMEZONE`), so a
    13:00 meeting stays at 13:00 across the change to and from summer time."""

    model_config = ConfigDict(extra="forbid")
    frequency: Frequency = Field(
        description="`weekly`, `biweekly` (every other week from `starts_on`), `monthly` or "
        "`tertial` (every fourth month from `starts_on`)."
    )
    weekday: int = Field(
        default=0,
        ge=0,
        le=6,
        description="0 = Monday. The meeting day of weekly and biweekly schedules, and of "
        "monthly ones with `week_of_month`.",
    )
    day: int = Field(
        default=1,
        ge=1,
        le=28,
        description="Day of month (monthly without `week_of_month`, tertial).",
    )
    week_of_month: Literal[-1, 1, 2, 3, 4] | None = Field(
        default=None,
        description="Monthly only: the `weekday` in this week of the month, 1–4, or -1 for the "
        'last one (`{"frequency": "monthly", "weekday": 0, "week_of_month": 1}`: the first '
        "Monday of the month).",
    )
    time: str = Field(
        default="09:00",
        pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
        description="Local time (`PULS_LOCAL_TIMEZONE`), HH:MM.",
    )
    duration_minutes: int = Field(
        default=60, ge=5, le=1440, description="How long each meeting lasts, in minutes."
    )
    kind: MeetingKind = MeetingKind.regular
    place: Name | None = None
    starts_on: IsoDate = Field(
        description="The first day the schedule applies from (YYYY-MM-DD); biweekly and "
        "tertial schedules count from it."
    )


BODY_EXAMPLE: dict[str, Any] = {
    "name": "Koncernledningen",
    "short_name": "KL",
    "org_unit": "RS",
    "members": [{"person_id": "5d1c0f8a-7b2e-4f7e-9a51-0c9a3e1d2b44", "role": "chair"}],
    "schedule": {
        "frequency": "weekly",
        "weekday": 0,
        "time": "08:00",
        "duration_minutes": 60,
        "kind": "pulse",
        "starts_on": "2024-01-08",
    },
}


class BodyCreate(BaseModel):
    model_config = request_config(BODY_EXAMPLE)
    name: Name
    short_name: Code | None = None
    org_unit: Code
    members: list[Member] = Field(default_factory=list, max_length=200)
    schedule: Schedule | None = None


class BodyUpdate(BaseModel):
    model_config = request_config({"name": "Koncernledningen (KL)", "members": []})
    name: Name | None = None
    short_name: Code | None = None
    members: list[Member] | None = Field(default=None, max_length=200)
    schedule: Schedule | None = None


class BodyRead(BaseModel):
    model_config = response_config(
        BODY_EXAMPLE
        | {
            "id": "0b7e3c1e-2a4f-4d8e-8f60-1c2d3e4f5a6b",
            **VERSIONED_EXAMPLE,
        }
    )
    id: uuid.UUID
    name: str
    short_name: str | None
    org_unit: str
    members: list[Member]
    schedule: Schedule | None
    created_at: datetime
    updated_at: datetime
    version: int


class Attendee(BaseModel):
    """A person at a meeting, their role and whether they were present."""

    model_config = ConfigDict(extra="forbid")
    person_id: uuid.UUID
    role: AttendeeRole
    present: bool = True
    co_opted_item_ids: list[uuid.UUID] = Field(
        default_factory=list, description="Agenda items of this meeting a co-opted attendee joined."
    )


class AttendeeRead(Attendee):
    person: PersonRef


MEETING_EXAMPLE: dict[str, Any] = {
    "starts_at": "2024-01-15T08:00:00Z",
    "ends_at": "2024-01-15T11:00:00Z",
    "place": "Regionens hus",
    "kind": "regular",
    "attendees": [
        {"person_id": "5d1c0f8a-7b2e-4f7e-9a51-0c9a3e1d2b44", "role": "chair", "present": True}
    ],
}


_INSTANT = (
    "An RFC 3339 time with its offset (`Z`, `+01:00`): a time without one would be ambiguous "
    "between UTC and the region's local time. Returned in UTC."
)


class MeetingCreate(BaseModel):
    model_config = request_config(MEETING_EXAMPLE)
    starts_at: Rfc3339Time = Field(description=_INSTANT)
    ends_at: Rfc3339Time = Field(description=_INSTANT)
    place: Name | None = None
    kind: MeetingKind = MeetingKind.regular
    attendees: list[Attendee] = Field(default_factory=list, max_length=200)


class MeetingUpdate(BaseModel):
    model_config = request_config({"status": "held"})
    starts_at: Rfc3339Time | None = Field(default=None, description=_INSTANT)
    ends_at: Rfc3339Time | None = Field(default=None, description=_INSTANT)
    place: Name | None = None
    kind: MeetingKind | None = None
    status: MeetingStatus | None = Field(
        default=None, description="`minutes_approved` only via `:approve`."
    )
    attendees: list[Attendee] | None = Field(default=None, max_length=200)
    reason: Text | None = Field(
        default=None, description="Required for admin edits after approval."
    )


class MeetingRead(BaseModel):
    model_config = response_config(
        MEETING_EXAMPLE
        | {
            "attendees": [
                {
                    "person_id": "5d1c0f8a-7b2e-4f7e-9a51-0c9a3e1d2b44",
                    "role": "chair",
                    "present": True,
                    "co_opted_item_ids": [],
                    "person": PERSON_REF_EXAMPLE,
                }
            ],
            "id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
            "body_id": "0b7e3c1e-2a4f-4d8e-8f60-1c2d3e4f5a6b",
            "status": "planned",
            "approved_at": None,
            **VERSIONED_EXAMPLE,
        }
    )
    id: uuid.UUID
    body_id: uuid.UUID = Field(description="The body that meets (`/v1/bodies/{id}`).")
    starts_at: datetime
    ends_at: datetime
    place: str | None
    kind: MeetingKind
    status: MeetingStatus
    approved_at: datetime | None = Field(description="When the minutes were approved (RFC 3339).")
    attendees: list[AttendeeRead] = Field(description="Each with the person's name and initials.")
    created_at: datetime
    updated_at: datetime
    version: int


class Link(BaseModel):
    """What an agenda item links to: its kind and the linked resource's id."""

    model_config = ConfigDict(extra="forbid")
    kind: LinkKind
    id: str = Field(max_length=100)


ITEM_EXAMPLE: dict[str, Any] = {
    "number": 4,
    "title": "Bemanningsläget",
    "kind": "decision",
    "presenter_ids": ["5d1c0f8a-7b2e-4f7e-9a51-0c9a3e1d2b44"],
    "links": [],
    "notes": None,
}


class AgendaItemCreate(BaseModel):
    model_config = request_config(ITEM_EXAMPLE)
    number: int = Field(ge=1, le=999)
    title: Name
    kind: ItemKind = ItemKind.information
    presenter_ids: list[uuid.UUID] = Field(default_factory=list, max_length=20)
    links: list[Link] = Field(default_factory=list, max_length=50)
    notes: Text | None = None
    reason: Text | None = Field(default=None, description=EDIT_REASON_DESCRIPTION)


class AgendaItemUpdate(BaseModel):
    model_config = request_config({"notes": "Underlag bifogat", "reason": None})
    number: int | None = Field(default=None, ge=1, le=999)
    title: Name | None = None
    kind: ItemKind | None = None
    presenter_ids: list[uuid.UUID] | None = Field(default=None, max_length=20)
    links: list[Link] | None = Field(default=None, max_length=50)
    notes: Text | None = None
    reason: Text | None = Field(default=None, description=EDIT_REASON_DESCRIPTION)


class AgendaItemRead(BaseModel):
    model_config = response_config(
        ITEM_EXAMPLE
        | {
            "id": "1f0e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
            "meeting_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
            "presenters": [PERSON_REF_EXAMPLE],
            **VERSIONED_EXAMPLE,
        }
    )
    id: uuid.UUID
    meeting_id: uuid.UUID
    number: int
    title: str
    kind: ItemKind
    presenter_ids: list[uuid.UUID]
    presenters: list[PersonRef] = Field(description="`presenter_ids` with names, in order.")
    links: list[Link]
    notes: str | None
    created_at: datetime
    updated_at: datetime
    version: int


class ItemsReorder(BaseModel):
    """The meeting's agenda in its new order: every live item once; they are numbered 1, 2, …
    in this order."""

    model_config = request_config(
        {
            "item_ids": [
                "1f0e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
                "0e1d2c3b-4a59-4867-9a8b-7c6d5e4f3a2b",
            ],
            "reason": None,
        }
    )
    item_ids: list[uuid.UUID] = Field(
        min_length=1,
        max_length=999,
        description="Every live item of the meeting once, in the new order (numbered 1, 2, …).",
    )
    reason: Text | None = Field(default=None, description=EDIT_REASON_DESCRIPTION)


DECISION_EXAMPLE: dict[str, Any] = {
    "text": "KL ställer sig bakom att inhyrda sjuksköterskor avvecklas.",
    "decided_at": "2024-01-15",
    "effective_date": "2024-01-15",
}


class DecisionCreate(BaseModel):
    model_config = request_config(DECISION_EXAMPLE)
    text: Text
    decided_at: IsoDate
    effective_date: IsoDate | None = None
    reason: Text | None = Field(default=None, description=EDIT_REASON_DESCRIPTION)


class DecisionUpdate(BaseModel):
    model_config = request_config({"effective_date": "2024-02-01", "reason": None})
    text: Text | None = None
    decided_at: IsoDate | None = None
    effective_date: IsoDate | None = None
    reason: Text | None = Field(default=None, description=EDIT_REASON_DESCRIPTION)


class DecisionRead(BaseModel):
    model_config = response_config(
        DECISION_EXAMPLE
        | {
            "id": "2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d",
            "agenda_item_id": "1f0e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
            **VERSIONED_EXAMPLE,
        }
    )
    id: uuid.UUID
    agenda_item_id: uuid.UUID
    text: str
    decided_at: date
    effective_date: date | None
    created_at: datetime
    updated_at: datetime
    version: int


ASSIGNMENT_EXAMPLE: dict[str, Any] = {
    "assignee_id": "5d1c0f8a-7b2e-4f7e-9a51-0c9a3e1d2b44",
    "text": "Ta fram underlag om bemanningsläget.",
    "due_date": "2024-02-12",
    "action_id": None,
}


class AssignmentCreate(BaseModel):
    model_config = request_config(ASSIGNMENT_EXAMPLE)
    assignee_id: uuid.UUID
    text: Text
    due_date: IsoDate | None = None
    action_id: uuid.UUID | None = None
    reason: Text | None = Field(default=None, description=EDIT_REASON_DESCRIPTION)


class AssignmentUpdate(BaseModel):
    model_config = request_config({"status": "reported"})
    status: AssignmentStatus | None = None
    due_date: IsoDate | None = None
    text: Text | None = None
    reported_in_meeting_id: uuid.UUID | None = None
    reason: Text | None = Field(
        default=None,
        description="Required for an admin's change of `text` or `due_date` after the minutes "
        "are approved (status follow-up needs none).",
    )


class AssignmentRead(BaseModel):
    model_config = response_config(
        ASSIGNMENT_EXAMPLE
        | {
            "id": "3b4c5d6e-7f8a-4b9c-8d0e-1f2a3b4c5d6e",
            "agenda_item_id": "1f0e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
            "meeting_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
            "assignee": PERSON_REF_EXAMPLE,
            "status": "open",
            "reported_in_meeting_id": None,
            **VERSIONED_EXAMPLE,
        }
    )
    id: uuid.UUID
    agenda_item_id: uuid.UUID
    meeting_id: uuid.UUID = Field(description="The meeting whose agenda item gave it.")
    assignee_id: uuid.UUID
    assignee: PersonRef
    text: str
    due_date: date | None
    status: AssignmentStatus
    action_id: uuid.UUID | None
    reported_in_meeting_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    version: int


class MeetingDetail(MeetingRead):
    """A meeting with what `expand` asked for; a part not asked for is null."""

    items: list[AgendaItemRead] | None = Field(
        default=None, description="With `expand=items`: the agenda in order."
    )
    decisions: list[DecisionRead] | None = Field(
        default=None, description="With `expand=decisions`: in agenda order."
    )
    assignments: list[AssignmentRead] | None = Field(
        default=None, description="With `expand=assignments`: in agenda order."
    )


class Proposal(BaseModel):
    """A suggested agenda item for the meeting (`source`): an open assignment due by the
    meeting day, an action that will be overdue by then, or a KPI target not met."""

    model_config = response_config(
        {
            "source": "open_assignments",
            "title": "Återrapport: Ta fram underlag om bemanningsläget.",
            "kind": "follow_up",
            "links": [],
            "assignment_id": "3b4c5d6e-7f8a-4b9c-8d0e-1f2a3b4c5d6e",
        }
    )
    source: str
    title: str
    kind: ItemKind
    links: list[Link] = Field(default_factory=list)
    assignment_id: uuid.UUID | None = Field(
        default=None,
        description="The open assignment to report back on (`source` `open_assignments`); "
        "null otherwise.",
    )


class PrepareRead(BaseModel):
    model_config = response_config(
        {"meeting_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7", "proposals": []}
    )
    meeting_id: uuid.UUID
    proposals: list[Proposal] = Field(description="Suggested agenda items; empty for none.")


# The minutes as JSON (`GET /v1/meetings/{id}/minutes`, `Accept: application/json`). The
# service builds them as plain data for its three renderers; these models are their contract,
# and the API test of the minutes validates an answer against them.
class MinutesPerson(BaseModel):
    """A person as the minutes name them (null name and initials: no longer registered)."""

    id: uuid.UUID = Field(description="The person's id (`GET /v1/people/{id}`).")
    name: str | None = Field(description="Full name.")
    initials: str | None = Field(description="Initials, as minutes abbreviate people.")


class MinutesBody(BaseModel):
    """The body that met."""

    id: uuid.UUID = Field(description="The body's id (`GET /v1/bodies/{id}`).")
    name: str = Field(description="The body's name.")
    short_name: str | None = Field(description="Its abbreviation, e.g. `KL`.")


class MinutesAttendee(MinutesPerson):
    """Who attended, in what role."""

    role: AttendeeRole = Field(description="Their role in this meeting.")
    present: bool = Field(description="Whether they were there.")
    co_opted_items: list[int] = Field(
        description="The numbers of the agenda items a co-opted attendee attended for."
    )


class MinutesDecision(BaseModel):
    """A decision taken under an item."""

    id: uuid.UUID = Field(description="The decision's id.")
    text: str = Field(description="What was decided.")
    decided_at: date = Field(description="The date of the decision.")
    effective_date: date | None = Field(description="From when it applies, when stated.")


class MinutesAssignment(BaseModel):
    """An assignment given under an item."""

    id: uuid.UUID = Field(description="The assignment's id (`GET /v1/assignments/{id}`).")
    assignee: MinutesPerson = Field(description="Who is to do it.")
    text: str = Field(description="What is to be done.")
    due_date: date | None = Field(description="By when.")
    status: AssignmentStatus = Field(description="Where it stands.")


class MinutesItem(BaseModel):
    """One agenda item with what was noted, decided and assigned under it."""

    number: int = Field(description="The item's number on the agenda (§).")
    title: str = Field(description="The item's title.")
    kind: ItemKind = Field(description="What kind of item it was.")
    presenters: list[MinutesPerson] = Field(description="Who presented it.")
    notes: str | None = Field(description="The minutes' notes on it.")
    decisions: list[MinutesDecision] = Field(description="Decisions taken under it.")
    assignments: list[MinutesAssignment] = Field(description="Assignments given under it.")


class Minutes(BaseModel):
    """A meeting's minutes: who met, when and where, and each agenda item in order."""

    model_config = response_config(
        {
            "meeting_id": "0b7e3c1a-2f4d-4e8a-9c6b-5d1f0e2a3b4c",
            "body": {
                "id": "a3c5e7f9-1b2d-4f6a-8c0e-2d4f6a8c0e1b",
                "name": "Koncernledningen",
                "short_name": "KL",
            },
            "starts_at": "2024-03-18T08:00:00+00:00",
            "ends_at": "2024-03-18T10:00:00+00:00",
            "place": "Regionhuset",
            "time_zone": "Europe/Stockholm",
            "status": "held",
            "attendees": [
                {
                    "id": "5d1c0f8a-7b2e-4f7e-9a51-0c9a3e1d2b44",
                    "name": "Anna Lind",
                    "initials": "AL",
                    "role": "chair",
                    "present": True,
                    "co_opted_items": [],
                }
            ],
            "items": [
                {
                    "number": 1,
                    "title": "Bemanningsläget",
                    "kind": "decision",
                    "presenters": [
                        {
                            "id": "5d1c0f8a-7b2e-4f7e-9a51-0c9a3e1d2b44",
                            "name": "Anna Lind",
                            "initials": "AL",
                        }
                    ],
                    "notes": None,
                    "decisions": [
                        {
                            "id": "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b",
                            "text": "Inhyrd personal ska minska.",
                            "decided_at": "2024-03-18",
                            "effective_date": None,
                        }
                    ],
                    "assignments": [],
                }
            ],
        }
    )

    meeting_id: uuid.UUID = Field(description="The meeting's id (`GET /v1/meetings/{id}`).")
    body: MinutesBody = Field(description="The body that met.")
    starts_at: datetime = Field(description="When the meeting began (RFC 3339).")
    ends_at: datetime = Field(description="When it ended (RFC 3339).")
    place: str | None = Field(description="Where it was held.")
    time_zone: str = Field(
        description="The region's time zone (IANA), in which the Markdown and HTML minutes print "
        "the times; `starts_at`/`ends_at` stay UTC."
    )
    status: MeetingStatus = Field(description="The meeting's status.")
    attendees: list[MinutesAttendee] = Field(description="Who was invited, and who came.")
    items: list[MinutesItem] = Field(description="The agenda items in order.")
