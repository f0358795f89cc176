from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints

from services.core.contract import VERSIONED_EXAMPLE, request_config, response_config
from services.core.validation import Code, Name

Initials = Annotated[str, StringConstraints(pattern=r"^[A-ZÅÄÖa-zåäö]{1,6}$")]
Email = Annotated[
    str, StringConstraints(max_length=254, pattern=r"^[^@\s\x00-\x1f]+@[^@\s\x00-\x1f]+\.[^@\s]+$")
]

# An OIDC `sub`: printable, no spaces (Entra ID object ids, Keycloak UUIDs, opaque strings).
Subject = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$")]
_SUBJECT_DOC = (
    "The `sub` claim of the person's access tokens at the region's identity provider: signing "
    "in with such a token acts as this person. Setting or changing it needs `admin`."
)


_EXAMPLE: dict[str, Any] = {
    "name": "Jonas Hansson",
    "initials": "JH",
    "title": "HR-direktör",
    "email": "jonas.hansson@example.org",
    "org_unit": "RS",
    "subject": "3f1e6b52-8c0d-4a77-9d1e-2b7f0c4a9e15",
}


class PersonCreate(BaseModel):
    model_config = request_config(_EXAMPLE)

    name: Name
    initials: Initials | None = None
    title: Name | None = None
    email: Email | None = None
    org_unit: Code | None = Field(default=None, description="Where the person works.")
    subject: Subject | None = Field(default=None, description=_SUBJECT_DOC)


class PersonUpdate(BaseModel):
    model_config = request_config({"title": "HR-chef"})

    name: Name | None = None
    initials: Initials | None = None
    title: Name | None = None
    email: Email | None = None
    org_unit: Code | None = None
    subject: Subject | None = Field(default=None, description=_SUBJECT_DOC)


class PersonRead(BaseModel):
    model_config = response_config(
        {"id": "5d1c0f8a-7b2e-4f7e-9a51-0c9a3e1d2b44", **_EXAMPLE, **VERSIONED_EXAMPLE}
    )

    id: uuid.UUID
    name: str
    initials: str | None
    title: str | None
    email: str | None
    org_unit: str | None
    subject: str | None = Field(
        description="The identity provider's subject (`sub`) this person signs in as."
    )
    created_at: datetime
    updated_at: datetime
    version: int


PERSON_REF_EXAMPLE: dict[str, Any] = {
    "id": "5d1c0f8a-7b2e-4f7e-9a51-0c9a3e1d2b44",
    "name": "Johanna Holmberg",
    "initials": "JH",
}


class PersonRef(BaseModel):
    """A person as a view shows them beside their id (a removed person keeps their name)."""

    model_config = response_config(PERSON_REF_EXAMPLE)
    id: uuid.UUID
    name: str | None
    initials: str | None
