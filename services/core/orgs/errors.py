from services.core.errors import Conflict, NotFound, ValidationFailed


class OrgUnitNotFound(NotFound):
    code = "org_unit_not_found"
    title = "Org unit not found"


class OrgUnitCodeTaken(Conflict):
    code = "org_unit_code_taken"
    title = "An org unit with this code exists"


class OrgUnitHasChildren(Conflict):
    code = "org_unit_has_children"
    title = "The org unit has child units"


class OrgTreeInvalid(ValidationFailed):
    code = "org_tree_invalid"
    title = "The org tree would be invalid"
