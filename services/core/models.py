"""Imports every table model so `metadata` is complete for Alembic and the test harness."""

from services.core.audit.models import AuditEntry
from services.core.auth.models import ApiKey
from services.core.compliance.models import (
    AgencyExemption,
    AgencyPolicy,
    Uncheckable,
    Violation,
    ViolationHistory,
    WorkingTimeRule,
)
from services.core.db import metadata
from services.core.events.models import Event
from services.core.idempotency.models import IdempotencyRecord
from services.core.kpis.models import (
    DirtyCell,
    KpiAnalysis,
    KpiCellTotal,
    KpiFact,
    KpiFactsVersion,
    KpiPeriodClosure,
    KpiPublished,
    KpiTarget,
    KpiTargetState,
    KpiWeekFact,
    ManualKpi,
    ManualValue,
    Recalculation,
)
from services.core.meetings.models import (
    AgendaItem,
    Assignment,
    Decision,
    Meeting,
    MeetingAttendee,
    MeetingBody,
    MeetingBodyMember,
)
from services.core.notifications.models import (
    CalendarFeed,
    MailFollow,
    MailMessage,
    MailPreference,
)
from services.core.people.models import Person
from services.core.plans.models import (
    Action,
    ActionArea,
    ActionPackage,
    ActionPlan,
    ActionPlanTarget,
    FollowUp,
    PlanHistory,
)
from services.core.timedata.models import (
    Budget,
    CodeMapping,
    Employment,
    Import,
    PersonnelCost,
    Profession,
    TimeRecord,
    TimeRecordKey,
)
from services.core.tree import OrgUnit
from services.core.webhooks.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookOutboxCursor,
    WebhookOutboxGap,
    WebhookSubscription,
)

__all__ = [
    "AgencyExemption",
    "AgencyPolicy",
    "Action",
    "ActionArea",
    "ActionPackage",
    "ActionPlan",
    "ActionPlanTarget",
    "FollowUp",
    "PlanHistory",
    "AgendaItem",
    "Assignment",
    "Decision",
    "Meeting",
    "MeetingAttendee",
    "MeetingBody",
    "MeetingBodyMember",
    "ApiKey",
    "AuditEntry",
    "CalendarFeed",
    "MailFollow",
    "MailMessage",
    "MailPreference",
    "CodeMapping",
    "DirtyCell",
    "Employment",
    "Event",
    "IdempotencyRecord",
    "Import",
    "KpiCellTotal",
    "KpiAnalysis",
    "KpiPeriodClosure",
    "KpiPublished",
    "KpiWeekFact",
    "Budget",
    "KpiFact",
    "KpiFactsVersion",
    "KpiTarget",
    "KpiTargetState",
    "ManualKpi",
    "ManualValue",
    "OrgUnit",
    "Person",
    "PersonnelCost",
    "Profession",
    "Recalculation",
    "TimeRecord",
    "TimeRecordKey",
    "Uncheckable",
    "Violation",
    "ViolationHistory",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookOutboxCursor",
    "WebhookOutboxGap",
    "WebhookSubscription",
    "WorkingTimeRule",
    "metadata",
]
