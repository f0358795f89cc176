"""Named officials. Other domains reference them by id (`people_service.get_visible`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.audit import service as audit_service
from services.core.crud import Window, page_of, read_as, visible_or_404
from services.core.errors import ValidationFailed
from services.core.http import check_if_match
from services.core.orgs import service as orgs_service
from services.core.pagination import Page, Tombstone
from services.core.people import repository
from services.core.people.errors import PersonNotFound
from services.core.people.models import Person
from services.core.people.schemas import PersonCreate, PersonRead, PersonRef, PersonUpdate
from services.core.principal import Principal


def _to_read(person: Person, org_code: str | None) -> PersonRead:
    return read_as(PersonRead, person, org_unit=org_code)


async def _visible_row(
    session: AsyncSession, principal: Principal, person_id: uuid.UUID, *, for_update: bool = False
) -> Any:
    # People without a unit are shared officials (e.g. region management): visible to all.
    return visible_or_404(
        await repository.get(session, person_id, for_update=for_update),
        lambda row: row[2] is None or principal.sees_path(row[2]),
        PersonNotFound(f"No person with id {person_id}"),
    )


async def get_visible(
    session: AsyncSession, principal: Principal, person_id: uuid.UUID, *, for_update: bool = False
) -> Person:
    """The person if the caller may see them; 404 otherwise (also for other units' people)."""
    person: Person = (await _visible_row(session, principal, person_id, for_update=for_update))[0]
    return person


async def require_person(
    session: AsyncSession, principal: Principal, person_id: uuid.UUID, loc: list[str | int]
) -> Person:
    """For other domains: a referenced person that does not exist is a 422 naming the field."""
    try:
        return await get_visible(session, principal, person_id)
    except PersonNotFound:
        raise ValidationFailed(
            f"Unknown person {person_id}",
            errors=[{"loc": loc, "msg": f"unknown person {person_id}", "code": "unknown_person"}],
        ) from None


async def _org_unit_id(
    session: AsyncSession, principal: Principal, code: str | None
) -> tuple[int | None, str | None]:
    if code is None:
        return None, None
    unit = await orgs_service.get_referenced(
        session, principal, code, ["body", "org_unit"], detail=f"Unknown org unit {code!r}"
    )
    return unit.id, unit.code


async def read(session: AsyncSession, principal: Principal, person_id: uuid.UUID) -> PersonRead:
    row = await _visible_row(session, principal, person_id)
    return _to_read(row[0], row[1])


async def list_people(
    session: AsyncSession,
    principal: Principal,
    *,
    q: str | None,
    window: Window,
) -> Page[PersonRead | Tombstone]:
    rows = await repository.list_page(session, scope_path=principal.org_path, q=q, window=window)
    return page_of(rows, window, lambda r: _to_read(r[0], r[1]))


def _shared_official(principal: Principal) -> None:
    principal.require_whole_region("A person without an org unit (a shared official)")


async def create(session: AsyncSession, principal: Principal, data: PersonCreate) -> PersonRead:
    if data.org_unit is None:
        _shared_official(principal)
    org_unit_id, org_code = await _org_unit_id(session, principal, data.org_unit)
    person = Person(
        name=data.name,
        initials=data.initials,
        title=data.title,
        email=data.email,
        org_unit_id=org_unit_id,
    )
    await audit_service.add_audited(session, principal, person, "person", org_unit_id=org_unit_id)
    return _to_read(person, org_code)


async def update(
    session: AsyncSession,
    principal: Principal,
    person_id: uuid.UUID,
    data: PersonUpdate,
    *,
    if_match: str | None,
) -> PersonRead:
    person = await get_visible(session, principal, person_id, for_update=True)
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    # Every key sees the shared officials; only keys of the whole region change them.
    if person.org_unit_id is None or ("org_unit" in changes and changes["org_unit"] is None):
        _shared_official(principal)
    check_if_match(if_match, person.version)
    if "name" in changes and changes["name"] is None:
        raise ValidationFailed(
            "name cannot be null",
            errors=[{"loc": ["body", "name"], "msg": "cannot be null", "code": "null"}],
        )
    if "org_unit" in changes:
        person.org_unit_id, _ = await _org_unit_id(session, principal, changes.pop("org_unit"))
    await audit_service.update_audited(
        session, principal, person, changes, "person", fields=data.model_fields_set
    )
    return await read(session, principal, person_id)


async def delete(
    session: AsyncSession, principal: Principal, person_id: uuid.UUID, *, if_match: str | None
) -> None:
    person = await get_visible(session, principal, person_id, for_update=True)
    if person.org_unit_id is None:
        _shared_official(principal)
    check_if_match(if_match, person.version)
    await audit_service.delete_audited(session, principal, person, "person")


async def visible_ids(
    session: AsyncSession, principal: Principal, ids: set[uuid.UUID]
) -> set[uuid.UUID]:
    """For other domains checking many references at once: the ids the caller may see."""
    return await repository.visible_ids(session, ids, principal.org_path)


async def by_ids(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Person]:
    """For other domains naming people they stored (deleted ones too)."""
    return await repository.by_ids(session, ids)


async def refs(
    session: AsyncSession, ids: Iterable[uuid.UUID | None]
) -> dict[uuid.UUID, PersonRef]:
    """For other domains' views: the people these ids name, with their names (removed people
    too: a view names whoever it referred to)."""
    wanted = list({i for i in ids if i is not None})
    people = await repository.by_ids(session, wanted) if wanted else {}
    return {pid: PersonRef(id=pid, name=p.name, initials=p.initials) for pid, p in people.items()}


def ref(found: dict[uuid.UUID, PersonRef], person_id: uuid.UUID | None) -> PersonRef | None:
    """The person an id names, from `refs`' answer (None for no id)."""
    if person_id is None:
        return None
    return found.get(person_id) or PersonRef(id=person_id, name=None, initials=None)
