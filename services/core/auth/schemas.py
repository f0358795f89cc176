from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from services.core.validation import Code, Name


class Scope(StrEnum):
    read = "read"
    timedata_write = "timedata:write"
    plans_write = "plans:write"
    meetings_write = "meetings:write"
    kpis_write = "kpis:write"
    webhooks_admin = "webhooks:admin"
    admin = "admin"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id (None for the bootstrap key), its scopes and the org subtree
    it is confined to (a materialized path prefix; None means the whole region)."""

    key_id: uuid.UUID | None
    name: str
    scopes: frozenset[str]
    org_path: str | None = None
    org_unit_code: str | None = None

    def has_scope(self, scope: Scope | str) -> bool:
        return Scope.admin in self.scopes or str(scope) in self.scopes

    @property
    def is_admin(self) -> bool:
        return Scope.admin in self.scopes

    @property
    def actor(self) -> str:
        """How audit rows and history name the caller."""
        return f"key:{self.key_id}" if self.key_id else f"key:{self.name}"

    def sees_path(self, path: str) -> bool:
        return self.org_path is None or path.startswith(self.org_path)


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"name": "Heroma nightly feed", "scopes": ["timedata:write"]}]
        },
    )

    name: Name = Field(examples=["Heroma nightly feed"])
    scopes: list[Scope] = Field(min_length=1, examples=[["timedata:write"]])
    org_unit: Code | None = Field(
        default=None, description="Confine the key to this org unit's subtree.", examples=[None]
    )
    expires_at: datetime | None = None


_KEY_EXAMPLE: dict[str, JsonValue] = {
    "id": "0b7e5a8e-3c1f-4a55-9a8e-2f0c1d6b9e11",
    "name": "Heroma nightly feed",
    "token_prefix": "puls_Xy3kQ9",
    "scopes": ["timedata:write"],
    "org_unit": None,
    "created_at": "2026-11-25T08:00:00Z",
    "expires_at": None,
    "revoked_at": None,
    "created_by": "key:bootstrap",
}


class ApiKeyRead(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_KEY_EXAMPLE]})

    id: uuid.UUID
    name: str
    token_prefix: str = Field(description="The first characters of the token, for recognition.")
    scopes: list[str]
    org_unit: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    created_by: str | None


class ApiKeyCreated(ApiKeyRead):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{**_KEY_EXAMPLE, "token": "puls_Xy3kQ9…"}]}
    )

    token: str = Field(description="The secret. Shown once; Puls keeps only its hash.")
