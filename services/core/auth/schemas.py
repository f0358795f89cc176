from __future__ import annotations

import uuid
from datetime import datetime
from typing import ClassVar

from pydantic import BaseModel, Field, JsonValue

from services.core.contract import request_config, response_config
from services.core.principal import Scope
from services.core.validation import Code, Name, Rfc3339Time


class ApiKeyCreate(BaseModel):
    model_config = request_config({"name": "Heroma nightly feed", "scopes": ["timedata:write"]})

    name: Name = Field(examples=["Heroma nightly feed"])
    scopes: list[Scope] = Field(min_length=1, examples=[["timedata:write"]])
    org_unit: Code | None = Field(
        default=None, description="Confine the key to this org unit's subtree.", examples=[None]
    )
    expires_at: Rfc3339Time | None = Field(
        default=None, description="When the key stops working (RFC 3339); never when absent."
    )


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
    model_config = response_config(_KEY_EXAMPLE)

    id: uuid.UUID
    name: str
    token_prefix: str = Field(description="The first characters of the token, for recognition.")
    scopes: list[Scope]
    org_unit: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    created_by: str | None


class ApiKeyCreated(ApiKeyRead):
    """A new API key, with its token (shown only in this answer)."""

    model_config = response_config({**_KEY_EXAMPLE, "token": "puls_Xy3kQ9…"})

    # The idempotency store keeps this answer with these fields null (see `Secret-Redacted`).
    secret_fields: ClassVar[tuple[str, ...]] = ("token",)

    token: str | None = Field(
        description="The secret. Shown once; Puls keeps only its hash. null in a replay of the "
        "same `Idempotency-Key` (header `Secret-Redacted: token`)."
    )
