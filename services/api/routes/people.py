from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Query, Response

from services.api.deps import (
    IdempotencyDep,
    IfMatch,
    PageDep,
    PeopleWriter,
    Reader,
    SessionDep,
    UpdatedSince,
    api_router,
)
from services.api.operations import creates, deletes, lists, reads, updates
from services.api.responses import created, no_content, versioned
from services.core.pagination import Page, Tombstone
from services.core.people import service as people_service
from services.core.people.schemas import PersonCreate, PersonRead, PersonUpdate

router = api_router(prefix="/people", tags=["people"])


@router.get("", **lists("List people", Page[PersonRead | Tombstone]))
async def list_people(
    session: SessionDep,
    principal: Reader,
    page: PageDep,
    updated_since: UpdatedSince = None,
    q: Annotated[str | None, Query(max_length=100, description="Name or initials contain.")] = None,
) -> Page[PersonRead | Tombstone]:
    """Named officials: owners of plans and actions, meeting attendees, assignees."""
    return await people_service.list_people(
        session, principal, q=q, window=page.window(updated_since)
    )


@router.post("", **creates("Register a person", PersonRead, 409))
async def create_person(
    data: PersonCreate, session: SessionDep, principal: PeopleWriter, idem: IdempotencyDep
) -> Response:
    """Needs `plans:write` or `meetings:write`. Accepts `Idempotency-Key`."""
    if (replay := await idem.replay()) is not None:
        return replay
    person = await people_service.create(session, principal, data)
    return await created(idem, session, person, f"/v1/people/{person.id}")


@router.get("/{person_id}", **reads("Get a person", PersonRead))
async def get_person(person_id: uuid.UUID, session: SessionDep, principal: Reader) -> Any:
    return versioned(await people_service.read(session, principal, person_id))


@router.patch("/{person_id}", **updates("Change a person", PersonRead))
async def update_person(
    person_id: uuid.UUID,
    data: PersonUpdate,
    session: SessionDep,
    principal: PeopleWriter,
    if_match: IfMatch = None,
) -> Any:
    person = await people_service.update(session, principal, person_id, data, if_match=if_match)
    return versioned(person)


@router.delete("/{person_id}", **deletes("Remove a person", 412))
async def delete_person(
    person_id: uuid.UUID, session: SessionDep, principal: PeopleWriter, if_match: IfMatch = None
) -> Response:
    """Soft delete: references from plans and meetings keep working; mirrors see a tombstone."""
    await people_service.delete(session, principal, person_id, if_match=if_match)
    return no_content()
