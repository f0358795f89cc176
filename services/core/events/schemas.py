from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from services.core.contract import response_config


class EventRead(BaseModel):
    model_config = response_config(
        {
            "id": 42,
            "type": "org_unit.created",
            "occurred_at": "2026-11-25T08:00:00Z",
            "org_unit": "RS-MED",
            "data": {"code": "RS-MED"},
        }
    )

    id: int
    type: str
    occurred_at: datetime
    org_unit: str | None
    data: dict[str, Any]


class EventFeed(BaseModel):
    """One page of events, oldest first, and where to continue."""

    model_config = response_config(
        {
            "items": [
                {
                    "id": 42,
                    "type": "org_unit.created",
                    "occurred_at": "2026-11-25T08:00:00Z",
                    "org_unit": "RS-MED",
                    "data": {"code": "RS-MED"},
                }
            ],
            "next_cursor": None,
            "next_after": 42,
        }
    )

    items: list[EventRead]
    next_cursor: str | None = Field(
        default=None,
        description="Pass as `cursor` to get the next page; null once caught up (then poll "
        "again later with `after=next_after`, or with this page's own cursor).",
    )
    next_after: int | None = Field(
        description="Pass as `after` to continue; equals the last id, or your `after` when empty."
    )
