from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field, SQLModel

from services.core.db import Versioned, org_unit_fk, timestamptz, uuid_pk


# The key of a row a body or meeting owns per person (members, attendees): the owner, whose
# deletion takes the row along, and the person.
def _owner_key(owner_table: str) -> Any:
    return sa.Column(
        sa.Uuid, sa.ForeignKey(f"{owner_table}.id", ondelete="CASCADE"), primary_key=True
    )


def _person_key() -> Any:
    return sa.Column(sa.Uuid, sa.ForeignKey("people.id"), primary_key=True)


class MeetingBody(Versioned, table=True):
    """A decision-making group (KL, a management team, the regional board)."""

    __tablename__ = "meeting_bodies"
    __table_args__ = (sa.Index("ix_meeting_bodies_updated_at_id", "updated_at", "id"),)

    id: uuid.UUID = uuid_pk()
    name: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    short_name: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    org_unit_id: int = Field(sa_column=org_unit_fk(nullable=False, index=True))
    # {"frequency": "weekly"|"monthly"|"tertial", "weekday": 0-6, "day": 1-28, "time": "HH:MM",
    #  "duration_minutes": n, "kind": "pulse", "place": "..."}; generation reads it.
    schedule: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(JSONB))


class MeetingBodyMember(SQLModel, table=True):
    __tablename__ = "meeting_body_members"

    body_id: uuid.UUID = Field(sa_column=_owner_key("meeting_bodies"))
    person_id: uuid.UUID = Field(sa_column=_person_key())
    role: str = Field(sa_column=sa.Column(sa.Text, nullable=False))


class Meeting(Versioned, table=True):
    __tablename__ = "meetings"
    __table_args__ = (
        sa.Index("ix_meetings_updated_at_id", "updated_at", "id"),
        # Generation is idempotent because a body has at most one meeting per start time.
        sa.UniqueConstraint("body_id", "starts_at"),
        sa.CheckConstraint("ends_at > starts_at", name="end_after_start"),
    )

    id: uuid.UUID = uuid_pk()
    body_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("meeting_bodies.id"), nullable=False)
    )
    starts_at: datetime = Field(sa_column=timestamptz(nullable=False))
    ends_at: datetime = Field(sa_column=timestamptz(nullable=False))
    place: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    kind: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    status: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    approved_at: datetime | None = Field(default=None, sa_column=timestamptz())


class MeetingAttendee(SQLModel, table=True):
    __tablename__ = "meeting_attendees"

    meeting_id: uuid.UUID = Field(sa_column=_owner_key("meetings"))
    person_id: uuid.UUID = Field(sa_column=_person_key())
    role: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    present: bool = Field(sa_column=sa.Column(sa.Boolean, nullable=False))
    # Agenda items a co-opted attendee joined for (seed 000: "adjungerad §4").
    co_opted_item_ids: list[uuid.UUID] = Field(
        default_factory=list,
        sa_column=sa.Column(ARRAY(sa.Uuid), nullable=False, server_default="{}"),
    )


class AgendaItem(Versioned, table=True):
    __tablename__ = "agenda_items"
    __table_args__ = (
        # Among live items only: a deleted item's number is free again.
        sa.Index(
            "ux_agenda_items_live_number",
            "meeting_id",
            "number",
            unique=True,
            postgresql_where=sa.text("deleted_at IS NULL"),
        ),
    )

    id: uuid.UUID = uuid_pk()
    meeting_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("meetings.id", ondelete="CASCADE"), nullable=False
        )
    )
    number: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    title: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    kind: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    presenter_ids: list[uuid.UUID] = Field(
        default_factory=list,
        sa_column=sa.Column(ARRAY(sa.Uuid), nullable=False, server_default="{}"),
    )
    # [{"kind": "action_plan"|"action"|"kpi_series"|"target", "id": "..."}]. No foreign key can
    # hold these: one list points into several tables (and a KPI series is a code, not a row),
    # so the service checks each link on write and a link's target is only ever soft-deleted.
    links: list[dict[str, Any]] = Field(
        default_factory=list,
        sa_column=sa.Column(JSONB, nullable=False, server_default="[]"),
    )
    notes: str | None = Field(default=None, sa_column=sa.Column(sa.Text))


def _agenda_item_key() -> Any:
    """What a decision or an assignment was made under; deleted with the item."""
    return sa.Column(
        sa.Uuid,
        sa.ForeignKey("agenda_items.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )


class Decision(Versioned, table=True):
    __tablename__ = "decisions"

    id: uuid.UUID = uuid_pk()
    agenda_item_id: uuid.UUID = Field(sa_column=_agenda_item_key())
    text: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    decided_at: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    effective_date: date | None = Field(default=None, sa_column=sa.Column(sa.Date))


class Assignment(Versioned, table=True):
    __tablename__ = "assignments"
    __table_args__ = (sa.Index("ix_assignments_status_due_date", "status", "due_date"),)

    id: uuid.UUID = uuid_pk()
    agenda_item_id: uuid.UUID = Field(sa_column=_agenda_item_key())
    assignee_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("people.id"), nullable=False)
    )
    text: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    due_date: date | None = Field(default=None, sa_column=sa.Column(sa.Date))
    status: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    action_id: uuid.UUID | None = Field(
        default=None, sa_column=sa.Column(sa.Uuid, sa.ForeignKey("actions.id"))
    )
    reported_in_meeting_id: uuid.UUID | None = Field(
        default=None, sa_column=sa.Column(sa.Uuid, sa.ForeignKey("meetings.id"))
    )
    due_soon_notified_at: datetime | None = Field(default=None, sa_column=timestamptz())
    overdue_notified_at: datetime | None = Field(default=None, sa_column=timestamptz())
