"""Named officials. Other domains reference them by id (`people_service.get_visible`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.audit import service as audit_service
from services.core.crud import Window, page_of, read_as, visible_or_404
from services.core.errors import ValidationFailed
from services.core.http import check_if_match
from services.core.orgs import service as orgs_service
from services.core.pagination import Page, Tombstone
from services.core.people import repository
from services.core.people.errors import PersonNotFound, SubjectNeedsAdmin, SubjectTaken
from services.core.people.models import Person
from services.core.people.schemas import PersonCreate, PersonRead, PersonRef, PersonUpdate
from services.core.principal import Principal, Scope


@dataclass(frozen=True)
class SignInPerson:
    """The person a sign-in token maps to, with their unit (code and path) if any."""

    id: uuid.UUID
    name: str
    org_unit_code: str | None
    org_unit_path: str | None


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


async def _check_subject(
    session: AsyncSession, principal: Principal, subject: str | None, person_id: uuid.UUID | None
) -> None:
    """Linking a sign-in identity is an admin's act: whoever holds tokens with this subject
    acts as the person (and sees the person's subtree), so a key that may only edit people must
    not be able to give itself someone else's identity."""
    if not principal.has_scope(Scope.admin):
        raise SubjectNeedsAdmin("Setting a person's subject needs the 'admin' scope")
    if subject is None:
        return
    holder = await repository.subject_holder(session, subject)
    if holder is not None and holder != person_id:
        raise SubjectTaken("Another person already has this subject")


async def create(session: AsyncSession, principal: Principal, data: PersonCreate) -> PersonRead:
    if data.org_unit is None:
        _shared_official(principal)
    if data.subject is not None:
        await _check_subject(session, principal, data.subject, None)
    org_unit_id, org_code = await _org_unit_id(session, principal, data.org_unit)
    person = Person(
        name=data.name,
        initials=data.initials,
        title=data.title,
        email=data.email,
        org_unit_id=org_unit_id,
        subject=data.subject,
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
    if "subject" in changes:
        await _check_subject(session, principal, changes["subject"], person.id)
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


async def for_sign_in(
    session: AsyncSession, subject: str, *, email: str | None
) -> SignInPerson | None:
    """The live person a token's subject maps to; failing that, with `email` (a verified
    e-mail claim, when linking by e-mail is on), the one live person without a subject who has
    that address. Two such people are ambiguous: neither is chosen."""
    rows = await repository.sign_in_candidates(session, subject, email)
    by_subject = [r for r in rows if r[0].subject == subject]
    chosen = by_subject if by_subject else rows
    if len(chosen) != 1:
        return None
    person, code, path = chosen[0]
    return SignInPerson(id=person.id, name=person.name, org_unit_code=code, org_unit_path=path)


async def read_signed_in(session: AsyncSession, person_id: uuid.UUID) -> PersonRead | None:
    """The signed-in person themself, whatever subtree their token confines them to."""
    row = await repository.get(session, person_id)
    return None if row is None else _to_read(row[0], row[1])


async def live_people(session: AsyncSession) -> Sequence[Person]:
    """For other domains writing to everyone (the weekly digest): every person not deleted."""
    return await repository.live(session)


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
