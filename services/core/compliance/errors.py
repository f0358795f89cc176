from __future__ import annotations

from services.core.errors import Conflict, NotFound


class RuleNotFound(NotFound):
    code, title = "rule_not_found", "Rule not found"


class PolicyNotFound(NotFound):
    code, title = "policy_not_found", "Policy not found"


class ExemptionNotFound(NotFound):
    code, title = "exemption_not_found", "Exemption not found"


class OverlappingExemption(Conflict):
    code, title = "overlapping_exemption", "Overlapping exemption"


class ExemptionAlreadyDecided(Conflict):
    code, title = "exemption_already_decided", "Exemption already decided"
