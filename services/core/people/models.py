from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlmodel import Field

from services.core.db import Versioned, org_unit_fk, uuid_pk


class Person(Versioned, table=True):
    """A named official (chair, owner, assignee): not an employee of the time data, who are
    known only by pseudonym."""

    __tablename__ = "people"
    __table_args__ = (
        sa.Index("ix_people_updated_at_id", "updated_at", "id"),
        # Sign-in maps a token's subject to one live person.
        sa.Index(
            "ux_people_subject",
            "subject",
            unique=True,
            postgresql_where=sa.text("subject IS NOT NULL AND deleted_at IS NULL"),
        ),
    )

    id: uuid.UUID = uuid_pk()
    name: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    initials: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    title: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    email: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    org_unit_id: int | None = Field(default=None, sa_column=org_unit_fk(index=True))
    # The `sub` of the person's access tokens at the identity provider (OIDC).
    subject: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
