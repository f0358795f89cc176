"""Working-time rules, agency policies and their violations, detected by the KPI recalculation:
importing this package registers the detection and its facts with the KPI engine (kpis.facts),
which refuses to recalculate without them. Whatever recalculates imports it (the worker's KPI
tasks; the API through its compliance routes)."""

from services.core.compliance.detection import register_with_kpis

register_with_kpis()
