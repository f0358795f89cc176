from __future__ import annotations

from services.core.errors import Conflict, NotFound


class KpiNotFound(NotFound):
    code, title = "kpi_not_found", "KPI not found"


class TargetNotFound(NotFound):
    code, title = "target_not_found", "Target not found"


class ManualValueNotFound(NotFound):
    code, title = "manual_value_not_found", "Manual KPI value not found"


class RecalculationNotFound(NotFound):
    code, title = "recalculation_not_found", "Recalculation not found"


class KpiExists(Conflict):
    code, title = "kpi_exists", "KPI exists"


class AnalysisNotFound(NotFound):
    code, title = "analysis_not_found", "Analysis not found"


class PeriodClosed(Conflict):
    code, title = "period_closed", "Period already closed"


class PeriodNotClosed(Conflict):
    code, title = "period_not_closed", "Period not closed"
