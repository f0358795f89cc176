from services.core.errors import Conflict, Forbidden, NotFound


class PersonNotFound(NotFound):
    code = "person_not_found"
    title = "Person not found"


class SubjectTaken(Conflict):
    code = "subject_taken"
    title = "Another person already has this subject"


class SubjectNeedsAdmin(Forbidden):
    # The code of every missing scope (auth's MissingScope), which people cannot import.
    code = "missing_scope"
    title = "The API key lacks the scope this operation needs"
