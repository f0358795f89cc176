"""The KPI contract: catalogue entries, series points, targets, manual values, recalculations."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, Field, model_validator

from services.core.contract import VERSIONED_EXAMPLE, request_config, response_config
from services.core.validation import (
    PERIOD_LABEL,
    YEAR_MONTH,
    Code,
    DecimalOut,
    Name,
    Text,
    decimal_schema,
)

UnitName = Literal["percent", "hours", "weeks", "sek", "count", "ratio"]
Better = Literal["lower", "higher", "none"]
GrainName = Literal["month", "quarter", "tertial", "year", "rolling12", "ytd", "week"]
# Values entered by hand are per month or longer (a week's would need weekly storage).
ManualGrainName = Literal["month", "quarter", "tertial", "year", "rolling12", "ytd"]
Number = Annotated[
    Decimal,
    Field(max_digits=20, decimal_places=6),
    decimal_schema(
        20,
        6,
        description="A decimal string (at most 14 digits before the point and 6 after).",
        example="3.5",
        signed=True,
    ),
]
Factor = Annotated[
    Decimal,
    Field(gt=0, max_digits=10, decimal_places=6),
    decimal_schema(
        10,
        6,
        description="A factor above 0 as a decimal string (at most 6 decimals).",
        example="0.9",
        exclusive_minimum="0",
    ),
]


class KpiRead(BaseModel):
    model_config = response_config(
        {
            "code": "sick_leave_pct",
            "kind": "computed",
            "name_en": "Sick leave",
            "name_sv": "Sjukfrånvaro",
            "unit": "percent",
            "better": "lower",
            "formula": "100 × own sick hours / own scheduled hours",
            "dimensions": ["profession", "staff_kind", "gender", "age_band"],
            "grains": ["month", "quarter", "tertial", "year", "rolling12"],
            "person_based": True,
        }
    )

    code: str
    kind: Literal["computed", "manual"]
    name_en: str
    name_sv: str
    unit: UnitName
    better: Better
    formula: str = Field(
        description="How the value is computed, in words; for a manual KPI its description."
    )
    dimensions: list[str] = Field(
        description="What its series can be filtered by (query parameters); empty for none."
    )
    grains: list[GrainName]
    person_based: bool = Field(
        description="Its values count people, so groups smaller than the minimum group size "
        "are hidden from keys without `admin`."
    )
    updated_at: datetime | None = Field(
        default=None,
        description="When a manual KPI was added or last changed; null for the computed KPIs, "
        "which change only with a release of Puls.",
    )


class ManualKpiCreate(BaseModel):
    model_config = request_config(
        {
            "code": "engagement_index",
            "name_en": "Engagement index",
            "name_sv": "Hållbart medarbetarengagemang (HME)",
            "unit": "ratio",
            "better": "higher",
            "grains": ["year"],
            "description": "From the yearly staff survey.",
        }
    )

    code: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,62}$")]
    name_en: Name
    name_sv: Name
    unit: UnitName
    better: Better
    grains: Annotated[list[ManualGrainName], Field(min_length=1, max_length=6)]
    description: Text | None = None


_MANUAL_VALUE_EXAMPLE: dict[str, Any] = {
    "org_unit": "SUS-AKUT",
    "period": "2024",
    "value": "78.5",
    "comment": "HME 2024",
}


class ManualValueIn(BaseModel):
    model_config = request_config(_MANUAL_VALUE_EXAMPLE)

    org_unit: Code
    period: Annotated[str, Field(max_length=16, json_schema_extra=PERIOD_LABEL)]
    value: Number
    comment: Text | None = None


class ManualValueRead(BaseModel):
    model_config = response_config(
        {
            "kpi": "engagement_index",
            **_MANUAL_VALUE_EXAMPLE,
            "entered_by": "key:Survey import",
            "entered_at": "2026-11-25T08:00:00Z",
            "version": 1,
        }
    )

    kpi: str
    org_unit: str
    period: str
    value: DecimalOut
    comment: str | None
    entered_by: str
    entered_at: datetime
    version: int = Field(
        default=1,
        description="Counts the values entered for this unit and period (a later one "
        "replaces the earlier); the `ETag` is this number in quotes.",
    )


class Rule(BaseModel):
    """What the point was judged by: the target applied and the trend's tolerance."""

    target_id: str | None = Field(
        default=None, description="The target applied to the period; null without one."
    )
    target_version: int | None = Field(
        default=None, description="That target's version; null without one."
    )
    tolerance_pct: DecimalOut = Decimal(1)


class AnalysisVersion(BaseModel):
    """One version of a unit's written analysis of a KPI's figure for a period."""

    model_config = response_config(
        {
            "text": "Presence is high and staffing good, so extended presence stays low.",
            "author": "key:hr-controller",
            "written_at": "2024-02-10T09:00:00Z",
        }
    )

    text: str = Field(description="The analysis, as written.")
    author: str = Field(description="Who wrote this version (`key:<name>` or `person:<id>`).")
    written_at: datetime = Field(description="When this version was written.")


class AnalysisIn(BaseModel):
    model_config = request_config(
        {"text": "Presence is high and staffing good, so extended presence stays low."}
    )

    text: Annotated[Text, Field(min_length=1)]


class AnalysisRead(AnalysisVersion):
    model_config = response_config(
        {
            "kpi": "extended_presence_pct",
            "org_unit": "KK",
            "period": "2023",
            "text": "Presence is high and staffing good, so extended presence stays low.",
            "author": "key:hr-controller",
            "written_at": "2024-02-10T09:00:00Z",
            "history": [],
        }
    )

    kpi: str
    org_unit: str
    period: str
    history: list[AnalysisVersion] = Field(
        description="Earlier versions, newest first (the current one is not repeated)."
    )


class Point(BaseModel):
    """A KPI's value for one period, judged against its target and the same period a year
    before."""

    period: str
    value: float | None
    numerator: float | None = Field(
        description="The value's numerator for the period; null when `value` is hidden or "
        "there is no data."
    )
    denominator: float | None = Field(
        description="The value's denominator; null for a KPI that is a plain amount, when "
        "`value` is hidden or there is no data."
    )
    target: float | None = Field(
        description="The bound the period is judged against (on the line to `reach_by` where "
        "the target has one); null without a target."
    )
    deviation: float | None = Field(description="value − target; null without both.")
    deviation_pct: float | None = Field(
        description="100 × deviation / target; null without a deviation or with a zero target."
    )
    status: Literal["met", "not_met", "no_target"]
    change: float | None = Field(
        description="value − the value of the same period a year before; null without both."
    )
    change_pct: float | None = Field(
        description="100 × change / the year before's value; null without a change or when "
        "that value is zero."
    )
    trend: Literal["positive", "neutral", "negative"] | None = Field(
        description="The change judged: toward the target (without one, in the KPI's better "
        "direction) is positive; within `rule.tolerance_pct` % of the year before's value is "
        "neutral. Null without a change."
    )
    suppressed: bool = Field(
        description="The value is hidden: the group is smaller than the minimum group size "
        "(keys without `admin`)."
    )
    reason: str | None = Field(
        default=None, description="Why `value` is null: no_data, zero_denominator or suppressed."
    )
    computed_at: datetime | None = Field(
        description="When the figures behind the value were last computed; null without them."
    )
    rule: Rule
    entered_by: str | None = None
    entered_at: datetime | None = None
    comment: str | None = None
    analysis: AnalysisVersion | None = Field(
        default=None, description="The unit's written analysis of the figure for the period."
    )
    published_value: float | None = Field(
        default=None,
        description="The value published when the period was closed (null: never closed, or "
        "split by a dimension).",
    )
    published_at: datetime | None = Field(
        default=None,
        description="When the period's figures were published (closed); null if never.",
    )
    revision: float | None = Field(
        default=None, description="value − published_value: how later corrections moved it."
    )
    budget: float | None = Field(
        default=None,
        description="Cost KPIs: the unit's budget for the period (yearly budgets spread evenly "
        "over their months).",
    )
    budget_deviation: float | None = Field(default=None, description="value − budget")
    budget_deviation_pct: float | None = Field(
        default=None, description="100 × budget_deviation / budget"
    )


_POINT_EXAMPLE: dict[str, Any] = {
    "period": "2018",
    "value": 134100000.0,
    "numerator": 134100000.0,
    "denominator": None,
    "target": 127900000.0,
    "deviation": 6200000.0,
    "deviation_pct": 4.85,
    "status": "not_met",
    "change": -55800000.0,
    "change_pct": -29.38,
    "trend": "positive",
    "suppressed": False,
    "reason": None,
    "computed_at": "2026-11-25T08:00:00Z",
    "rule": {"target_id": "0b7f…", "target_version": 1, "tolerance_pct": "1"},
    "budget": 120000000.0,
    "budget_deviation": 14100000.0,
    "budget_deviation_pct": 11.75,
}


class Series(BaseModel):
    """One KPI's points for one org unit (its whole subtree pooled)."""

    model_config = response_config(
        {
            "shape": "series",
            "kpi": "agency_cost_sek",
            "org_unit": "HELAR",
            "org_unit_name": "Hälso- och sjukvård",
            "grain": "year",
            "filters": {},
            "unit": "sek",
            "points": [_POINT_EXAMPLE],
        },
        json_schema_serialization_defaults_required=True,
    )

    shape: Literal["series"] = Field(
        default="series",
        description="`series`: one series (the answer without `children=true`); tells it "
        "from a `SeriesSet`.",
    )
    kpi: str
    org_unit: str
    org_unit_name: str = Field(description="The org unit's name.")
    grain: GrainName
    filters: dict[str, str] = Field(
        description="The dimension filters applied (dimension: value); empty for none."
    )
    unit: UnitName
    points: list[Point] = Field(description="One per period, oldest first.")


class SeriesSet(BaseModel):
    """One series for the unit itself (`org_unit` rows of its own) and one per child unit."""

    model_config = response_config(
        {
            "shape": "children",
            "kpi": "sick_leave_pct",
            "grain": "month",
            "series": [
                {
                    "shape": "series",
                    "kpi": "sick_leave_pct",
                    "org_unit": "SUS-AKUT",
                    "org_unit_name": "Akutmottagningen",
                    "grain": "month",
                    "filters": {},
                    "unit": "percent",
                    "points": [{**_POINT_EXAMPLE, "period": "2024-03"}],
                }
            ],
        },
        json_schema_serialization_defaults_required=True,
    )

    shape: Literal["children"] = Field(
        default="children",
        description="`children`: the answer to `children=true`, one series per unit.",
    )
    kpi: str
    grain: GrainName
    series: list[Series] = Field(
        description="The unit's own series first (when data is booked on the unit itself), "
        "then one per child unit."
    )


# The series endpoint's answer: one series, or one per child unit, told apart by `shape`.
SeriesAnswer = Annotated[Series | SeriesSet, Field(discriminator="shape")]


class ScorecardRow(BaseModel):
    """One KPI (and profession) with a target for the scorecard's unit: its point for the
    period."""

    kpi: str
    name_en: str
    name_sv: str
    unit: UnitName
    profession: str | None
    point: Point


class Scorecard(BaseModel):
    """Every KPI with a target for one org unit and period, with its point: the table an
    annual report prints."""

    model_config = response_config(
        {
            "org_unit": "HELAR",
            "period": "2018",
            "rows": [
                {
                    "kpi": "agency_cost_sek",
                    "name_en": "Agency staff cost",
                    "name_sv": "Kostnad för inhyrd personal",
                    "unit": "sek",
                    "profession": None,
                    "point": _POINT_EXAMPLE,
                }
            ],
        }
    )

    org_unit: str
    period: str
    rows: list[ScorecardRow]


Comparator = Annotated[
    Literal["lte", "gte", "lt", "gt"],
    Field(description='lte ≤, gte ≥, lt < ("below 585 weeks"), gt > the bound.'),
]


class TargetBase(BaseModel):
    comparator: Comparator
    bound: Literal["absolute", "baseline", "count"] = Field(
        description="absolute: `value`; baseline: the KPI's value in `baseline_period` × "
        "`factor`; count: `value` per `per_grain` period (scaled to the series' grain)."
    )
    value: Number | None = None
    per_grain: GrainName | None = None
    baseline_period: Annotated[str, Field(max_length=16, json_schema_extra=PERIOD_LABEL)] | None = (
        None
    )
    factor: Factor | None = None
    valid_from: Annotated[
        str, Field(description="First month, YYYY-MM.", max_length=7, json_schema_extra=YEAR_MONTH)
    ]
    valid_to: (
        Annotated[
            str,
            Field(description="Last month, YYYY-MM.", max_length=7, json_schema_extra=YEAR_MONTH),
        ]
        | None
    ) = None
    description: Text | None = None
    reach_by: Annotated[
        str | None,
        Field(
            max_length=16,
            json_schema_extra=PERIOD_LABEL,
            description="A period label: the bound is to be reached by then, on a straight "
            "line from the KPI's value in `start_period`; each period is judged against the "
            "line's value for it (the bound itself from `reach_by` on).",
        ),
    ] = None
    start_period: Annotated[
        str | None,
        Field(
            max_length=16,
            json_schema_extra=PERIOD_LABEL,
            description="Where the line to `reach_by` starts: a period label.",
        ),
    ] = None

    @model_validator(mode="after")
    def _bound_fields(self) -> Self:
        if (self.reach_by is None) != (self.start_period is None):
            raise ValueError("`reach_by` and `start_period` go together")
        if self.bound in ("absolute", "count") and self.value is None:
            raise ValueError(f"a {self.bound} target needs `value`")
        if self.bound == "count" and self.per_grain is None:
            raise ValueError("a count target needs `per_grain` (e.g. year for 700 weeks a year)")
        if self.bound == "baseline" and self.baseline_period is None:
            raise ValueError("a baseline target needs `baseline_period`")
        if self.bound != "baseline" and (self.baseline_period or self.factor):
            raise ValueError("`baseline_period` and `factor` belong to a baseline target")
        return self


class TargetCreate(TargetBase):
    model_config = request_config(
        {
            "kpi": "agency_cost_sek",
            "org_unit": "HELAR",
            "include_subtree": True,
            "comparator": "lte",
            "bound": "baseline",
            "baseline_period": "2015",
            "factor": "1.0",
            "valid_from": "2016-01",
            "valid_to": "2018-12",
            "description": "Agency costs back to the 2015 level",
        }
    )

    kpi: Annotated[str, Field(max_length=64)]
    org_unit: Code
    include_subtree: bool = True
    profession: Code | None = None


class TargetUpdate(BaseModel):
    model_config = request_config({"value": "3.5", "description": "Lowered for 2025"})

    comparator: Comparator | None = None
    value: Number | None = None
    factor: Factor | None = None
    valid_to: Annotated[str, Field(max_length=7)] | None = None
    description: Text | None = None


class TargetRead(BaseModel):
    model_config = response_config(
        {
            "id": "0b7f3c1e-6d0a-4a51-9a43-0d2b7c1f2e11",
            "kpi": "sick_leave_pct",
            "org_unit": "RS",
            "include_subtree": True,
            "profession": None,
            "comparator": "lte",
            "bound": "absolute",
            "value": "3.0",
            "per_grain": None,
            "baseline_period": None,
            "factor": None,
            "valid_from": "2024-01",
            "valid_to": None,
            "description": "Sick leave at most 3 %",
            "reach_by": None,
            "start_period": None,
            **VERSIONED_EXAMPLE,
        }
    )

    id: str
    kpi: str
    org_unit: str
    include_subtree: bool
    profession: str | None
    comparator: Comparator
    bound: Literal["absolute", "baseline", "count"] = Field(
        description="absolute: `value`; baseline: the KPI's value in `baseline_period` × "
        "`factor`; count: `value` per `per_grain` period (scaled to the series' grain)."
    )
    value: DecimalOut | None
    per_grain: GrainName | None
    baseline_period: str | None = Field(
        description="The period whose value a `baseline` bound starts from; null otherwise."
    )
    factor: DecimalOut | None
    valid_from: str
    valid_to: str | None
    description: str | None
    reach_by: str | None = Field(
        description="The period by which the bound is to be reached on a straight line; null "
        "for a plain bound."
    )
    start_period: str | None = Field(
        description="Where the line to `reach_by` starts (a period label); null without one."
    )
    created_at: datetime
    updated_at: datetime
    version: int


_RECALCULATION_EXAMPLE: dict[str, Any] = {"org_unit": "SUS", "from": "2024-01", "to": "2024-06"}


class RecalculationCreate(BaseModel):
    model_config = request_config(_RECALCULATION_EXAMPLE)

    org_unit: Code | None = None
    from_: Annotated[str | None, Field(alias="from", max_length=16)] = None
    to: Annotated[str | None, Field(max_length=16)] = None


class RecalculationRead(BaseModel):
    model_config = response_config(
        {
            "id": "5d1e…",
            "status": "succeeded",
            **_RECALCULATION_EXAMPLE,
            "cells": 120,
            "error": None,
            "created_at": "2026-11-25T08:00:00Z",
            "finished_at": "2026-11-25T08:00:02Z",
            "updated_at": "2026-11-25T08:00:02Z",
        },
        populate_by_name=True,
    )

    id: str
    status: Literal["queued", "running", "succeeded", "failed"]
    org_unit: str | None
    from_: str | None = Field(alias="from")
    to: str | None
    cells: int = Field(
        description="How many org unit months with data it marked for recomputing (0 until "
        "it runs)."
    )
    error: str | None
    created_at: datetime
    finished_at: datetime | None
    updated_at: datetime = Field(
        description="When its status or figures last changed; what `updated_since` compares."
    )


def as_json(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", by_alias=True)


_CLOSURE_EXAMPLE: dict[str, Any] = {
    "period": "2023",
    "closed_by": "key:admin",
    "closed_at": "2024-02-15T10:00:00Z",
    "reopened_by": None,
    "reopened_at": None,
    "reopen_reason": None,
    "published_points": 5812,
}


class PeriodClosureRead(BaseModel):
    model_config = response_config(_CLOSURE_EXAMPLE)

    period: str = Field(description="The closed period's label.")
    closed_by: str = Field(description="Who closed it (`key:<name>` or `person:<id>`).")
    closed_at: datetime = Field(description="When it was closed.")
    reopened_by: str | None = Field(description="Who reopened it; null while closed.")
    reopened_at: datetime | None = Field(description="When it was reopened; null while closed.")
    reopen_reason: str | None = Field(description="Why it was reopened; null while closed.")
    published_points: int | None = Field(
        default=None, description="KPI points published by this close (on closing)."
    )


class ReopenIn(BaseModel):
    model_config = request_config({"reason": "Sick leave of March corrected after an audit"})

    reason: Annotated[Text, Field(min_length=1)]
