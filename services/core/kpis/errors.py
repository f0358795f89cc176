from __future__ import annotations

from services.core.errors import Conflict, NotFound, ValidationFailed


class KpiNotFound(NotFound):
    code, title = "kpi_not_found", "KPI not found"


class TargetNotFound(NotFound):
    code, title = "target_not_found", "Target not found"


class RecalculationNotFound(NotFound):
    code, title = "recalculation_not_found", "Recalculation not found"


class KpiExists(Conflict):
    code, title = "kpi_exists", "KPI exists"


class InvalidKpiRequest(ValidationFailed):
    """A period, grain, filter or bound the KPI cannot have (422 naming the parameter)."""

    code = "validation_failed"


def invalid(loc: list[str | int], msg: str, code: str = "invalid") -> InvalidKpiRequest:
    return InvalidKpiRequest(msg, errors=[{"loc": loc, "msg": msg, "code": code}])
