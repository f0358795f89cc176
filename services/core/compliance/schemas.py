"""The compliance contract: rules, agency policies, exemptions, violations, summaries."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.core.contract import request_config, response_config
from services.core.pagination import Tombstone
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
RestPeriod = Literal["rolling", "fixed"]
# What detection finds: a rule's kind, a breach before the rule is enforced, an agency ban.
ViolationKind = Literal[
    "daily_rest",
    "weekly_rest",
    "overtime_month",
    "overtime_year",
    "agency_policy",
    "agreement_deviation",
]
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
    period: RestPeriod | None = Field(
        default=None,
        description="Rest rules: `rolling` (default), the 24 hours (7 × 24 for weekly rest) "
        "from every shift's start; `fixed`, local periods from `period_start_hour` (the "
        "dygnsbryt). Either must hold `min_rest_hours` off inside it.",
    )
    period_start_hour: Annotated[int, Field(ge=0, le=23)] | None = Field(
        default=None, description="The local hour a fixed period starts; only with `fixed`."
    )
    enforced_from: IsoDate | None = Field(
        default=None,
        description="Rest rules: before this day a breach is reported as an "
        "`agreement_deviation` (lower severity), not a violation.",
    )
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
            "period": "rolling",
            "professions": ["doctor", "resident_doctor"],
            "valid_from": "2000-01-01",
            "enforced_from": "2024-02-01",
        }
    )

    kind: RuleKind
    name: Name
    valid_from: IsoDate


class RuleUpdate(RuleFields):
    model_config = request_config({"period": "fixed", "period_start_hour": 7, "enabled": True})


class RuleRead(BaseModel):
    model_config = response_config(
        {
            "id": "8c1e0f52-2f1b-4d0e-9a7e-0f1d2c3b4a59",
            "kind": "daily_rest",
            "name": "Dygnsvila: 11 timmar i de 24 timmarna från varje pass",
            "min_rest_hours": "11.00",
            "period": "rolling",
            "period_start_hour": None,
            "max_hours": None,
            "professions": None,
            "org_unit": None,
            "valid_from": "2000-01-01",
            "valid_to": None,
            "enforced_from": None,
            "enabled": True,
            "updated_at": "2026-11-25T08:00:00Z",
            "version": 1,
        }
    )

    id: str
    kind: RuleKind
    name: str
    min_rest_hours: DecimalOut | None
    period: RestPeriod
    period_start_hour: int | None
    max_hours: DecimalOut | None
    professions: list[str] | None
    org_unit: str | None
    valid_from: date
    valid_to: date | None
    enforced_from: date | None = Field(
        description="Before this day a breach is an `agreement_deviation`, not a violation."
    )
    enabled: bool
    updated_at: datetime
    version: int


class Window(BaseModel):
    """A banned time window: from `from` to `to` on each of `weekdays`."""

    model_config = ConfigDict(extra="forbid")

    weekdays: Annotated[
        list[Annotated[int, Field(ge=1, le=7)]],
        Field(
            min_length=1,
            max_length=7,
            description="The days the window starts on: 1 = Monday … 7 = Sunday.",
        ),
    ]
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


HolidayCalendar = Literal["sweden"]
_HOLIDAYS = (
    "`sweden`: in `banned_windows` a Swedish public holiday counts as a Sunday (7) and its eve "
    "(midsommarafton, julafton, the day before a weekday holiday …) as a Saturday (6), so a "
    "policy allowing weekends allows them too. Omit (null) for plain weekdays."
)


class PolicyCreate(BaseModel):
    model_config = request_config(
        {
            "name": "Hyrsjuksköterskor endast kvällar, nätter och helger",
            "professions": ["nurse"],
            "org_unit": "RS",
            "valid_from": "2023-10-01",
            "banned_windows": [{"weekdays": [1, 2, 3, 4, 5], "from": "07:00", "to": "18:00"}],
            "holidays": "sweden",
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
    holidays: HolidayCalendar | None = Field(default=None, description=_HOLIDAYS)
    decision_ref: Text | None = None

    @model_validator(mode="after")
    def _range(self) -> Self:
        if self.valid_to is not None and self.valid_to < self.valid_from:
            raise ValueError("valid_to is before valid_from")
        return self


class PolicyUpdate(BaseModel):
    model_config = request_config({"valid_to": "2024-06-30", "holidays": "sweden"})

    name: Name | None = None
    valid_to: IsoDate | None = None
    holidays: HolidayCalendar | None = Field(default=None, description=_HOLIDAYS)
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
            "holidays": None,
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
    banned_windows: list[dict[str, Any]] | None = Field(
        description="When the professions may not work as agency staff: windows of `weekdays` "
        "(1 = Monday … 7 = Sunday), `from` and `to` (HH:MM, local time); null bans every hour."
    )
    holidays: HolidayCalendar | None = Field(
        description="`sweden`: public holidays count as Sundays and their eves as Saturdays "
        "in the banned windows."
    )
    decision_ref: str | None
    updated_at: datetime
    version: int


ExemptionStatus = Literal["requested", "granted", "rejected"]

_EXEMPTION_EXAMPLE: dict[str, Any] = {
    "org_unit": "SUS-AKUT",
    "valid_from": "2024-01-15",
    "valid_to": "2024-02-29",
    "requested_by": "Verksamhetschef akutmottagningen",
    "reason": "Akutmottagningen saknar sjuksköterskor under vecka 3–8",
}


class ExemptionCreate(BaseModel):
    """An application (`requested`); with `decided_by` a decision already taken is recorded
    as `granted` at once."""

    model_config = request_config(_EXEMPTION_EXAMPLE)

    org_unit: Code
    valid_from: IsoDate
    valid_to: IsoDate
    reason: Text = Field(description="Why the exemption is needed.")
    requested_by: Name | None = Field(default=None, description="Who applied.")
    decided_by: Name | None = Field(
        default=None, description="Only to record an exemption already granted."
    )
    decision_ref: Text | None = None

    @model_validator(mode="after")
    def _range(self) -> Self:
        if self.valid_to < self.valid_from:
            raise ValueError("valid_to is before valid_from")
        return self


class ExemptionDecision(BaseModel):
    """Granting or rejecting an application, once."""

    model_config = request_config(
        {
            "decision": "rejected",
            "decided_by": "Koncernledningen",
            "reason": "Fastställd hantering: avslag, bemanningen löses inom förvaltningen",
            "decision_ref": "KL 2024-01-15 § 2",
        }
    )

    decision: Literal["granted", "rejected"] = Field(description="`granted` or `rejected`.")
    decided_by: Name
    reason: Text = Field(description="Why it was granted or rejected.")
    decision_ref: Text | None = None


class ExemptionRead(BaseModel):
    model_config = response_config(
        {
            "id": "7a9d…",
            "policy_id": "2f0c…",
            **_EXEMPTION_EXAMPLE,
            "status": "rejected",
            "requested_at": "2024-01-10T09:00:00Z",
            "decided_by": "Koncernledningen",
            "decided_at": "2024-01-15T14:00:00Z",
            "decision_reason": "Fastställd hantering: avslag",
            "decision_ref": "KL 2024-01-15 § 2",
            "version": 2,
        }
    )

    id: str
    policy_id: str
    org_unit: str
    valid_from: date
    valid_to: date
    status: ExemptionStatus
    requested_by: str | None = Field(description="Who applied.")
    requested_at: datetime = Field(description="When the application was made (RFC 3339).")
    reason: str
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None = Field(description="Why it was granted or rejected.")
    decision_ref: str | None
    version: int


class ExemptionSummaryRow(BaseModel):
    """One unit's applications in one month."""

    org_unit: str
    month: str = Field(description="The month the applications were received (local time).")
    received: int = Field(description="Applications received in the month.")
    requested: int = Field(description="Still undecided.")
    granted: int = Field(description="Of them, granted.")
    rejected: int


class ExemptionSummary(BaseModel):
    """Exemption applications per unit and month."""

    model_config = response_config(
        {
            "org_unit": "RS",
            "rows": [
                {
                    "org_unit": "SUS-AKUT",
                    "month": "2024-01",
                    "received": 5,
                    "requested": 1,
                    "granted": 1,
                    "rejected": 3,
                }
            ],
        }
    )

    org_unit: str
    rows: list[ExemptionSummaryRow]


class ViolationRead(BaseModel):
    id: int
    kind: ViolationKind
    severity: Literal["violation", "deviation"] = Field(
        description="`deviation` for an `agreement_deviation` (a breach before its rule's "
        "`enforced_from`: reported, not counted by `rest_violations`), else `violation`."
    )
    rule_id: str = Field(description="The rest rule or agency policy broken.")
    org_unit: str
    date: Annotated[date, Field(description="The work day of the breach.")]
    employee: str = Field(
        description="The employee as this API key sees them: its own pseudonym (HMAC-SHA256 of "
        "the stored one with a key derived for this API key), stable for this key and unrelated "
        "to what any other key sees, as in `GET /v1/time-records`."
    )
    profession: str
    hours: DecimalOut
    cost_sek: DecimalOut | None
    details: dict[str, Any] | None = Field(
        description="Figures behind it, by kind: rest (`longest_rest_hours`, "
        "`shortest_rest_hours`, `required_rest_hours`), overtime (`overtime_hours`, "
        "`cap_hours`, `period`), agency policy (`shifts`)."
    )
    updated_at: datetime = Field(
        description="When it was found, or last found with other figures (a recomputation "
        "that finds it unchanged keeps its id and this time); what `updated_since` compares."
    )


class ViolationPage(BaseModel):
    """One page of violations."""

    model_config = response_config(
        {
            "items": [
                {
                    "id": 17,
                    "kind": "daily_rest",
                    "severity": "violation",
                    "rule_id": "8c1e…",
                    "org_unit": "SUS-AKUT",
                    "date": "2024-03-04",
                    "employee": "5be0…(this key's pseudonym)",
                    "profession": "doctor",
                    "hours": "1.50",
                    "cost_sek": None,
                    "details": {
                        "longest_rest_hours": 9.5,
                        "shortest_rest_hours": 9.5,
                        "required_rest_hours": 11,
                    },
                    "updated_at": "2024-03-05T02:10:00Z",
                }
            ],
            "next_cursor": None,
        }
    )

    items: list[ViolationRead | Tombstone] = Field(
        description="Violations; with `updated_since`, withdrawn ones as tombstones too."
    )
    next_cursor: str | None


class SummaryRow(BaseModel):
    """Violations of one kind in one org unit and month."""

    org_unit: str
    month: str = Field(description="YYYY-MM.")
    kind: str
    # null with `suppressed` for keys without `admin` when the row's group is small or hides
    # another (docs/privacy.md#compliance-summary)
    violations: int | None = Field(
        description="Violations in the row; null with `suppressed` (small group)."
    )
    hours: DecimalOut | None = Field(
        description="Their hours; null with `suppressed` (small group)."
    )
    employees: int | None = Field(
        description="Distinct employees with violations in the row: `admin` keys only, else null."
    )
    suppressed: bool = Field(
        default=False,
        description="The row is hidden by the small-group rule (docs/privacy.md), for keys "
        "without `admin`.",
    )


class Summary(BaseModel):
    """Violations per org unit, month and kind in a unit's subtree, and the shifts the rest
    rules could not check."""

    model_config = response_config(
        {
            "org_unit": "RS",
            "rows": [
                {
                    "org_unit": "SUS-AKUT",
                    "month": "2024-03",
                    "kind": "daily_rest",
                    "violations": None,
                    "hours": None,
                    "employees": None,
                    "suppressed": True,
                },
                {
                    "org_unit": "SUS-AKUT",
                    "month": "2024-03",
                    "kind": "overtime_month",
                    "violations": 12,
                    "hours": "41.50",
                    "employees": None,
                    "suppressed": False,
                },
                {
                    "org_unit": "SUS-AKUT",
                    "month": "2024-03",
                    "kind": "weekly_rest",
                    "violations": None,
                    "hours": None,
                    "employees": None,
                    "suppressed": True,
                },
            ],
            "uncheckable": [{"org_unit": "SUS-AKUT", "month": "2024-03", "records": 12}],
        }
    )

    org_unit: str
    rows: list[SummaryRow]
    uncheckable: list[dict[str, Any]] = Field(
        description="Per org unit and month, the records the rest rules could not check "
        "(shifts without start and end times): `org_unit`, `month`, `records`, `hours`."
    )
