from services.core.errors import NotFound


class PersonNotFound(NotFound):
    code = "person_not_found"
    title = "Person not found"
