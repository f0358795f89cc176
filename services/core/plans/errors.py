from services.core.errors import Conflict, NotFound, ValidationFailed


class PlanNotFound(NotFound):
    code = "action_plan_not_found"
    title = "Action plan not found"


class PackageNotFound(NotFound):
    code = "action_package_not_found"
    title = "Action package not found"


class ActionNotFound(NotFound):
    code = "action_not_found"
    title = "Action not found"


class FollowUpNotFound(NotFound):
    code = "follow_up_not_found"
    title = "Follow-up not found"


class PlanInvalid(ValidationFailed):
    code = "action_plan_invalid"
    title = "Action plan input is invalid"


class PlanNotDecidable(ValidationFailed):
    """Seed 000: "Handlingsplanerna måste tidsättas och förses med en ekonomisk kalkyl"."""

    code = "action_plan_not_decidable"
    title = "A decided plan needs a time plan and an economic calculation"


class ActionCodeTaken(Conflict):
    code = "action_code_taken"
    title = "Action code already used in this plan"


class InvalidTransition(Conflict):
    code = "invalid_status_transition"
    title = "Status transition not allowed"


class PackageInUse(Conflict):
    code = "action_package_in_use"
    title = "Action package still has actions"
