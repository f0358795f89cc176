"""Request and response models of action plans. Money is a decimal string in SEK."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, NamedTuple

from pydantic import AliasChoices, BaseModel, Field, StringConstraints

from services.core.contract import VERSIONED_EXAMPLE, request_config, response_config
from services.core.people.schemas import PersonRef
from services.core.validation import Code, DecimalOut, LocalDate, Money, Name, Rfc3339Time, Text

ActionCode = Annotated[
    str, StringConstraints(min_length=1, max_length=32, pattern=r"^[\w][\w.\-]*$")
]
Progress = Annotated[int, Field(ge=0, le=100, description="Per cent done, 0–100.")]


def _follow_up_due_on(owner: str, *, read: bool = False) -> Any:
    description = (
        f"The next report-back (återrapportering) due: a follow-up {owner} owes by this date. "
        "Puls reminds them before it and sends an overdue notice after it; recording a "
        "follow-up on it settles it (see `next_follow_up_due_on` of a follow-up). Null: none "
        "owed."
    )
    # A read always carries the field (null or a date); a write may leave it out.
    return Field(description=description) if read else Field(None, description=description)


_ACTION_FOLLOW_UP_DUE = "the action's responsible"
_PLAN_FOLLOW_UP_DUE = "the plan's owner"


class PlanStatus(StrEnum):
    """Where an action plan stands in its life."""

    draft = "draft"
    decided = "decided"
    active = "active"
    completed = "completed"
    cancelled = "cancelled"


class ActionStatus(StrEnum):
    """Where an action stands."""

    not_started = "not_started"
    in_progress = "in_progress"
    done = "done"
    postponed = "postponed"
    cancelled = "cancelled"


class ActionSort(StrEnum):
    """Orders of an actions list besides the default (by id); no due date sorts last."""

    due_date = "due_date"
    due_date_desc = "-due_date"


class Rag(StrEnum):
    """A follow-up's traffic light: `green` on track, `amber` at risk, `red` off track."""

    green = "green"
    amber = "amber"
    red = "red"


# Where each status may go. Reopening is its own step: cancelled → not_started, done →
# in_progress; anything else out of a closed state is refused.
PLAN_TRANSITIONS: dict[str, set[str]] = {
    "draft": {"decided", "cancelled"},
    "decided": {"draft", "active", "cancelled"},
    "active": {"completed", "cancelled"},
    "completed": {"active"},
    "cancelled": {"draft"},
}
ACTION_TRANSITIONS: dict[str, set[str]] = {
    "not_started": {"in_progress", "done", "postponed", "cancelled"},
    "in_progress": {"not_started", "done", "postponed", "cancelled"},
    "postponed": {"not_started", "in_progress", "done", "cancelled"},
    "done": {"in_progress"},
    "cancelled": {"not_started"},
}
DONE_BELOW_100 = "done_with_progress_below_100"

_PLAN_ID = "3f2b6c1e-8a4d-4e2f-9b1a-7c5d2e8f0a13"
_PERSON_ID = "5d1c0f8a-7b2e-4f7e-9a51-0c9a3e1d2b44"
_PACKAGE_ID = "8c7e2d14-5b3a-4f61-a2c9-1e0d9b8a7f65"
_ACTION_ID = "b4e1a9c2-6d3f-4a87-9e15-2f8c0d7b6a31"
_TARGET_ID = "e9d8c7b6-a5f4-4e3d-8c2b-1a0f9e8d7c6b"


class AreaIn(BaseModel):
    model_config = request_config({"name_en": "Recruitment", "name_sv": "Rekrytering"})

    name_en: Name
    name_sv: Name


class AreaRead(BaseModel):
    model_config = response_config(
        {
            "code": "recruitment",
            "name_en": "Recruitment",
            "name_sv": "Rekrytering",
            "created_at": "2026-11-25T08:00:00Z",
            "updated_at": "2026-11-25T08:00:00Z",
        }
    )

    code: str
    created_at: datetime
    updated_at: datetime = Field(description="When the entry was added or last renamed.")
    name_en: str
    name_sv: str


_PLAN_CREATE_EXAMPLE: dict[str, Any] = {
    "title": "Bemanningsprojektet 2016–2018",
    "purpose": "Minska beroendet av inhyrd personal.",
    "org_unit": "RS",
    "owner_id": _PERSON_ID,
    "period_start": "2016-12-01",
    "period_end": "2018-12-31",
    "status": "draft",
    "cost_estimate_sek": "2500000.00",
    "expected_saving_sek": "62000000.00",
    "calculation_basis": "Hyrkostnad 2017 189,9 mkr mot 2015 års nivå 127,9 mkr.",
    "kpi_target_ids": [_TARGET_ID],
    "follow_up_due_on": "2017-06-30",
}


class PlanCreate(BaseModel):
    model_config = request_config(_PLAN_CREATE_EXAMPLE)

    title: Name
    purpose: Text | None = None
    org_unit: Code
    owner_id: uuid.UUID | None = Field(default=None, description="A person from /v1/people.")
    period_start: LocalDate
    period_end: LocalDate
    status: PlanStatus = PlanStatus.draft
    decided_at: Rfc3339Time | None = None
    decided_by: uuid.UUID | None = Field(
        default=None,
        validation_alias=AliasChoices("decided_by_decision_id", "decided_by"),
        description="The meeting decision (`/v1/decisions/{id}`) that decided the plan, if "
        "recorded. `decided_by` is still accepted for one version.",
    )
    cost_estimate_sek: Money | None = None
    expected_saving_sek: Money | None = None
    calculation_basis: Text | None = Field(
        default=None,
        description="How cost and saving were calculated (every plan should state it).",
    )
    no_cost_impact: bool = Field(
        default=False,
        description="The plan neither costs nor saves money: with `no_cost_impact_reason`, the "
        "economic calculation of a plan without `cost_estimate_sek` or `expected_saving_sek`.",
    )
    no_cost_impact_reason: Text | None = Field(
        default=None, description="Why the plan has no cost impact; required with it."
    )
    kpi_target_ids: list[uuid.UUID] = Field(default_factory=list, max_length=100)
    follow_up_due_on: LocalDate | None = _follow_up_due_on(_PLAN_FOLLOW_UP_DUE)


class PlanUpdate(BaseModel):
    model_config = request_config({"status": "active"})

    title: Name | None = None
    purpose: Text | None = None
    org_unit: Code | None = None
    owner_id: uuid.UUID | None = None
    period_start: LocalDate | None = None
    period_end: LocalDate | None = None
    status: PlanStatus | None = None
    decided_at: Rfc3339Time | None = None
    decided_by: uuid.UUID | None = Field(
        default=None,
        validation_alias=AliasChoices("decided_by_decision_id", "decided_by"),
        description="The meeting decision that decided the plan. `decided_by` is still "
        "accepted for one version.",
    )
    cost_estimate_sek: Money | None = None
    expected_saving_sek: Money | None = None
    calculation_basis: Text | None = None
    no_cost_impact: bool | None = Field(
        default=None,
        description="The plan neither costs nor saves money (with `no_cost_impact_reason`).",
    )
    no_cost_impact_reason: Text | None = Field(
        default=None, description="Why the plan has no economic impact."
    )
    kpi_target_ids: list[uuid.UUID] | None = Field(default=None, max_length=100)
    follow_up_due_on: LocalDate | None = _follow_up_due_on(_PLAN_FOLLOW_UP_DUE)


class PlanRead(BaseModel):
    model_config = response_config(
        {
            **_PLAN_CREATE_EXAMPLE,
            "id": _PLAN_ID,
            "decided_at": None,
            "decided_by_decision_id": None,
            "decided_by": None,
            "no_cost_impact": False,
            "no_cost_impact_reason": None,
            **VERSIONED_EXAMPLE,
        }
    )

    id: uuid.UUID
    title: str
    purpose: str | None
    org_unit: str
    owner_id: uuid.UUID | None
    owner: PersonRef | None = Field(
        default=None, description="`owner_id` with the person's name and initials."
    )
    period_start: date
    period_end: date
    status: PlanStatus
    decided_at: datetime | None
    decided_by_decision_id: uuid.UUID | None = Field(
        default=None, description="The meeting decision (`/v1/decisions/{id}`) that decided it."
    )
    decided_by: uuid.UUID | None = Field(
        deprecated=True,
        description="Deprecated: the same as `decided_by_decision_id`, removed in the next "
        "version.",
    )
    cost_estimate_sek: DecimalOut | None
    expected_saving_sek: DecimalOut | None
    calculation_basis: str | None
    no_cost_impact: bool = Field(description="The plan neither costs nor saves money.")
    no_cost_impact_reason: str | None = Field(description="Why the plan has no economic impact.")
    kpi_target_ids: list[uuid.UUID]
    follow_up_due_on: date | None = _follow_up_due_on(_PLAN_FOLLOW_UP_DUE, read=True)
    created_at: datetime
    updated_at: datetime
    version: int


_PACKAGE_EXAMPLE: dict[str, Any] = {
    "name": "Nära vård i samverkan",
    "description": "Utökad samverkan och standardiserade arbetssätt.",
    "owner_ids": [_PERSON_ID, "6e2d1a9b-8c3f-4d7e-a1b2-3c4d5e6f7a8b"],
    "due_date": "2018-12-31",
    "cost_goal": None,
}
# Marked deprecated in the contract only: pydantic's own `deprecated` warns on every access.
_DEPRECATED: dict[str, Any] = {"deprecated": True}


def _owner_ids() -> Any:
    return Field(
        default=None,
        max_length=20,
        description="The package's owners (ansvariga), people from /v1/people, in order.",
    )


def _owner_id() -> Any:
    return Field(
        default=None,
        json_schema_extra=_DEPRECATED,
        description="Deprecated, removed in the next version: one owner; use `owner_ids`. "
        "Sent alone it sets `owner_ids` to that one person; sent with `owner_ids` it must be "
        "their first.",
    )


class PackageCreate(BaseModel):
    model_config = request_config(_PACKAGE_EXAMPLE)

    name: Name
    description: Text | None = None
    owner_ids: list[uuid.UUID] | None = _owner_ids()
    owner_id: uuid.UUID | None = _owner_id()
    due_date: LocalDate | None = None
    cost_goal: Name | None = Field(default=None, description='Free text, e.g. "< 700 weeks".')


class PackageUpdate(BaseModel):
    model_config = request_config({"due_date": "2019-03-31"})

    name: Name | None = None
    description: Text | None = None
    owner_ids: list[uuid.UUID] | None = _owner_ids()
    owner_id: uuid.UUID | None = _owner_id()
    due_date: LocalDate | None = None
    cost_goal: Name | None = None


class PackageRead(BaseModel):
    model_config = response_config(
        {
            **_PACKAGE_EXAMPLE,
            "owners": [
                {"id": _PERSON_ID, "name": "Anna Granevärn", "initials": "AG"},
                {
                    "id": "6e2d1a9b-8c3f-4d7e-a1b2-3c4d5e6f7a8b",
                    "name": "Anita Secher",
                    "initials": "AS",
                },
            ],
            "owner_id": _PERSON_ID,
            "id": _PACKAGE_ID,
            "plan_id": _PLAN_ID,
            **VERSIONED_EXAMPLE,
        }
    )

    id: uuid.UUID
    plan_id: uuid.UUID
    name: str
    description: str | None
    owner_ids: list[uuid.UUID] = Field(description="The package's owners, in order.")
    owners: list[PersonRef] = Field(
        default_factory=list,
        description="`owner_ids` with each person's name and initials, in the same order.",
    )
    owner_id: uuid.UUID | None = Field(
        json_schema_extra=_DEPRECATED,
        description="Deprecated, removed in the next version: the first of `owner_ids`.",
    )
    due_date: date | None
    cost_goal: str | None
    created_at: datetime
    updated_at: datetime
    version: int


_ACTION_EXAMPLE: dict[str, Any] = {
    "code": "3.2",
    "title": "Ta fram bemanningsplan med måltal för antal AT, ST",
    "description": "Ingår i produktionsstyrningsarbetet.",
    "area": "staffing_plan",
    "package_id": _PACKAGE_ID,
    "responsible_id": _PERSON_ID,
    "org_unit": "RS",
    "start_date": "2017-01-01",
    "due_date": "2018-12-31",
    "follow_up_due_on": "2017-09-30",
    "status": "in_progress",
    "progress": 60,
}


class ActionCreate(BaseModel):
    """Also one row of `PUT …/actions`: every field is written, left-out ones reset."""

    model_config = request_config(_ACTION_EXAMPLE)

    code: ActionCode = Field(description='Unique within the plan, e.g. "3.2".')
    title: Name
    description: Text | None = None
    area: Code | None = Field(default=None, description="A code from /v1/action-areas.")
    package_id: uuid.UUID | None = Field(default=None, description="A package of the same plan.")
    responsible_id: uuid.UUID | None = Field(default=None, description="A person.")
    org_unit: Code | None = None
    start_date: LocalDate | None = None
    due_date: LocalDate | None = None
    follow_up_due_on: LocalDate | None = _follow_up_due_on(_ACTION_FOLLOW_UP_DUE)
    status: ActionStatus = ActionStatus.not_started
    progress: Progress = 0


class ActionUpdate(BaseModel):
    model_config = request_config({"status": "done", "progress": 100})

    code: ActionCode | None = None
    title: Name | None = None
    description: Text | None = None
    area: Code | None = None
    package_id: uuid.UUID | None = None
    responsible_id: uuid.UUID | None = None
    org_unit: Code | None = None
    start_date: LocalDate | None = None
    due_date: LocalDate | None = None
    follow_up_due_on: LocalDate | None = _follow_up_due_on(_ACTION_FOLLOW_UP_DUE)
    status: ActionStatus | None = None
    progress: Progress | None = None


class ActionRead(BaseModel):
    model_config = response_config(
        {
            **_ACTION_EXAMPLE,
            "id": _ACTION_ID,
            "plan_id": _PLAN_ID,
            "overdue": False,
            "overdue_since": None,
            "warnings": [],
            **VERSIONED_EXAMPLE,
        }
    )

    id: uuid.UUID
    plan_id: uuid.UUID
    code: str
    title: str
    description: str | None
    area: str | None
    package_id: uuid.UUID | None
    responsible_id: uuid.UUID | None
    responsible: PersonRef | None = Field(
        default=None, description="`responsible_id` with the person's name and initials."
    )
    org_unit: str | None
    start_date: date | None
    due_date: date | None
    follow_up_due_on: date | None = _follow_up_due_on(_ACTION_FOLLOW_UP_DUE, read=True)
    status: ActionStatus
    progress: int
    overdue: bool = Field(description="Marked by the daily scan: past due and not finished.")
    overdue_since: date | None
    warnings: list[str] = Field(
        description=f"`{DONE_BELOW_100}`: marked done while progress is under 100 (allowed)."
    )
    created_at: datetime
    updated_at: datetime
    version: int


class ActionBulkResult(BaseModel):
    """What a bulk write of a plan's actions did: how many it inserted, updated and left as
    they were."""

    model_config = response_config(
        {"inserted": 60, "updated": 4, "unchanged": 1, "actions_version": 7}
    )

    inserted: int
    updated: int
    unchanged: int
    actions_version: int = Field(description="The collection's new ETag value.")


_FOLLOW_UP_EXAMPLE: dict[str, Any] = {
    "action_id": _ACTION_ID,
    "reported_on": "2018-06-30",
    "ongoing_work": "Arbete med nedtrappning av inhyrda sjuksköterskor pågår.",
    "result": "Kostnaden för hyrsjuksköterskor minskade med 52 %.",
    "rag": "amber",
    "meeting_id": None,
}


class FollowUpCreate(BaseModel):
    """Recording a follow-up settles the report-back owed on its action (or, without
    `action_id`, on the plan): that `follow_up_due_on` becomes `next_follow_up_due_on`, or
    null when none is given."""

    model_config = request_config({**_FOLLOW_UP_EXAMPLE, "next_follow_up_due_on": "2018-09-30"})

    action_id: uuid.UUID | None = Field(
        default=None, description="An action of the plan; none for a report on the whole plan."
    )
    reported_on: LocalDate
    ongoing_work: Text | None = None
    result: Text | None = None
    rag: Rag | None = Field(
        default=None, description="Optional: not every follow-up is rated by colour."
    )
    meeting_id: uuid.UUID | None = Field(
        default=None, description="The meeting it was reported in (issue 7), if any."
    )
    next_follow_up_due_on: LocalDate | None = Field(
        default=None,
        description="When the next report-back is due: becomes the action's (or plan's) "
        "`follow_up_due_on`. Left out, nothing more is owed. Must be after `reported_on`.",
    )


class FollowUpUpdate(BaseModel):
    model_config = request_config({"rag": "green"})

    reported_on: LocalDate | None = None
    ongoing_work: Text | None = None
    result: Text | None = None
    rag: Rag | None = None
    meeting_id: uuid.UUID | None = None


class FollowUpRead(BaseModel):
    model_config = response_config(
        {
            **_FOLLOW_UP_EXAMPLE,
            "id": "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
            "plan_id": _PLAN_ID,
            **VERSIONED_EXAMPLE,
        }
    )

    id: uuid.UUID
    plan_id: uuid.UUID
    action_id: uuid.UUID | None
    reported_on: date
    ongoing_work: str | None
    result: str | None
    rag: Rag | None
    meeting_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    version: int


class HistoryEntry(BaseModel):
    """One change to a plan or one of its parts: who changed what, and the changed fields
    before and after."""

    model_config = response_config(
        {
            "id": 42,
            "at": "2026-11-25T08:00:00Z",
            "actor": "key:0b7e5a8e-3c1f-4a55-9a8e-2f0c1d6b9e11",
            "entity_type": "action",
            "entity_id": _ACTION_ID,
            "operation": "update",
            "before": {"status": "in_progress", "progress": 60},
            "after": {"status": "done", "progress": 100},
        }
    )

    id: int
    at: datetime = Field(description="When the change was made.")
    actor: str = Field(
        description="Who made it: `person:<id>` for a signed-in person, else `key:` and the "
        "API key's id (or name)."
    )
    entity_type: str = Field(description="plan, package, action or follow_up")
    entity_id: uuid.UUID = Field(
        description="The id of the changed plan, package, action or follow-up."
    )
    operation: str = Field(description="create, update or delete")
    before: dict[str, Any] | None = Field(description="The changed fields before; null on create.")
    after: dict[str, Any] | None = Field(description="The changed fields after; null on delete.")


class PackageProgress(BaseModel):
    """One live package of the plan and how far its actions have come."""

    package_id: uuid.UUID
    name: str
    owner_ids: list[uuid.UUID] = Field(description="The package's owners, in order.")
    owner_id: uuid.UUID | None = Field(
        json_schema_extra=_DEPRECATED, description="Deprecated: the first of `owner_ids`."
    )
    due_date: date | None
    actions: int = Field(description="The package's live actions.")
    done: int
    average_progress: DecimalOut | None = Field(description="Mean progress of its live actions.")
    overdue: int = Field(
        description="Its actions past due and neither done nor cancelled, as of today."
    )


class TargetEffect(BaseModel):
    """A linked KPI target's value at the plan's start and now: the plan's effect."""

    kpi_target_id: uuid.UUID = Field(description="The linked KPI target.")
    kpi: str | None
    value_at_start: DecimalOut | None
    value_now: DecimalOut | None
    change: DecimalOut | None


class PlanSummary(BaseModel):
    """The plan as a whole: its actions by status, the overdue ones, progress per package,
    the economic calculation and the linked KPI targets' effect."""

    model_config = response_config(
        {
            "plan_id": _PLAN_ID,
            "status": "completed",
            "actions": 65,
            "done": 61,
            "by_status": {
                "not_started": 0,
                "in_progress": 4,
                "done": 61,
                "postponed": 0,
                "cancelled": 0,
            },
            "overdue": 4,
            "overdue_action_ids": [_ACTION_ID],
            "done_with_progress_below_100": 0,
            "packages": [
                {
                    "package_id": _PACKAGE_ID,
                    "name": "Inhyrda läkare i primärvården",
                    "owner_ids": [_PERSON_ID],
                    "owner_id": _PERSON_ID,
                    "due_date": "2018-12-31",
                    "actions": 10,
                    "done": 10,
                    "average_progress": "100.00",
                    "overdue": 0,
                }
            ],
            "cost_estimate_sek": "2500000.00",
            "expected_saving_sek": "62000000.00",
            "net_saving_sek": "59500000.00",
            "calculation_basis": "Hyrkostnad 2017 mot 2015 års nivå.",
            "targets": [
                {
                    "kpi_target_id": _TARGET_ID,
                    "kpi": None,
                    "value_at_start": None,
                    "value_now": None,
                    "change": None,
                }
            ],
        }
    )

    plan_id: uuid.UUID
    status: PlanStatus
    actions: int = Field(description="Live actions of the plan.")
    done: int
    by_status: dict[str, int] = Field(description="Live actions per status.")
    overdue: int = Field(description="Past due and neither done nor cancelled, as of today.")
    overdue_action_ids: list[uuid.UUID] = Field(description="The overdue actions, by due date.")
    done_with_progress_below_100: int = Field(
        description="Live actions marked done while their progress is under 100."
    )
    packages: list[PackageProgress] = Field(description="Per live package, oldest first.")
    cost_estimate_sek: DecimalOut | None
    expected_saving_sek: DecimalOut | None
    net_saving_sek: DecimalOut | None = Field(description="Expected saving minus cost estimate.")
    calculation_basis: str | None
    targets: list[TargetEffect] = Field(
        description="Per linked KPI target: its value at the plan's start and now. Values are "
        "null until the KPI engine computes them."
    )


class OverdueAction(NamedTuple):
    """An open action past due, as other domains list it (a meeting's proposals)."""

    id: uuid.UUID
    code: str
    title: str
    due_date: date
    plan_title: str


# --- the follow-up report (seed 004's columns, seed 003's packages and summary) -------------


class ReportItem(BaseModel):
    """One row of the report: an action (ärende) with its newest follow-up."""

    action_id: uuid.UUID
    code: str
    title: str
    status: ActionStatus
    due_date: date | None
    responsible: str | None = Field(description="The responsible person's name.")
    ongoing_work: str | None = Field(description="Pågående arbete, from the newest follow-up.")
    result: str | None = Field(description="Resultat, from the newest follow-up.")
    reported_on: date | None = Field(description="The newest follow-up's date.")
    rag: Rag | None


class ReportPackage(BaseModel):
    """A package of the report with its actions."""

    package_id: uuid.UUID | None = Field(description="Null for the actions in no package.")
    name: str
    owners: list[str] = Field(description="The owners' names, in order.")
    due_date: date | None
    cost_goal: str | None
    actions: int = Field(description="The package's actions with their newest follow-up.")
    done: int
    items: list[ReportItem]


class ReportTarget(BaseModel):
    """A linked KPI target's value in the month the plan started and this month."""

    kpi_target_id: uuid.UUID = Field(description="The linked target.")
    kpi: str | None
    name: str | None = Field(description="The KPI's Swedish name.")
    unit: str | None
    value_at_start: DecimalOut | None
    value_now: DecimalOut | None
    change: DecimalOut | None


class PlanReport(BaseModel):
    """The follow-up report of a plan, per package."""

    model_config = response_config(
        {
            "plan_id": _PLAN_ID,
            "title": "Bemanningsprojektet 2016–2018",
            "org_unit": "RJH",
            "status": "active",
            "period_start": "2016-12-01",
            "period_end": "2018-12-31",
            "as_of": "2018-12-31",
            "actions": 65,
            "done": 61,
            "summary": "61 av 65 klara",
            "packages": [
                {
                    "package_id": _PACKAGE_ID,
                    "name": "Nära vård i samverkan",
                    "owners": ["Anna Granevärn", "Anita Secher"],
                    "due_date": "2018-12-31",
                    "cost_goal": None,
                    "actions": 10,
                    "done": 10,
                    "items": [
                        {
                            "action_id": _ACTION_ID,
                            "code": "5",
                            "title": "Digitalisering av sjukvård och sjukvårdstjänster",
                            "status": "done",
                            "due_date": "2018-12-31",
                            "responsible": "Anna Granevärn",
                            "ongoing_work": "Distansmottagning införd på tre hälsocentraler.",
                            "result": "Minskat behov av stafetter.",
                            "reported_on": "2018-11-30",
                            "rag": None,
                        }
                    ],
                }
            ],
            "plan_follow_up": None,
            "targets": [
                {
                    "kpi_target_id": _TARGET_ID,
                    "kpi": "agency_cost_share_pct",
                    "name": "Andel hyrpersonalkostnad",
                    "unit": "%",
                    "value_at_start": "5.2",
                    "value_now": "3.7",
                    "change": "-1.5",
                }
            ],
        }
    )

    plan_id: uuid.UUID
    title: str
    org_unit: str
    status: PlanStatus
    period_start: date
    period_end: date
    as_of: date = Field(description="The region's today, when the report was made.")
    actions: int = Field(description="Live actions of the plan.")
    done: int
    summary: str = Field(description='"61 av 65 klara".')
    packages: list[ReportPackage] = Field(
        description="In the order the packages were made; the actions in no package last."
    )
    plan_follow_up: FollowUpRead | None = Field(
        description="The newest follow-up on the plan as a whole, if any."
    )
    targets: list[ReportTarget] = Field(
        description="The plan's linked targets: the KPI at the start and now."
    )
