"""The time-data contract (DESIGN.md): what HR and finance systems send, and what they get back."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SkipValidation,
    StringConstraints,
    computed_field,
    model_validator,
)

from services.core.config import MAX_BATCH_RECORDS
from services.core.contract import request_config, response_config
from services.core.timedata.models import TimeType
from services.core.validation import (
    Code,
    DecimalOut,
    IsoDate,
    Money,
    Rfc3339Time,
    decimal_schema,
)

SourceName = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")
]
# A sender's ids and codes: any printable text, but no control characters and no
# bidirectional overrides or isolates (they make an id display as another one).
_SENDER_TEXT = r"^[^\x00-\x1f\x7f\u202a-\u202e\u2066-\u2069]+$"
ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=_SENDER_TEXT)]
Ref = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=_SENDER_TEXT)]
SenderCode = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=_SENDER_TEXT)]
Hours = Annotated[
    Decimal,
    Field(gt=0, le=24, max_digits=5, decimal_places=2),
    decimal_schema(
        5,
        2,
        description="Hours on the work date: a decimal string above 0 and at most 24, with at "
        "most 2 decimals.",
        example="7.50",
        exclusive_minimum="0",
        maximum="24",
    ),
]
Fte = Annotated[
    Decimal,
    Field(ge=0, le=1, max_digits=4, decimal_places=3),
    decimal_schema(
        4,
        3,
        description="Full-time equivalent: a decimal string from 0 to 1 with at most 3 decimals.",
        example="0.75",
        minimum="0",
        maximum="1",
    ),
]
PeriodMonth = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$"),
    Field(description="A calendar month, `YYYY-MM`.", examples=["2024-03"]),
]
ProfessionName = Annotated[
    str, StringConstraints(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")
]

# The values a record's enumerated fields take, the same in what is sent and what is read.
StaffKind = Literal["own", "agency"]
Contract = Literal["permanent", "fixed_term", "hourly"]
EndReason = Literal["resignation", "retirement", "end_of_contract", "internal_transfer", "other"]
Gender = Literal["female", "male", "other"]
CostCategory = Literal["own_staff", "agency", "consultant"]
BudgetCategory = Literal["personnel", "own_staff", "agency", "consultant"]
PayForm = Literal["monthly", "hourly"]
_COST_CATEGORY = "Cost of `own_staff`, of hired `agency` staff or of hired `consultant`s."


class RecordDeletion(BaseModel):
    """Removes the record `(source, external_id)`. Many HR exports send the whole row with a
    deletion flag: any other field is accepted and ignored (only the key is checked)."""

    model_config = ConfigDict(
        extra="ignore",
        str_strip_whitespace=False,
        json_schema_extra={
            "examples": [{"source": "heroma", "external_id": "TR-2024-000099", "deleted": True}],
            "additionalProperties": True,
        },
    )

    source: SourceName = Field(description="The sending system, as on the record it removes.")
    external_id: ExternalId = Field(description="The record's id in the sending system.")
    deleted: Literal[True] = Field(description="Always `true`: this record is a removal.")


# The name the ingest code has used for a removal.
RecordKey = RecordDeletion


def _boolean(value: Any) -> Any:
    # `deleted: 0` is neither a removal nor `false`: pydantic would read it as `false`.
    if not isinstance(value, bool):
        raise ValueError("deleted must be true or false")
    return value


class _FedRecordIn(BaseModel):
    """What every fed record is sent with: its key in the sender's system (with `deleted: true`
    the record is a `RecordKey`, a removal)."""

    source: SourceName = Field(
        description="The sending system (`heroma`, `raindance` …); with `external_id` the "
        "record's key: sending the same key again replaces the record."
    )
    external_id: ExternalId = Field(description="The record's id in the sending system.")
    deleted: Annotated[Literal[False], BeforeValidator(_boolean)] = Field(
        default=False, description="`false` or absent; a removal is a `RecordDeletion`."
    )


def _one_profession(record: Any) -> None:
    if (record.profession is None) == (record.profession_code is None):
        raise ValueError("send exactly one of profession and profession_code")


_PROFESSION = (
    "The profession's code in Puls's catalogue (`GET /v1/professions`); send this or "
    "`profession_code`."
)
_PROFESSION_CODE = (
    "The sender's own profession code, mapped by the source's code mappings "
    "(`PUT /v1/sources/{source}/code-mappings`); send this or `profession`."
)
_ORG_UNIT_CODE = (
    "The org unit's code (`GET /v1/org-units`). Send this or `org_unit`, the same code under "
    "the name records are read back with."
)
_ORG_UNIT = (
    "The same as `org_unit_code`, under the name records are read back with (`org_unit`): "
    "send one of the two."
)
# What the contract says of the pair, in JSON Schema as well as in words (a generated client
# then needs one of the two; each branch names its property, as linters want).
_ONE_ORG_UNIT: dict[str, Any] = {
    "oneOf": [
        {"required": [name], "properties": {name: {"type": "string"}}}
        for name in ("org_unit_code", "org_unit")
    ]
}


class FieldProblem(ValueError):
    """A rule across fields that one field breaks: reported at that field with its own code
    (the ingest's `RecordError`), not as the whole record's `value_error`."""

    def __init__(self, field: str, message: str, code: str) -> None:
        super().__init__(message)
        self.field = field
        self.code = code


def _org_unit_field() -> Any:
    # Typed without null and defaulting to None: an explicit null is refused like any other
    # non-code, and a record may leave out one of the pair.
    return Field(default=None, description=_ORG_UNIT)


def _org_unit_code_field() -> Any:
    return Field(default=None, description=_ORG_UNIT_CODE)


def _one_org_unit(record: Any) -> None:
    """`org_unit_code`, or `org_unit` taken as it, never both (two codes, or the same one
    twice, are a sender's mistake worth telling)."""
    if record.org_unit is None:
        if record.org_unit_code is None:
            raise FieldProblem("org_unit_code", "Field required", "missing")
        return
    if record.org_unit_code is not None:
        raise FieldProblem(
            "org_unit",
            "send org_unit_code or org_unit (the same code under its read name), not both",
            "org_unit_conflict",
        )
    record.org_unit_code = record.org_unit


class TimeRecordIn(_FedRecordIn):
    """One shift or absence of one employee on one work date (an upsert by `(source,
    external_id)`). Send exactly one of `time_type` and `time_code`, exactly one of
    `profession` and `profession_code`, and `start` with `end` or neither."""

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
        },
        schema=_ONE_ORG_UNIT,
    )

    org_unit_code: Code = _org_unit_code_field()
    org_unit: Code = _org_unit_field()
    employee_ref: Ref = Field(description="The HR system's own id; Puls keeps only an HMAC.")
    profession: Code | None = Field(default=None, description=_PROFESSION)
    profession_code: SenderCode | None = Field(default=None, description=_PROFESSION_CODE)
    staff_kind: StaffKind = Field(description="`own` staff or hired from an `agency`.")
    time_type: TimeType | None = Field(
        default=None, description="What the hours were; send this or `time_code`."
    )
    time_code: SenderCode | None = Field(
        default=None,
        description="The sender's pay/absence code, mapped by the source's code mappings; "
        "send this or `time_type`.",
    )
    work_date: IsoDate = Field(description="The local date the hours count for, `YYYY-MM-DD`.")
    hours: Hours
    start: Rfc3339Time | None = Field(
        default=None, description="When the shift began (RFC 3339 with an offset)."
    )
    end: Rfc3339Time | None = Field(
        default=None, description="When the shift ended: after `start`, at most 24 h later."
    )
    cost_sek: Money | None = Field(
        default=None, description="What the hours cost, when the sender knows it."
    )
    agency: Ref | None = Field(default=None, description="The staffing agency, for agency staff.")
    assignment_ref: Ref | None = Field(
        default=None, description="The agency assignment or order the hours belong to."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.org_unit is not None or self.org_unit_code is None:  # not the usual case
            _one_org_unit(self)
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
    """One employment of one employee in one org unit (an upsert by `(source, external_id)`).
    Send exactly one of `profession` and `profession_code`; `end_reason` needs `end_date`."""

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
        },
        schema=_ONE_ORG_UNIT,
    )

    employee_ref: Ref = Field(description="The HR system's own id; Puls keeps only an HMAC.")
    org_unit_code: Code = _org_unit_code_field()
    org_unit: Code = _org_unit_field()
    profession: Code | None = Field(default=None, description=_PROFESSION)
    profession_code: SenderCode | None = Field(default=None, description=_PROFESSION_CODE)
    contract: Contract = Field(description="The form of employment.")
    fte: Fte
    is_manager: bool = Field(default=False, description="The employee manages the unit.")
    start_date: IsoDate = Field(description="The first day of the employment, `YYYY-MM-DD`.")
    end_date: IsoDate | None = Field(
        default=None, description="The last day, not before `start_date`; absent while open."
    )
    end_reason: EndReason | None = Field(
        default=None, description="Why it ended; only with `end_date`."
    )
    gender: Gender | None = Field(
        default=None, description="For the gender breakdowns of staffing KPIs."
    )
    birth_year: Annotated[int, Field(ge=1900, le=2100)] | None = Field(
        default=None, description="For the age breakdowns of staffing KPIs (no full birth date)."
    )
    pay_form: PayForm | None = Field(
        default=None,
        description="Monthly-paid or hourly-paid. Without it (and without `pay_form_code`), an "
        "`hourly` contract is hourly-paid and the others monthly-paid.",
    )
    pay_form_code: SenderCode | None = Field(
        default=None,
        description="The sender's pay form code, mapped by the source's `pay_form_codes`.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.org_unit is not None or self.org_unit_code is None:  # not the usual case
            _one_org_unit(self)
        _one_profession(self)
        if self.pay_form is not None and self.pay_form_code is not None:
            raise ValueError("send pay_form or pay_form_code, not both")
        if self.end_date is not None and self.end_date < self.start_date:
            raise ValueError("end_date must not be before start_date")
        if self.end_reason is not None and self.end_date is None:
            raise ValueError("end_reason needs an end_date")
        return self


class PersonnelCostIn(_FedRecordIn):
    """A month's personnel cost of one org unit, profession and category from the finance
    system (an upsert by `(source, external_id)`). Send exactly one of `profession` and
    `profession_code`."""

    model_config = request_config(
        {
            "source": "raindance",
            "external_id": "2018-12/HELAR/agency/doctor",
            "period": "2018-12",
            "org_unit_code": "HELAR",
            "profession": "doctor",
            "category": "agency",
            "amount_sek": "9058333.33",
        },
        schema=_ONE_ORG_UNIT,
    )

    period: PeriodMonth
    org_unit_code: Code = _org_unit_code_field()
    org_unit: Code = _org_unit_field()
    profession: Code | None = Field(default=None, description=_PROFESSION)
    profession_code: SenderCode | None = Field(default=None, description=_PROFESSION_CODE)
    category: CostCategory = Field(description=_COST_CATEGORY)
    amount_sek: Money = Field(description="The month's cost in SEK, a decimal string.")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.org_unit is not None or self.org_unit_code is None:  # not the usual case
            _one_org_unit(self)
        _one_profession(self)
        return self


class BudgetIn(_FedRecordIn):
    """A budget of one org unit and category for a year or a month from the finance system
    (an upsert by `(source, external_id)`): a year's is spread over its months."""

    model_config = request_config(
        {
            "source": "raindance",
            "external_id": "2023/KK/personnel",
            "org_unit_code": "KK",
            "period": "2023",
            "category": "personnel",
            "amount_sek": "777700000.00",
        },
        schema=_ONE_ORG_UNIT,
    )

    org_unit_code: Code = _org_unit_code_field()
    org_unit: Code = _org_unit_field()
    period: Annotated[
        str,
        StringConstraints(pattern=r"^[0-9]{4}(-(0[1-9]|1[0-2]))?$"),
        Field(description="A year (`2023`) or a month (`2023-03`).", examples=["2023"]),
    ]
    category: BudgetCategory = Field(
        description="`personnel` is own staff and agency staff together."
    )
    amount_sek: Money = Field(
        description="The budget in SEK for the period (a year's is spread over its months), "
        "a decimal string."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.org_unit is not None or self.org_unit_code is None:  # not the usual case
            _one_org_unit(self)
        return self


# A batch's records are typed in the contract (SkipValidation keeps the schema) but reach the
# route as the plain objects they were sent as: the ingest validates them, through its fast
# path where it can, and reports each bad one by its index instead of refusing the batch.
_RECORDS = "Up to 10 000 records, each an upsert or a `RecordDeletion` (`deleted: true`)."


class TimeRecordsBatch(BaseModel):
    """A batch of time records."""

    model_config = ConfigDict(extra="forbid")

    records: list[SkipValidation[TimeRecordIn | RecordDeletion]] = Field(
        description=_RECORDS, max_length=MAX_BATCH_RECORDS
    )


class EmploymentsBatch(BaseModel):
    """A batch of employments."""

    model_config = ConfigDict(extra="forbid")

    records: list[SkipValidation[EmploymentIn | RecordDeletion]] = Field(
        description=_RECORDS, max_length=MAX_BATCH_RECORDS
    )


class PersonnelCostsBatch(BaseModel):
    """A batch of personnel costs."""

    model_config = ConfigDict(extra="forbid")

    records: list[SkipValidation[PersonnelCostIn | RecordDeletion]] = Field(
        description=_RECORDS, max_length=MAX_BATCH_RECORDS
    )


class BudgetsBatch(BaseModel):
    """A batch of budgets."""

    model_config = ConfigDict(extra="forbid")

    records: list[SkipValidation[BudgetIn | RecordDeletion]] = Field(
        description=_RECORDS, max_length=MAX_BATCH_RECORDS
    )


class RecordFieldError(BaseModel):
    """One thing wrong with a record."""

    loc: list[str | int] = Field(
        description="Where in the record: a field name (and list positions), empty for the "
        "record as a whole.",
        examples=[["org_unit_code"]],
    )
    msg: str = Field(description="What is wrong, for a person.", examples=["unknown org unit"])
    code: str = Field(
        description="A stable code for programs (`missing`, `unknown_org_unit`, pydantic's "
        "error types …).",
        examples=["unknown_org_unit"],
    )


class RecordError(BaseModel):
    """A rejected record and why."""

    index: int = Field(description="Position in `records` (0-based) or line in a file.")
    external_id: str | None = Field(description="The record's `external_id`, when it had one.")
    errors: list[RecordFieldError] = Field(description="What is wrong with it (at most 20).")


class BatchResult(BaseModel):
    """What a batch did: counts by outcome and each rejected record with its errors."""

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

    inserted: int = Field(description="Records stored new.")
    updated: int = Field(description="Records that replaced a stored one.")
    deleted: int = Field(description="Records removed by a `RecordDeletion`.")
    unchanged: int = Field(description="Records identical to the stored one (nothing written).")
    rejected: int = Field(description="Records refused (see `errors`).")
    errors: list[RecordError] = Field(description="Each rejected record and why.")


class _FedRecordRead(BaseModel):
    """What every fed record reads back with: `id` is `source:external_id`, the key a sender
    deletes or replaces it by."""

    id: str
    source: str
    external_id: str
    org_unit: str

    @computed_field(  # type: ignore[prop-decorator]
        description="The same as `org_unit`, under the name records are sent with, so a "
        "record read back lines up with the one sent."
    )
    @property
    def org_unit_code(self) -> str:
        return self.org_unit


class _PersonLevelRead(_FedRecordRead):
    employee: str = Field(
        deprecated=True,
        description="Deprecated name of `employee_pseudonym` (removed in the next version).",
    )

    @computed_field(  # type: ignore[prop-decorator]
        description="The employee as this API key sees them: HMAC-SHA256 of Puls's stored "
        "pseudonym with a key derived for this API key alone. Stable for this key, unrelated to "
        "what any other key sees, and never the `employee_ref` that was sent (Puls does not keep "
        "it)."
    )
    @property
    def employee_pseudonym(self) -> str:
        # Not `self.employee`: reading a deprecated field warns.
        pseudonym: str = self.__dict__["employee"]
        return pseudonym


class TimeRecordRead(_PersonLevelRead):
    model_config = response_config(
        {
            "id": "heroma:TR-2024-000123",
            "source": "heroma",
            "external_id": "TR-2024-000123",
            "org_unit": "SUS-AKUT",
            "org_unit_code": "SUS-AKUT",
            "employee": "3f9c…(this key's pseudonym)",
            "employee_pseudonym": "3f9c…(this key's pseudonym)",
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

    profession: str
    staff_kind: StaffKind = Field(description="`own` staff or hired from an `agency`.")
    time_type: TimeType = Field(description="What the hours were.")
    work_date: date = Field(description="The local date the hours count for.")
    hours: DecimalOut
    start: datetime | None = Field(description="When the shift began (UTC); null if not sent.")
    end: datetime | None = Field(description="When the shift ended (UTC); null if not sent.")
    cost_sek: DecimalOut | None
    agency: str | None = Field(description="The staffing agency, for agency staff.")
    assignment_ref: str | None = Field(description="The agency assignment the hours belong to.")
    time_code: str | None = Field(description="The sender's own pay/absence code, if it sent one.")
    profession_code: str | None
    updated_at: datetime


class EmploymentRead(_PersonLevelRead):
    model_config = response_config(
        {
            "id": "heroma:EMP-4711-1",
            "source": "heroma",
            "external_id": "EMP-4711-1",
            "org_unit": "SUS-AKUT",
            "org_unit_code": "SUS-AKUT",
            "employee": "3f9c…(this key's pseudonym)",
            "employee_pseudonym": "3f9c…(this key's pseudonym)",
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

    profession: str
    contract: Contract = Field(description="The form of employment.")
    fte: DecimalOut
    is_manager: bool = Field(description="The employee manages the unit.")
    start_date: date
    end_date: date | None
    end_reason: EndReason | None = Field(description="Why it ended; null while open.")
    gender: Gender | None = Field(description="For the gender breakdowns of staffing KPIs.")
    birth_year: int | None = Field(description="For the age breakdowns of staffing KPIs.")
    profession_code: str | None
    pay_form: PayForm = Field(description="Monthly-paid or hourly-paid.")
    pay_form_code: str | None = Field(description="The sender's pay form code, when it sent one.")
    updated_at: datetime


class PersonnelCostRead(_FedRecordRead):
    model_config = response_config(
        {
            "id": "raindance:2018-12/HELAR/agency/doctor",
            "source": "raindance",
            "external_id": "2018-12/HELAR/agency/doctor",
            "org_unit": "HELAR",
            "org_unit_code": "HELAR",
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
    category: CostCategory = Field(description=_COST_CATEGORY)
    amount_sek: DecimalOut
    profession_code: str | None
    updated_at: datetime


class CodeMappings(BaseModel):
    """A source's own codes and what they mean in Puls."""

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
    pay_form_codes: dict[SenderCode, PayForm] = Field(
        default_factory=dict,
        description="The sender's pay form codes (an employment's `pay_form_code`) and the pay "
        "form each means.",
    )


class CodeMappingsResult(CodeMappings):
    """The mappings as stored, and how many stored records a changed meaning re-mapped."""

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
        {
            "code": "nurse",
            "name_en": "Nurse",
            "name_sv": "Sjuksköterska",
            "created_at": "2026-11-25T08:00:00Z",
            "updated_at": "2026-11-25T08:00:00Z",
        }
    )

    code: str
    created_at: datetime
    updated_at: datetime = Field(description="When the entry was added or last renamed.")


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
            "updated_at": "2026-11-25T02:00:40Z",
        }
    )

    id: str
    kind: str
    source: str
    status: Literal["queued", "running", "succeeded", "failed"]
    format: str = Field(description="`csv` or `ndjson`.")
    bytes: int = Field(description="The file's size.")
    rows_read: int = Field(description="Lines read so far (updated while it runs).")
    counts: dict[str, int] | None = Field(
        description="When done: records by outcome (inserted, updated, deleted, unchanged, "
        "rejected)."
    )
    error_count: int = Field(description="How many lines were rejected in all.")
    errors: list[RecordError] = Field(description="The first 1 000 rejected lines.")
    failure: str | None = Field(
        description="Why the whole file failed (nothing stored); null unless it did."
    )
    created_at: datetime
    started_at: datetime | None = Field(description="When the worker began; null while queued.")
    finished_at: datetime | None
    updated_at: datetime = Field(
        description="When its status or figures last changed; what `updated_since` compares."
    )
