from services.core.errors import Conflict, NotFound
from services.core.errors import NotAcceptable as NotAcceptable  # the minutes' 406, shared


class BodyNotFound(NotFound):
    code = "body_not_found"
    title = "Body not found"


class MeetingNotFound(NotFound):
    code = "meeting_not_found"
    title = "Meeting not found"


class AgendaItemNotFound(NotFound):
    code = "agenda_item_not_found"
    title = "Agenda item not found"


class DecisionNotFound(NotFound):
    code = "decision_not_found"
    title = "Decision not found"


class BodyHasApprovedMinutes(Conflict):
    code = "body_has_approved_minutes"
    title = "The body has meetings with approved minutes"


class AssignmentNotFound(NotFound):
    code = "assignment_not_found"
    title = "Assignment not found"


class MeetingLocked(Conflict):
    code = "meeting_locked"
    title = "Minutes approved: the meeting is locked"
