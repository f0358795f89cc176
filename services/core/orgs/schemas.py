from __future__ import annotations

from datetime import date, datetime
from typing import Literal, Self

from pydantic import BaseModel, Field, JsonValue, model_validator

from services.core.contract import VERSIONED_EXAMPLE, request_config, response_config
from services.core.validation import Code, IsoDate, Name

OrgUnitKind = Literal["region", "administration", "division", "area", "unit"]

_EXAMPLE: dict[str, JsonValue] = {
    "code": "RS-MED",
    "name": "Medicinsk service",
    "kind": "administration",
    "parent_code": "RS",
}


class _ValidRange(BaseModel):
    @model_validator(mode="after")
    def _range_ordered(self) -> Self:
        valid_from = getattr(self, "valid_from", None)
        valid_to = getattr(self, "valid_to", None)
        if valid_from and valid_to and valid_to < valid_from:
            raise ValueError("valid_to must not be before valid_from")
        return self


class OrgUnitCreate(_ValidRange):
    model_config = request_config(_EXAMPLE)

    code: Code = Field(description="The cost-centre code HR and finance systems use.")
    name: Name
    kind: OrgUnitKind
    parent_code: Code | None = None
    valid_from: IsoDate | None = Field(
        default=None, description="The first day the unit exists, `YYYY-MM-DD`."
    )
    valid_to: IsoDate | None = Field(
        default=None, description="The last day the unit exists, `YYYY-MM-DD`."
    )


class OrgUnitUpdate(_ValidRange):
    """Fields to change. Send `parent_code: null` to make a unit a root."""

    model_config = request_config({"name": "Medicinsk service Syd"})

    name: Name | None = None
    kind: OrgUnitKind | None = None
    parent_code: Code | None = None
    valid_from: IsoDate | None = Field(
        default=None, description="The first day the unit exists, `YYYY-MM-DD`."
    )
    valid_to: IsoDate | None = Field(
        default=None, description="The last day the unit exists, `YYYY-MM-DD`."
    )


class OrgUnitRead(BaseModel):
    model_config = response_config(
        {
            **_EXAMPLE,
            "depth": 1,
            "valid_from": "2024-01-01",
            "valid_to": None,
            **VERSIONED_EXAMPLE,
        }
    )

    code: str
    name: str
    kind: OrgUnitKind
    parent_code: str | None
    depth: int = Field(description="0 for a root.")
    valid_from: date | None
    valid_to: date | None
    created_at: datetime
    updated_at: datetime
    version: int


class OrgUnitBulkResult(BaseModel):
    """What a bulk write of org units did: how many it inserted, updated and left as they
    were."""

    model_config = response_config({"inserted": 12, "updated": 3, "unchanged": 185})

    inserted: int
    updated: int
    unchanged: int
