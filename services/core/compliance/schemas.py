"""The compliance contract: rules, agency policies, exemptions, violations, summaries."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.core.contract import request_config, response_config
from services.core.validation import (
    HH_MM,
    Code,
    DecimalOut,
    IsoDate,
    Name,
    Text,
    decimal_schema,
)

RuleKind = Literal["daily_rest", "weekly_rest", "overtime_month", "overtime_year"]
_HHMM = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")
Professions = Annotated[list[Code], Field(min_length=1, max_length=50)]


class RuleFields(BaseModel):
    name: Name | None = None
    min_rest_hours: (
        Annotated[
            Decimal,
            Field(gt=0, max_digits=5, decimal_places=2),
            decimal_schema(
                5,
                2,
                description="Hours of rest required, a decimal string above 0.",
                example="11",
                exclusive_minimum="0",
            ),
        ]
        | None
    ) = None
    period_start_hour: Annotated[int, Field(ge=0, le=23)] | None = None
    max_hours: (
        Annotated[
            Decimal,
            Field(gt=0, max_digits=7, decimal_places=2),
            decimal_schema(
                7,
                2,
                description="The cap in hours, a decimal string above 0.",
                example="50",
                exclusive_minimum="0",
            ),
        ]
        | None
    ) = None
    professions: Professions | None = None
    org_unit: Code | None = None
    valid_from: IsoDate | None = None
    valid_to: IsoDate | None = None
    enabled: bool | None = None


class RuleCreate(RuleFields):
    model_config = request_config(
        {
            "kind": "daily_rest",
            "name": "Dygnsvila för läkare enligt nya arbetstidsregler",
            "min_rest_hours": "11",
            "period_start_hour": 7,
            "professions": ["doctor", "resident_doctor"],
            "valid_from": "2024-01-15",
        }
    )

    kind: RuleKind
    name: Name
    valid_from: IsoDate


class RuleUpdate(RuleFields):
    model_config = request_config({"period_start_hour": 7, "enabled": True})


class RuleRead(BaseModel):
    model_config = response_config(
        {
            "id": "8c1e0f52-2f1b-4d0e-9a7e-0f1d2c3b4a59",
            "kind": "daily_rest",
            "name": "Dygnsvila: 11 timmar i varje 24-timmarsperiod",
            "min_rest_hours": "11.00",
            "period_start_hour": 0,
            "max_hours": None,
            "professions": None,
            "org_unit": None,
            "valid_from": "2000-01-01",
            "valid_to": None,
            "enabled": True,
            "updated_at": "2026-11-25T08:00:00Z",
            "version": 1,
        }
    )

    id: str
    kind: RuleKind
    name: str
    min_rest_hours: DecimalOut | None
    period_start_hour: int | None
    max_hours: DecimalOut | None
    professions: list[str] | None
    org_unit: str | None
    valid_from: date
    valid_to: date | None
    enabled: bool
    updated_at: datetime
    version: int


class Window(BaseModel):
    model_config = ConfigDict(extra="forbid")

    weekdays: Annotated[list[Annotated[int, Field(ge=1, le=7)]], Field(min_length=1, max_length=7)]
    from_: Annotated[
        str, Field(alias="from", description="HH:MM, local time.", json_schema_extra=HH_MM)
    ]
    to: Annotated[
        str,
        Field(description="HH:MM; before `from` means the next morning.", json_schema_extra=HH_MM),
    ]

    @field_validator("from_", "to")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.fullmatch(value):
            raise ValueError("must be a time like 07:00")
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if self.from_ == self.to:
            raise ValueError("the window is empty: from and to are the same time")
        return self


class PolicyCreate(BaseModel):
    model_config = request_config(
        {
            "name": "Hyrsjuksköterskor endast kvällar, nätter och helger",
            "professions": ["nurse"],
            "org_unit": "RS",
            "valid_from": "2023-10-01",
            "banned_windows": [{"weekdays": [1, 2, 3, 4, 5], "from": "07:00", "to": "18:00"}],
            "decision_ref": "KL 2023-09-18 § 4",
        },
        populate_by_name=True,
    )

    name: Name
    professions: Professions
    org_unit: Code
    valid_from: IsoDate
    valid_to: IsoDate | None = None
    banned_windows: Annotated[list[Window], Field(min_length=1, max_length=20)] | None = Field(
        default=None, description="Omit to ban every hour."
    )
    decision_ref: Text | None = None

    @model_validator(mode="after")
    def _range(self) -> Self:
        if self.valid_to is not None and self.valid_to < self.valid_from:
            raise ValueError("valid_to is before valid_from")
        return self


class PolicyUpdate(BaseModel):
    model_config = request_config({"valid_to": "2024-06-30"})

    name: Name | None = None
    valid_to: IsoDate | None = None
    decision_ref: Text | None = None


class PolicyRead(BaseModel):
    model_config = response_config(
        {
            "id": "2f0c…",
            "name": "Stopp för hyrsjuksköterskor",
            "professions": ["nurse"],
            "org_unit": "RS",
            "valid_from": "2024-01-15",
            "valid_to": None,
            "banned_windows": None,
            "decision_ref": "KL 2024-01-15 § 3",
            "updated_at": "2026-11-25T08:00:00Z",
            "version": 1,
        }
    )

    id: str
    name: str
    professions: list[str]
    org_unit: str
    valid_from: date
    valid_to: date | None
    banned_windows: list[dict[str, Any]] | None
    decision_ref: str | None
    updated_at: datetime
    version: int


_EXEMPTION_EXAMPLE: dict[str, Any] = {
    "org_unit": "SUS-AKUT",
    "valid_from": "2024-01-15",
    "valid_to": "2024-02-29",
    "decided_by": "Koncernledningen",
    "reason": "Akutmottagningen saknar sjuksköterskor under vecka 3–8",
    "decision_ref": "KL 2024-01-15 § 3",
}


class ExemptionCreate(BaseModel):
    model_config = request_config(_EXEMPTION_EXAMPLE)

    org_unit: Code
    valid_from: IsoDate
    valid_to: IsoDate
    decided_by: Name
    reason: Text
    decision_ref: Text | None = None

    @model_validator(mode="after")
    def _range(self) -> Self:
        if self.valid_to < self.valid_from:
            raise ValueError("valid_to is before valid_from")
        return self


class ExemptionRead(BaseModel):
    model_config = response_config(
        {
            "id": "7a9d…",
            "policy_id": "2f0c…",
            **_EXEMPTION_EXAMPLE,
            "decision_ref": None,
        }
    )

    id: str
    policy_id: str
    org_unit: str
    valid_from: date
    valid_to: date
    decided_by: str
    reason: str
    decision_ref: str | None


class ViolationRead(BaseModel):
    id: int
    kind: str
    rule_id: str
    org_unit: str
    date: date
    employee: str = Field(
        description="The employee as this API key sees them: its own pseudonym (HMAC-SHA256 of "
        "the stored one with a key derived for this API key), stable for this key and unrelated "
        "to what any other key sees, as in `GET /v1/time-records`."
    )
    profession: str
    hours: DecimalOut
    cost_sek: DecimalOut | None
    details: dict[str, Any] | None


class ViolationPage(BaseModel):
    model_config = response_config(
        {
            "items": [
                {
                    "id": 17,
                    "kind": "daily_rest",
                    "rule_id": "8c1e…",
                    "org_unit": "SUS-AKUT",
                    "date": "2024-03-05",
                    "employee": "5be0…(this key's pseudonym)",
                    "profession": "doctor",
                    "hours": "3.00",
                    "cost_sek": None,
                    "details": {"longest_rest_hours": 8.0, "required_rest_hours": 11},
                }
            ],
            "next_cursor": None,
        }
    )

    items: list[ViolationRead]
    next_cursor: str | None


class SummaryRow(BaseModel):
    org_unit: str
    month: str
    kind: str
    violations: int
    hours: DecimalOut
    employees: int | None


class Summary(BaseModel):
    model_config = response_config(
        {
            "org_unit": "RS",
            "rows": [
                {
                    "org_unit": "SUS-AKUT",
                    "month": "2024-03",
                    "kind": "daily_rest",
                    "violations": 4,
                    "hours": "9.50",
                    "employees": None,
                }
            ],
            "uncheckable": [{"org_unit": "SUS-AKUT", "month": "2024-03", "records": 12}],
        }
    )

    org_unit: str
    rows: list[SummaryRow]
    uncheckable: list[dict[str, Any]]
