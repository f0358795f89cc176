"""The time-data contract (DESIGN.md): what HR and finance systems send, and what they get back."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from services.core.config import MAX_BATCH_RECORDS
from services.core.contract import request_config, response_config
from services.core.timedata.models import TimeType
from services.core.validation import Code, Money, Rfc3339Time

SourceName = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")
]
# A sender's ids and codes: any printable text, but no control characters and no
# bidirectional overrides or isolates (they make an id display as another one).
_SENDER_TEXT = r"^[^\x00-\x1f\x7f\u202a-\u202e\u2066-\u2069]+$"
ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=_SENDER_TEXT)]
Ref = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=_SENDER_TEXT)]
SenderCode = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=_SENDER_TEXT)]
Hours = Annotated[Decimal, Field(gt=0, le=24, max_digits=5, decimal_places=2, examples=["7.50"])]
PeriodMonth = Annotated[
    str, StringConstraints(pattern=r"^\d{4}-(0[1-9]|1[0-2])$"), Field(examples=["2024-03"])
]
ProfessionName = Annotated[
    str, StringConstraints(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")
]

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=False)


class RecordKey(BaseModel):
    model_config = _STRICT

    source: SourceName
    external_id: ExternalId
    deleted: Literal[True]


class _FedRecordIn(BaseModel):
    """What every fed record is sent with: its key in the sender's system (with `deleted: true`
    the record is a `RecordKey`, a removal)."""

    source: SourceName
    external_id: ExternalId
    deleted: Literal[False] = False


def _one_profession(record: Any) -> None:
    if (record.profession is None) == (record.profession_code is None):
        raise ValueError("send exactly one of profession and profession_code")


class TimeRecordIn(_FedRecordIn):
    model_config = request_config(
        {
            "source": "heroma",
            "external_id": "TR-2024-000123",
            "org_unit_code": "SUS-AKUT",
            "employee_ref": "19790312-XXXX",
            "profession": "nurse",
            "staff_kind": "own",
            "time_type": "worked",
            "work_date": "2024-03-04",
            "hours": "8.00",
            "start": "2024-03-04T07:00:00+01:00",
            "end": "2024-03-04T15:30:00+01:00",
        }
    )

    org_unit_code: Code
    employee_ref: Ref = Field(description="The HR system's own id; Puls keeps only an HMAC.")
    profession: Code | None = None
    profession_code: SenderCode | None = Field(
        default=None,
        description="The sender's profession code, mapped by the source's "
        "code mappings; send this or `profession`.",
    )
    staff_kind: Literal["own", "agency"]
    time_type: TimeType | None = None
    time_code: SenderCode | None = Field(
        default=None, description="The sender's pay/absence code; send this or `time_type`."
    )
    work_date: date
    hours: Hours
    start: Rfc3339Time | None = None
    end: Rfc3339Time | None = None
    cost_sek: Money | None = None
    agency: Ref | None = None
    assignment_ref: Ref | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.time_type is None) == (self.time_code is None):
            raise ValueError("send exactly one of time_type and time_code")
        _one_profession(self)
        if (self.start is None) != (self.end is None):
            raise ValueError("send both start and end, or neither")
        if self.start is not None and self.end is not None:
            if self.end <= self.start:
                raise ValueError("end must be after start")
            if (self.end - self.start).total_seconds() > 24 * 3600:
                raise ValueError("a shift from start to end cannot exceed 24 hours")
        return self


class EmploymentIn(_FedRecordIn):
    model_config = request_config(
        {
            "source": "heroma",
            "external_id": "EMP-4711-1",
            "employee_ref": "19790312-XXXX",
            "org_unit_code": "SUS-AKUT",
            "profession": "nurse",
            "contract": "permanent",
            "fte": "0.75",
            "is_manager": False,
            "start_date": "2019-08-19",
            "end_date": None,
            "gender": "female",
            "birth_year": 1979,
        }
    )

    employee_ref: Ref
    org_unit_code: Code
    profession: Code | None = None
    profession_code: SenderCode | None = None
    contract: Literal["permanent", "fixed_term", "hourly"]
    fte: Annotated[Decimal, Field(ge=0, le=1, max_digits=4, decimal_places=3)]
    is_manager: bool = False
    start_date: date
    end_date: date | None = None
    end_reason: (
        Literal["resignation", "retirement", "end_of_contract", "internal_transfer", "other"] | None
    ) = None
    gender: Literal["female", "male", "other"] | None = None
    birth_year: Annotated[int, Field(ge=1900, le=2100)] | None = None
    pay_form: Annotated[
        Literal["monthly", "hourly"] | None,
        Field(
            description="Monthly-paid or hourly-paid. Without it (and without "
            "`pay_form_code`), an `hourly` contract is hourly-paid and the others monthly-paid."
        ),
    ] = None
    pay_form_code: Annotated[
        SenderCode | None,
        Field(description="The sender's pay form code, mapped by the source's `pay_form_codes`."),
    ] = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _one_profession(self)
        if self.pay_form is not None and self.pay_form_code is not None:
            raise ValueError("send pay_form or pay_form_code, not both")
        if self.end_date is not None and self.end_date < self.start_date:
            raise ValueError("end_date must not be before start_date")
        if self.end_reason is not None and self.end_date is None:
            raise ValueError("end_reason needs an end_date")
        return self


class PersonnelCostIn(_FedRecordIn):
    model_config = request_config(
        {
            "source": "raindance",
            "external_id": "2018-12/HELAR/agency/doctor",
            "period": "2018-12",
            "org_unit_code": "HELAR",
            "profession": "doctor",
            "category": "agency",
            "amount_sek": "9058333.33",
        }
    )

    period: PeriodMonth
    org_unit_code: Code
    profession: Code | None = None
    profession_code: SenderCode | None = None
    category: Literal["own_staff", "agency", "consultant"]
    amount_sek: Money

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _one_profession(self)
        return self


class BudgetIn(_FedRecordIn):
    model_config = request_config(
        {
            "source": "raindance",
            "external_id": "2023/KK/personnel",
            "org_unit_code": "KK",
            "period": "2023",
            "category": "personnel",
            "amount_sek": "777700000.00",
        }
    )

    org_unit_code: Code
    period: Annotated[
        str,
        StringConstraints(pattern=r"^\d{4}(-(0[1-9]|1[0-2]))?$"),
        Field(description="A year (`2023`) or a month (`2023-03`).", examples=["2023"]),
    ]
    category: Annotated[
        Literal["personnel", "own_staff", "agency", "consultant"],
        Field(description="`personnel` is own staff and agency staff together."),
    ]
    amount_sek: Money


class Batch(BaseModel):
    """Up to 10 000 records; each is an upsert by (source, external_id), or a removal when it
    is `{"source", "external_id", "deleted": true}`."""

    model_config = ConfigDict(extra="forbid")

    records: list[dict[str, Any]] = Field(
        description="The records, validated one by one.", max_length=MAX_BATCH_RECORDS
    )


class RecordError(BaseModel):
    index: int = Field(description="Position in `records` (0-based) or line in a file.")
    external_id: str | None
    errors: list[dict[str, Any]]


class BatchResult(BaseModel):
    model_config = response_config(
        {
            "inserted": 9_870,
            "updated": 112,
            "deleted": 3,
            "unchanged": 14,
            "rejected": 1,
            "errors": [
                {
                    "index": 17,
                    "external_id": "TR-2024-000140",
                    "errors": [
                        {
                            "loc": ["org_unit_code"],
                            "msg": "unknown org unit 'X9'",
                            "code": "unknown_org_unit",
                        }
                    ],
                }
            ],
        }
    )

    inserted: int
    updated: int
    deleted: int
    unchanged: int
    rejected: int
    errors: list[RecordError]


class _FedRecordRead(BaseModel):
    """What every fed record reads back with: `id` is `source:external_id`, the key a sender
    deletes or replaces it by."""

    id: str
    source: str
    external_id: str
    org_unit: str


_EMPLOYEE = (
    "The employee as this API key sees them: HMAC-SHA256 of Puls's stored pseudonym with a key "
    "derived for this API key alone. Stable for this key, unrelated to what any other key sees."
)


class TimeRecordRead(_FedRecordRead):
    model_config = response_config(
        {
            "id": "heroma:TR-2024-000123",
            "source": "heroma",
            "external_id": "TR-2024-000123",
            "org_unit": "SUS-AKUT",
            "employee": "3f9c…(this key's pseudonym)",
            "profession": "nurse",
            "staff_kind": "own",
            "time_type": "worked",
            "work_date": "2024-03-04",
            "hours": "8.00",
            "start": "2024-03-04T06:00:00Z",
            "end": "2024-03-04T14:30:00Z",
            "cost_sek": None,
            "agency": None,
            "assignment_ref": None,
            "time_code": None,
            "profession_code": None,
            "updated_at": "2026-11-25T02:00:00Z",
        }
    )

    employee: str = Field(description=_EMPLOYEE)
    profession: str
    staff_kind: str
    time_type: str
    work_date: date
    hours: Decimal
    start: datetime | None
    end: datetime | None
    cost_sek: Decimal | None
    agency: str | None
    assignment_ref: str | None
    time_code: str | None
    profession_code: str | None
    updated_at: datetime


class EmploymentRead(_FedRecordRead):
    model_config = response_config(
        {
            "id": "heroma:EMP-4711-1",
            "source": "heroma",
            "external_id": "EMP-4711-1",
            "org_unit": "SUS-AKUT",
            "employee": "3f9c…(this key's pseudonym)",
            "profession": "nurse",
            "contract": "permanent",
            "fte": "0.750",
            "is_manager": False,
            "start_date": "2019-08-19",
            "end_date": None,
            "end_reason": None,
            "gender": "female",
            "birth_year": 1979,
            "profession_code": None,
            "pay_form": "monthly",
            "pay_form_code": None,
            "updated_at": "2026-11-25T02:00:00Z",
        }
    )

    employee: str = Field(description=_EMPLOYEE)
    profession: str
    contract: str
    fte: Decimal
    is_manager: bool
    start_date: date
    end_date: date | None
    end_reason: str | None
    gender: str | None
    birth_year: int | None
    profession_code: str | None
    pay_form: str
    pay_form_code: str | None
    updated_at: datetime


class PersonnelCostRead(_FedRecordRead):
    model_config = response_config(
        {
            "id": "raindance:2018-12/HELAR/agency/doctor",
            "source": "raindance",
            "external_id": "2018-12/HELAR/agency/doctor",
            "org_unit": "HELAR",
            "period": "2018-12",
            "profession": "doctor",
            "category": "agency",
            "amount_sek": "9058333.33",
            "profession_code": None,
            "updated_at": "2026-11-25T02:00:00Z",
        }
    )

    period: str
    profession: str
    category: str
    amount_sek: Decimal
    profession_code: str | None
    updated_at: datetime


class CodeMappings(BaseModel):
    model_config = request_config(
        {
            "time_codes": {
                "SJK": "sick",
                "ARB": "worked",
                "OT1": "overtime",
                "SEM": "vacation",
            },
            "profession_codes": {"SSK": "nurse", "USK": "assistant_nurse", "LAK": "doctor"},
            "pay_form_codes": {"M": "monthly", "T": "hourly"},
        }
    )

    time_codes: dict[SenderCode, TimeType] = Field(default_factory=dict)
    profession_codes: dict[SenderCode, Code] = Field(default_factory=dict)
    pay_form_codes: dict[SenderCode, Literal["monthly", "hourly"]] = Field(default_factory=dict)


class CodeMappingsResult(CodeMappings):
    remapped_records: int = Field(
        default=0,
        description="Stored records whose code changed "
        "meaning and were re-mapped (their KPI cells are recalculated).",
    )


class ProfessionIn(BaseModel):
    model_config = request_config({"name_en": "Midwife", "name_sv": "Barnmorska"})

    name_en: ProfessionName
    name_sv: ProfessionName


class ProfessionRead(ProfessionIn):
    model_config = response_config(
        {"code": "nurse", "name_en": "Nurse", "name_sv": "Sjuksköterska"}
    )

    code: str


class ImportRead(BaseModel):
    model_config = response_config(
        {
            "id": "6f1d0c2e-8b8a-4c1e-9a55-1b2c3d4e5f60",
            "kind": "time-records",
            "source": "heroma",
            "status": "succeeded",
            "format": "csv",
            "bytes": 104857600,
            "rows_read": 1000000,
            "counts": {
                "inserted": 999998,
                "updated": 0,
                "deleted": 0,
                "unchanged": 0,
                "rejected": 2,
            },
            "error_count": 2,
            "errors": [
                {
                    "index": 18,
                    "external_id": "TR-17",
                    "errors": [{"loc": ["hours"], "msg": "…", "code": "less_than_equal"}],
                }
            ],
            "failure": None,
            "created_at": "2026-11-25T02:00:00Z",
            "started_at": "2026-11-25T02:00:01Z",
            "finished_at": "2026-11-25T02:00:40Z",
        }
    )

    id: str
    kind: str
    source: str
    status: Literal["queued", "running", "succeeded", "failed"]
    format: str
    bytes: int
    rows_read: int
    counts: dict[str, int] | None
    error_count: int
    errors: list[dict[str, Any]] = Field(description="The first 1 000 rejected lines.")
    failure: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
